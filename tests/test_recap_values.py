"""The numbers the weekly recap shows, checked against wins logged through `/win`: this week's
balance, the week before, the 4-week average, and what a PM who does not share contributes
(their counts to the team's numbers, never their titles)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.domain.recap import MemberWeek, build_recap
from bot.domain.streaks import WeekCount
from bot.domain.weeks import week_of, weeks_back
from bot.domain.wins import Lane, Win
from bot.fakeslack import FakeSlack
from bot.surfaces.recap import main_message, thread_reply
from tests.conftest import TEAM, Clock
from tests.driver import SlackDriver, told, visible_text

CHANNEL = "C0RECAPV"
WEEK = "2026-W48"
MON_9 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 09:00 London: posts the recap of W48
W48_WED = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # the same local week in every zone here

# (user, weeks before W48, lane, text). Alice shares; Bob does not; Carol uses PM Coach but is
# not in the recap's channel; W44 lies outside the 4-week window (W45-W48).
WINS = [
    ("U0ALICE", 4, "shipped", "Alice W44 release a"),
    ("U0ALICE", 4, "shipped", "Alice W44 release b"),
    ("U0ALICE", 4, "shipped", "Alice W44 release c"),
    ("U0ALICE", 3, "clarity", "Alice framed the W45 bet"),
    ("U0ALICE", 2, "shipped", "Alice W46 release a"),
    ("U0ALICE", 2, "shipped", "Alice W46 release b"),
    ("U0BOB", 2, "clarity", "Bob W46 private decision"),
    ("U0ALICE", 1, "clarity", "Alice W47 alignment"),
    ("U0ALICE", 1, "shipped", "Alice W47 release"),
    ("U0ALICE", 0, "clarity", "Aligned sales on the Q1 bet"),
    ("U0ALICE", 0, "clarity", "Cut scope of the importer"),
    ("U0ALICE", 0, "shipped", "Alice W48 release"),
    ("U0BOB", 0, "clarity", "Bob's private strategy memo"),
    ("U0BOB", 0, "shipped", "Bob W48 release a"),
    ("U0BOB", 0, "shipped", "Bob W48 release b"),
    ("U0BOB", 0, "shipped", "Bob W48 release c"),
    ("U0CAROL", 0, "clarity", "Carol elsewhere a"),
    ("U0CAROL", 0, "clarity", "Carol elsewhere b"),
]
IN_CHANNEL = ["U0ALICE", "U0BOB", "U0ADMIN"]


def expected(users: list[str], weeks: list[str]) -> WeekCount:
    """Independently of the product: the table's wins of `users` in `weeks`."""
    shipped = clarity = 0
    for user, back, lane, _ in WINS:
        if user in users and week_of(W48_WED - timedelta(weeks=back), "UTC") in weeks:
            shipped += lane == "shipped"
            clarity += lane == "clarity"
    return WeekCount(shipped=shipped, clarity=clarity)


def percent(count: WeekCount) -> int:
    return round(100 * count.clarity / count.total)


def test_recap_shows_the_exact_balances_and_a_private_pm_counts_without_a_title(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    """Team balance this week, the week before and over four weeks, computed from the wins
    logged: channel members only, the non-sharing PM's counts included (PRODUCT.md: the recap
    is about the PMs in the channel; wins stay private unless shared), their titles never
    shown, and no hint in the thread of clarity wins they did not share."""
    fake.add_user("U0CAROL", name="carol", tz="Europe/London")
    fake.add_channel(CHANNEL, name="product", members=IN_CHANNEL)
    reply = slack.command("/coach", "recap here", user="U0ADMIN", channel=CHANNEL)
    assert "will be posted here" in told(fake, reply), told(fake, reply)
    for user, back, lane, text in WINS:
        clock.set(W48_WED - timedelta(weeks=back))
        assert "Logged" in slack.command("/win", f"{lane} {text}", user=user).text, text
    slack.command("/coach", "share on", user="U0ALICE")

    this = expected(IN_CHANNEL, [WEEK])
    before = expected(IN_CHANNEL, ["2026-W47"])
    four = expected(IN_CHANNEL, weeks_back(WEEK, 4))
    # The table gives 3 clarity + 4 shipped (43%), then 1 + 1 (50%), and 6 + 7 over four
    # weeks (46%). Without Bob it would be 50%, with W44 38%, with Carol 53%: all different.
    assert (this, before, four) == (
        WeekCount(shipped=4, clarity=3),
        WeekCount(shipped=1, clarity=1),
        WeekCount(shipped=7, clarity=6),
    )
    assert percent(expected(["U0ALICE", "U0ADMIN"], weeks_back(WEEK, 4))) != percent(four)

    recap = slack.recaps.build(TEAM, WEEK, CHANNEL)
    assert (recap.this, recap.previous, recap.four_weeks) == (this, before, four)
    pms = set(IN_CHANNEL) & slack.store.teams.team_users(TEAM)  # the admin: a PM or not
    assert {"U0ALICE", "U0BOB"} <= pms and recap.members == len(pms)
    assert [o.status for o in slack.recaps.run_due(MON_9)] == ["posted"]
    main, thread = fake.messages(CHANNEL)
    text = visible_text(main)
    assert (
        f"*{this.total} wins* last week: {this.clarity} 🧭 created clarity · "
        f"{this.shipped} 🚀 shipped" in text
    )
    balance = (
        f"*{percent(this)}% clarity* · ↓ from {percent(before)}% the week before · "
        f"4-week average {percent(four)}%"
    )
    assert balance in text, text
    assert f"From {len(pms)} PMs" in text
    thread_text = visible_text(thread)
    assert (
        "Aligned sales on the Q1 bet" in thread_text and "Cut scope of the importer" in thread_text
    )
    assert "more clarity wins" not in thread_text  # Bob's clarity win is not hinted at
    everything = json.dumps(fake.messages(CHANNEL))
    for user, _, _, title in WINS:
        if user != "U0ALICE":
            assert title not in everything, title
    assert "U0BOB" not in everything and "U0CAROL" not in everything


def _win(user: str, text: str) -> Win:
    return Win(f"{user}-{text}", TEAM, user, Lane.CLARITY, text, W48_WED, WEEK, W48_WED)


def test_build_recap_with_a_private_pm_counts_them_and_shows_nothing_of_theirs() -> None:
    """`build_recap` given a non-sharing PM and (wrongly) their win: their counts are in the
    team's numbers; their win, their clarity count and their streak milestone are not in the
    highlights, the thread's summary or the milestones."""
    four_weeks = [*weeks_back(WEEK, 4)]
    members = [
        MemberWeek("USHARE", {WEEK: WeekCount(shipped=1, clarity=1)}, sharing=True),
        MemberWeek("UPRIVATE", {w: WeekCount(shipped=1, clarity=2) for w in four_weeks}),
    ]
    wins = [_win("USHARE", "Shared framing"), _win("UPRIVATE", "Private memo")]
    recap = build_recap(WEEK, members, wins, "Why?")
    assert recap.this == WeekCount(shipped=2, clarity=3)
    assert recap.four_weeks == WeekCount(shipped=5, clarity=9)
    assert "4-week average 64%" in visible_text(main_message(recap))  # 9 of 14
    assert [w.text for w in recap.highlights] == ["Shared framing"]
    assert recap.shared_clarity == {"USHARE": 1} and recap.milestones == []
    reply = thread_reply(recap)
    assert reply is not None
    shown = visible_text(reply)
    assert "Private memo" not in shown and "UPRIVATE" not in shown and "more" not in shown
