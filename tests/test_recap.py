"""The weekly team recap: admin settings, content and privacy, limits, exactly once across
racing ticks, Slack trouble, and the cost of reading a big channel."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta

import redis

from bot.domain.recap import MemberWeek, build_recap
from bot.domain.streaks import WeekCount
from bot.domain.wins import Lane, Win
from bot.fakeslack import FakeSlack
from bot.runtime.compose import build_runtime
from bot.runtime.settings import Settings
from bot.store import Store, connect
from bot.surfaces import texts
from bot.surfaces.recap import as_text, main_message, thread_reply
from tests.conftest import TEAM, Clock
from tests.driver import SlackDriver, hook_texts, told, visible_text
from tests.test_store import CountingConnection, counting_client

CHANNEL = "C0RECAP"
MON_9 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 09:00 of W49 in London: posts W48


def setup_channel(fake: FakeSlack, members: list[str], **kwargs: object) -> None:
    fake.add_channel(CHANNEL, name="product", members=members, **kwargs)  # type: ignore[arg-type]


def log(slack: SlackDriver, user: str, text: str) -> None:
    assert "Logged" in slack.command("/win", text, user=user).text, text


def configure(slack: SlackDriver) -> None:
    reply = slack.command("/coach", "recap here", user="U0ADMIN", channel=CHANNEL)
    assert "will be posted here" in told(slack.fake, reply), told(slack.fake, reply)


def test_only_admins_change_recap_settings(
    slack: SlackDriver, fake: FakeSlack, settings: Settings
) -> None:
    """Only workspace admins (users.info, asked after the answer) change the recap; anyone
    may see it."""
    setup_channel(fake, ["U0ALICE", "U0ADMIN"])
    asked = slack.command("/coach", "recap here", user="U0ALICE", channel=CHANNEL)
    assert texts.RECAP_CHECKING_ADMIN in asked.text and "Only" not in asked.text
    [refused] = hook_texts(fake, asked)
    assert "Only Slack workspace admins and owners" in refused
    assert slack.store.recaps.team_settings(TEAM).get("recap_channel") is None
    configure(slack)
    settings_now = slack.store.recaps.team_settings(TEAM)
    assert settings_now["recap_channel"] == CHANNEL and settings_now["recap_set_by"] == "U0ADMIN"
    assert slack.store.recaps.recap_due_at(TEAM) == MON_9  # Monday 09:00 in the admin's zone
    moved = slack.command("/coach", "recap fri 16:30 Europe/Berlin", user="U0ADMIN")
    assert "Fri 16:30 (Europe/Berlin)" in told(fake, moved)
    assert slack.store.recaps.recap_due_at(TEAM) == datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    someday = slack.command("/coach", "recap someday", user="U0ADMIN")
    assert "Try `/coach recap here`" in told(fake, someday)
    shown = slack.command("/coach", "recap", user="U0ALICE")
    assert f"<#{CHANNEL}>" in shown.text and "Fri 16:30" in shown.text
    assert "is off" in told(fake, slack.command("/coach", "recap off", user="U0ADMIN"))
    assert slack.store.recaps.recap_due_at(TEAM) is None
    assert "DM" not in refused


def test_admin_user_ids_setting_grants_access(
    settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    from tests.conftest import serve_app

    setup_channel(fake, ["U0BOB"])
    listed = settings.model_copy(update={"admin_user_ids": "U0BOB"})
    with serve_app(listed, rds, fake, clock) as slack:
        assert (
            "will be posted here"
            in slack.command("/coach", "recap here", user="U0BOB", channel=CHANNEL).text
        )
        [refused] = hook_texts(fake, slack.command("/coach", "recap off", user="U0ALICE"))
        assert "<@U0BOB>" in refused and "Only Slack workspace admins" in refused


def test_bot_not_in_channel_tells_the_admin_how_to_invite(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    setup_channel(fake, ["U0ADMIN"], bot_is_member=False)
    reply = slack.command("/coach", "recap here", user="U0ADMIN", channel=CHANNEL)
    assert reply.json["response_type"] == "ephemeral"
    # After the answer (asking Slack never delays it): the admin check, then the channel's.
    saved, hint = slack.hook_posts(reply, count=2)
    assert "will be posted here" in saved["text"] and saved["response_type"] == "ephemeral"
    assert "/invite @PM Coach" in hint["text"] and hint["response_type"] == "ephemeral"
    # In the channel already: no hint.
    setup_channel(fake, ["U0ADMIN"], bot_is_member=True)
    again = slack.command("/coach", "recap here", user="U0ADMIN", channel=CHANNEL)
    assert ["will be posted here" in text for text in hook_texts(fake, again)] == [True]


def _week_of_wins(slack: SlackDriver, clock: Clock) -> None:
    """W48: Alice (shares) 2 clarity + 1 shipped, Bob (private) 1 clarity + 2 shipped."""
    clock.set(datetime(2026, 11, 18, 10, 0, tzinfo=UTC))  # W47
    log(slack, "U0ALICE", "shipped Week before")
    clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))  # W48
    log(slack, "U0ALICE", "clarity Framed <!channel> pricing & packaging")
    log(slack, "U0ALICE", "clarity Aligned sales on the Q1 bet")
    log(slack, "U0ALICE", "shipped Released 2.4")
    log(slack, "U0BOB", "clarity Bob's private strategy memo")
    log(slack, "U0BOB", "shipped Bob shipped A")
    log(slack, "U0BOB", "shipped Bob shipped B")
    slack.command("/coach", "share on", user="U0ALICE")
    slack.command("/reflect", "A private reflection never shown", user="U0ALICE")


def test_recap_content_privacy_and_escaping(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    """Aggregates in the message; opted-in clarity highlights (with <@user>) in the thread;
    private PMs' text and reflections never; no broadcast; hostile text escaped."""
    setup_channel(fake, ["U0ALICE", "U0BOB", "U0ADMIN", "U0NOTAPM"])
    configure(slack)
    _week_of_wins(slack, clock)
    outcomes = slack.recaps.run_due(MON_9)
    assert [o.status for o in outcomes] == ["posted"]
    main, thread = fake.messages(CHANNEL)
    text = visible_text(main)
    assert "week of Nov 23" in text
    assert "*6 wins* last week: 3 🧭 created clarity · 3 🚀 shipped" in text
    assert "50% clarity" in text and "↑ from 0% the week before" in text
    # Alice and Bob: the admin set the recap up but is no PM of it (they logged no win).
    assert "From 2 PMs" in text and "Prompt of the week" in text
    assert "<@" not in json.dumps(main)  # nobody is named in the top-level message
    assert thread["thread_ts"] == main["ts"]
    thread_text = visible_text(thread)
    assert "<@U0ALICE>" in thread_text
    assert "Framed &lt;!channel&gt; pricing &amp; packaging" in thread_text
    everything = json.dumps(fake.messages(CHANNEL))
    for private in ("Bob's private strategy memo", "A private reflection", "Released 2.4"):
        assert private not in everything
    for broadcast in ("<!channel>", "<!here>", "<!everyone>"):
        assert broadcast not in everything


def test_quiet_week_is_a_friendly_recap(slack: SlackDriver, fake: FakeSlack) -> None:
    setup_channel(fake, ["U0ADMIN"])
    configure(slack)
    slack.recaps.run_due(MON_9)
    [main] = fake.messages(CHANNEL)
    assert "A quiet week on the log" in visible_text(main)


def test_three_racing_ticks_post_exactly_one_recap(
    settings: Settings, redis_url: str, slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    setup_channel(fake, ["U0ALICE", "U0BOB", "U0ADMIN"])
    configure(slack)
    _week_of_wins(slack, clock)
    runtimes = [
        build_runtime(settings, redis_client=connect(redis_url), clock=clock) for _ in range(3)
    ]
    barrier = threading.Barrier(3)

    def run(rt: object) -> None:
        barrier.wait()
        rt.recaps.run_due(MON_9 + timedelta(seconds=2))  # type: ignore[attr-defined]

    threads = [threading.Thread(target=run, args=(rt,)) for rt in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for rt in runtimes:  # and again later the same day: nothing more
        rt.recaps.run_due(MON_9 + timedelta(hours=2))
        rt.ticker.tick(MON_9 + timedelta(hours=2))
    posts = [m for m in fake.messages(CHANNEL)]
    assert len([m for m in posts if "thread_ts" not in m]) == 1
    assert len([m for m in posts if "thread_ts" in m]) == 1
    assert slack.store.recaps.recap_due_at(TEAM) == MON_9 + timedelta(weeks=1)


def test_rate_limited_post_is_posted_once(slack: SlackDriver, fake: FakeSlack) -> None:
    setup_channel(fake, ["U0ADMIN"])
    configure(slack)
    fake.rate_limit("chat.postMessage", retry_after=1)
    [outcome] = slack.recaps.run_due(MON_9)
    assert outcome.status == "posted"
    assert [
        c.status for c in fake.calls_to("chat.postMessage") if c.args.get("channel") == CHANNEL
    ] == [429, 200]
    assert len(fake.messages(CHANNEL)) == 1


def test_failure_after_the_main_message_never_reposts_it(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    """The main message went out (its ts is recorded) but the thread reply failed: later runs
    post only the thread, once."""
    setup_channel(fake, ["U0ALICE", "U0ADMIN"])
    configure(slack)
    _week_of_wins(slack, clock)
    week = "2026-W48"
    slack.store.recaps.set_recap_state(TEAM, week, f"posted:{CHANNEL}:1795999999.000100")
    calls_before = len(fake.calls_to("chat.postMessage"))
    fake.server_error("chat.postMessage", times=1)
    assert slack.recaps.post(TEAM, week).status == "posted_thread_retry"
    assert slack.recaps.post(TEAM, week).status == "thread_posted"
    assert slack.recaps.post(TEAM, week).status == "already_posted"
    posted = [c for c in fake.calls_to("chat.postMessage")[calls_before:] if c.status == 200]
    assert len(posted) == 1 and posted[0].args["thread_ts"] == "1795999999.000100"


def test_not_in_channel_turns_the_recap_off_and_tells_the_admin(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    setup_channel(fake, ["U0ADMIN"])
    configure(slack)
    fake.fail("chat.postMessage", "not_in_channel")
    [outcome] = slack.recaps.run_due(MON_9)
    assert outcome.status == "turned_off:not_in_channel"
    assert slack.store.recaps.team_settings(TEAM).get("recap_channel") is None
    assert slack.store.recaps.recap_due_at(TEAM) is None
    [dm] = [m for m in fake.messages("U0ADMIN") if "team recap" in m.get("text", "")]
    assert "/invite @PM Coach" in dm["text"]


def test_archived_channel_turns_the_recap_off(slack: SlackDriver, fake: FakeSlack) -> None:
    setup_channel(fake, ["U0ADMIN"], is_archived=True)
    configure(slack)
    [outcome] = slack.recaps.run_due(MON_9)
    assert outcome.status.startswith("turned_off:")
    assert any("switched the recap off" in m.get("text", "") for m in fake.messages("U0ADMIN"))


def test_members_are_read_over_several_pages(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    """2,602 channel members (three pages of conversations.members): only PMs count (Alice;
    not the admin who set the recap up without logging a win)."""
    members = [f"UM{i:05d}" for i in range(2600)] + ["U0ALICE", "U0ADMIN"]
    setup_channel(fake, members)
    configure(slack)
    log(slack, "U0ALICE", "clarity Counted once")
    slack.recaps.run_due(MON_9)
    pages = fake.calls_to("conversations.members")
    assert len(pages) == 3
    assert "From 1 PM in this channel" in visible_text(fake.messages(CHANNEL)[0])


def test_a_big_channel_costs_few_round_trips(
    settings: Settings, redis_url: str, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """5,000 PMs in the channel: reading them costs 10 round trips (pipelined batches of
    500); the whole recap at most members/500 + 5."""
    users = [f"UP{i:05d}" for i in range(5000)]
    store = Store(rds)
    pipe = rds.pipeline(transaction=False)
    for user in users:
        pipe.sadd(f"pmc:v1:{{{TEAM}}}:users", user)
        pipe.hset(f"pmc:v1:{{{TEAM}:{user}}}:weeks", mapping={"2026-W48:c": 1, "2026-W48:s": 2})
        pipe.hset(f"pmc:v1:{{{TEAM}:{user}}}:profile", mapping={"tz": "UTC"})
    pipe.execute()
    setup_channel(fake, users)
    store.recaps.set_team_settings(
        TEAM,
        recap_channel=CHANNEL,
        recap_day="0",
        recap_time="09:00",
        recap_tz="UTC",
        recap_set_by="U0ADMIN",
    )
    counted = build_runtime(settings, redis_client=counting_client(redis_url), clock=clock)
    counted.redis.ping()  # connection set-up (HELLO…) is not part of the recap's cost
    CountingConnection.sends = 0
    recap = counted.recaps.build(TEAM, "2026-W48", CHANNEL)
    built = CountingConnection.sends
    assert recap.members == 5000 and recap.this == WeekCount(shipped=10000, clarity=5000)
    assert built <= 5000 / 500 + 2, built
    CountingConnection.sends = 0
    assert counted.recaps.post(TEAM, "2026-W48").status == "posted"
    assert CountingConnection.sends <= 5000 / 500 + 5 + 4, CountingConnection.sends


def _win(user: str, i: int, text: str) -> Win:
    at = datetime(2026, 11, 24, 10, i % 60, tzinfo=UTC)
    return Win(
        id=f"w{i}",
        team_id=TEAM,
        user_id=user,
        lane=Lane.CLARITY,
        text=text,
        at=at,
        week="2026-W48",
        logged_at=at,
    )


def test_huge_teams_stay_within_block_kit_limits() -> None:
    """Hundreds of opted-in PMs with long clarity wins: ≤ 50 blocks, sections ≤ 3,000
    characters, the rest summarised in words."""
    from bot.fakeslack import validate_blocks

    members = [
        MemberWeek(user_id=f"U{i}", counts={"2026-W48": WeekCount(clarity=1)}, sharing=True)
        for i in range(400)
    ]
    wins = [_win(f"U{i}", i, ("word " * 120) + "&<>" * 50) for i in range(400)]
    recap = build_recap("2026-W48", members, wins, "Why does this matter?")
    for message in (main_message(recap), thread_reply(recap)):
        assert message is not None
        assert len(message["blocks"]) <= 50
        assert validate_blocks(message["blocks"], surface="message") == []
    reply = thread_reply(recap)
    assert reply is not None and "more clarity wins from" in visible_text(reply)
    assert not re.search(r"\bwo(r)?…", visible_text(reply))  # no word cut in half


def test_streak_milestones_only_when_reached_and_shared() -> None:
    counts = {w: WeekCount(clarity=1) for w in ("2026-W45", "2026-W46", "2026-W47", "2026-W48")}
    members = [
        MemberWeek("USHARE", counts, sharing=True),
        MemberWeek("UPRIVATE", counts, sharing=False),
        MemberWeek("UBROKE", {"2026-W44": WeekCount(clarity=1)}, sharing=True),
    ]
    recap = build_recap("2026-W48", members, [], "p")
    assert recap.milestones == [("USHARE", 4)]
    text = as_text(recap)
    assert "<@USHARE> 4 weeks" in text and "UPRIVATE" not in text and "UBROKE" not in text


def test_recap_cli_dry_run_and_post(
    settings: Settings, redis_url: str, slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    from tests.test_cli import cli_env, pm_coach

    setup_channel(fake, ["U0ALICE", "U0ADMIN"])
    configure(slack)
    _week_of_wins(slack, clock)
    env = cli_env(fake, redis_url)
    dry = pm_coach("recap", "--team", TEAM, "--week", "2026-W48", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "Team recap — week of Nov 23" in dry.stdout and "Prompt of the week" in dry.stdout
    assert fake.messages(CHANNEL) == []
    posted = pm_coach("recap", "--team", TEAM, "--week", "2026-W48", env=env)
    assert posted.returncode == 0 and "posted" in posted.stdout
    again = pm_coach("recap", "--team", TEAM, "--week", "2026-W48", env=env)
    assert "already_posted" in again.stdout
    assert len([m for m in fake.messages(CHANNEL) if "thread_ts" not in m]) == 1
    bad = pm_coach("recap", "--team", TEAM, "--week", "2026-48", env=env)
    assert bad.returncode == 2


def test_tick_cli_fires_the_recap(
    settings: Settings, redis_url: str, slack: SlackDriver, fake: FakeSlack
) -> None:
    from tests.test_cli import cli_env, pm_coach

    setup_channel(fake, ["U0ADMIN"])
    configure(slack)
    result = pm_coach("tick", "--at", "2026-11-30T09:00:30Z", env=cli_env(fake, redis_url))
    assert "recap    T0TEAM 2026-W48 — posted" in result.stdout, result.stdout
    assert len(fake.messages(CHANNEL)) == 1


def test_thread_reads_only_the_wins_it_shows_and_counts_the_rest_exactly(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """Three sharing PMs with 25 clarity and 25 shipped wins each, one PM who does not share:
    the thread shows the week's first 30 shared clarity wins in time order, says exactly how
    many more there are and from how many people, and reads a few batches of wins, not all."""
    store, coach = slack.store, slack.coach
    sharers, private = ["U0SHA", "U0SHB", "U0SHC"], "U0PRIV"
    monday = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    for k, user in enumerate([*sharers, private]):
        coach.set_timezone(TEAM, user, "Europe/London")
        coach.set_share(TEAM, user, user != private)
        store.teams.add_team_user(TEAM, user)
        for n in range(50):
            at = monday + timedelta(minutes=4 * n + k)  # the PMs' wins interleave in time
            lane = Lane.CLARITY if n % 2 else Lane.SHIPPED
            win = Win(
                id=f"{user}-{n}", team_id=TEAM, user_id=user, lane=lane,
                text=f"{user} win {n}", at=at, week="2026-W48", logged_at=at,
            )  # fmt: skip
            outcome = store.wins.log_win(win, tz="Europe/London", now=at)
            assert outcome.status == "logged", outcome
    setup_channel(fake, [*sharers, private])
    rds.config_resetstat()
    recap = slack.recaps.build(TEAM, "2026-W48", CHANNEL)
    hgets = int(rds.info("commandstats").get("cmdstat_hget", {}).get("calls", 0))
    assert hgets - 4 <= 4 * 30  # one HGET of the share flag per PM, then one batch of wins
    expected = sorted(
        (monday + timedelta(minutes=4 * n + k), f"{user} win {n}")
        for k, user in enumerate(sharers)
        for n in range(1, 50, 2)
    )
    assert [w.text for w in recap.highlights] == [text for _, text in expected[:30]]
    assert all(w.user_id != private for w in recap.highlights)
    reply = thread_reply(recap)
    assert reply is not None
    shown = [t for t in visible_text(reply).splitlines() if " win " in t]
    not_shown = expected[len(shown) :]
    people = len({text.split()[0] for _, text in not_shown})
    assert f"…and {len(not_shown)} more clarity wins from {people} people." in visible_text(reply)


def test_a_thread_reply_claimed_by_a_process_that_died_is_posted_after_its_lease(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    """The main message is posted and another process claimed the thread reply, then died:
    runs during its lease post nothing (and ask to be retried); once the lease has ended the
    next run posts the reply, once."""
    setup_channel(fake, ["U0ALICE", "U0ADMIN"])
    configure(slack)
    _week_of_wins(slack, clock)
    week = "2026-W48"
    slack.store.recaps.set_recap_state(TEAM, week, f"posted:{CHANNEL}:1795999999.000100")
    assert slack.store.recaps.claim_recap_thread(TEAM, week, "dead", lease_s=0.05) == "ok"
    calls_before = len(fake.calls_to("chat.postMessage"))
    assert slack.recaps.post(TEAM, week).status == "held:pending"
    assert len(fake.calls_to("chat.postMessage")) == calls_before
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while slack.store.recaps.recap_state(TEAM, week)[1] and datetime.now(UTC) < deadline:
        threading.Event().wait(0.01)  # the dead holder's lease runs out on Redis's clock
    assert slack.recaps.post(TEAM, week).status == "thread_posted"
    assert slack.recaps.post(TEAM, week).status == "already_posted"
    posted = fake.calls_to("chat.postMessage")[calls_before:]
    assert len(posted) == 1 and posted[0].args["thread_ts"] == "1795999999.000100"
