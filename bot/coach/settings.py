"""A PM's settings, from `/coach` and the Home: the nudge schedule (days and time, snooze,
skip a week, pause and resume), the balance target, sharing in the team recap, the time zone;
and the team roles that gate the team's settings. A setting enrols the PM if needed; a nudge's
buttons (snooze, skip) never enrol: NotEnrolled for a PM without a profile. Imports `bot.domain`
and the coach's enrolment only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.coach.enrolment import Enrolment
from bot.domain.schedule import NudgeSchedule
from bot.domain.weeks import canonical_tz, shift_week, week_monday, week_of


class PMSettings(Enrolment):
    """A PM's settings and the team roles."""

    def set_nudges(self, team_id: str, user_id: str, schedule: NudgeSchedule) -> datetime | None:
        self.enrol(team_id, user_id)
        fields = schedule.to_fields()
        if not schedule.enabled:
            fields = {"nudges": "off"}
        self.store.profiles.set_profile(team_id, user_id, **fields)
        return self.schedule_next(team_id, user_id)

    def snooze(self, team_id: str, user_id: str, days: int = 1) -> datetime:
        """Raises NotEnrolled for a PM without a profile (an old nudge after forget-me)."""
        self._enrolled(team_id, user_id, self._enrolled_only(team_id, user_id))
        until = self.clock() + timedelta(days=days)
        self.store.profiles.set_profile(
            team_id, user_id, snooze_at=str(int(until.timestamp() * 1000))
        )
        self.schedule_next(team_id, user_id)
        return until

    def skip_week(self, team_id: str, user_id: str) -> str:
        """Raises NotEnrolled for a PM without a profile (an old nudge after forget-me)."""
        self._enrolled(team_id, user_id, self._enrolled_only(team_id, user_id))
        week = week_of(self.clock(), self.tz_for(team_id, user_id))
        self.store.profiles.set_profile(team_id, user_id, skip_week=week)
        self.store.profiles.clear_profile(team_id, user_id, "snooze_at")
        self.schedule_next(team_id, user_id)
        return week

    def pause(self, team_id: str, user_id: str, weeks: int) -> tuple[str, str]:
        """Pause this week and the next `weeks - 1`; returns (first, last) paused week."""
        if not 1 <= weeks <= 12:
            raise ValueError("pause 1–12 weeks")
        self.enrol(team_id, user_id)
        first = week_of(self.clock(), self.tz_for(team_id, user_id))
        paused = [shift_week(first, i) for i in range(weeks)]
        self.store.profiles.pause(team_id, user_id, paused)
        self.schedule_next(team_id, user_id)
        return paused[0], paused[-1]

    def resume(self, team_id: str, user_id: str) -> int:
        """End a pause from this week on; returns how many paused weeks were removed."""
        self.enrol(team_id, user_id)
        current = week_of(self.clock(), self.tz_for(team_id, user_id))
        removed = self.store.profiles.resume(team_id, user_id, current)
        self.schedule_next(team_id, user_id)
        return removed

    def pause_ends(self, last_week: str) -> date:
        """The Monday the PM is back after a pause ending with `last_week`."""
        return week_monday(shift_week(last_week, 1))

    # Preferences ------------------------------------------------------------------------------

    def set_target(self, team_id: str, user_id: str, percent: int) -> None:
        if not 1 <= percent <= 100:
            raise ValueError("target must be 1–100")
        self.enrol(team_id, user_id)
        self.store.profiles.set_profile(team_id, user_id, target=str(percent))

    def set_share(self, team_id: str, user_id: str, share: bool) -> None:
        self.enrol(team_id, user_id)
        self.store.profiles.set_profile(team_id, user_id, share="1" if share else "0")

    def set_timezone(self, team_id: str, user_id: str, tz: str | None) -> str:
        """An explicit IANA zone, or None to follow Slack's zone again. Returns the zone."""
        self.enrol(team_id, user_id)
        if tz is None:
            zone_name = self.slack_tz(user_id)
            self.store.profiles.set_tz(team_id, user_id, zone_name, "slack", force=True)
        else:
            found = canonical_tz(tz)
            if found is None:
                raise ValueError("unknown time zone")
            zone_name = found
            self.store.profiles.set_tz(team_id, user_id, zone_name, "explicit")
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
        self.store.profiles.set_tz(team_id, user_id, looked, "slack", force=True)
        self.tz_cache.put(team_id, user_id, looked)
        self.schedule_next(team_id, user_id)
        self.log.info("tz_set", team_id=team_id, user_id=user_id, tz=looked, source="slack")
        return looked

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
        """Whether the app is a member of the channel (the team recap posts there)."""
        try:
            info = self.profile_client.conversations_info(channel=channel_id).get("channel") or {}
        except (SlackApiError, SlackClientError, OSError):
            return False
        return bool(info.get("is_member"))
