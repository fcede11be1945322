"""Nudge schedules: parsing what PMs type, and the next local instant across DST."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.domain.schedule import NudgeSchedule, ScheduleError, next_nudge, parse_schedule


@pytest.mark.parametrize(
    ("text", "days", "at"),
    [
        ("mon,thu 09:30", (0, 3), time(9, 30)),
        ("Mon, Thu 9:30", (0, 3), time(9, 30)),
        ("fri 3pm", (4,), time(15, 0)),
        ("friday 15.45", (4,), time(15, 45)),
        ("weekdays 08:45", (0, 1, 2, 3, 4), time(8, 45)),
        ("mon-wed 12:00", (0, 1, 2), time(12, 0)),
        ("sat-mon 10:00", (0, 5, 6), time(10, 0)),
        ("tue 12am", (1,), time(0, 0)),
    ],
)
def test_parse_schedule(text: str, days: tuple[int, ...], at: time) -> None:
    schedule = parse_schedule(text)
    assert (schedule.days, schedule.at, schedule.enabled) == (days, at, True)


@pytest.mark.parametrize(
    "text", ["", "09:30", "mon", "funday 09:30", "mon 25:00", "mon 9:61", "mon 13pm", "mon,thu"]
)
def test_bad_schedules_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(text)


def test_off() -> None:
    assert parse_schedule("off").enabled is False
    assert (
        next_nudge(datetime(2026, 11, 25, tzinfo=UTC), "UTC", NudgeSchedule(enabled=False)) is None
    )


@pytest.mark.parametrize(
    ("after", "tz", "schedule", "expected"),
    [
        # Friday 15:00 Berlin: 14:00 UTC in winter, 13:00 UTC in summer.
        (
            datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
            "Europe/Berlin",
            "fri 15:00",
            datetime(2026, 11, 27, 14, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 10, 21, 10, 0, tzinfo=UTC),
            "Europe/Berlin",
            "fri 15:00",
            datetime(2026, 10, 23, 13, 0, tzinfo=UTC),
        ),
        # Strictly after: at the instant itself, the next one is a week later (after DST ends).
        (
            datetime(2026, 10, 23, 13, 0, tzinfo=UTC),
            "Europe/Berlin",
            "fri 15:00",
            datetime(2026, 10, 30, 14, 0, tzinfo=UTC),
        ),
        # New York: DST ends Sunday 2026-11-01.
        (
            datetime(2026, 10, 31, 12, 0, tzinfo=UTC),
            "America/New_York",
            "mon 09:30",
            datetime(2026, 11, 2, 14, 30, tzinfo=UTC),
        ),
        # A time in the spring-forward gap (02:30 on 2026-03-29 in Berlin) lands after the gap.
        (
            datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
            "Europe/Berlin",
            "sun 02:30",
            datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        ),
        # An ambiguous time (01:30 on 2026-11-01 in New York) is its first occurrence.
        (
            datetime(2026, 10, 31, 12, 0, tzinfo=UTC),
            "America/New_York",
            "sun 01:30",
            datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
            "Asia/Kolkata",
            "mon,thu 09:30",
            datetime(2026, 11, 26, 4, 0, tzinfo=UTC),
        ),
    ],
)
def test_next_nudge_is_local_wall_clock(
    after: datetime, tz: str, schedule: str, expected: datetime
) -> None:
    assert next_nudge(after, tz, parse_schedule(schedule)) == expected


def test_paused_weeks_are_skipped() -> None:
    after = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    result = next_nudge(after, "UTC", parse_schedule("fri 15:00"), {"2026-W48"})
    assert result == datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
