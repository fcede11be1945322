"""When a PM's reflection nudge is due, in their own time zone. Pure; time is passed in.

Local instants are built from the wall clock with zoneinfo every time (never "+7 days in UTC"),
so DST changes and zone changes land on the intended local day and time.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.domain.weeks import week_of_date, zone

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_DAYS = (4,)  # Friday
DEFAULT_TIME = time(15, 0)


class ScheduleError(ValueError):
    """Not a schedule; `code` picks the friendly explanation."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class NudgeSchedule:
    days: tuple[int, ...] = DEFAULT_DAYS  # 0 = Monday
    at: time = DEFAULT_TIME
    enabled: bool = True

    def describe(self) -> str:
        if not self.enabled:
            return "off"
        names = ", ".join(DAY_NAMES[d].capitalize() for d in self.days)
        return f"{names} at {self.at.strftime('%H:%M')}"

    def to_fields(self) -> dict[str, str]:
        return {
            "nudge_days": ",".join(DAY_NAMES[d] for d in self.days),
            "nudge_time": self.at.strftime("%H:%M"),
            "nudges": "on" if self.enabled else "off",
        }


def parse_days(text: str) -> tuple[int, ...]:
    text = text.strip().lower()
    aliases = {"weekdays": "mon,tue,wed,thu,fri", "daily": "mon,tue,wed,thu,fri,sat,sun"}
    text = aliases.get(text, text)
    days: set[int] = set()
    for part in re.split(r"[,\s]+", text):
        if not part:
            continue
        if "-" in part:
            first, _, last = part.partition("-")
            if first[:3] not in DAY_NAMES or last[:3] not in DAY_NAMES:
                raise ScheduleError("bad_days")
            a, b = DAY_NAMES.index(first[:3]), DAY_NAMES.index(last[:3])
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        elif part[:3] in DAY_NAMES and DAY_NAMES[DAY_NAMES.index(part[:3])].startswith(part[:3]):
            days.add(DAY_NAMES.index(part[:3]))
        else:
            raise ScheduleError("bad_days")
    if not days:
        raise ScheduleError("bad_days")
    return tuple(sorted(days))


def parse_time(text: str) -> time:
    match = re.fullmatch(r"(\d{1,2})[:.h]?(\d{2})?\s*(am|pm)?", text.strip().lower())
    if not match:
        raise ScheduleError("bad_time")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if match.group(3):
        if not 1 <= hour <= 12:
            raise ScheduleError("bad_time")
        hour = hour % 12 + (12 if match.group(3) == "pm" else 0)
    if hour > 23 or minute > 59:
        raise ScheduleError("bad_time")
    return time(hour, minute)


def parse_schedule(text: str) -> NudgeSchedule:
    """`mon,thu 09:30`, `fri 3pm`, `weekdays 08:45` or `off`."""
    text = text.strip()
    if text.lower() in ("off", "stop", "none"):
        return NudgeSchedule(enabled=False)
    days_text, _, time_text = text.rpartition(" ")
    if not days_text:
        raise ScheduleError("bad_schedule")
    return NudgeSchedule(days=parse_days(days_text), at=parse_time(time_text))


def schedule_from_profile(profile: Mapping[str, str]) -> NudgeSchedule:
    try:
        days = parse_days(profile["nudge_days"]) if profile.get("nudge_days") else DEFAULT_DAYS
        at = parse_time(profile["nudge_time"]) if profile.get("nudge_time") else DEFAULT_TIME
    except ScheduleError:
        days, at = DEFAULT_DAYS, DEFAULT_TIME
    return NudgeSchedule(days=days, at=at, enabled=profile.get("nudges", "on") != "off")


def next_nudge(
    after: datetime, tz: str, schedule: NudgeSchedule, paused: Collection[str] = ()
) -> datetime | None:
    """The first scheduled local instant strictly after `after` outside paused weeks (UTC)."""
    if not schedule.enabled or not schedule.days:
        return None
    local_zone = zone(tz)
    day = after.astimezone(local_zone).date()
    for offset in range(0, 7 * 60):  # up to a year of paused weeks
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() not in schedule.days:
            continue
        if week_of_date(candidate_day) in paused:
            continue
        instant = datetime.combine(candidate_day, schedule.at, tzinfo=local_zone)
        # A time inside a DST gap does not exist: take the instant after the gap, same day.
        instant = instant.astimezone(local_zone).astimezone(local_zone)
        if instant > after:
            return instant.astimezone(after.tzinfo)
    return None
