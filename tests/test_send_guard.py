"""The per-day send guard (`sent:<local date>`), end to end: a PM gets at most one nudge a
local day, even when they move their nudge later on the day it was sent."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.fakeslack import FakeSlack
from tests.conftest import TEAM, Clock
from tests.driver import SlackDriver
from tests.test_nudges import enrol, nudges

FRI_15_BERLIN = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
FRI_17_BERLIN = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
NEXT_FRI_17_BERLIN = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def test_moving_the_nudge_later_on_the_day_it_was_sent_sends_no_second_one(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    """Nudged Friday 15:00, the PM moves their nudge to Friday 17:00 that afternoon: the
    17:00 tick sends nothing (the guard of that local date says "sent") and the next nudge is
    a week later."""
    enrol(slack)
    clock.set(FRI_15_BERLIN)
    slack.ticker.tick(FRI_15_BERLIN)
    assert len(nudges(fake)) == 1

    clock.set(datetime(2026, 11, 27, 14, 30, tzinfo=UTC))
    reply = slack.command("/coach", "nudges fri 17:00")
    assert "17:00" in reply.text
    # The scenario really happens: the PM is due again later the same local day.
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == FRI_17_BERLIN

    clock.set(FRI_17_BERLIN)
    report = slack.ticker.tick(FRI_17_BERLIN)
    slack.settle()
    assert len(nudges(fake)) == 1, "a second nudge on the same local day"
    assert [detail for _, detail in report.skipped] == ["already_sent"]
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == NEXT_FRI_17_BERLIN
