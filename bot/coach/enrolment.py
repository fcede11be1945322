"""Enrolment: a PM's profile is made by their first win (or the Home's Get started); after
Slack has its answer, the PM is listed in the team, scheduled and welcomed, and a zone that is
only a guess is asked of Slack once (`learn_zone`), moving the wins logged under the guess to
their real local week. Forgetting a PM lives here too. Imports `bot.domain`, `bot.store`,
`bot.surfaces` and the coach's base only.
"""

from __future__ import annotations

import time
from dataclasses import replace

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.coach.base import CoachBase
from bot.domain.schedule import schedule_from_profile
from bot.domain.weeks import week_of
from bot.store import StoreUnavailable
from bot.surfaces import nudge_blocks

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


class Enrolment(CoachBase):
    """Enrolling a PM, learning or following their zone, forgetting them."""

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
            # A forget-me landing between this read and the enrol below leaves a fresh
            # profile: the store has no "enrol only if present" script.
            return NOT_ENROLLED
        tz = self.tz_for(team_id, user_id)
        return self.store.profiles.enrol(
            team_id, user_id, tz, self.clock(), self.tz_source(team_id, user_id, tz)
        )

    def is_enrolled(self, team_id: str, user_id: str) -> bool:
        """Whether the PM has a profile (one read; every profile holds a zone)."""
        return bool(self.store.profiles.profile_zone(team_id, user_id)[0])

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
                self.store.teams.add_team_user(team_id, user_id)
            # Each step once: the schedule below already uses the zone learnt.
            self.learn_zone(team_id, user_id, reschedule=not enrolling)
            if enrolling:
                self._schedule_and_welcome(team_id, user_id, outcome)
        except StoreUnavailable:
            self.log.warning("enrolment_follow_up_failed", team_id=team_id, user_id=user_id)

    def _enrolled(self, team_id: str, user_id: str, outcome: str) -> None:
        if outcome not in ("new", "reactivated"):
            return
        self.store.teams.add_team_user(team_id, user_id)
        self._schedule_and_welcome(team_id, user_id, outcome)

    def _schedule_and_welcome(self, team_id: str, user_id: str, outcome: str) -> None:
        self.schedule_next(team_id, user_id)
        if outcome == "new":
            self.log.info("pm_enrolled", team_id=team_id, user_id=user_id)
            self.send_welcome(team_id, user_id)

    def send_welcome(self, team_id: str, user_id: str) -> None:
        profile = self.store.profiles.profile(team_id, user_id)
        tz = profile.get("tz") or self.tz_for(team_id, user_id)
        message = nudge_blocks.welcome(schedule_from_profile(profile), tz)
        try:
            self.poster.chat_postMessage(channel=user_id, **message)
        except (SlackApiError, SlackClientError, OSError) as exc:
            # A missing welcome must not fail the command that enrolled the PM.
            self.log.warning(
                "welcome_failed", team_id=team_id, user_id=user_id, error=type(exc).__name__
            )

    # Learning a zone --------------------------------------------------------------------------

    def learn_zone(self, team_id: str, user_id: str, *, reschedule: bool = True) -> None:
        """After answering Slack: if the PM's stored zone is only a guess, ask Slack once (not
        again from this process for ZONE_RETRY_S), store the answer, move the wins logged
        under the guess to their real local week, and reschedule the PM's nudges (unless
        `reschedule` is False: the caller schedules them next). Never raises: the PM's
        request is answered already."""
        if self.knows_zone(team_id, user_id):
            return
        try:
            guess, source = self.store.profiles.profile_zone(team_id, user_id)
            if guess is None:  # no profile (yet): nothing to keep a zone in
                return
            if source != "fallback":
                self.tz_cache.put(team_id, user_id, guess)
                return
            if not self.tz_cache.claim_lookup(team_id, user_id, time.monotonic(), ZONE_RETRY_S):
                return
            # The patient client: nobody waits for this answer.
            looked = self.lookup_tz(user_id, self.slack)
            if looked is None or not self.store.profiles.set_tz(team_id, user_id, looked, "slack"):
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
        guess, source = self.store.profiles.profile_zone(team_id, user_id)
        if not self.store.profiles.set_tz(team_id, user_id, tz, "slack"):
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
        for win in self.store.wins.user_wins(
            team_id, user_id, newest_first=True, limit=REPLACE_MAX
        ):
            week = week_of(win.at, tz)
            if win.at == win.logged_at and week != win.week:
                self.store.wins.edit_win(replace(win, week=week))
                moved += 1
        return moved

    # Forget me --------------------------------------------------------------------------------

    def forget(self, team_id: str, user_id: str) -> int:
        """Delete everything stored about the PM (`/coach forget-me`); returns how many keys."""
        deleted = self.store.profiles.forget(team_id, user_id)
        self.tz_cache.drop(team_id, user_id)
        self.log.info("pm_forgotten", team_id=team_id, user_id=user_id, keys=deleted)
        return deleted
