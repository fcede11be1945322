"""What every use case of the coach shares: its state (the store, the Slack clients, the
clock, the default target, the logger, the per-process cache of PMs' zones) and the reads built
on it: a PM's zone (cached, stored or asked of Slack), where they stand, the Home's overview and
their next nudge. Imports `bot.domain`, `bot.store` and slack-sdk's `WebClient` only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.numbers import is_number
from bot.domain.schedule import NudgeSchedule, next_nudge, schedule_from_profile
from bot.domain.streaks import Balance, Streak, balance, streak
from bot.domain.weeks import is_valid_tz, local_date, week_of
from bot.store import PMState, Snapshot, Store, StoreUnavailable

Clock = Callable[[], datetime]
FALLBACK_TZ = "UTC"


@dataclass(frozen=True)
class Standing:
    """Where a PM stands: their clarity streak and 4-week balance."""

    streak: Streak
    balance: Balance


@dataclass(frozen=True)
class Overview:
    """What the App Home and `/coach stats` show."""

    snapshot: Snapshot
    standing: Standing
    tz: str
    week: str  # the PM's current local ISO week
    schedule: NudgeSchedule
    next_nudge: datetime | None
    paused_now: bool
    now: datetime


class TzCache:
    """A small per-process LRU of PMs' zones, so the steady state of `/win` is one round trip.

    It can be stale when another process changes a PM's zone; the store detects that and the
    caller retries with the stored zone. It holds trusted zones only (Slack's or the PM's
    choice), never a guess; and, apart, when this process last asked Slack for a PM's zone.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._data: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._asked: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def claim_lookup(self, team_id: str, user_id: str, now: float, every: float) -> bool:
        """True (and noted) if this process has not asked Slack for the PM's zone in the last
        `every` seconds of `now` (a monotonic clock): at most one lookup in flight per PM."""
        key = (team_id, user_id)
        with self._lock:
            last = self._asked.get(key)
            if last is not None and now - last < every:
                return False
            self._asked[key] = now
            self._asked.move_to_end(key)
            while len(self._asked) > self._size:
                self._asked.popitem(last=False)
            return True

    def get(self, team_id: str, user_id: str) -> str | None:
        with self._lock:
            tz = self._data.get((team_id, user_id))
            if tz is not None:
                self._data.move_to_end((team_id, user_id))
            return tz

    def put(self, team_id: str, user_id: str, tz: str) -> None:
        with self._lock:
            self._data[(team_id, user_id)] = tz
            self._data.move_to_end((team_id, user_id))
            while len(self._data) > self._size:
                self._data.popitem(last=False)

    def drop(self, team_id: str, user_id: str) -> None:
        with self._lock:
            self._data.pop((team_id, user_id), None)
            self._asked.pop((team_id, user_id), None)


class CoachBase:
    """The coach's state and shared reads; `bot.coach.Coach` adds the use cases on top."""

    def __init__(
        self,
        store: Store,
        slack: WebClient,
        clock: Clock,
        default_target: int,
        log: Any,
        profile_client: WebClient | None = None,
        post_client: WebClient | None = None,
    ) -> None:
        self.store = store
        self.slack = slack
        # Posts a PM sees (welcome DM, export file) go through a client that never repeats a
        # request Slack may have carried out (no retry on 5xx or connection errors).
        self.poster = post_client or slack
        # users.info on the request path uses a client with a short timeout and no retries, so
        # a slow Slack cannot push an answer past Slack's own 3 s deadline.
        self.profile_client = profile_client or slack
        self.clock = clock
        self.default_target = default_target
        self.log = log
        self.tz_cache = TzCache()

    # Time zones -------------------------------------------------------------------------------

    def lookup_tz(self, user_id: str, client: WebClient | None = None) -> str | None:
        """The PM's zone from `users.info` (through `client`, by default the short-timeout
        profile client); None if Slack cannot say right now."""
        try:
            response = (client or self.profile_client).users_info(user=user_id)
        except (SlackApiError, SlackClientError, OSError) as exc:
            self.log.warning("users_info_failed", user_id=user_id, error=type(exc).__name__)
            return None
        user = response.get("user") or {}
        tz = str(user.get("tz") or "")
        return tz if tz and is_valid_tz(tz) else FALLBACK_TZ

    def slack_tz(self, user_id: str) -> str:
        """The PM's zone from `users.info`; UTC if Slack does not say or cannot be reached."""
        return self.lookup_tz(user_id) or FALLBACK_TZ

    def tz_for(self, team_id: str, user_id: str) -> str:
        """The PM's zone: cached, else the profile's, else a guess (UTC). Never asks Slack:
        this runs while Slack waits for our answer. A PM whose zone is a guess (new, or
        Slack could not say) has it learnt after the answer: `learn_zone`."""
        return self._zone(team_id, user_id)[0]

    def _zone(self, team_id: str, user_id: str) -> tuple[str, str]:
        """`tz_for`, and how the zone was learnt (as `tz_source` tells it): "slack" for a
        trusted zone (cached), "fallback" for a guess (never cached)."""
        cached = self.tz_cache.get(team_id, user_id)
        if cached is not None:
            return cached, "slack"
        tz, source = self.store.profiles.profile_zone(team_id, user_id)
        if tz and source != "fallback":
            self.tz_cache.put(team_id, user_id, tz)
            return tz, "slack"
        return tz or FALLBACK_TZ, "fallback"

    def knows_zone(self, team_id: str, user_id: str) -> bool:
        """Whether this process holds a trusted zone for the PM (no I/O). After a request
        that read the PM's zone, False means it was a guess: hand `learn_zone` (or
        `finish_enrolment`, which starts with it) to the work done after answering."""
        return self.tz_cache.get(team_id, user_id) is not None

    def tz_source(self, team_id: str, user_id: str, tz: str) -> str:
        """How a zone about to be stored was learnt: "slack", or "fallback" for a guess."""
        return "slack" if self.tz_cache.get(team_id, user_id) == tz else "fallback"

    def today(self, team_id: str, user_id: str) -> date:
        return local_date(self.clock(), self.tz_for(team_id, user_id))

    def today_or_guess(self, team_id: str, user_id: str) -> date:
        """Today for the PM, even while Redis is down (this process's cached zone, else UTC;
        Slack is not asked: a form's trigger_id does not wait): opening a form must not fail;
        saving it will say plainly if it cannot."""
        try:
            return self.today(team_id, user_id)
        except StoreUnavailable:
            tz = self.tz_cache.get(team_id, user_id) or FALLBACK_TZ
            return local_date(self.clock(), tz)

    # Standing ---------------------------------------------------------------------------------

    def standing(self, state: PMState, tz: str, now: datetime) -> Standing:
        return self.standing_in(state, week_of(now, tz))

    def standing_in(self, state: PMState, current: str) -> Standing:
        """The standing in the PM's local week `current`."""
        target = state.target if state.target is not None else self.default_target
        return Standing(
            streak=streak(state.counts, state.paused, current),
            balance=balance(state.counts, current, target),
        )

    def overview(self, team_id: str, user_id: str) -> Overview:
        """Everything the Home and stats show, in at most two Redis round trips."""
        snap = self.store.wins.snapshot(team_id, user_id)
        now = self.clock()
        tz = snap.profile.get("tz") or self.tz_for(team_id, user_id)
        if snap.profile.get("tz"):
            self.tz_cache.put(team_id, user_id, tz)
        week = week_of(now, tz)
        schedule = schedule_from_profile(snap.profile)
        return Overview(
            snapshot=snap,
            standing=self.standing(snap.state, tz, now),
            tz=tz,
            week=week,
            schedule=schedule,
            next_nudge=next_nudge(now, tz, schedule, snap.state.paused),
            paused_now=week in snap.state.paused,
            now=now,
        )

    # Nudge schedule ---------------------------------------------------------------------------

    def schedule_next(self, team_id: str, user_id: str) -> datetime | None:
        """Put the PM's next nudge in the due index from their current settings."""
        profile = self.store.profiles.profile(team_id, user_id)
        paused = self.store.profiles.snapshot_paused(team_id, user_id)
        due = None
        if profile and profile.get("inactive") != "1":
            tz = profile.get("tz") or self.tz_for(team_id, user_id)
            skip = {profile["skip_week"]} if profile.get("skip_week") else set()
            due = next_nudge(self.clock(), tz, schedule_from_profile(profile), paused | skip)
            snooze = profile.get("snooze_at", "")
            if due is not None and is_number(snooze):
                snoozed = datetime.fromtimestamp(int(snooze) / 1000, tz=UTC)
                if self.clock() < snoozed < due:
                    due = snoozed
        self.store.nudges.reschedule(team_id, user_id, due)
        return due
