"""The weekly team recap's content: aggregates, opt-in highlights and streak milestones. Pure;
every input is passed in (the Block Kit and plain-text forms are in `bot.surfaces.recap`).

The top-level message carries team aggregates only. Anything about a person goes in one thread
reply, and only for PMs who opted in (`/coach share on`). Reflections never appear. No
broadcast mentions; user text is escaped; within Slack's limits however large the team.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.domain.streaks import WeekCount, streak
from bot.domain.weeks import shift_week, weeks_back
from bot.domain.wins import Lane, Win

MILESTONES = (4, 8, 12, 26, 52)
MAX_HIGHLIGHTS = 30
TREND_WEEKS = 4  # the recap's average: this week and the three before


@dataclass(frozen=True)
class MemberWeek:
    """What the recap needs about one PM in the channel (all from Redis)."""

    user_id: str
    counts: dict[str, WeekCount]
    paused: frozenset[str] = frozenset()
    sharing: bool = False


@dataclass(frozen=True)
class Recap:
    week: str
    members: int
    this: WeekCount
    previous: WeekCount
    four_weeks: WeekCount
    prompt: str
    highlights: list[Win] = field(default_factory=list)  # opted-in PMs' clarity wins
    # Opted-in PMs' clarity wins this week, by PM (from their week counts): what the thread
    # summarises beyond the highlights it was given ("…and 12 more from 5 people").
    shared_clarity: dict[str, int] = field(default_factory=dict)
    milestones: list[tuple[str, int]] = field(default_factory=list)  # (user, weeks) reached

    @property
    def quiet(self) -> bool:
        return self.this.total == 0


def share(count: WeekCount) -> int | None:
    return None if count.total == 0 else round(100 * count.clarity / count.total)


def _sum(members: Sequence[MemberWeek], weeks: Sequence[str]) -> WeekCount:
    shipped = clarity = 0
    for member in members:
        for week in weeks:
            count = member.counts.get(week)
            if count is not None:
                shipped += count.shipped
                clarity += count.clarity
    return WeekCount(shipped=shipped, clarity=clarity)


def milestone_reached(member: MemberWeek, week: str) -> int | None:
    """The milestone a PM's streak reached in `week` (only if that week counted)."""
    if member.counts.get(week, WeekCount()).clarity == 0:
        return None
    length = streak(member.counts, member.paused, week).current
    return length if length in MILESTONES else None


def build_recap(
    week: str, members: Sequence[MemberWeek], highlight_wins: Sequence[Win], prompt: str
) -> Recap:
    sharing = {m.user_id for m in members if m.sharing}
    highlights = [
        w
        for w in highlight_wins
        if w.user_id in sharing and w.lane is Lane.CLARITY and w.week == week
    ]
    highlights.sort(key=lambda w: w.at)
    shared_clarity = {}
    for member in members:
        count = member.counts.get(week)
        if member.sharing and count is not None and count.clarity > 0:
            shared_clarity[member.user_id] = count.clarity
    milestones = []
    for member in members:
        if member.sharing:
            reached = milestone_reached(member, week)
            if reached:
                milestones.append((member.user_id, reached))
    milestones.sort(key=lambda item: (-item[1], item[0]))
    return Recap(
        week=week,
        members=len(members),
        this=_sum(members, [week]),
        previous=_sum(members, [shift_week(week, -1)]),
        four_weeks=_sum(members, weeks_back(week, TREND_WEEKS)),
        prompt=prompt,
        highlights=highlights,
        shared_clarity=shared_clarity,
        milestones=milestones,
    )
