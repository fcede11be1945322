"""Streak and balance exactly as PRODUCT.md defines them (table-driven)."""

from __future__ import annotations

import pytest

from bot.domain.streaks import Streak, WeekCount, balance, counts_from_fields, streak

C = WeekCount(clarity=1)
S = WeekCount(shipped=2)


def weeks(spec: str, last: str = "2026-W48") -> dict[str, WeekCount]:
    """'cs.c' → per-week counts ending at `last`: c = clarity, s = shipped only, . = nothing."""
    from bot.domain.weeks import shift_week

    out = {}
    for offset, char in enumerate(reversed(spec)):
        week = shift_week(last, -offset)
        if char == "c":
            out[week] = C
        elif char == "s":
            out[week] = S
    return out


@pytest.mark.parametrize(
    ("spec", "current", "longest"),
    [
        ("", 0, 0),
        ("c", 1, 1),  # clarity this week
        ("c.", 1, 1),  # last week counted, current week still open
        ("cc.", 2, 2),
        ("ccc", 3, 3),
        ("c.c", 2, 2),  # a single miss between counting weeks is forgiven
        ("c.cc", 3, 3),
        ("c..c", 1, 1),  # two misses in a row break the run
        ("cc..c", 1, 2),  # longest is kept
        ("cc..", 2, 2),  # last week missed, this week still open: alive (at risk)
        ("cc...", 0, 2),  # two full weeks missed: broken
        ("cc.", 2, 2),
        ("c.c.", 2, 2),  # current week open, last week missed once: still alive (at risk)
        ("s", 0, 0),  # shipped-only weeks never count
        ("csc", 2, 2),  # a shipped-only week is a miss, forgiven once
        ("cssc", 1, 1),
        ("ccc..ccccc.", 5, 5),
    ],
)
def test_streak_table(spec: str, current: int, longest: int) -> None:
    """Counting weeks, forgiven single misses, the open current week and the longest run."""
    result = streak(weeks(spec), frozenset(), "2026-W48")
    assert (result.current, result.longest) == (current, longest)


def test_paused_weeks_neither_count_nor_break() -> None:
    """Weeks on pause are skipped: two paused weeks between counting weeks keep the run."""
    counts = weeks("c..c")
    paused = {"2026-W46", "2026-W47"}
    assert streak(counts, paused, "2026-W48") == Streak(current=2, longest=2)
    # Pause counts nothing by itself.
    assert streak({}, paused, "2026-W48").current == 0


def test_at_risk_only_while_one_miss_from_breaking() -> None:
    """'at risk': last week missed and this week has no clarity yet; one more miss ends it."""
    at_risk = streak(weeks("cc.."), frozenset(), "2026-W48")
    assert (at_risk.current, at_risk.at_risk) == (2, True)
    safe = streak(weeks("cc."), frozenset(), "2026-W48")
    assert (safe.current, safe.at_risk) == (2, False)
    saved = streak(weeks("cc.c"), frozenset(), "2026-W48")
    assert (saved.current, saved.at_risk) == (3, False)
    broken = streak(weeks("cc..."), frozenset(), "2026-W48")
    assert (broken.current, broken.at_risk) == (0, False)


def test_streak_across_iso_year_with_week_53() -> None:
    """2026 has 53 ISO weeks: W52 → W53 → 2027-W01 is an unbroken run."""
    counts = {"2026-W52": C, "2026-W53": C, "2027-W01": C}
    assert streak(counts, frozenset(), "2027-W01") == Streak(current=3, longest=3)
    # A miss in week 53 is a single forgiven miss.
    counts = {"2026-W52": C, "2027-W01": C}
    assert streak(counts, frozenset(), "2027-W01").current == 2


def test_backdated_win_fills_a_gap() -> None:
    """A clarity win backdated into a missed week repairs a broken run."""
    counts = weeks("c..c")
    assert streak(counts, frozenset(), "2026-W48").current == 1
    counts["2026-W46"] = C
    assert streak(counts, frozenset(), "2026-W48").current == 3


def test_balance_over_four_weeks() -> None:
    """Share of clarity over this week and the three before; older weeks are ignored."""
    counts = {
        "2026-W48": WeekCount(shipped=1, clarity=1),
        "2026-W47": WeekCount(shipped=2, clarity=0),
        "2026-W45": WeekCount(shipped=0, clarity=2),
        "2026-W44": WeekCount(shipped=0, clarity=9),  # outside the window
    }
    result = balance(counts, "2026-W48", 50)
    assert result.window == WeekCount(shipped=3, clarity=3)
    assert result.percent == 50 and result.on_target
    assert result.this_week == WeekCount(1, 1) and result.last_week == WeekCount(2, 0)
    empty = balance({}, "2026-W48", 60)
    assert empty.share is None and empty.percent is None and not empty.on_target


def test_counts_from_store_fields() -> None:
    fields = {"2026-W48:s": "2", "2026-W48:c": "1", "2026-W40:c": "3", "junk": "1"}
    assert counts_from_fields(fields) == {"2026-W48": WeekCount(2, 1), "2026-W40": WeekCount(0, 3)}
