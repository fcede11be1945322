"""The store against real Redis: round trips, atomicity, idempotency, and failing fast."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

import bot.store.wins
from bot.domain.streaks import WeekCount
from bot.domain.wins import Lane, Win
from bot.fakeslack import FakeSlack
from bot.runtime.settings import Settings
from bot.store import UNDONE_TTL_S, Completion, Keys, SentNudge, Store, connect, due_shard
from bot.surfaces.blocks import ACTION_PICK_CLARITY
from tests.conftest import TEAM, Clock, serve_app
from tests.redis_server import RedisServer, free_port

# Threads of the app's work after answering Slack (tests.conftest.serve_app names them).
AFTER_ANSWER_THREADS = ("after-ack", "forms")


class CountingConnection(redis.Connection):
    """Counts round trips: each send of one command or one whole pipeline is one. A new
    connection's handshake (once per connection) is not counted. `after_answer` counts those
    of `sends` made after Slack had its answer (on the app's after-ack and form threads)."""

    sends = 0
    after_answer = 0
    _handshake = False
    _count_lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        with cls._count_lock:
            cls.sends = cls.after_answer = 0

    def on_connect_check_health(self, check_health: bool = True) -> None:
        self._handshake = True
        try:
            super().on_connect_check_health(check_health)
        finally:
            self._handshake = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._handshake:
            later = threading.current_thread().name.startswith(AFTER_ANSWER_THREADS)
            with self._count_lock:
                type(self).sends += 1
                type(self).after_answer += later
        super().send_packed_command(command, check_health)


def counting_client(url: str) -> redis.Redis:
    return connect(url, connection_class=CountingConnection, health_check_interval=0)


Admin = redis.Redis | RedisCluster


@pytest.fixture(name="admin", params=["node", "cluster"])
def _admin(request: pytest.FixtureRequest) -> Iterator[Admin]:
    """The store's contract runs on a single Redis and on a 3-master Redis Cluster: a client
    built by `connect` on either (a plain client, or redis-py's cluster client), empty. Tests
    inspect raw keys through it (a cluster client reads every node)."""
    if request.param == "node":
        yield request.getfixturevalue("rds")
        return
    client = connect(request.getfixturevalue("cluster_url"))
    assert isinstance(client, RedisCluster), "connect() on a cluster node must cluster"
    yield client
    client.close()


@pytest.fixture(name="store")
def _store(admin: Admin) -> Iterator[Store]:
    store = Store(admin)
    assert store.is_cluster == isinstance(admin, RedisCluster)
    yield store
    store.close()


def make_win(
    text: str = "Framed the bet",
    lane: Lane = Lane.CLARITY,
    user: str = "U0ALICE",
    win_id: str = "w1",
) -> Win:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    return Win(
        id=win_id,
        team_id=TEAM,
        user_id=user,
        lane=lane,
        text=text,
        at=now,
        week="2026-W48",
        logged_at=now,
    )


def test_logging_a_win_is_one_round_trip_through_the_app(
    settings: Settings, redis_url: str, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """Steady state: `/win` through the running app costs exactly one Redis round trip, and
    nothing after the answer; a PM's very first answer adds one profile read, and their
    enrolment (zone, schedule, welcome) runs after the answer at a fixed cost."""
    client = counting_client(redis_url)
    client.script_flush()  # the first call also loads a script (two extra, once per server)
    with serve_app(settings, client, fake, clock) as slack:
        CountingConnection.reset()
        slack.command("/win", "clarity first ever")
        slack.fake.wait_for("chat.postMessage")  # the welcome DM: enrolment is done
        first_answer = CountingConnection.sends - CountingConnection.after_answer
        enrolment = CountingConnection.after_answer
        CountingConnection.reset()
        for i in range(5):
            reply = slack.command("/win", f"shipped steady {i}")
            assert "Logged" in reply.text
        steady, steady_after = CountingConnection.sends, CountingConnection.after_answer
    # Before the answer: the profile read (the zone is not cached yet), the win's script, then
    # NOSCRIPT → SCRIPT LOAD + retry (once per server).
    assert first_answer == 1 + 1 + 2
    # After the answer, enrolment, each step once: list the PM in their team; learn the zone
    # the win was logged under (read that it is a guess, ask Slack, store Slack's zone:
    # NOSCRIPT → SCRIPT LOAD + retry; read the wins the guess placed: ids, then wins);
    # schedule the first nudge (read the profile, the pauses, the script: NOSCRIPT → SCRIPT
    # LOAD + retry); read the profile for the welcome.
    assert enrolment == 1 + (1 + 3 + 2) + (1 + 1 + 3) + 1
    assert (steady, steady_after) == (5, 0)


def test_log_win_is_atomic_and_idempotent(store: Store) -> None:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    first = store.wins.log_win(make_win(), tz="Europe/Berlin", now=now)
    # The same delivery again (same id), whatever it carries: nothing is written.
    again = store.wins.log_win(
        make_win(text="Changed on the way", lane=Lane.SHIPPED), tz="Europe/Berlin", now=now
    )
    assert (first.status, again.status) == ("logged", "duplicate")
    assert again.win_id == "w1"
    assert [w.text for w in store.wins.user_wins(TEAM, "U0ALICE")] == ["Framed the bet"]
    assert first.state.counts["2026-W48"].clarity == 1
    assert again.state.counts["2026-W48"] == WeekCount(shipped=0, clarity=1)
    assert store.teams.team_users(TEAM) == set()  # listed by enrolment, after the answer


def test_an_undone_win_is_not_logged_again_by_its_delivery_for_three_days(
    store: Store, admin: Admin
) -> None:
    """Undo leaves a marker (UNDONE_TTL_S): a redelivery or a second click of the delivery
    that logged the win stays a duplicate and writes nothing; other wins log as usual. Once
    the marker expires, the id is free again (as the delivery identity was before)."""
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    store.wins.log_win(make_win(), tz="UTC", now=now)
    assert store.wins.delete_win(TEAM, "U0ALICE", "w1").win is not None
    marker = Keys.undone(TEAM, "U0ALICE", "w1")
    assert 0 < admin.ttl(marker) <= UNDONE_TTL_S
    again = store.wins.log_win(make_win(), tz="UTC", now=now)
    assert again.status == "duplicate" and again.win_id == "w1"
    assert store.wins.user_wins(TEAM, "U0ALICE") == []
    assert again.state.counts.get("2026-W48", WeekCount()) == WeekCount()
    other = store.wins.log_win(make_win(win_id="w2"), tz="UTC", now=now)
    assert other.status == "logged"
    admin.delete(marker)  # three days later
    assert store.wins.log_win(make_win(), tz="UTC", now=now).status == "logged"
    assert {w.id for w in store.wins.user_wins(TEAM, "U0ALICE")} == {"w1", "w2"}


def test_stale_zone_writes_nothing(store: Store) -> None:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    store.wins.log_win(make_win(), tz="Europe/Berlin", now=now)
    outcome = store.wins.log_win(make_win(win_id="w2"), tz="Asia/Tokyo", now=now)
    assert (outcome.status, outcome.tz) == ("stale_tz", "Europe/Berlin")
    assert [w.id for w in store.wins.user_wins(TEAM, "U0ALICE")] == ["w1"]


def test_keys_are_namespaced_versioned_and_share_a_hash_tag(store: Store, admin: Admin) -> None:
    """Every key is under pmc:v1, carries the team, and a user's keys share one hash tag."""
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    store.wins.log_win(make_win(), tz="UTC", now=now)
    store.profiles.save_draft(TEAM, "U0ALICE", {"text": "x"})
    keys = sorted(admin.scan_iter("*"))
    assert keys and all(k.startswith(f"pmc:v1:{{{TEAM}") for k in keys), keys
    user_keys = [k for k in keys if f"{{{TEAM}:U0ALICE}}" in k]
    assert {k.split("}")[0] for k in user_keys} == {f"pmc:v1:{{{TEAM}:U0ALICE"}
    assert len(user_keys) >= 5


def test_delete_restores_counts(store: Store) -> None:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    store.wins.log_win(make_win(win_id="a"), tz="UTC", now=now)
    store.wins.log_win(make_win(win_id="b", lane=Lane.SHIPPED), tz="UTC", now=now)
    outcome = store.wins.delete_win(TEAM, "U0ALICE", "a")
    assert outcome.win is not None and outcome.win.id == "a"
    assert outcome.state is not None and "2026-W48" in outcome.state.counts
    assert outcome.state.counts["2026-W48"].clarity == 0
    assert store.wins.delete_win(TEAM, "U0ALICE", "a").win is None
    store.teams.add_team_user(TEAM, "U0ALICE")
    assert store.recaps.team_week_entries(TEAM, "2026-W48") == [("U0ALICE", "b")]


def test_one_round_trip_keeps_replies_in_step_after_an_error_reply(
    store: Store, admin: Admin
) -> None:
    """A batch sent in one write returns every reply in order; an error reply in the middle is
    returned as its exception and the connection stays usable for the next batch."""
    admin.set("pmc:v1:{T0TEST}:text", "not a number")
    replies = store.transport.exchange(
        [
            ("SET", "pmc:v1:{T0TEST}:a", "1"),
            ("INCR", "pmc:v1:{T0TEST}:text"),
            ("GET", "pmc:v1:{T0TEST}:a"),
        ]
    )
    assert replies[0] == "OK" and replies[2] == "1"
    assert isinstance(replies[1], redis.ResponseError)
    assert store.transport.exchange([("GET", "pmc:v1:{T0TEST}:a")]) == ["1"]


class DropsOnce(redis.Connection):
    """A connection whose next send fails as a reset socket would (set `armed`)."""

    armed = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if type(self).armed:
            type(self).armed = False
            self.disconnect()
            raise redis.ConnectionError("Connection reset by peer")
        super().send_packed_command(command, check_health)


def test_a_connection_that_breaks_is_reported_never_resent_then_reopened(
    redis_url: str, rds: redis.Redis
) -> None:
    """The connection breaks as a batch is sent: the caller hears StoreUnavailable (a /win
    says "not saved"; Redis may have run the batch, so it is never sent blindly again), and
    the next call opens a new connection. (`rds`: an empty Redis.)"""
    store = Store(connect(redis_url, connection_class=DropsOnce))
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    store.wins.log_win(make_win(win_id="a"), tz="UTC", now=now)
    DropsOnce.armed = True
    try:
        store.wins.log_win(make_win(win_id="b"), tz="UTC", now=now)
    except redis.ConnectionError:
        pass
    else:
        raise AssertionError("expected a connection error")
    assert not DropsOnce.armed
    outcome = store.wins.log_win(make_win(win_id="b"), tz="UTC", now=now)
    assert outcome.status == "logged"
    assert {w.id for w in store.wins.user_wins(TEAM, "U0ALICE")} == {"a", "b"}


def test_scripts_are_loaded_again_after_a_flush(store: Store, admin: Admin) -> None:
    """A restarted or flushed Redis forgets the scripts: the batch is sent again after loading
    it, once, and the outcome is the same."""
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    store.wins.log_win(make_win(win_id="a"), tz="UTC", now=now)
    admin.script_flush()
    outcome = store.wins.log_win(make_win(win_id="b"), tz="UTC", now=now)
    assert outcome.status == "logged" and outcome.state.counts["2026-W48"].clarity == 2
    store.teams.add_team_user(TEAM, "U0ALICE")
    assert store.recaps.team_week_entries(TEAM, "2026-W48") == [("U0ALICE", "a"), ("U0ALICE", "b")]


def test_unreachable_redis_fails_fast() -> None:
    """With nothing listening, a store call fails in well under a second (no long retries)."""
    store = Store(connect(f"redis://127.0.0.1:{free_port()}/0"))
    started = time.monotonic()
    try:
        store.wins.log_win(make_win(), tz="UTC", now=datetime.now(UTC))
    except redis.ConnectionError:
        pass
    else:
        raise AssertionError("expected a connection error")
    assert time.monotonic() - started < 1.5


def test_redis_down_means_not_saved(
    settings: Settings, fake: FakeSlack, clock: Clock, redis_server: RedisServer
) -> None:
    """Redis stops: the PM hears plainly, quickly, that the win was NOT saved; when Redis is
    back the app recovers without a restart and logs normally."""
    client = connect(redis_server.url)
    with serve_app(settings, client, fake, clock) as slack:
        assert "Logged" in slack.command("/win", "clarity before the outage").text
        redis_server.stop()
        started = time.monotonic()
        reply = slack.command("/win", "clarity during the outage")
        elapsed = time.monotonic() - started
        assert reply.status == 200
        assert "*not saved*" in reply.text and "during the outage" in reply.text
        assert "Logged" not in reply.text
        assert elapsed < 3.0
        question = slack.command("/win", "Aligned on the roadmap")
        assert "*not saved*" in question.text
        # A click on a question asked before the outage: told it did not go through, the
        # question stays so the PM can click again.
        redis_server.start()
        asked = slack.command("/win", "Framed the Q3 bet")
        redis_server.stop()
        clicked = slack.click(asked, ACTION_PICK_CLARITY)
        [posted] = slack.hook_posts(clicked)
        assert "did *not* go through" in posted["text"] and posted["replace_original"] is False
        # The form stays open with an error under the text: nothing typed is lost.
        form = slack.submit(
            {"type": "modal", "callback_id": "win_modal", "blocks": []},
            {
                "text": {"value": {"type": "plain_text_input", "value": "Wrote the why"}},
                "lane": {
                    "value": {"type": "radio_buttons", "selected_option": {"value": "clarity"}}
                },
                "date": {"value": {"type": "datepicker", "selected_date": "2026-11-25"}},
            },
        )
        assert (
            form.json["response_action"] == "errors" and "Not saved" in form.json["errors"]["text"]
        )
        health = slack.get("/healthz")
        assert health.status == 503
        redis_server.start()
        clock.advance(minutes=5)
        assert slack.get("/healthz").status == 200
        assert "Logged" in slack.command("/win", "clarity after the outage").text
        texts = [w.text for w in slack.store.wins.user_wins(TEAM, "U0ALICE")]
        assert texts == ["before the outage", "after the outage"]


def test_form_opens_while_redis_is_down(settings: Settings, fake: FakeSlack, clock: Clock) -> None:
    """`/win` with no text still opens the form when Redis is unreachable."""
    client = connect(f"redis://127.0.0.1:{free_port()}/0")
    with serve_app(settings, client, fake, clock) as slack:
        assert slack.command("/win", "").status == 200
        [call] = fake.wait_for("views.open")
        assert call.args["view"]["callback_id"] == "win_modal"


def test_undo_goes_back_through_the_last_logged_wins_and_no_further(
    store: Store, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/coach undo` takes back the win logged last, then the one before (whatever dates the
    wins are for), for the last RECENT_MAX wins: the list of them stays that short, a
    redelivery adds nothing to it, and an undone win leaves it."""
    monkeypatch.setattr(bot.store.wins, "RECENT_MAX", 3)
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    for n in range(5):
        store.wins.log_win(make_win(win_id=f"w{n}"), tz="UTC", now=now)
    store.wins.log_win(make_win(win_id="w4"), tz="UTC", now=now)  # a redelivery
    assert admin.lrange(Keys.recent(TEAM, "U0ALICE"), 0, -1) == ["w4", "w3", "w2"]
    assert store.wins.delete_win(TEAM, "U0ALICE", "w3").win is not None  # undone from the Home
    undone = []
    for _ in range(5):  # bounded: an id that stays listed would come back each time
        last = store.wins.last_logged_id(TEAM, "U0ALICE")
        if last is None:
            break
        undone.append(last)
        store.wins.delete_win(TEAM, "U0ALICE", last)
    assert undone == ["w4", "w2"]
    assert {w.id for w in store.wins.user_wins(TEAM, "U0ALICE")} == {"w0", "w1"}  # out of reach


def test_a_teams_week_holds_the_wins_logged_for_it_in_every_zone(store: Store) -> None:
    """No team index is written with a win: a team's week is read from its PMs' timelines
    around the week (the week in every zone, UTC+14 to UTC-12) and holds exactly the wins
    stored for that week, in time order, of the team's PMs."""

    def logged(user: str, win_id: str, at: datetime, week: str, tz: str) -> None:
        win = Win(win_id, TEAM, user, Lane.CLARITY, "x", at, week, at)
        assert store.wins.log_win(win, tz=tz, now=at).status == "logged"
        store.teams.add_team_user(TEAM, user)

    # Monday 00:30 in Kiritimati (UTC+14) is Sunday 10:30 UTC: week 48 there.
    logged(
        "U0EAST",
        "early",
        datetime(2026, 11, 22, 10, 30, tzinfo=UTC),
        "2026-W48",
        "Pacific/Kiritimati",
    )
    # Sunday 23:30 in UTC-12 is Monday 11:30 UTC of week 49: still week 48 there.
    logged("U0WEST", "late", datetime(2026, 11, 30, 11, 30, tzinfo=UTC), "2026-W48", "Etc/GMT+12")
    # The same instants, in zones where they fall in the weeks around it.
    logged("U0UTC", "before", datetime(2026, 11, 22, 10, 30, tzinfo=UTC), "2026-W47", "UTC")
    logged("U0UTC", "after", datetime(2026, 11, 30, 11, 30, tzinfo=UTC), "2026-W49", "UTC")
    logged("U0UTC", "middle", datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "2026-W48", "UTC")
    store.wins.log_win(make_win(user="U0GONE", win_id="unlisted"), tz="UTC", now=datetime.now(UTC))
    assert store.recaps.team_week_entries(TEAM, "2026-W48") == [
        ("U0EAST", "early"),
        ("U0UTC", "middle"),
        ("U0WEST", "late"),
    ]
    assert [w.id for w in store.recaps.team_week_wins(TEAM, "2026-W47")] == ["before"]
    assert [w.id for w in store.recaps.team_week_wins(TEAM, "2026-W49")] == ["after"]


# The rest of the contract, area by area (each runs on a single node and on the cluster) ----


def test_profiles_zone_enrolment_pauses_prompts_reflections_and_drafts(store: Store) -> None:
    """A PM's own settings, each read back as written; enrolment lists the PM in the team
    (a `{T:U}` script and a `{T}` set in one batch: two slots, on a cluster two nodes)."""
    assert store.profiles.enrol(TEAM, "U0ALICE", "Europe/Berlin", NOW) == "new"
    assert store.profiles.enrol(TEAM, "U0ALICE", "Europe/Berlin", NOW) == ""
    assert store.teams.team_users(TEAM) == {"U0ALICE"}
    assert store.profiles.profile_zone(TEAM, "U0ALICE") == ("Europe/Berlin", "slack")
    assert store.profiles.set_tz(TEAM, "U0ALICE", "Asia/Tokyo", "explicit")
    assert not store.profiles.set_tz(TEAM, "U0ALICE", "UTC", "slack")  # a choice stays
    assert store.profiles.profile_tz(TEAM, "U0ALICE") == "Asia/Tokyo"
    store.profiles.pause(TEAM, "U0ALICE", ["2026-W48", "2026-W49", "2026-W50"])
    assert store.profiles.resume(TEAM, "U0ALICE", "2026-W49") == 2
    assert store.profiles.snapshot_paused(TEAM, "U0ALICE") == {"2026-W48"}
    assert store.profiles.add_prompt(TEAM, "U0ALICE", "What moved?", 2) == 1
    assert store.profiles.add_prompt(TEAM, "U0ALICE", "Who helped?", 2) == 2
    assert store.profiles.add_prompt(TEAM, "U0ALICE", "One too many", 2) is None
    assert store.profiles.remove_prompt(TEAM, "U0ALICE", 1)
    assert not store.profiles.remove_prompt(TEAM, "U0ALICE", 1)
    assert store.profiles.custom_prompts(TEAM, "U0ALICE") == [(2, "Who helped?")]
    reflection = {"prompt": "What moved?", "text": "the roadmap"}
    assert not store.profiles.has_reflection(TEAM, "U0ALICE", reflection)
    store.profiles.add_reflection(TEAM, "U0ALICE", reflection, NOW)
    assert store.profiles.has_reflection(TEAM, "U0ALICE", reflection)
    assert store.profiles.reflections(TEAM, "U0ALICE") == [reflection]
    draft = store.profiles.save_draft(TEAM, "U0ALICE", {"text": "a draft"})
    assert store.profiles.get_draft(TEAM, "U0ALICE", draft) == {"text": "a draft"}
    store.profiles.update_profiles([(TEAM, "U0ALICE", {"ignored": "2"}, ("target",))])
    store.profiles.mark_inactive(TEAM, "U0ALICE")
    profile = store.profiles.profile(TEAM, "U0ALICE")
    assert (profile["ignored"], profile["inactive"]) == ("2", "1")


def test_due_index_leases_guard_and_nudge_record(store: Store) -> None:
    """Due PMs in many shards are claimed at once under a lease, each once; a claim is
    completed only by its holder; the send guard has one holder per slot; the record of a
    sent nudge and the next due time are written for PMs who still have a profile."""
    users = [f"U0PM{i:02d}" for i in range(12)]
    assert len({due_shard(TEAM, u) for u in users}) > 6  # many shards (on a cluster: nodes)
    for user in users:
        store.profiles.enrol(TEAM, user, "UTC", NOW)
        store.nudges.reschedule(TEAM, user, NOW - timedelta(minutes=1))
    store.nudges.reschedule(TEAM, "U0LATER", NOW + timedelta(hours=1))
    assert store.nudges.backlog(NOW) == 12
    assert store.nudges.earliest_due() == NOW - timedelta(minutes=1)
    claims = store.nudges.claim_due(NOW, lease_s=60, limit=100, token_prefix="p")
    assert sorted(c.user_id for c in claims) == users
    assert {c.occurrence for c in claims} == {NOW - timedelta(minutes=1)}
    assert store.nudges.claim_due(NOW, lease_s=60, limit=100, token_prefix="q") == []
    assert store.nudges.backlog(NOW) == 0
    states = store.nudges.nudge_states([(TEAM, u) for u in users])
    assert [s.profile["tz"] for s in states] == ["UTC"] * 12
    items = [(TEAM, c.user_id, "2026-11-25", c.token) for c in claims]
    assert store.nudges.guard(items, 60) == ["ok"] * 12
    taken = store.nudges.guard([(TEAM, users[0], "2026-11-25", "other")], 60)
    assert taken[0].startswith("pending:")
    assert store.nudges.guard([(TEAM, "U0NOBODY", "2026-11-25", "t")], 60) == ["forgotten"]
    first, second, *rest = claims
    store.nudges.release_guard(TEAM, second.user_id, "2026-11-25", second.token)
    store.nudges.mark_unknown(TEAM, rest[0].user_id, "2026-11-25", rest[0].token)
    assert store.nudges.guard(
        [
            (TEAM, second.user_id, "2026-11-25", "again"),
            (TEAM, rest[0].user_id, "2026-11-25", "again"),
        ],
        60,
    ) == ["ok-refused", f"unknown:{rest[0].token}"]
    next_due = NOW + timedelta(days=7)
    store.nudges.mark_sent_many(
        [
            SentNudge(
                first,
                slot="2026-11-25",
                ts="1790000000.000100",
                channel="D1",
                prompt_id="p1",
                prompt="What moved?",
                now=NOW,
                notice=False,
                next_due=next_due,
            )
        ]
    )
    assert store.nudges.nudge_record(TEAM, first.user_id)["ts"] == "1790000000.000100"
    assert store.profiles.profile(TEAM, first.user_id)["ignored"] == "1"
    assert store.nudges.due_at(TEAM, first.user_id) == next_due
    stale = Completion(TEAM, second.user_id, "not-the-holder", next_due)
    assert store.nudges.complete([stale]) == 0
    done = [Completion(TEAM, c.user_id, c.token, next_due) for c in [second, *rest]]
    assert store.nudges.complete(done) == 11
    assert {store.nudges.due_at(TEAM, u) for u in users} == {next_due}


def test_the_shared_send_budget_paces_every_caller(store: Store) -> None:
    """GCRA on the server's clock: a burst goes at once, the next slots wait one interval
    each; a 429 pushes every later reservation back."""
    waits = store.nudges.reserve_sends(TEAM, 4, rate_per_s=10, burst=2)
    assert waits[:2] == [0.0, 0.0]
    assert 0.05 <= waits[2] <= 0.1 and 0.15 <= waits[3] <= 0.2
    assert store.nudges.reserve_sends(TEAM, 0, rate_per_s=10, burst=2) == []
    store.nudges.penalize_sends(TEAM, 30)
    [later] = store.nudges.reserve_sends(TEAM, 1, rate_per_s=10, burst=2)
    assert 29 <= later <= 30
    [other_team] = store.nudges.reserve_sends("T0OTHER", 1, rate_per_s=10, burst=2)
    assert other_team == 0.0


def test_recap_schedule_claims_and_reads(store: Store) -> None:
    """A team's recap settings and schedule; a due recap is claimed out of sight for the
    lease; the week's claim and its thread reply have one holder each; the members' reads."""
    store.recaps.set_team_settings(TEAM, recap_channel="C0PMS", recap_day="4")
    store.recaps.clear_team_settings(TEAM, "recap_day")
    assert store.recaps.team_settings(TEAM) == {"recap_channel": "C0PMS"}
    store.recaps.schedule_recap(TEAM, NOW)
    store.recaps.schedule_recap("T0LATER", NOW + timedelta(days=1))
    assert store.recaps.recap_due_at(TEAM) == NOW
    assert store.recaps.claim_due_recaps(NOW, lease_s=60) == [(TEAM, NOW)]
    assert store.recaps.claim_due_recaps(NOW, lease_s=60) == []
    assert store.recaps.recap_due_at(TEAM) == NOW + timedelta(seconds=60)
    store.recaps.schedule_recap("T0LATER", None)
    assert store.recaps.recap_due_at("T0LATER") is None

    assert store.recaps.claim_recap(TEAM, "2026-W48", "a", lease_s=60) == "ok"
    assert store.recaps.claim_recap(TEAM, "2026-W48", "a", lease_s=60) == "ok"  # a resend
    assert store.recaps.claim_recap(TEAM, "2026-W48", "b", lease_s=60) == "pending:a"
    store.recaps.release_recap(TEAM, "2026-W48", "b")  # not the holder: nothing
    assert store.recaps.recap_state(TEAM, "2026-W48") == ("pending:a", "")
    store.recaps.set_recap_state(TEAM, "2026-W48", "posted:C0PMS:1.2")
    assert store.recaps.claim_recap_thread(TEAM, "2026-W48", "a", lease_s=60) == "ok"
    store.recaps.release_recap_thread(TEAM, "2026-W48", "a")
    assert store.recaps.claim_recap_thread(TEAM, "2026-W48", "b", lease_s=60) == "ok"
    store.recaps.set_recap_thread(TEAM, "2026-W48", "done")
    assert store.recaps.recap_state(TEAM, "2026-W48") == ("posted:C0PMS:1.2", "done")
    store.recaps.release_recap(TEAM, "2026-W49", "x")
    assert store.recaps.claim_recap(TEAM, "2026-W49", "x", lease_s=60) == "ok"
    store.recaps.release_recap(TEAM, "2026-W49", "x")
    assert store.recaps.recap_state(TEAM, "2026-W49") == ("", "")

    for user in ("U0ALICE", "U0BOB"):
        log_for(store, user)
    store.profiles.set_profile(TEAM, "U0BOB", share="1")
    members = store.recaps.recap_members(TEAM, ["U0ALICE", "U0BOB"], batch=1, week="2026-W48")
    assert [(m.user_id, m.share) for m in members] == [("U0ALICE", ""), ("U0BOB", "1")]
    assert [w.user_id for w in store.recaps.team_week_wins(TEAM, "2026-W48")] == [
        "U0ALICE",
        "U0BOB",
    ]


def test_teams_events_uninstalls_and_heartbeats(store: Store) -> None:
    """An Events API delivery is handled once; an uninstall stops a team; heartbeats count
    the live processes."""
    assert store.teams.claim_event(TEAM, "Ev1")
    assert not store.teams.claim_event(TEAM, "Ev1")
    assert store.teams.claim_event("T0OTHER", "Ev1")
    store.teams.add_team_user(TEAM, "U0ALICE")
    assert store.teams.team_users(TEAM) == {"U0ALICE"}
    store.teams.mark_uninstalled("T0GONE", NOW)
    assert store.teams.is_uninstalled("T0GONE") and not store.teams.is_uninstalled(TEAM)
    assert store.teams.uninstalled([TEAM, "T0GONE", "T0OTHER"]) == {"T0GONE"}
    assert store.teams.heartbeat("proc-a", NOW) == 1
    assert store.teams.heartbeat("proc-b", NOW + timedelta(seconds=10)) == 2
    later = NOW + timedelta(seconds=185)
    assert store.teams.heartbeat("proc-b", later) == 1  # proc-a's beat is older than 180 s
    assert store.teams.live_processes(later) == 1


# Forget-me ---------------------------------------------------------------------------------


def keys_of(admin: Admin, user_id: str) -> list[str]:
    """Every key of the test Redis that names `user_id`, and every index entry that does."""
    found = [str(k) for k in admin.scan_iter(count=1000) if user_id in str(k)]
    for key in admin.scan_iter(count=1000):
        kind = admin.type(key)
        if kind == "zset":
            members = [str(m) for m in admin.zrange(key, 0, -1)]
        elif kind == "set":
            members = [str(m) for m in admin.smembers(key)]
        elif kind == "hash":
            members = [f"{k}={v}" for k, v in admin.hgetall(key).items()]
        else:
            continue
        found += [f"{key} -> {m}" for m in members if user_id in m]
    return found


def log_for(store: Store, user: str, win_id: str = "w1") -> None:
    store.profiles.enrol(TEAM, user, "Europe/Berlin", NOW)
    store.wins.log_win(make_win(user=user, win_id=win_id), tz="Europe/Berlin", now=NOW)


NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("pattern_id", ["U*", "U?", "U[A-Z]*", "U\\*", "*"])
def test_forget_me_of_a_user_id_with_glob_characters_touches_no_other_pm(
    store: Store, admin: Admin, pattern_id: str
) -> None:
    """A user id holding SCAN's glob characters forgets that PM only, not the PMs it would
    match as a pattern."""
    others = ["U0ALICE", "UB", "U*X", "UZZZ"]
    for user in [*others, pattern_id]:
        log_for(store, user)
    before = {
        u: sorted(k for k in map(str, admin.scan_iter(count=1000)) if f":{u}}}" in k)
        for u in others
    }
    assert store.profiles.forget(TEAM, pattern_id) > 0
    after = {
        u: sorted(k for k in map(str, admin.scan_iter(count=1000)) if f":{u}}}" in k)
        for u in others
    }
    assert after == before and all(before.values())
    assert not [k for k in map(str, admin.scan_iter(count=1000)) if f":{pattern_id}}}" in k]
    assert store.teams.team_users(TEAM) == set(others)


def test_forget_me_while_a_nudge_is_in_flight_leaves_nothing(store: Store, admin: Admin) -> None:
    """Forget-me lands between the claim (and the send guard) and the nudge's record: the
    record, the `ignored` count, the shown prompt, the guard and the next due time are not
    written, nor any later write the scheduler makes for that PM."""
    log_for(store, "U0ALICE")
    log_for(store, "U0BOB")  # another PM in flight at the same time keeps everything
    for user in ("U0ALICE", "U0BOB"):
        store.nudges.reschedule(TEAM, user, NOW)
    claims = {
        c.user_id: c for c in store.nudges.claim_due(NOW, lease_s=60, limit=16, token_prefix="p")
    }
    guards = store.nudges.guard([(TEAM, u, "2026-11-25", c.token) for u, c in claims.items()], 60)
    assert guards == ["ok", "ok"]

    store.profiles.forget(TEAM, "U0ALICE")

    sent = [
        SentNudge(
            claim,
            slot="2026-11-25",
            ts="1790000000.000100",
            channel=f"D{user}",
            prompt_id="zoom-1",
            prompt="What did you make clearer?",
            now=NOW,
            notice=False,
            next_due=datetime(2026, 12, 2, 10, 0, tzinfo=UTC),
        )
        for user, claim in claims.items()
    ]
    store.nudges.mark_sent_many(sent)
    # Later writes of a scheduler that read the PM before forget-me: all no-ops.
    store.profiles.update_profiles(
        [(TEAM, "U0ALICE", {"ignored": "3", "backoff_from": "2026-W48"}, ())]
    )
    store.profiles.mark_inactive(TEAM, "U0ALICE")
    store.nudges.mark_unknown(TEAM, "U0ALICE", "2026-11-26", "p.0-9")
    store.nudges.release_guard(TEAM, "U0ALICE", "2026-11-25", claims["U0ALICE"].token)
    assert store.nudges.guard([(TEAM, "U0ALICE", "2026-11-27", "p.1-1")], 60) == ["forgotten"]
    store.nudges.complete([Completion(TEAM, "U0ALICE", claims["U0ALICE"].token, NOW, retry_at=NOW)])

    assert keys_of(admin, "U0ALICE") == []
    assert store.nudges.nudge_record(TEAM, "U0BOB")["ts"] == "1790000000.000100"
    assert store.profiles.profile(TEAM, "U0BOB")["ignored"] == "1"
    assert store.nudges.due_at(TEAM, "U0BOB") == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def test_forget_me_takes_undo_markers_and_the_recap_setters_id(store: Store, admin: Admin) -> None:
    """After an undo its `undone:<id>` marker goes too; an admin who set up the recap leaves
    no id in the team's settings (another admin's id stays)."""
    log_for(store, "U0ADMIN", "w1")
    log_for(store, "U0ADMIN", "w2")
    store.wins.delete_win(TEAM, "U0ADMIN", "w1")
    assert admin.exists(Keys.undone(TEAM, "U0ADMIN", "w1"))
    store.recaps.set_team_settings(TEAM, recap_channel="C0PMS", recap_set_by="U0ADMIN")
    store.profiles.forget(TEAM, "U0ADMIN")
    assert keys_of(admin, "U0ADMIN") == []
    assert store.recaps.team_settings(TEAM) == {"recap_channel": "C0PMS"}

    store.recaps.set_team_settings(TEAM, recap_set_by="U0OTHER")
    store.profiles.forget(TEAM, "U0ADMIN")
    assert store.recaps.team_settings(TEAM)["recap_set_by"] == "U0OTHER"


# Releases are one compare-and-set --------------------------------------------------------


class Interleaving(redis.Redis):
    """A client that runs `between()` after each command's reply reaches the store: what
    another process may do between two commands the store sends one after the other."""

    between: Any = None

    def execute_command(self, *args: Any, **options: Any) -> Any:
        reply = super().execute_command(*args, **options)
        if self.between is not None:
            between, self.between = self.between, None
            between()
        return reply


def interleaving_store(url: str) -> tuple[Store, Interleaving]:
    client = Interleaving.from_url(url, decode_responses=True)
    return Store(client), client


def test_releasing_a_recap_claim_never_frees_another_processes_claim(
    redis_url: str, rds: redis.Redis
) -> None:
    """Process A's lease on the week's recap ends while A releases it, and process B claims
    it: A's release must not delete B's claim (B would be the only one posting)."""
    if redis_url.startswith("fakeredis://"):
        pytest.skip("needs a real redis-server")
    a, client = interleaving_store(redis_url)
    b = Store(rds)
    key = Keys.recap(TEAM, "2026-W48")
    assert a.recaps.claim_recap(TEAM, "2026-W48", "tokA", lease_s=60) == "ok"

    def lease_ends_and_b_claims() -> None:
        rds.delete(key)  # A's lease ran out
        assert b.recaps.claim_recap(TEAM, "2026-W48", "tokB", lease_s=60) == "ok"

    client.between = lease_ends_and_b_claims
    a.recaps.release_recap(TEAM, "2026-W48", "tokA")
    if client.between is not None:  # the release was one command: B claims after it
        lease_ends_and_b_claims()
    assert rds.get(key) == "pending:tokB"
    assert a.recaps.claim_recap(TEAM, "2026-W48", "tokC", lease_s=60) == "pending:tokB"
    client.close()


def test_releasing_a_send_guard_never_frees_another_processes_guard(
    redis_url: str, rds: redis.Redis
) -> None:
    """A's guard lease ends while A notes Slack's refusal, and B takes the guard to send:
    A must not overwrite B's "pending" with "refused" (a third process would then send too)."""
    if redis_url.startswith("fakeredis://"):
        pytest.skip("needs a real redis-server")
    a, client = interleaving_store(redis_url)
    b = Store(rds)
    log_for(b, "U0ALICE")
    key = Keys.sent(TEAM, "U0ALICE", "2026-11-27")
    assert a.nudges.guard([(TEAM, "U0ALICE", "2026-11-27", "tokA")], 60) == ["ok"]

    def lease_ends_and_b_takes_it() -> None:
        rds.delete(key)
        assert b.nudges.guard([(TEAM, "U0ALICE", "2026-11-27", "tokB")], 60) == ["ok"]

    client.between = lease_ends_and_b_takes_it
    a.nudges.release_guard(TEAM, "U0ALICE", "2026-11-27", "tokA")
    if client.between is not None:
        lease_ends_and_b_takes_it()
    assert rds.get(key) == "pending:tokB"
    assert b.nudges.guard([(TEAM, "U0ALICE", "2026-11-27", "tokC")], 60) == ["pending:tokB"]
    client.close()
