"""The weekly team recap as a duty: who is in the team, posting once per team and week across
any number of processes, and what to do when the channel is gone.

Exactly once: a claim key per team and week (`SET NX`) that ends up holding the posted message's
`ts`; the thread reply has its own claim (taken the same way once the main message is posted),
so a failure after the main message never re-posts it and two processes finishing one recap
post one reply. A post whose answer was lost is not repeated automatically (the claim says
"unknown"): an operator can post it with `pm-coach recap --team T --force` after checking the
channel.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain import recap as recap_domain
from bot.domain.prompts import prompt_of_the_week
from bot.domain.recap import MemberWeek, Recap
from bot.domain.schedule import DAY_NAMES, NudgeSchedule, next_nudge
from bot.domain.streaks import counts_from_fields, counts_in_weeks
from bot.domain.weeks import shift_week, week_of, weeks_back
from bot.store import RecapMember, Store, week_candidates
from bot.surfaces import recap as recap_surface
from bot.surfaces import texts

LEASE_S = 300.0
GRACE = timedelta(hours=48)  # a recap that fell due while every process was down
RETRY_AFTER = timedelta(minutes=5)
GONE = {"channel_not_found", "is_archived", "not_in_channel", "channel_is_archived"}
DEFAULT_DAY, DEFAULT_TIME = 0, clock_time(9, 0)  # Monday 09:00 in the setter's zone


@dataclass(frozen=True)
class RecapSchedule:
    channel: str
    day: int
    at: clock_time
    tz: str
    set_by: str

    @classmethod
    def from_settings(cls, settings: dict[str, str]) -> RecapSchedule | None:
        if not settings.get("recap_channel"):
            return None
        hour, _, minute = settings.get("recap_time", "09:00").partition(":")
        return cls(
            channel=settings["recap_channel"],
            day=int(settings.get("recap_day", "0") or 0),
            at=clock_time(int(hour or 9), int(minute or 0)),
            tz=settings.get("recap_tz") or "UTC",
            set_by=settings.get("recap_set_by", ""),
        )

    def describe(self) -> str:
        return f"{DAY_NAMES[self.day].capitalize()} {self.at.strftime('%H:%M')} ({self.tz})"

    def next_after(self, instant: datetime) -> datetime | None:
        return next_nudge(instant, self.tz, NudgeSchedule(days=(self.day,), at=self.at))

    def week_for(self, occurrence: datetime) -> str:
        """The ISO week that ended before the recap is posted, in the recap's zone."""
        return shift_week(week_of(occurrence, self.tz), -1)


@dataclass(frozen=True)
class RecapOutcome:
    team_id: str
    week: str
    status: str  # posted | already_posted | failed:<error> | turned_off:<error> | retry | ...
    ts: str = ""


def member_weeks(rows: Iterable[RecapMember], week: str) -> list[MemberWeek]:
    """What the recap of `week` needs of each PM read by `RecapRepo.recap_members`. Aggregates
    need four weeks; only sharing PMs' streaks (milestones) need them all."""
    window = weeks_back(week, recap_domain.TREND_WEEKS)
    return [
        MemberWeek(
            user_id=row.user_id,
            counts=counts_from_fields(row.weeks)
            if row.share == "1"
            else counts_in_weeks(row.weeks, window),
            paused=frozenset(row.paused),
            sharing=row.share == "1",
        )
        for row in rows
    ]


class Recaps:
    def __init__(
        self,
        store: Store,
        client_for: Callable[[str], WebClient],
        *,
        clock: Callable[[], datetime],
        log: Any,
        rate_per_s: float = 4.0,
        burst: int = 20,
    ) -> None:
        self.store = store
        self.client_for = client_for
        self.clock = clock
        self.log = log
        self.rate_per_s = rate_per_s
        self.burst = burst

    # Settings ---------------------------------------------------------------------------------

    def schedule(self, team_id: str) -> RecapSchedule | None:
        return RecapSchedule.from_settings(self.store.recaps.team_settings(team_id))

    def set_channel(self, team_id: str, channel: str, set_by: str, tz: str) -> RecapSchedule:
        current = self.schedule(team_id)
        fields = {"recap_channel": channel, "recap_set_by": set_by}
        if current is None:
            fields |= {"recap_day": str(DEFAULT_DAY), "recap_time": "09:00", "recap_tz": tz}
        self.store.recaps.set_team_settings(team_id, **fields)
        return self._reschedule(team_id)

    def set_time(
        self, team_id: str, day: int, at: clock_time, tz: str, set_by: str
    ) -> RecapSchedule | None:
        self.store.recaps.set_team_settings(
            team_id,
            recap_day=str(day),
            recap_time=at.strftime("%H:%M"),
            recap_tz=tz,
            recap_set_by=set_by,
        )
        return self.schedule(team_id) and self._reschedule(team_id)

    def turn_off(self, team_id: str) -> None:
        self.store.recaps.clear_team_settings(team_id, "recap_channel")
        self.store.recaps.schedule_recap(team_id, None)

    def _reschedule(self, team_id: str) -> RecapSchedule:
        schedule = self.schedule(team_id)
        assert schedule is not None
        self.store.recaps.schedule_recap(team_id, schedule.next_after(self.clock()))
        return schedule

    # Building ---------------------------------------------------------------------------------

    def members(self, client: WebClient, channel: str) -> list[str]:
        """Everyone in the channel (conversations.members, every page)."""
        members: list[str] = []
        cursor = ""
        while True:
            page = client.conversations_members(channel=channel, limit=1000, cursor=cursor or None)
            members.extend(str(m) for m in page.get("members") or [])
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return members

    def build(self, team_id: str, week: str, channel: str) -> Recap:
        """The recap of `week` for the PMs in `channel` (no users.info per member)."""
        in_channel = self.members(self.client_for(team_id), channel)
        users = self.store.teams.team_users(team_id)
        pms = [u for u in in_channel if u in users]
        rows = self.store.recaps.recap_members(team_id, pms, week=week)
        members = member_weeks(rows, week)
        candidates = week_candidates(row for row in rows if row.share == "1")
        wins = self.store.recaps.first_clarity_wins(
            team_id, week, candidates, recap_domain.MAX_HIGHLIGHTS
        )
        return recap_domain.build_recap(week, members, wins, prompt_of_the_week(week).text)

    # Posting ----------------------------------------------------------------------------------

    def post(self, team_id: str, week: str, *, force: bool = False) -> RecapOutcome:
        """Post the week's recap once (the claim decides), then its thread reply once."""
        schedule = self.schedule(team_id)
        if schedule is None:
            return RecapOutcome(team_id, week, "not_configured")
        token = uuid.uuid4().hex[:12]
        claim = self.store.recaps.claim_recap(team_id, week, token, LEASE_S)
        if force and claim != "ok" and not claim.startswith("pending:"):
            self.store.recaps.set_recap_state(team_id, week, f"pending:{token}")
            claim = "ok"
        if claim.startswith("posted:"):
            _, _, ts = claim.removeprefix("posted:").partition(":")
            return self._thread(team_id, week, schedule, claim, ts)
        if claim != "ok":
            return RecapOutcome(team_id, week, f"held:{claim.split(':')[0]}")
        client = self.client_for(team_id)
        try:
            recap = self.build(team_id, week, schedule.channel)
        except SlackApiError as exc:
            return self._refused(team_id, week, schedule, token, exc)
        except (SlackClientError, OSError) as exc:
            self.store.recaps.release_recap(team_id, week, token)
            self.log.warning("recap_build_failed", team_id=team_id, error=type(exc).__name__)
            return RecapOutcome(team_id, week, "retry")
        self._pace(team_id)
        try:
            response = client.chat_postMessage(
                channel=schedule.channel, **recap_surface.main_message(recap)
            )
        except SlackApiError as exc:
            return self._refused(team_id, week, schedule, token, exc)
        except (SlackClientError, OSError) as exc:
            # It may have been posted: never repost blindly.
            self.store.recaps.set_recap_state(team_id, week, "unknown")
            self.log.error(
                "recap_outcome_unknown", team_id=team_id, week=week, error=type(exc).__name__
            )
            return RecapOutcome(team_id, week, "unknown")
        ts = str(response["ts"])
        self.store.recaps.set_recap_state(team_id, week, f"posted:{schedule.channel}:{ts}")
        self.log.info("recap_posted", team_id=team_id, week=week, members=recap.members)
        return self._thread(team_id, week, schedule, "", ts, recap)

    def _thread(
        self,
        team_id: str,
        week: str,
        schedule: RecapSchedule,
        claim: str,
        ts: str,
        recap: Recap | None = None,
    ) -> RecapOutcome:
        """Post the thread reply under the main message `ts` once: claimed before it is built
        (a second process finds "pending" and retries later; a holder that died leaves a
        lease that ends), released when nothing was posted, never reposted once its answer
        was lost."""
        token = uuid.uuid4().hex[:12]
        held = self.store.recaps.claim_recap_thread(team_id, week, token, LEASE_S)
        if held.startswith("pending:"):
            return RecapOutcome(team_id, week, "held:pending", ts)
        if held != "ok":
            return RecapOutcome(team_id, week, "already_posted", ts)
        channel = claim.removeprefix("posted:").partition(":")[0] if claim else schedule.channel
        try:
            recap = recap or self.build(team_id, week, channel)
            reply = recap_surface.thread_reply(recap)
        except (SlackApiError, SlackClientError, OSError) as exc:
            self.store.recaps.release_recap_thread(team_id, week, token)
            self.log.warning("recap_thread_build_failed", team_id=team_id, error=type(exc).__name__)
            return RecapOutcome(team_id, week, "posted_thread_retry", ts)
        if reply is not None:
            self._pace(team_id)
            try:
                self.client_for(team_id).chat_postMessage(channel=channel, thread_ts=ts, **reply)
            except SlackApiError as exc:
                self.store.recaps.release_recap_thread(team_id, week, token)
                self.log.warning(
                    "recap_thread_failed", team_id=team_id, error=exc.response.get("error")
                )
                return RecapOutcome(team_id, week, "posted_thread_retry", ts)
            except (SlackClientError, OSError) as exc:
                # It may have been posted: never repost blindly (like the main message).
                self.store.recaps.set_recap_thread(team_id, week, "unknown")
                self.log.error("recap_thread_unknown", team_id=team_id, error=type(exc).__name__)
                return RecapOutcome(team_id, week, "posted", ts)
        self.store.recaps.set_recap_thread(team_id, week, "done")
        return RecapOutcome(team_id, week, "posted" if not claim else "thread_posted", ts)

    def _refused(
        self, team_id: str, week: str, schedule: RecapSchedule, token: str, exc: SlackApiError
    ) -> RecapOutcome:
        error = str(exc.response.get("error") or exc.response.status_code)
        if error in GONE:
            self.store.recaps.set_recap_state(team_id, week, f"failed:{error}")
            self.turn_off(team_id)
            self._tell_admin(team_id, schedule, error)
            self.log.warning("recap_turned_off", team_id=team_id, error=error)
            return RecapOutcome(team_id, week, f"turned_off:{error}")
        self.store.recaps.release_recap(team_id, week, token)
        self.log.warning("recap_refused", team_id=team_id, error=error)
        return RecapOutcome(team_id, week, f"retry:{error}")

    def _tell_admin(self, team_id: str, schedule: RecapSchedule, error: str) -> None:
        if not schedule.set_by:
            return
        message = texts.RECAP_TURNED_OFF.format(channel=schedule.channel)
        if error == "not_in_channel":
            message = texts.RECAP_NOT_IN_CHANNEL_OFF.format(channel=schedule.channel)
        try:
            self.client_for(team_id).chat_postMessage(channel=schedule.set_by, text=message)
        except (SlackApiError, SlackClientError, OSError) as exc:
            self.log.warning("recap_admin_dm_failed", team_id=team_id, error=type(exc).__name__)

    def _pace(self, team_id: str) -> None:
        [wait] = self.store.nudges.reserve_sends(team_id, 1, self.rate_per_s, self.burst)
        if wait > 0:
            time.sleep(wait)

    # The duty ---------------------------------------------------------------------------------

    def run_due(self, now: datetime) -> list[RecapOutcome]:
        """Post every recap due at `now` (called by each process's tick)."""
        outcomes = []
        for team_id, due in self.store.recaps.claim_due_recaps(now, LEASE_S):
            schedule = self.schedule(team_id)
            if schedule is None or self.store.teams.is_uninstalled(team_id):
                self.store.recaps.schedule_recap(team_id, None)
                continue
            week = schedule.week_for(due)
            if now - due > GRACE:
                outcome = RecapOutcome(team_id, week, "missed")
            else:
                outcome = self.post(team_id, week)
            outcomes.append(outcome)
            if outcome.status.startswith(("retry", "posted_thread_retry", "held:pending")):
                self.store.recaps.schedule_recap(team_id, now + RETRY_AFTER)
            elif self.schedule(team_id) is not None:
                self.store.recaps.schedule_recap(team_id, schedule.next_after(max(now, due)))
        return outcomes
