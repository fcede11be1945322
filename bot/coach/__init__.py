"""The coach: use cases that combine the pure domain, the store and Slack.

Handlers call these; nothing here knows about Bolt. Time comes from an injected clock so the
sandbox and tests can move it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.export import (
    ExportRange,
    Reflection,
    brag_document,
    export_filename,
    parse_export_range,
)
from bot.domain.numbers import is_number
from bot.domain.prompts import pick_prompt
from bot.domain.schedule import NudgeSchedule, next_nudge, schedule_from_profile
from bot.domain.streaks import Balance, Streak, balance, streak
from bot.domain.weeks import (
    canonical_tz,
    is_valid_tz,
    local_date,
    local_noon,
    shift_week,
    week_monday,
    week_of,
    week_of_date,
)
from bot.domain.wins import (
    MAX_TEXT,
    Lane,
    LaneSuggestion,
    Win,
    WinInputError,
    has_visible_text,
    suggest_lane,
    validate_backdate,
    validate_beneficiary,
    validate_link,
    validate_text,
    win_id,
)
from bot.store import LogOutcome, OutcomeUnknown, PMState, Snapshot, Store, StoreUnavailable
from bot.surfaces import nudge_blocks, texts

Clock = Callable[[], datetime]
FALLBACK_TZ = "UTC"
NOT_ENROLLED = "not_enrolled"  # `start_enrolment(create=False)` for a PM without a profile
# After asking Slack for a PM's zone (answered or not), this process does not ask again for
# this long: a PM whose zone stays unknown (Slack down, no `users:read`) costs one lookup
# per this many seconds, never one per request.
ZONE_RETRY_S = 120.0
# How many of a PM's latest wins are re-placed in their real local week once their zone is
# learnt (all of them for any PM whose first wins came while Slack was slow).
REPLACE_MAX = 500


class NotEnrolled(Exception):
    """A PM without a profile (never enrolled, or forgotten at their request) used something
    that belongs to an enrolled PM (a nudge's button, a reflection): nothing was written.
    Only a win (or the Home's Get started) enrols."""


@dataclass(frozen=True)
class Standing:
    """Where a PM stands: their clarity streak and 4-week balance."""

    streak: Streak
    balance: Balance


@dataclass(frozen=True)
class Logged:
    win: Win
    duplicate: bool
    standing: Standing
    enrolled: str = ""  # "new" / "reactivated": call finish_enrolment() after answering
    removed: bool = False  # a redelivery of a win that was logged, then undone: nothing stored


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


@dataclass(frozen=True)
class Export:
    range: ExportRange
    markdown: str
    filename: str
    count: int


@dataclass(frozen=True)
class Undone:
    win: Win | None  # None: already removed
    standing: Standing | None


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


class Coach:
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
        tz, source = self.store.profile_zone(team_id, user_id)
        if tz and source != "fallback":
            self.tz_cache.put(team_id, user_id, tz)
            return tz, "slack"
        return tz or FALLBACK_TZ, "fallback"

    def knows_zone(self, team_id: str, user_id: str) -> bool:
        """Whether this process holds a trusted zone for the PM (no I/O). After a request
        that read the PM's zone, False means it was a guess: hand `learn_zone` (or
        `finish_enrolment`, which starts with it) to the work done after answering."""
        return self.tz_cache.get(team_id, user_id) is not None

    def learn_zone(self, team_id: str, user_id: str, *, reschedule: bool = True) -> None:
        """After answering Slack: if the PM's stored zone is only a guess, ask Slack once (not
        again from this process for ZONE_RETRY_S), store the answer, move the wins logged
        under the guess to their real local week, and reschedule the PM's nudges (unless
        `reschedule` is False: the caller schedules them next). Never raises: the PM's
        request is answered already."""
        if self.knows_zone(team_id, user_id):
            return
        try:
            guess, source = self.store.profile_zone(team_id, user_id)
            if guess is None:  # no profile (yet): nothing to keep a zone in
                return
            if source != "fallback":
                self.tz_cache.put(team_id, user_id, guess)
                return
            if not self.tz_cache.claim_lookup(team_id, user_id, time.monotonic(), ZONE_RETRY_S):
                return
            # The patient client: nobody waits for this answer.
            looked = self.lookup_tz(user_id, self.slack)
            if looked is None or not self.store.set_tz(team_id, user_id, looked, "slack"):
                return  # Slack cannot say now; or the PM chose a zone, or left, meanwhile
            self.tz_cache.put(team_id, user_id, looked)
            moved = self._replace_guessed_wins(team_id, user_id, looked) if looked != guess else 0
            if reschedule:
                self.schedule_next(team_id, user_id)
        except StoreUnavailable:
            self.log.warning("tz_learn_failed", team_id=team_id, user_id=user_id)
            return
        self.log.info("tz_learned", team_id=team_id, user_id=user_id, tz=looked, moved=moved)

    def follow_slack_zone(self, team_id: str, user_id: str, tz: str) -> bool:
        """Slack says the PM's zone is now `tz` (a `user_change` event): keep it unless the PM
        chose a zone; if theirs was only a guess, the wins logged under it move to their local
        week as in `learn_zone`. True if stored."""
        guess, source = self.store.profile_zone(team_id, user_id)
        if not self.store.set_tz(team_id, user_id, tz, "slack"):
            return False
        self.tz_cache.drop(team_id, user_id)
        if source == "fallback" and tz != guess:
            self._replace_guessed_wins(team_id, user_id, tz)
        self.schedule_next(team_id, user_id)
        return True

    def _replace_guessed_wins(self, team_id: str, user_id: str, tz: str) -> int:
        """Each win logged while the PM's zone was a guess counts in the local week it was
        logged in, in the zone just learnt. Only wins of a profile that never had a trusted
        zone come here (a profile's zone is a guess only from its creation until the first
        zone learnt or chosen), so every one of them was placed by the guess. A backdated win
        keeps its week: the PM picked its day. Returns how many moved."""
        moved = 0
        for win in self.store.user_wins(team_id, user_id, newest_first=True, limit=REPLACE_MAX):
            week = week_of(win.at, tz)
            if win.at == win.logged_at and week != win.week:
                self.store.edit_win(replace(win, week=week))
                moved += 1
        return moved

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

    # Wins -------------------------------------------------------------------------------------

    def log_win(
        self,
        *,
        team_id: str,
        user_id: str,
        lane: Lane,
        text: str,
        source: str,
        day: date | None = None,
        link: str | None = None,
        beneficiary: str | None = None,
        draft_id: str | None = None,
    ) -> Logged:
        """Validate and store a win once per `source`. Raises WinInputError for bad input and
        the store's unavailability errors when Redis is down (nothing is saved then), except
        OutcomeUnknown: the write was sent, its answer lost, and a check could not find the
        win (it may be stored, or land late)."""
        text = validate_text(text)
        if link is not None or beneficiary is not None:  # the form's optional fields
            link, beneficiary = validate_link(link), validate_beneficiary(beneficiary)
        tz, tz_source = self._zone(team_id, user_id)
        for _ in range(3):
            now = self.clock()
            today = local_date(now, tz)
            if day is not None and day != today:
                noon = local_noon(validate_backdate(day, today), tz)
                at, week = noon.astimezone(now.tzinfo), week_of(noon, tz)
            else:
                at, week = now, week_of_date(today)
            win = Win(
                id=win_id(team_id, user_id, source),
                team_id=team_id,
                user_id=user_id,
                lane=lane,
                text=text,
                at=at,
                week=week,
                logged_at=now,
                link=link,
                beneficiary=beneficiary,
            )
            try:
                outcome = self.store.log_win(
                    win,
                    tz=tz,
                    now=now,
                    draft_id=draft_id,
                    tz_source=tz_source,
                )
            except OutcomeUnknown as lost:
                win, outcome = self._stored_after_all(win, now, lost)
            if outcome.status != "stale_tz":
                break
            self.log.info("tz_changed_elsewhere", team_id=team_id, user_id=user_id)
            tz = outcome.tz
            # The stored zone; cached only if it is trusted (it may be another request's guess).
            if self.store.profile_zone(team_id, user_id) == (tz, "fallback"):
                self.tz_cache.drop(team_id, user_id)
                tz_source = "fallback"
            else:
                self.tz_cache.put(team_id, user_id, tz)
                tz_source = "slack"
        else:  # pragma: no cover - a zone flapping three times in a row
            raise RuntimeError("time zone kept changing while logging a win")
        duplicate = outcome.status == "duplicate"
        removed = False
        if duplicate:
            stored = self.store.get_win(team_id, user_id, outcome.win_id)
            removed = stored is None  # undone since the first delivery
            win = stored or win
        self.log.info(
            "win_logged" if not duplicate else "win_duplicate",
            team_id=team_id,
            user_id=user_id,
            lane=str(lane),
            win_id=win.id,
            week=win.week,
        )
        return Logged(
            win=win,
            duplicate=duplicate,
            standing=self.standing_in(outcome.state, week_of_date(today)),
            enrolled=outcome.enrolled,
            removed=removed,
        )

    def _stored_after_all(
        self, win: Win, now: datetime, lost: OutcomeUnknown
    ) -> tuple[Win, LogOutcome]:
        """The answer to storing `win` was lost (Redis slow or cut off after we sent it): ask
        once whether it is stored. Re-raises `lost` when that cannot be confirmed (not found,
        or the check failed too): the win may still land, so the PM must not hear "not
        saved"."""
        try:
            found = self.store.stored_win(win, now=now)
        except StoreUnavailable:
            found = None
        ids = {"team_id": win.team_id, "user_id": win.user_id, "win_id": win.id}
        if found is None:
            self.log.warning("win_unconfirmed", **ids)
            raise lost
        self.log.info("win_confirmed_after_lost_answer", **ids)
        return found

    def undo(self, team_id: str, user_id: str, win_id_: str) -> Undone:
        outcome = self.store.delete_win(team_id, user_id, win_id_)
        if outcome.win is None or outcome.state is None:
            return Undone(win=None, standing=None)
        self.log.info("win_undone", team_id=team_id, user_id=user_id, win_id=win_id_)
        tz = self.tz_for(team_id, user_id)
        return Undone(win=outcome.win, standing=self.standing(outcome.state, tz, self.clock()))

    def draft(self, team_id: str, user_id: str, text: str) -> tuple[str, LaneSuggestion]:
        """Keep `/win <text>` until the PM picks a lane; suggest one from the wording."""
        text = validate_text(text)
        draft_id = self.store.save_draft(team_id, user_id, {"text": text})
        return draft_id, suggest_lane(text)

    def log_draft(self, team_id: str, user_id: str, draft_id: str, lane: Lane) -> Logged | None:
        """Log a drafted win in the lane the PM picked. A second click logs nothing new.

        Returns None when the draft expired and was never logged.
        """
        source = f"draft:{draft_id}"
        draft = self.store.get_draft(team_id, user_id, draft_id)
        if draft is None:
            win = self.store.get_win(team_id, user_id, win_id(team_id, user_id, source))
            if win is None:
                return None
            # Already logged by the first click: re-log through the same source to read the
            # standing; the store sees the duplicate and writes nothing.
            lane = win.lane
            draft = {"text": win.text}
        return self.log_win(
            team_id=team_id,
            user_id=user_id,
            lane=lane,
            text=str(draft["text"]),
            source=source,
            draft_id=draft_id,
        )

    # Enrolment and settings -------------------------------------------------------------------

    def enrol(self, team_id: str, user_id: str) -> str:
        """Make sure the PM has a profile (first command or button); an enrolled PM's
        interaction ends a back-off. A new PM gets their schedule and one welcome DM.
        Returns "new", "reactivated" or ""."""
        outcome = self.start_enrolment(team_id, user_id)
        self._enrolled(team_id, user_id, outcome)
        return outcome

    def start_enrolment(self, team_id: str, user_id: str, *, create: bool = True) -> str:
        """The profile part of `enrol` (one Redis call): `finish_enrolment` does the rest
        (schedule, welcome DM) once Slack has its answer.

        With `create=False` (a /coach command, a settings form) only an enrolled PM is
        touched (a back-off ends): a PM without a profile — never enrolled, or forgotten at
        their request — stays so, and NOT_ENROLLED is returned with nothing written. Only a
        win (or the Home's Get started) enrols, as the forget-me answer promises."""
        if not create and not self.is_enrolled(team_id, user_id):
            # (A forget-me landing between this read and the enrol below would leave a fresh
            # profile: the store has no "enrol only if present" script yet.)
            return NOT_ENROLLED
        tz = self.tz_for(team_id, user_id)
        return self.store.enrol(
            team_id, user_id, tz, self.clock(), self.tz_source(team_id, user_id, tz)
        )

    def is_enrolled(self, team_id: str, user_id: str) -> bool:
        """Whether the PM has a profile (one read; every profile holds a zone)."""
        return bool(self.store.profile_zone(team_id, user_id)[0])

    def _enrolled_only(self, team_id: str, user_id: str) -> str:
        """`start_enrolment(create=False)` for a PM's own buttons and answers: an enrolled
        PM's back-off ends (returns "reactivated" or ""); a PM without a profile raises
        NotEnrolled with nothing written."""
        outcome = self.start_enrolment(team_id, user_id, create=False)
        if outcome == NOT_ENROLLED:
            raise NotEnrolled
        return outcome

    def finish_enrolment(self, team_id: str, user_id: str, outcome: str) -> None:
        """After a PM's first win (or first since leaving): learn their zone if it is only a
        guess (`learn_zone`; first, so that the schedule and the welcome use it), schedule
        nudges, say welcome. Handlers call it after answering Slack, so the answer is not
        delayed; with no `outcome` it only learns the zone. It never raises: what the PM did
        is saved already, and a Redis blip here must not say otherwise (the next interaction
        schedules them again)."""
        try:
            enrolling = outcome in ("new", "reactivated")
            if enrolling:  # listed in the team at once, before Slack is asked for the zone
                self.store.add_team_user(team_id, user_id)
            # Each step once: the schedule below already uses the zone learnt.
            self.learn_zone(team_id, user_id, reschedule=not enrolling)
            if enrolling:
                self._schedule_and_welcome(team_id, user_id, outcome)
        except StoreUnavailable:
            self.log.warning("enrolment_follow_up_failed", team_id=team_id, user_id=user_id)

    def _enrolled(self, team_id: str, user_id: str, outcome: str) -> None:
        if outcome not in ("new", "reactivated"):
            return
        self.store.add_team_user(team_id, user_id)
        self._schedule_and_welcome(team_id, user_id, outcome)

    def _schedule_and_welcome(self, team_id: str, user_id: str, outcome: str) -> None:
        self.schedule_next(team_id, user_id)
        if outcome == "new":
            self.log.info("pm_enrolled", team_id=team_id, user_id=user_id)
            self.send_welcome(team_id, user_id)

    def send_welcome(self, team_id: str, user_id: str) -> None:
        profile = self.store.profile(team_id, user_id)
        tz = profile.get("tz") or self.tz_for(team_id, user_id)
        message = nudge_blocks.welcome(schedule_from_profile(profile), tz)
        try:
            self.poster.chat_postMessage(channel=user_id, **message)
        except (SlackApiError, SlackClientError, OSError) as exc:
            # A missing welcome must not fail the command that enrolled the PM.
            self.log.warning(
                "welcome_failed", team_id=team_id, user_id=user_id, error=type(exc).__name__
            )

    # Nudge schedule ---------------------------------------------------------------------------

    def schedule_next(self, team_id: str, user_id: str) -> datetime | None:
        """Put the PM's next nudge in the due index from their current settings."""
        profile = self.store.profile(team_id, user_id)
        paused = self.store.snapshot_paused(team_id, user_id)
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
        self.store.reschedule(team_id, user_id, due)
        return due

    def set_nudges(self, team_id: str, user_id: str, schedule: NudgeSchedule) -> datetime | None:
        self.enrol(team_id, user_id)
        fields = schedule.to_fields()
        if not schedule.enabled:
            fields = {"nudges": "off"}
        self.store.set_profile(team_id, user_id, **fields)
        return self.schedule_next(team_id, user_id)

    def snooze(self, team_id: str, user_id: str, days: int = 1) -> datetime:
        """Raises NotEnrolled for a PM without a profile (an old nudge after forget-me)."""
        self._enrolled(team_id, user_id, self._enrolled_only(team_id, user_id))
        until = self.clock() + timedelta(days=days)
        self.store.set_profile(team_id, user_id, snooze_at=str(int(until.timestamp() * 1000)))
        self.schedule_next(team_id, user_id)
        return until

    def skip_week(self, team_id: str, user_id: str) -> str:
        """Raises NotEnrolled for a PM without a profile (an old nudge after forget-me)."""
        self._enrolled(team_id, user_id, self._enrolled_only(team_id, user_id))
        week = week_of(self.clock(), self.tz_for(team_id, user_id))
        self.store.set_profile(team_id, user_id, skip_week=week)
        self.store.clear_profile(team_id, user_id, "snooze_at")
        self.schedule_next(team_id, user_id)
        return week

    # Reflections ------------------------------------------------------------------------------

    def latest_prompt(self, team_id: str, user_id: str) -> tuple[str, str]:
        """(prompt id, text) of the PM's latest nudge, or a fresh pick if there was none."""
        record = self.store.nudge_record(team_id, user_id)
        if record.get("prompt"):
            return record.get("prompt_id", ""), record["prompt"]
        ov = self.overview(team_id, user_id)
        target = (ov.snapshot.state.target or self.default_target) / 100
        pick = pick_prompt(
            window=ov.standing.balance.window,
            target=target,
            shown=(),
            seed=f"{team_id}:{user_id}:{ov.week}",
        )
        return pick.prompt.id, pick.prompt.text

    def reflect(self, team_id: str, user_id: str, text: str, prompt_id: str, prompt: str) -> str:
        """Store a reflection privately. Returns the enrolment outcome for `finish_enrolment`
        ("reactivated" or ""), which the caller runs after answering Slack. A reflection never
        enrols: NotEnrolled (nothing written) for a PM without a profile."""
        if not has_visible_text(text):
            raise WinInputError("reflect_blank")
        if len(text) > MAX_TEXT:
            raise WinInputError("reflect_too_long")
        enrolled = self._enrolled_only(team_id, user_id)
        now = self.clock()
        reflection = {
            "id": secrets.token_hex(6),
            "at": now.isoformat(),
            "prompt_id": prompt_id,
            "prompt": prompt,
            "text": text,
        }
        try:
            self.store.add_reflection(team_id, user_id, reflection, now)
        except OutcomeUnknown:  # the answer was lost: ask once whether it is stored
            try:
                stored = self.store.has_reflection(team_id, user_id, reflection)
            except StoreUnavailable:
                stored = False
            if not stored:
                self.log.warning("reflection_unconfirmed", team_id=team_id, user_id=user_id)
                raise
        self.log.info("reflection_saved", team_id=team_id, user_id=user_id)
        return enrolled

    def overview(self, team_id: str, user_id: str) -> Overview:
        """Everything the Home and stats show, in at most two Redis round trips."""
        snap = self.store.snapshot(team_id, user_id)
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

    def set_target(self, team_id: str, user_id: str, percent: int) -> None:
        if not 1 <= percent <= 100:
            raise ValueError("target must be 1–100")
        self.enrol(team_id, user_id)
        self.store.set_profile(team_id, user_id, target=str(percent))

    def set_share(self, team_id: str, user_id: str, share: bool) -> None:
        self.enrol(team_id, user_id)
        self.store.set_profile(team_id, user_id, share="1" if share else "0")

    def set_timezone(self, team_id: str, user_id: str, tz: str | None) -> str:
        """An explicit IANA zone, or None to follow Slack's zone again. Returns the zone."""
        self.enrol(team_id, user_id)
        if tz is None:
            zone_name = self.slack_tz(user_id)
            self.store.set_tz(team_id, user_id, zone_name, "slack", force=True)
        else:
            found = canonical_tz(tz)
            if found is None:
                raise ValueError("unknown time zone")
            zone_name = found
            self.store.set_tz(team_id, user_id, zone_name, "explicit")
        self.tz_cache.put(team_id, user_id, zone_name)
        self.schedule_next(team_id, user_id)
        self.log.info(
            "tz_set",
            team_id=team_id,
            user_id=user_id,
            tz=zone_name,
            source="slack" if tz is None else "explicit",
        )
        return zone_name

    def set_timezone_from_slack(self, team_id: str, user_id: str) -> str | None:
        """`/coach timezone auto`, after the answer: follow Slack's zone again, asked of
        `users.info` with the patient client (nobody waits for it). Returns the zone, or None
        when Slack cannot say: then nothing changes, the PM keeps the zone they had."""
        looked = self.lookup_tz(user_id, self.slack)
        if looked is None:
            return None
        self.enrol(team_id, user_id)
        self.store.set_tz(team_id, user_id, looked, "slack", force=True)
        self.tz_cache.put(team_id, user_id, looked)
        self.schedule_next(team_id, user_id)
        self.log.info("tz_set", team_id=team_id, user_id=user_id, tz=looked, source="slack")
        return looked

    def pause(self, team_id: str, user_id: str, weeks: int) -> tuple[str, str]:
        """Pause this week and the next `weeks - 1`; returns (first, last) paused week."""
        if not 1 <= weeks <= 12:
            raise ValueError("pause 1–12 weeks")
        self.enrol(team_id, user_id)
        first = week_of(self.clock(), self.tz_for(team_id, user_id))
        paused = [shift_week(first, i) for i in range(weeks)]
        self.store.pause(team_id, user_id, paused)
        self.schedule_next(team_id, user_id)
        return paused[0], paused[-1]

    def resume(self, team_id: str, user_id: str) -> int:
        self.enrol(team_id, user_id)
        current = week_of(self.clock(), self.tz_for(team_id, user_id))
        removed = self.store.resume(team_id, user_id, current)
        self.schedule_next(team_id, user_id)
        return removed

    def pause_ends(self, last_week: str) -> date:
        """The Monday the PM is back after a pause ending with `last_week`."""
        return week_monday(shift_week(last_week, 1))

    # Wins: history, edit, undo ----------------------------------------------------------------

    def history(self, team_id: str, user_id: str, count: int) -> list[Win]:
        return self.store.user_wins(team_id, user_id, newest_first=True, limit=count)

    def undo_last(self, team_id: str, user_id: str) -> Undone:
        """Remove the win the PM logged most recently (whatever date it was for)."""
        last = self.store.last_logged_id(team_id, user_id)
        if last is None:
            return Undone(win=None, standing=None)
        return self.undo(team_id, user_id, last)

    def edit_win(
        self,
        *,
        team_id: str,
        user_id: str,
        win_id_: str,
        lane: Lane,
        text: str,
        day: date | None,
        link: str | None,
        beneficiary: str | None,
    ) -> Logged | None:
        """Change a win. Its local week stays the one it was logged in unless the date moves.
        None when the win no longer exists."""
        current = self.store.get_win(team_id, user_id, win_id_)
        if current is None:
            return None
        text = validate_text(text)
        link = validate_link(link)
        beneficiary = validate_beneficiary(beneficiary)
        tz = self.tz_for(team_id, user_id)
        now = self.clock()
        at, week = current.at, current.week
        if day is not None and day != local_date(current.at, tz):
            today = local_date(now, tz)
            moved = now if day == today else local_noon(validate_backdate(day, today), tz)
            at, week = moved.astimezone(now.tzinfo), week_of(moved, tz)
        edited = Win(
            id=current.id,
            team_id=team_id,
            user_id=user_id,
            lane=lane,
            text=text,
            at=at,
            week=week,
            logged_at=current.logged_at,
            link=link,
            beneficiary=beneficiary,
            extra=current.extra,
        )
        outcome = self.store.edit_win(edited)
        if outcome.state is None:
            return None
        self.log.info("win_edited", team_id=team_id, user_id=user_id, win_id=win_id_)
        return Logged(win=edited, duplicate=False, standing=self.standing(outcome.state, tz, now))

    # Forget me --------------------------------------------------------------------------------

    def forget(self, team_id: str, user_id: str) -> int:
        deleted = self.store.forget(team_id, user_id)
        self.tz_cache.drop(team_id, user_id)
        self.log.info("pm_forgotten", team_id=team_id, user_id=user_id, keys=deleted)
        return deleted

    # Export -----------------------------------------------------------------------------------

    def export(self, team_id: str, user_id: str, args: str) -> Export:
        """Build the brag document for a range (raises ExportRangeError for a bad one).
        Reflections are included only when asked: `... with reflections`."""
        tz = self.tz_for(team_id, user_id)
        now = self.clock()
        words = args.lower().split()
        with_reflections = "reflections" in words
        args = " ".join(w for w in args.split() if w.lower() not in ("with", "reflections", "+"))
        rng = parse_export_range(args, local_date(now, tz))
        # A day of slack on both sides; the document keeps wins by their local date.
        start = local_noon(rng.start, tz) - timedelta(days=1)
        end = local_noon(rng.end, tz) + timedelta(days=1)
        wins = self.store.user_wins(team_id, user_id, start=start, end=end)
        reflections = []
        if with_reflections:
            reflections = [
                Reflection(
                    at=datetime.fromisoformat(r["at"]),
                    prompt=str(r.get("prompt") or ""),
                    text=str(r["text"]),
                )
                for r in self.store.reflections(team_id, user_id, start=start, end=end)
            ]
        document = brag_document(
            wins,
            rng,
            tz=tz,
            person=self.display_name(user_id),
            generated_at=now,
            reflections=reflections,
            include_reflections=with_reflections,
        )
        included = [w for w in wins if rng.start <= local_date(w.at, tz) <= rng.end]
        return Export(
            range=rng, markdown=document, filename=export_filename(rng), count=len(included)
        )

    def display_name(self, user_id: str) -> str:
        try:
            user = self.profile_client.users_info(user=user_id).get("user") or {}
        except (SlackApiError, SlackClientError, OSError):
            return user_id
        profile = user.get("profile") or {}
        return str(
            profile.get("display_name") or user.get("real_name") or user.get("name") or user_id
        )

    def send_export(self, user_id: str, export: Export) -> None:
        """Deliver the document privately: a file in the PM's DM with the app."""
        channel = self.slack.conversations_open(users=user_id)["channel"]["id"]
        self.poster.files_upload_v2(
            channel=channel,
            content=export.markdown,
            filename=export.filename,
            title=f"Brag document — {export.range.label}",
            initial_comment=texts.EXPORT_COMMENT.format(label=export.range.label),
        )

    # Team roles -------------------------------------------------------------------------------

    def is_admin(
        self, user_id: str, admin_ids: frozenset[str], client: WebClient | None = None
    ) -> bool:
        """A Slack workspace admin or owner, or a user the operator listed (ADMIN_USER_IDS).
        Slack is asked through `client` (by default the short-timeout profile client); no
        answer means not an admin."""
        if user_id in admin_ids:
            return True
        try:
            user = (client or self.profile_client).users_info(user=user_id).get("user") or {}
        except (SlackApiError, SlackClientError, OSError):
            return False
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))

    def bot_in_channel(self, channel_id: str) -> bool:
        try:
            info = self.profile_client.conversations_info(channel=channel_id).get("channel") or {}
        except (SlackApiError, SlackClientError, OSError):
            return False
        return bool(info.get("is_member"))
