"""Local ISO weeks: DST weeks, year ends and time zone changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.domain.weeks import local_noon, parse_week, shift_week, week_of, weeks_back, weeks_between


@pytest.mark.parametrize(
    ("instant", "tz", "week"),
    [
        # Sunday 23:30 in Berlin is still the old week; Monday 00:30 Berlin is Sunday UTC.
        (datetime(2026, 11, 29, 22, 30, tzinfo=UTC), "Europe/Berlin", "2026-W48"),
        (datetime(2026, 11, 29, 23, 30, tzinfo=UTC), "Europe/Berlin", "2026-W49"),
        (datetime(2026, 11, 30, 3, 0, tzinfo=UTC), "America/New_York", "2026-W48"),
        # DST ends in Berlin on 2026-10-25 and in New York on 2026-11-01 (Sunday).
        (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), "Europe/Berlin", "2026-W43"),
        (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), "Europe/Berlin", "2026-W44"),
        (datetime(2026, 11, 2, 4, 59, tzinfo=UTC), "America/New_York", "2026-W44"),
        (datetime(2026, 11, 2, 5, 0, tzinfo=UTC), "America/New_York", "2026-W45"),
        # DST starts on 2026-03-08 in New York: Monday 00:00 local is 05:00 UTC.
        (datetime(2026, 3, 9, 3, 59, tzinfo=UTC), "America/New_York", "2026-W10"),
        (datetime(2026, 3, 9, 4, 0, tzinfo=UTC), "America/New_York", "2026-W11"),
        # 2026 has an ISO week 53; 2027-01-01 belongs to it.
        (datetime(2027, 1, 1, 12, 0, tzinfo=UTC), "UTC", "2026-W53"),
        (datetime(2027, 1, 4, 12, 0, tzinfo=UTC), "UTC", "2027-W01"),
        # Unknown zones fall back to UTC rather than failing.
        (datetime(2026, 11, 29, 23, 30, tzinfo=UTC), "Not/AZone", "2026-W48"),
    ],
)
def test_week_of(instant: datetime, tz: str, week: str) -> None:
    """The same instant falls in the PM's own local week."""
    assert week_of(instant, tz) == week


def test_same_instant_differs_by_zone() -> None:
    """A PM who moves zones gets weeks by their new wall clock."""
    instant = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # Monday 08:30 in Tokyo
    assert week_of(instant, "Asia/Tokyo") == "2026-W49"
    assert week_of(instant, "America/Los_Angeles") == "2026-W48"


def test_week_arithmetic() -> None:
    assert shift_week("2026-W53", 1) == "2027-W01"
    assert shift_week("2027-W01", -1) == "2026-W53"
    assert shift_week("2025-W52", 1) == "2026-W01"  # 2025 has 52 weeks
    assert weeks_back("2027-W01", 3) == ("2026-W52", "2026-W53", "2027-W01")
    assert weeks_between("2026-W52", "2027-W02") == ("2026-W52", "2026-W53", "2027-W01", "2027-W02")
    assert weeks_between("2027-W02", "2026-W52") == ()
    with pytest.raises(ValueError, match="ISO week"):
        parse_week("2026-48")
    with pytest.raises(ValueError):
        parse_week("2025-W53")


def test_local_noon_is_aware_and_local() -> None:
    noon = local_noon(date(2026, 3, 29), "Europe/Berlin")  # DST starts that day
    assert noon.utcoffset() is not None
    assert noon.astimezone(UTC).hour == 10
