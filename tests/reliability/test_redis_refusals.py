"""Redis answers, but late or with a refusal: busy (a reply later than the client's timeout),
full (`maxmemory` with `noeviction`: OOM), a read-only replica (READONLY), a Redis Cluster node
that holds other slots (MOVED).

Each test runs a redis-server of its own, configured for the fault; the app is the real one
behind the real HTTP server, driven with signed requests. A refusal to write is "not saved"
with the PM's text given back, a form keeps its input with an error (never HTTP 500), the
scheduled jobs carry on, `/healthz` answers 503 naming the cause and `pm-coach check` names it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import structlog

from bot.fakeslack import FakeSlack
from bot.runtime.settings import Settings
from bot.scheduled import jobs
from bot.store import Keys, Store, connect
from bot.store.transport import send_and_read
from tests.conftest import TEAM, Clock, serve_app
from tests.driver import Response, SlackDriver
from tests.redis_server import RedisServer, find_redis_server, free_port
from tests.test_cli import cli_env, pm_coach

TYPED = "clarity Framed the & <pricing> bet for the exec team"


@dataclass
class Private:
    url: str
    admin: redis.Redis  # a plain client of the test's own
    bus_port: int = 0  # a cluster node's bus port (for CLUSTER MEET)


@contextlib.contextmanager
def private_redis(*extra: str, cluster: bool = False) -> Iterator[Private]:
    """A redis-server on a free loopback port with `extra` options (its own process answers
    there: see `RedisServer.start`), removed afterwards."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("needs a redis-server binary")
    args = ["--enable-debug-command", "local", *extra]
    bus_port = free_port() if cluster else 0  # port + 10000 may not exist, or be taken
    if cluster:
        args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--cluster-port", str(bus_port)]
    server = RedisServer(binary, aof=False, extra_args=args).start()
    admin = redis.Redis(port=server.port, decode_responses=True, socket_connect_timeout=0.2)
    try:
        yield Private(f"redis://127.0.0.1:{server.port}/0", admin, bus_port)
    finally:
        admin.close()
        server.remove()


def wait_until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# A late reply is not a redelivery --------------------------------------------------------


def busy_for(admin_url: str, seconds: float) -> threading.Thread:
    """Make Redis busy for `seconds` (DEBUG SLEEP from a connection of its own); returns once
    Redis really is busy (a probe with a tiny timeout gets no answer)."""
    sleeper = redis.Redis.from_url(admin_url)
    thread = threading.Thread(target=sleeper.execute_command, args=("DEBUG", "SLEEP", seconds))
    thread.start()
    probe = redis.Redis.from_url(admin_url, socket_timeout=0.05, retry=None)
    while True:
        try:
            probe.ping()
        except redis.TimeoutError:
            break
    probe.close()
    return thread


def sets_run(admin: redis.Redis) -> int:
    return int(admin.info("commandstats").get("cmdstat_set", {}).get("calls", 0))


@pytest.mark.parametrize("claim", ["event", "recap"])
def test_a_late_reply_never_turns_the_first_delivery_into_a_redelivery(claim: str) -> None:
    """Redis is busy for longer than the client's timeout: the client resends the claim, and
    the resend finds the key the first (late) run set. The claim is still this caller's (it
    holds its token), so the first delivery of an event is handled and the recap is posted."""
    with private_redis() as redis_:
        store = Store(connect(redis_.url))
        store.redis.ping()  # a warm connection, as in a running process
        resent = 0
        for attempt in range(3):  # a loaded machine may answer in time: try again
            before = sets_run(redis_.admin)
            sleeper = busy_for(redis_.url, 1.5)
            if claim == "event":
                first: Any = store.teams.claim_event(TEAM, f"Ev{attempt}")
                expected: Any = True
            else:
                first = store.recaps.claim_recap(TEAM, f"2026-W{40 + attempt}", "tok", lease_s=60)
                expected = "ok"
            sleeper.join()
            if sets_run(redis_.admin) - before == 2:  # the late reply made the client resend
                resent += 1
                assert first == expected
        assert resent, "Redis never answered late enough for the client to resend"
        # A real redelivery (another call) is still recognised.
        if claim == "event":
            assert store.teams.claim_event(TEAM, "Ev0") is False
        else:
            assert store.recaps.claim_recap(TEAM, "2026-W40", "other", lease_s=60) == "pending:tok"
        store.redis.close()


# Refusals: OOM, READONLY, MOVED ----------------------------------------------------------


def fill(admin: redis.Redis) -> None:
    """Redis holds more than its maxmemory (noeviction): from now on every write is refused
    (OOM), however little memory a command or a freed buffer moves."""
    for i in range(100):
        admin.set(f"ballast:{i}", "x" * 10_000)
    used = int(admin.info("memory")["used_memory"])
    admin.config_set("maxmemory", str(used // 2))
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        admin.set("one:more", "x")


def submit_form(slack: SlackDriver, view_id: str | None = None) -> Response:
    return slack.submit(
        {"type": "modal", "callback_id": "win_modal", "blocks": []},
        {
            "text": {"value": {"type": "plain_text_input", "value": "Wrote the why"}},
            "lane": {"value": {"type": "radio_buttons", "selected_option": {"value": "clarity"}}},
            "date": {"value": {"type": "datepicker", "selected_date": "2026-11-25"}},
        },
        view_id=view_id,
    )


def assert_refused_everywhere(
    slack: SlackDriver, fake: FakeSlack, url: str, cause: str, words: str
) -> None:
    """A /win, the form, the heartbeat, /healthz and `pm-coach check` while Redis refuses."""
    reply = slack.command("/win", TYPED)
    assert reply.status == 200
    assert "*not saved*" in reply.text and "Something went wrong" not in reply.text
    # The PM's text comes back whole, escaped, to copy.
    assert "Framed the &amp; &lt;pricing&gt; bet for the exec team" in reply.text

    form = submit_form(slack)
    assert form.status == 200, form.body
    assert form.json["response_action"] == "errors" and "Not saved" in form.json["errors"]["text"]

    with structlog.testing.capture_logs() as logs:
        jobs.heartbeat(slack.store, "proc-1", lambda: slack.coach.clock(), structlog.get_logger())
    assert [e.get("cause") for e in logs if e["event"] == "heartbeat_failed"] == [cause]

    health = slack.get("/healthz")
    assert health.status == 503 and health.json["redis"] == cause

    result = pm_coach("check", env=cli_env(fake, url))
    assert result.returncode == 1
    [line] = [x for x in result.stdout.splitlines() if x.startswith("redis:")]
    assert "FAILED" in line and words in line, result.stdout + result.stderr


@pytest.fixture(name="app_on")
def _app_on(settings: Settings, fake: FakeSlack, clock: Clock) -> Any:
    @contextlib.contextmanager
    def run(url: str) -> Iterator[SlackDriver]:
        client = connect(url)
        with serve_app(settings.model_copy(update={"redis_url": url}), client, fake, clock) as s:
            yield s
        client.close()

    return run


def test_redis_at_maxmemory_means_not_saved_and_unhealthy(app_on: Any, fake: FakeSlack) -> None:
    """maxmemory with noeviction: every write is refused (OOM). Nothing is lost and the
    operator is told why; once Redis has room again everything works without a restart."""
    with (
        private_redis("--maxmemory-policy", "noeviction") as redis_,
        app_on(redis_.url) as slack,
    ):
        assert "Logged" in slack.command("/win", "shipped before it filled up").text
        fill(redis_.admin)
        assert_refused_everywhere(slack, fake, redis_.url, "oom", "out of memory")
        assert "*not saved*" in slack.command("/reflect", "Framed it").text  # refused: known
        assert not slack.store.profiles.reflections(TEAM, "U0ALICE")
        redis_.admin.config_set("maxmemory", "0")
        assert slack.get("/healthz").status == 200
        assert "Logged" in slack.command("/win", TYPED).text


def test_a_read_only_replica_means_not_saved_and_unhealthy(app_on: Any, fake: FakeSlack) -> None:
    """REDIS_URL names a replica: reads work, every write is refused (READONLY)."""
    with private_redis() as primary:
        port = primary.url.rsplit(":", 1)[1].split("/")[0]
        with private_redis("--replicaof", "127.0.0.1", port) as replica:
            wait_until(
                lambda: replica.admin.info("replication").get("master_link_status") == "up",
                "the replica to sync",
            )
            with app_on(replica.url) as slack:
                assert_refused_everywhere(slack, fake, replica.url, "read_only_replica", "replica")


def test_a_cluster_node_that_redirects_is_followed(app_on: Any, fake: FakeSlack) -> None:
    """REDIS_URL names one node of a two-node Redis Cluster whose other node holds the PM's
    keys (and the heartbeat's): the cluster is detected, every command goes to the node that
    owns its slot, and the win is stored there. A client that took the cluster for one node
    (Redis was unreachable when it started) is told apart: `cluster_redirect`."""
    with private_redis(cluster=True) as a, private_redis(cluster=True) as b:
        port_b = int(b.url.rsplit(":", 1)[1].split("/")[0])
        a.admin.execute_command("CLUSTER", "MEET", "127.0.0.1", port_b, b.bus_port)
        used = {
            int(a.admin.execute_command("CLUSTER", "KEYSLOT", key))
            for key in (Keys.profile(TEAM, "U0ALICE"), Keys.PROCS, Keys.PROBE)
        }
        mine = next(s for s in range(16384) if s not in used)
        # Node A (REDIS_URL) serves one slot no key of the test is in; node B all the others.
        a.admin.execute_command("CLUSTER", "ADDSLOTS", mine)
        for lo, hi in ((0, mine - 1), (mine + 1, 16383)):
            if lo <= hi:
                b.admin.execute_command("CLUSTER", "ADDSLOTSRANGE", lo, hi)
        for node in (a, b):
            wait_until(
                lambda node=node: node.admin.cluster("info")["cluster_state"] == "ok",
                "the cluster to form",
            )
        with app_on(a.url) as slack:
            assert "Logged" in slack.command("/win", TYPED).text
            assert b.admin.exists(Keys.profile(TEAM, "U0ALICE"))
            assert a.admin.dbsize() == 0  # node A holds none of these slots
            assert slack.get("/healthz").status == 200
        plain = redis.Redis.from_url(a.url)
        try:
            assert Store(plain).health() == "cluster_redirect"
        finally:
            plain.close()


def test_a_win_refused_as_too_long_comes_back_to_copy(slack: SlackDriver) -> None:
    """A `/win` or `/reflect` over 3,000 characters is refused and its text comes back whole,
    in code blocks that each fit a section (3,000 characters, escaped)."""
    text = "We aligned <sales> & eng on the bet. " * 120  # 4,440 characters
    for command, typed in (("/win", f"clarity {text}"), ("/reflect", text)):
        reply = slack.command(command, typed)
        assert reply.status == 200 and "3,000" in reply.text
        blocks = reply.json["blocks"]
        assert len(blocks) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
        echoed = "".join(b["text"]["text"].strip("`") for b in blocks[1:])
        escaped = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert echoed == escaped
    assert not slack.store.wins.user_wins(TEAM, "U0ALICE")
    assert not slack.store.profiles.reflections(TEAM, "U0ALICE")


# An answer that comes too late is not a refusal ------------------------------------------


def _stored_texts(slack: SlackDriver) -> list[str]:
    wins = [w.text for w in slack.store.wins.user_wins(TEAM, "U0ALICE")]
    reflections = [str(r["text"]) for r in slack.store.profiles.reflections(TEAM, "U0ALICE")]
    return wins + reflections


@pytest.mark.parametrize(
    ("surface", "busy_s"),
    [("/win", 1.3), ("form", 1.3), ("/win", 2.6), ("form", 2.6)],
)
def test_a_win_whose_answer_comes_late_is_never_told_not_saved(
    app_on: Any, surface: str, busy_s: float
) -> None:
    """Redis is busy past the client's timeout (1 s) when a win arrives: the win is written
    late, after the client gave up. The reply agrees with what is stored: "Logged" when one
    check finds the win (busy 1.3 s), "couldn't confirm" when the check is too late as well
    (2.6 s: the win lands afterwards); never "not saved" (the PM's retry would double it)."""
    text = "the pricing page" if surface == "/win" else "Wrote the why"
    with private_redis() as redis_, app_on(redis_.url) as slack:
        assert "Logged" in slack.command("/win", "shipped warm-up").text  # enrolled, zone known
        sleeper = busy_for(redis_.url, busy_s)
        if surface == "/win":
            reply = slack.command("/win", f"shipped {text}")
            answer = reply.text
        else:
            form = submit_form(slack, "V0LATE")
            answer = str(form.json)
        sleeper.join()
        wait_until(lambda: text in _stored_texts(slack), "the late write to land")
        assert "not saved" not in answer.lower()
        if busy_s < 2:
            assert "Logged" in answer
        elif surface == "/win":
            assert "couldn't confirm" in reply.text and "/coach history" in reply.text
            assert f"```shipped {text}```" in str(reply.json["blocks"])  # back to copy
        else:
            assert form.json["response_action"] == "errors"
            assert "Not confirmed" in form.json["errors"]["text"]
        assert _stored_texts(slack).count(text) == 1
        if surface == "form" and busy_s > 2:  # the form kept open, submitted again: once
            again = submit_form(slack, "V0LATE").json
            assert "already in your log" in str(again)
            assert _stored_texts(slack).count(text) == 1


def _lose_answers(
    monkeypatch: pytest.MonkeyPatch, store: Store, *, ran: str = "", unsent: str = ""
) -> None:
    """The answer to the first batch starting with command `ran` is lost after Redis ran it;
    to the first starting with `unsent` before it reached Redis: a connection cut after
    sending. Through the transport's public `wire` seam."""
    pending = {ran, unsent} - {""}

    def lossy(conn: Any, commands: Any) -> list[Any]:
        first = commands[0][0]
        if first in pending:
            pending.discard(first)
            if first == ran:
                send_and_read(conn, commands)
            raise redis.exceptions.ConnectionError("Connection reset by peer")
        return send_and_read(conn, commands)

    monkeypatch.setattr(store.transport, "wire", lossy)


@pytest.mark.parametrize("ran", [True, False])
def test_a_reflection_whose_answer_is_lost_is_checked_not_refused(
    slack: SlackDriver, monkeypatch: pytest.MonkeyPatch, ran: bool
) -> None:
    """/reflect's write is sent and its answer lost: one check tells. Stored: "Saved" (once);
    not found: "couldn't confirm" with the text back, never "not saved"."""
    assert "Logged" in slack.command("/win", "shipped warm-up").text
    _lose_answers(monkeypatch, slack.store, **({"ran": "ZADD"} if ran else {"unsent": "ZADD"}))
    reply = slack.command("/reflect", "Framed the bet")
    stored = [str(r["text"]) for r in slack.store.profiles.reflections(TEAM, "U0ALICE")]
    assert "not saved" not in reply.text.lower()
    if ran:
        assert "Saved privately" in reply.text and stored == ["Framed the bet"]
    else:
        assert "couldn't confirm your reflection" in reply.text and stored == []
        assert "```Framed the bet```" in str(reply.json["blocks"])


def test_a_first_win_whose_answer_is_lost_still_enrols_the_pm(
    slack: SlackDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new PM's first win is stored, its answer lost: the check finds it, the PM hears
    "Logged" and is enrolled as after any first win (listed in the team, welcomed)."""
    _lose_answers(monkeypatch, slack.store, ran="EVALSHA")
    reply = slack.command("/win", "clarity Framed the bet")
    assert "Logged" in reply.text
    assert [w.text for w in slack.store.wins.user_wins(TEAM, "U0ALICE")] == ["Framed the bet"]
    assert "U0ALICE" in slack.store.teams.team_users(TEAM)
    assert slack.fake.calls_to("chat.postMessage")  # the welcome DM


def test_a_win_whose_answer_and_check_are_lost_is_unconfirmed(
    slack: SlackDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The win was written, its answer lost and the check failed too (Redis gone): the PM is
    told it could not be confirmed, with the text back; never "not saved"."""
    assert "Logged" in slack.command("/win", "shipped warm-up").text
    _lose_answers(monkeypatch, slack.store, ran="EVALSHA", unsent="HGET")
    reply = slack.command("/win", "clarity Framed the bet")
    assert "couldn't confirm your win" in reply.text and "not saved" not in reply.text
    assert "```clarity Framed the bet```" in str(reply.json["blocks"])  # as typed
    assert "Framed the bet" in [w.text for w in slack.store.wins.user_wins(TEAM, "U0ALICE")]
