"""Deciding a PM's reflection nudge: send it, skip this occurrence, or stop. Pure.

Rules, in order: a PM who is gone (forgotten, inactive, team uninstalled) or switched nudges off
is dropped from the schedule; a nudge more than GRACE late is skipped, and a late one never goes
out at night (only 07:00–21:59 local); paused weeks and a skipped week get nothing; after three
ignored nudges in a row PM Coach backs off to every other week and says so once, in the first
nudge it sends after backing off.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from bot.domain.numbers import is_number
from bot.domain.schedule import next_nudge, schedule_from_profile
from bot.domain.weeks import epoch_ms, local_date, week_monday, week_of, zone

GRACE = timedelta(hours=6)  # a nudge missed while every process was down goes out this late
ON_TIME = timedelta(minutes=15)  # later than this counts as late
DAY_STARTS, DAY_ENDS = 7, 22  # late nudges only between 07:00 and 21:59 local
BACKOFF_AFTER = 3  # ignored nudges in a row

Action = Literal["send", "skip", "drop"]


@dataclass(frozen=True)
class Plan:
    action: Action
    reason: str
    slot: str  # the occurrence's local date: one nudge per PM and local day
    week: str  # the occurrence's local ISO week
    next_due: datetime | None
    notice: bool = False  # the first nudge after backing off says so, once
    profile_updates: dict[str, str] = field(default_factory=dict)
    profile_deletes: tuple[str, ...] = ()


def _next_due(
    occurrence: datetime, now: datetime, profile: Mapping[str, str], paused: Collection[str]
) -> datetime | None:
    tz = profile.get("tz") or "UTC"
    after = max(occurrence, now)
    nxt = next_nudge(after, tz, schedule_from_profile(profile), paused)
    snooze = profile.get("snooze_at", "")
    if is_number(snooze):
        snoozed = datetime.fromtimestamp(int(snooze) / 1000, tz=now.tzinfo)
        if snoozed > after and (nxt is None or snoozed < nxt):
            return snoozed
    return nxt


def plan_nudge(
    *,
    occurrence: datetime,
    now: datetime,
    profile: Mapping[str, str],
    paused: Collection[str],
    team_active: bool = True,
) -> Plan:
    """What to do with the occurrence a tick claimed (both instants aware)."""
    tz = profile.get("tz") or "UTC"
    slot = local_date(occurrence, tz).isoformat()
    week = week_of(occurrence, tz)

    def drop(reason: str) -> Plan:
        return Plan("drop", reason, slot, week, None)

    if not profile:
        return drop("forgotten")
    if not team_active:
        return drop("team_uninstalled")
    if profile.get("inactive") == "1":
        return drop("inactive")
    if profile.get("nudges") == "off":
        return drop("nudges_off")

    nxt = _next_due(occurrence, now, profile, paused)
    deletes: tuple[str, ...] = ()
    snooze = profile.get("snooze_at", "")
    if is_number(snooze) and int(snooze) <= epoch_ms(max(occurrence, now)):
        deletes = ("snooze_at",)

    def skip(reason: str, **updates: str) -> Plan:
        return Plan(
            "skip", reason, slot, week, nxt, profile_updates=dict(updates), profile_deletes=deletes
        )

    lateness = now - occurrence
    if lateness > GRACE:
        return skip("missed")
    local_hour = now.astimezone(zone(tz)).hour
    if lateness > ON_TIME and not DAY_STARTS <= local_hour < DAY_ENDS:
        return skip("night")
    if week in paused:
        return skip("paused")
    if profile.get("skip_week") == week:
        return skip("skipped_week")

    ignored = int(profile.get("ignored", "0") or 0)
    if ignored >= BACKOFF_AFTER:
        started = profile.get("backoff_from") or week
        offset = (week_monday(week) - week_monday(started)).days // 7
        updates = {} if profile.get("backoff_from") else {"backoff_from": started}
        if offset % 2 == 0:
            return skip("backoff", **updates)
        return Plan(
            "send",
            "backoff_week",
            slot,
            week,
            nxt,
            notice=profile.get("backoff_told") != "1",
            profile_updates=updates,
            profile_deletes=deletes,
        )
    return Plan("send", "due", slot, week, nxt, profile_deletes=deletes)
