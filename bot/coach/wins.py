"""Wins: logging one (once per Slack delivery, in the PM's local week, confirmed when Redis
lost the answer), a `/win <text>` draft waiting for its lane, the history, editing and undoing.
Imports `bot.domain`, `bot.store` and the coach's base only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.coach.base import CoachBase, Standing
from bot.domain.weeks import local_date, local_noon, week_of, week_of_date
from bot.domain.wins import (
    Lane,
    LaneSuggestion,
    Win,
    suggest_lane,
    validate_backdate,
    validate_beneficiary,
    validate_link,
    validate_text,
    win_id,
)
from bot.store import LogOutcome, OutcomeUnknown, StoreUnavailable


@dataclass(frozen=True)
class Logged:
    """A win logged (or edited), and where the PM stands with it."""

    win: Win
    duplicate: bool
    standing: Standing
    enrolled: str = ""  # "new" / "reactivated": call finish_enrolment() after answering
    removed: bool = False  # a redelivery of a win that was logged, then undone: nothing stored


@dataclass(frozen=True)
class Undone:
    """The win removed by an undo, and where the PM stands without it."""

    win: Win | None  # None: already removed
    standing: Standing | None


class Wins(CoachBase):
    """Logging, drafting, editing and undoing a PM's wins."""

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
                outcome = self.store.wins.log_win(
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
            if self.store.profiles.profile_zone(team_id, user_id) == (tz, "fallback"):
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
            stored = self.store.wins.get_win(team_id, user_id, outcome.win_id)
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
            found = self.store.wins.stored_win(win, now=now)
        except StoreUnavailable:
            found = None
        ids = {"team_id": win.team_id, "user_id": win.user_id, "win_id": win.id}
        if found is None:
            self.log.warning("win_unconfirmed", **ids)
            raise lost
        self.log.info("win_confirmed_after_lost_answer", **ids)
        return found

    def draft(self, team_id: str, user_id: str, text: str) -> tuple[str, LaneSuggestion]:
        """Keep `/win <text>` until the PM picks a lane; suggest one from the wording."""
        text = validate_text(text)
        draft_id = self.store.profiles.save_draft(team_id, user_id, {"text": text})
        return draft_id, suggest_lane(text)

    def log_draft(self, team_id: str, user_id: str, draft_id: str, lane: Lane) -> Logged | None:
        """Log a drafted win in the lane the PM picked. A second click logs nothing new.

        Returns None when the draft expired and was never logged.
        """
        source = f"draft:{draft_id}"
        draft = self.store.profiles.get_draft(team_id, user_id, draft_id)
        if draft is None:
            win = self.store.wins.get_win(team_id, user_id, win_id(team_id, user_id, source))
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

    # History, edit, undo ----------------------------------------------------------------------

    def history(self, team_id: str, user_id: str, count: int) -> list[Win]:
        """The PM's latest `count` wins, newest first."""
        return self.store.wins.user_wins(team_id, user_id, newest_first=True, limit=count)

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
        current = self.store.wins.get_win(team_id, user_id, win_id_)
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
        outcome = self.store.wins.edit_win(edited)
        if outcome.state is None:
            return None
        self.log.info("win_edited", team_id=team_id, user_id=user_id, win_id=win_id_)
        return Logged(win=edited, duplicate=False, standing=self.standing(outcome.state, tz, now))

    def undo(self, team_id: str, user_id: str, win_id_: str) -> Undone:
        """Remove one win (a second undo of it finds nothing and removes nothing)."""
        outcome = self.store.wins.delete_win(team_id, user_id, win_id_)
        if outcome.win is None or outcome.state is None:
            return Undone(win=None, standing=None)
        self.log.info("win_undone", team_id=team_id, user_id=user_id, win_id=win_id_)
        tz = self.tz_for(team_id, user_id)
        return Undone(win=outcome.win, standing=self.standing(outcome.state, tz, self.clock()))

    def undo_last(self, team_id: str, user_id: str) -> Undone:
        """Remove the win the PM logged most recently (whatever date it was for)."""
        last = self.store.wins.last_logged_id(team_id, user_id)
        if last is None:
            return Undone(win=None, standing=None)
        return self.undo(team_id, user_id, last)
