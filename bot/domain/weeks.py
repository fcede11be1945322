"""ISO weeks in a PM's own time zone. Pure functions; time is always passed in.

A week id looks like ``2026-W48`` and sorts as text in time order.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.domain.numbers import is_number

DEFAULT_TZ = "UTC"


MAX_TZ_NAME = 64


@lru_cache(maxsize=1024)
def zone(tz: str | None) -> ZoneInfo:
    """The zone for an IANA name; UTC for an unknown or empty one."""
    try:
        return ZoneInfo(tz or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo(DEFAULT_TZ)


@cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def canonical_tz(name: str) -> str | None:
    """The IANA name for what a PM typed (any case: `utc`, `europe/berlin`), or None."""
    name = name.strip()
    if not name or len(name) > MAX_TZ_NAME:
        return None
    found = _zone_names().get(name.lower())
    if found is None or not ("/" in found or found == "UTC"):
        return None
    return found


def is_valid_tz(tz: str) -> bool:
    return canonical_tz(tz) == tz


def epoch_ms(instant: datetime) -> int:
    """`instant` as epoch milliseconds, how the store keeps instants (scores, `snooze_at`)."""
    return int(instant.timestamp() * 1000)


def local_date(instant: datetime, tz: str | None) -> date:
    """The calendar date at `instant` on the PM's wall clock."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(zone(tz)).date()


# The week helpers below are pure and called for every win, nudge and recap line (streaks walk
# every week a PM has logged): small caches keep them off the profile.
@lru_cache(maxsize=8192)
def week_of_date(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_of(instant: datetime, tz: str | None) -> str:
    """The PM's local ISO week at `instant`."""
    return week_of_date(local_date(instant, tz))


@lru_cache(maxsize=8192)
def parse_week(week: str) -> tuple[int, int]:
    """(year, week) of a week id; ValueError if it is not one."""
    year_text, sep, week_text = week.partition("-W")
    if not sep or len(week_text) != 2 or not is_number(year_text) or not is_number(week_text):
        raise ValueError(f"not an ISO week: {week!r}")
    year, number = int(year_text), int(week_text)
    date.fromisocalendar(year, number, 1)  # raises ValueError for week 53 of a 52-week year
    return year, number


def week_monday(week: str) -> date:
    year, number = parse_week(week)
    return date.fromisocalendar(year, number, 1)


@lru_cache(maxsize=1024)
def week_span_ms(week: str) -> tuple[int, int]:
    """Epoch ms bounds [start, end) holding every instant that falls in the local ISO week
    `week` in some time zone: its Monday 00:00 at UTC+14 to the next Monday 00:00 at UTC-12."""
    monday = datetime.combine(week_monday(week), time(0), tzinfo=UTC)
    start = monday - timedelta(hours=14)
    end = monday + timedelta(weeks=1, hours=12)
    return epoch_ms(start), epoch_ms(end)


@lru_cache(maxsize=8192)
def shift_week(week: str, weeks: int) -> str:
    """The week `weeks` after (negative: before) `week`."""
    return week_of_date(week_monday(week) + timedelta(weeks=weeks))


@lru_cache(maxsize=4096)
def weeks_back(week: str, count: int) -> tuple[str, ...]:
    """`count` weeks ending at `week`, oldest first."""
    return tuple(shift_week(week, -i) for i in range(count - 1, -1, -1))


@lru_cache(maxsize=4096)
def weeks_between(first: str, last: str) -> tuple[str, ...]:
    """Every week from `first` to `last` inclusive (empty if first is after last)."""
    start, end = week_monday(first), week_monday(last)
    if start > end:
        return ()
    return tuple(
        week_of_date(start + timedelta(weeks=i)) for i in range((end - start).days // 7 + 1)
    )


def local_noon(day: date, tz: str | None) -> datetime:
    """Noon on `day` in the PM's zone: the instant a backdated win is recorded at."""
    return datetime.combine(day, time(12, 0), tzinfo=zone(tz))
