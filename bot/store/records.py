"""What the store's reads and writes return or take: frozen dataclasses and NamedTuples of
plain values. Imports only the domain model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from bot.domain.streaks import WeekCount
from bot.domain.wins import Win


@dataclass(frozen=True)
class PMState:
    """What the confirmation of a change shows: the PM's week counts, pauses and target."""

    counts: dict[str, WeekCount]
    paused: frozenset[str]
    target: int | None  # the PM's own target percent, None = the team default


@dataclass(frozen=True)
class LogOutcome:
    status: str  # "logged" | "duplicate" | "stale_tz"
    win_id: str
    state: PMState
    tz: str
    enrolled: str = ""  # "new" | "reactivated" | ""


@dataclass(frozen=True)
class DeleteOutcome:
    win: Win | None  # None when there was nothing to delete (already undone)
    state: PMState | None


@dataclass(frozen=True)
class Snapshot:
    """Everything the App Home and `/coach stats` show about a PM, read in two round trips."""

    enrolled: bool
    profile: dict[str, str]
    state: PMState
    recent: list[Win]  # newest first (by when it happened)
    total_wins: int
    custom_prompts: int
    reflections: list[dict[str, Any]]  # newest first, the PM's own only


@dataclass(frozen=True)
class Claim:
    """A PM whose nudge is due, claimed under a lease by this process."""

    team_id: str
    user_id: str
    occurrence: datetime  # the scheduled instant (UTC), kept across retries
    token: str
    attempt: int


@dataclass(frozen=True)
class NudgeState:
    """What deciding and writing a nudge needs about a PM, read in one batched round trip."""

    profile: dict[str, str]
    state: PMState
    shown: frozenset[str]
    custom_prompts: list[tuple[int, str]]


@dataclass(frozen=True)
class Completion:
    team_id: str
    user_id: str
    token: str
    next_due: datetime | None  # None: no next nudge (off, inactive, forgotten)
    retry_at: datetime | None = None  # set: keep the lease and try again then


@dataclass(frozen=True)
class SentNudge:
    """A nudge Slack accepted, waiting to be recorded (`NudgeRepo.mark_sent_many`)."""

    claim: Claim
    slot: str
    ts: str
    channel: str
    prompt_id: str
    prompt: str
    now: datetime
    notice: bool
    next_due: datetime | None
    new_cycle: bool = False


class RecapMember(NamedTuple):
    """What a recap reads of one PM (`RecapRepo.recap_members`)."""

    user_id: str
    weeks: dict[str, str]  # the weeks hash: "<week>:s" / "<week>:c" -> count
    paused: set[str]
    share: str  # "1": shares wins in the team recap
    around: list[tuple[int, str]]  # (epoch ms, win id) around the recap's week, in time order


def week_candidates(members: Iterable[RecapMember]) -> list[tuple[int, str, str]]:
    """(epoch ms, user id, win id) of the members' wins around a week, in time order."""
    return sorted((at, m.user_id, w) for m in members for at, w in m.around)
