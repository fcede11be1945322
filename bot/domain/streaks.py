"""Weekly clarity streaks and the 4-week balance, exactly as PRODUCT.md defines them. Pure.

Inputs are per-week counts keyed by local ISO week id (``2026-W48``); the current week is passed
in, never read from a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import NamedTuple

from bot.domain.weeks import shift_week, weeks_back, weeks_between

BALANCE_WEEKS = 4


class WeekCount(NamedTuple):
    """Wins in one week, by lane. A named tuple: recaps build one per PM and week, and a
    tuple is several times cheaper to make than a frozen dataclass."""

    shipped: int = 0
    clarity: int = 0

    @property
    def total(self) -> int:
        return self.shipped + self.clarity


@dataclass(frozen=True)
class Streak:
    current: int
    longest: int
    # The current week has no clarity win yet and one more miss would end the run: a gentle
    # nudge may say "log a clarity win this week to keep it", never "you broke it".
    at_risk: bool = False


def streak(counts: Mapping[str, WeekCount], paused: Set[str], current_week: str) -> Streak:
    """Current and longest streak.

    A week *counts* when it holds at least one clarity win. The run ends at the current week, or
    at the week before while the current week has no clarity win yet. A single non-counting week
    between counting weeks does not break the run (and adds nothing); two in a row do. Paused
    weeks are skipped: they neither count nor break.

    While the current week is still open, a miss last week does not end the run yet: it would
    only become the second miss in a row if this week also ends without a clarity win. The
    streak then shows its length with `at_risk` set, rather than dropping to zero on Monday and
    coming back when the PM logs a clarity win.
    """
    counting = {w for w, c in counts.items() if c.clarity > 0 and w <= current_week}
    if not counting:
        return Streak(current=0, longest=0)
    anchor = current_week if current_week in counting else shift_week(current_week, -1)
    run = longest = misses = 0
    for week in weeks_between(min(counting), anchor):
        if week in paused:
            continue
        if week in counting:
            run = run + 1 if misses < 2 else 1
            misses = 0
            longest = max(longest, run)
        else:
            misses += 1
            if misses >= 2:
                run = 0
    current = run if misses < 2 else 0
    at_risk = current > 0 and current_week not in counting and misses == 1
    return Streak(current=current, longest=longest, at_risk=at_risk)


@dataclass(frozen=True)
class Balance:
    """Share of clarity wins over the current week and the three before it."""

    share: float | None  # 0..1; None when there were no wins in the window
    window: WeekCount
    this_week: WeekCount
    last_week: WeekCount
    target: float  # 0..1

    @property
    def percent(self) -> int | None:
        return None if self.share is None else round(self.share * 100)

    @property
    def on_target(self) -> bool:
        return self.share is not None and self.share >= self.target


def balance(counts: Mapping[str, WeekCount], current_week: str, target_percent: int) -> Balance:
    shipped = clarity = 0
    for week in weeks_back(current_week, BALANCE_WEEKS):
        count = counts.get(week)
        if count is not None:
            shipped += count.shipped
            clarity += count.clarity
    total = shipped + clarity
    return Balance(
        share=None if total == 0 else clarity / total,
        window=WeekCount(shipped, clarity),
        this_week=counts.get(current_week, _NONE),
        last_week=counts.get(shift_week(current_week, -1), _NONE),
        target=target_percent / 100,
    )


_NONE = WeekCount()


def counts_in_weeks(fields: Mapping[str, str | int], weeks: Iterable[str]) -> dict[str, WeekCount]:
    """Week counts of only `weeks` from the store's fields (what an aggregate over a few weeks
    needs; `counts_from_fields` reads them all)."""
    out = {}
    for week in weeks:
        shipped, clarity = fields.get(week + ":s"), fields.get(week + ":c")
        if shipped is not None or clarity is not None:
            out[week] = WeekCount(max(int(shipped or 0), 0), max(int(clarity or 0), 0))
    return out


def counts_from_fields(fields: Mapping[str, str | int]) -> dict[str, WeekCount]:
    """Week counts from the store's ``<week>:s`` / ``<week>:c`` hash fields."""
    return counts_from_items(fields.items())


def counts_from_items(items: Iterable[tuple[str, str | int]]) -> dict[str, WeekCount]:
    """`counts_from_fields` of (field, value) pairs."""
    pairs: dict[str, list[int]] = {}
    for key, value in items:
        week, _, lane = key.rpartition(":")
        if lane in ("s", "c"):
            pairs.setdefault(week, [0, 0])[0 if lane == "s" else 1] = max(int(value), 0)
    return {week: WeekCount(shipped, clarity) for week, (shipped, clarity) in pairs.items()}
