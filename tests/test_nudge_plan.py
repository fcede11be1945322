"""Deciding a nudge (pure): drops, skips, grace window, night rule, pauses, back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.nudges import plan_nudge

FRI_15_BERLIN = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # Friday 15:00 CET
BASE = {"tz": "Europe/Berlin"}


def plan(
    profile: dict[str, str] | None = None,
    *,
    late: timedelta = timedelta(0),
    paused: frozenset[str] = frozenset(),
    team_active: bool = True,
):  # type: ignore[no-untyped-def]
    return plan_nudge(
        occurrence=FRI_15_BERLIN,
        now=FRI_15_BERLIN + late,
        profile=BASE | (profile or {}) if profile != {} else {},
        paused=paused,
        team_active=team_active,
    )


@pytest.mark.parametrize(
    ("profile", "late", "team_active", "action", "reason"),
    [
        (None, timedelta(seconds=30), True, "send", "due"),
        ({}, timedelta(0), True, "drop", "forgotten"),
        (None, timedelta(0), False, "drop", "team_uninstalled"),
        ({"inactive": "1"}, timedelta(0), True, "drop", "inactive"),
        ({"nudges": "off"}, timedelta(0), True, "drop", "nudges_off"),
        (None, timedelta(hours=2), True, "send", "due"),  # 17:00 local: late, still daytime
        (None, timedelta(hours=7), True, "skip", "missed"),  # beyond the 6 h grace
        (None, timedelta(hours=6, minutes=59), True, "skip", "missed"),
        ({"skip_week": "2026-W48"}, timedelta(0), True, "skip", "skipped_week"),
    ],
)
def test_plan_table(
    profile: dict[str, str] | None, late: timedelta, team_active: bool, action: str, reason: str
) -> None:
    """Each rule decides what happens to the claimed occurrence."""
    result = plan(profile, late=late, team_active=team_active)
    assert (result.action, result.reason) == (action, reason)


def test_late_nudges_never_arrive_at_night() -> None:
    """A 21:30 nudge processed 45 minutes late would land at 22:15 local: skipped."""
    occurrence = datetime(2026, 11, 27, 20, 30, tzinfo=UTC)  # 21:30 Berlin
    profile = {"tz": "Europe/Berlin", "nudge_days": "fri", "nudge_time": "21:30"}
    on_time = plan_nudge(
        occurrence=occurrence, now=occurrence + timedelta(minutes=5), profile=profile, paused=()
    )
    late = plan_nudge(
        occurrence=occurrence, now=occurrence + timedelta(minutes=45), profile=profile, paused=()
    )
    assert on_time.action == "send"
    assert (late.action, late.reason) == ("skip", "night")


def test_paused_week_gets_nothing_and_next_is_after_the_pause() -> None:
    result = plan(paused=frozenset({"2026-W48", "2026-W49"}))
    assert (result.action, result.reason) == ("skip", "paused")
    assert result.next_due == datetime(2026, 12, 11, 14, 0, tzinfo=UTC)


def test_slot_and_next_due_follow_the_local_calendar_across_dst() -> None:
    """Friday 15:00 in Berlin is 13:00 UTC in October and 14:00 UTC after DST ends."""
    occurrence = datetime(2026, 10, 23, 13, 0, tzinfo=UTC)
    result = plan_nudge(occurrence=occurrence, now=occurrence, profile=BASE, paused=())
    assert result.slot == "2026-10-23"
    assert result.next_due == datetime(2026, 10, 30, 14, 0, tzinfo=UTC)


def test_back_off_every_other_week_and_say_so_once() -> None:
    """After three ignored nudges: the first week is skipped, the next sent with the notice,
    the one after skipped again; the notice is not repeated."""
    profile = {"ignored": "3"}
    first = plan(profile)
    assert (first.action, first.reason) == ("skip", "backoff")
    assert first.profile_updates == {"backoff_from": "2026-W48"}
    started = {"ignored": "3", "backoff_from": "2026-W47"}
    second = plan(started)
    assert (second.action, second.notice) == ("send", True)
    told = plan({"ignored": "4", "backoff_from": "2026-W47", "backoff_told": "1"})
    assert (told.action, told.notice) == ("send", False)
    assert plan({"ignored": "5", "backoff_from": "2026-W46"}).action == "skip"
    assert plan({"ignored": "2"}).action == "send"


def test_snooze_comes_before_the_next_regular_nudge() -> None:
    snooze = int((FRI_15_BERLIN + timedelta(days=1)).timestamp() * 1000)
    result = plan({"snooze_at": str(snooze)})
    assert result.next_due == FRI_15_BERLIN + timedelta(days=1)
    # The snoozed occurrence itself clears the snooze.
    at_snooze = plan_nudge(
        occurrence=FRI_15_BERLIN + timedelta(days=1),
        now=FRI_15_BERLIN + timedelta(days=1),
        profile=BASE | {"snooze_at": str(snooze)},
        paused=(),
    )
    assert at_snooze.action == "send" and at_snooze.profile_deletes == ("snooze_at",)
    assert at_snooze.next_due == datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
