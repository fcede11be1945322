"""Adversarial tests of `Transport.exchange` / `Transport.run_scripts`: the store's own raw round
trip (its own stack of connections, one write, every reply read, NOSCRIPT handled by a reload).

Each test states the property it checks. Written as an adversarial review of the mechanism:
the first tests here each failed on its first version (partial reloads after NOSCRIPT, a
completion sent with its record, blind resends after a lost reply, connections left open).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import pytest
import redis

from bot.store import (
    Claim,
    Keys,
    OutcomeUnknown,
    SentNudge,
    Store,
    StoreUnavailable,
    connect,
    due_shard,
)
from bot.store.lua import CLAIM, COMPLETE, MARK_SENT
from bot.store.transport import Transport, send_and_read
from tests.redis_server import RedisServer

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
T = "T0EXCH"


@pytest.fixture(name="url")
def _url(redis_url: str) -> str:
    if redis_url.startswith("fakeredis://"):
        pytest.skip("needs a real redis-server")
    return redis_url


@pytest.fixture(name="admin")
def _admin(url: str) -> Iterator[redis.Redis]:
    client = connect(url)
    client.flushall()
    client.script_flush()
    yield client
    client.close()


@pytest.fixture(name="store")
def _store(url: str, admin: redis.Redis) -> Iterator[Store]:
    client = connect(url)
    yield Store(client)
    client.close()


def _due_claim(store: Store, user: str = "U1") -> Claim:
    # The scheduler writes only for enrolled PMs.
    store.profiles.enrol(T, user, "Europe/Berlin", NOW)
    store.nudges.reschedule(T, user, NOW - timedelta(minutes=1))
    claims = store.nudges.claim_due(NOW, lease_s=60, limit=16, token_prefix="p.1")
    assert [c.user_id for c in claims] == [user]
    return claims[0]


def _sent(claim: Claim) -> SentNudge:
    return SentNudge(
        claim,
        slot="2026-11-25",
        ts="1790000000.000100",
        channel="D0EXCH",
        prompt_id="p1",
        prompt="What did you make clearer?",
        now=NOW,
        notice=False,
        next_due=NOW + timedelta(days=1),
    )


def _clients(admin: redis.Redis) -> int:
    return int(admin.info("clients")["connected_clients"])


# --- Found by the review --------------------------------------------------------------------------


def test_mark_sent_many_after_redis_forgot_its_scripts(store: Store, admin: redis.Redis) -> None:
    """After Redis lost its script cache (a restart, a failover, SCRIPT FLUSH) while the
    process still believes both scripts loaded, `mark_sent_many` records the nudge AND
    completes its claim, without raising: every script a refused batch uses is loaded again,
    not only the first command's."""
    claim = _due_claim(store)
    store.transport.load_script(MARK_SENT)  # a long-lived process has loaded both before
    store.transport.load_script(COMPLETE)
    admin.script_flush()  # what a Redis restart does to the script cache

    store.nudges.mark_sent_many([_sent(claim)])

    assert admin.get(Keys.sent(T, "U1", "2026-11-25")) == "sent:1790000000.000100"
    assert admin.hgetall(Keys.due_leases(due_shard(T, "U1"))) == {}
    assert store.nudges.due_at(T, "U1") == NOW + timedelta(days=1)


def test_mark_sent_many_never_completes_a_claim_before_its_record(
    store: Store, admin: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mark_sent_many` completes claims only after their records: if it fails with
    StoreUnavailable, no claim has been completed without its record (else the lease is gone,
    the PM is moved to the next occurrence and no retry ever looks in the DM's history). The
    case: Redis knows COMPLETE but not MARK_SENT, and goes away before the scripts can be
    loaded again."""
    claim = _due_claim(store)
    store.transport.load_script(MARK_SENT)
    store.transport.load_script(COMPLETE)
    admin.script_flush()
    admin.script_load(COMPLETE)  # e.g. another process completed a claim since the restart

    def gone(_script: str) -> Any:
        raise redis.exceptions.ConnectionError("Redis went away")

    monkeypatch.setattr(store.redis, "script_load", gone)
    with pytest.raises(StoreUnavailable):
        store.nudges.mark_sent_many([_sent(claim)])

    recorded = admin.get(Keys.sent(T, "U1", "2026-11-25"))
    leases = admin.hgetall(Keys.due_leases(due_shard(T, "U1")))
    assert recorded is not None or f"{T}:U1" in leases, "claim completed, nudge not recorded"


def test_a_batch_whose_reply_timed_out_is_not_executed_twice(url: str, admin: redis.Redis) -> None:
    """A batch is executed at most once per call: a TimeoutError while reading the replies
    never re-sends commands Redis has already run (redis-py's pipeline would, on a fresh
    connection: MARK_SENT's HINCRBY, RESERVE and CLAIM would run twice)."""
    client = connect(url, socket_timeout=0.3)
    store = Store(client)
    try:
        with pytest.raises(OutcomeUnknown) as lost:  # Redis may have run it: it did
            store.transport.exchange([("INCR", "pmc:test:ctr"), ("BLPOP", "pmc:test:empty", 1)])
        assert isinstance(lost.value.__cause__, redis.exceptions.TimeoutError)
        assert admin.get("pmc:test:ctr") == "1"
    finally:
        client.close()


def test_a_lost_claim_reply_is_reported_and_the_lease_brings_the_pm_back(
    store: Store, admin: redis.Redis
) -> None:
    """The reply to `claim_due` is lost after Redis ran it (timeout, connection cut): the
    caller hears StoreUnavailable (the tick logs it), CLAIM ran once, not twice, and when the
    lease ends the PM is claimed again for the same occurrence, as after a crashed process.
    The lost reply comes through the transport's public `wire` seam."""
    lose_next = [False]

    def lose_first_reply(conn: Any, commands: Any) -> list[Any]:
        replies = send_and_read(conn, commands)  # Redis runs the batch, and answers
        if lose_next[0]:
            lose_next[0] = False
            raise redis.exceptions.TimeoutError("Timeout reading from socket")
        return replies

    store = Store(store.redis, transport=Transport(store.redis, wire=lose_first_reply))
    store.nudges.reschedule(T, "U1", NOW - timedelta(minutes=1))
    store.transport.load_script(CLAIM)  # the steady state: Redis knows the script
    lose_next[0] = True
    with pytest.raises(StoreUnavailable):
        store.nudges.claim_due(NOW, lease_s=60, limit=16, token_prefix="p.1")
    assert store.nudges.claim_due(NOW, lease_s=60, limit=16, token_prefix="p.2") == []  # leased
    [again] = store.nudges.claim_due(
        NOW + timedelta(seconds=61), lease_s=60, limit=16, token_prefix="p.3"
    )
    assert (again.user_id, again.occurrence, again.attempt) == ("U1", NOW - timedelta(minutes=1), 2)


def test_closing_the_store_and_its_client_closes_every_connection(
    url: str, admin: redis.Redis
) -> None:
    """What every `pm-coach` command does on its way out (`Runtime.close`: the store, then
    the client) leaves no connection of the process open on the server, although the store's
    own connections are not the pool's."""
    name = f"pmc-close-{os.getpid()}"

    def mine() -> int:
        return sum(1 for c in admin.client_list() if c.get("name") == name)

    client = connect(url, client_name=name)
    store = Store(client)
    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait()
        for _ in range(50):
            store.transport.exchange([("PING",)])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.ping()
    assert mine() >= 2  # the store's own and the pool's
    store.close()
    client.close()
    deadline = time.monotonic() + 2.0  # the server notices closed sockets on its next loop
    while mine() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mine() == 0


def test_concurrent_exchanges_never_share_a_connection(store: Store) -> None:
    """Many threads on one Store: every caller gets exactly its own replies (two threads on one
    connection would interleave replies or corrupt the protocol)."""
    errors: list[str] = []
    barrier = threading.Barrier(16)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(300):
            tag = f"{n}-{i}"
            replies = store.transport.exchange([("ECHO", f"a{tag}"), ("ECHO", f"b{tag}")])
            if replies != [f"a{tag}", f"b{tag}"]:
                errors.append(f"{tag}: {replies!r}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.transport.idle_connections()) <= 16
    idle = store.transport.idle_connections()
    assert len({id(c) for c in idle}) == len(idle)


def test_an_error_reply_mid_batch_keeps_the_connection_in_step(
    store: Store, admin: redis.Redis
) -> None:
    """An error reply in the middle of a batch is returned in its place (as the pipeline's
    raise_on_error=False would), every later command still runs, and the next caller on the
    same connection reads only its own replies. `_run_scripts` raises the first error."""
    batch = [
        ("SET", "pmc:test:k", "v"),
        ("HSET", "pmc:test:k", "f", "v"),  # WRONGTYPE
        ("EVALSHA", "0" * 40, 0),  # NOSCRIPT, not first: just an error reply
        ("GET", "pmc:test:k"),
    ]
    replies = store.transport.exchange(batch)
    assert replies[0] == "OK"
    assert isinstance(replies[1], redis.exceptions.ResponseError)
    assert "WRONGTYPE" in str(replies[1])
    assert isinstance(replies[2], redis.exceptions.NoScriptError)
    assert replies[3] == "v"
    pipe = admin.pipeline(transaction=False)
    pipe.set("pmc:test:k", "v")
    pipe.hset("pmc:test:k", "f", "v")
    pipe.evalsha("0" * 40, 0)
    pipe.get("pmc:test:k")
    piped = pipe.execute(raise_on_error=False)
    assert [type(r) for r in piped] == [bool, *(type(r) for r in replies[1:3]), str]
    assert len(store.transport.idle_connections()) == 1
    assert store.transport.exchange([("ECHO", "next")]) == ["next"]
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        store.transport.run_scripts([("ECHO", "x"), ("HSET", "pmc:test:k", "f", "v")])


def test_a_timeout_mid_batch_never_hands_a_stale_reply_to_the_next_caller(
    url: str, admin: redis.Redis
) -> None:
    """A TimeoutError after some replies of a batch were read closes the connection: the next
    caller on the (reused) connection reads its own reply, even once the late reply of the
    timed-out batch has arrived."""
    client = connect(url, socket_timeout=0.3)
    store = Store(client)
    try:
        with pytest.raises(OutcomeUnknown):
            store.transport.exchange(
                [("ECHO", "a"), ("BLPOP", "pmc:test:empty", 1), ("ECHO", "stale")]
            )
        assert len(store.transport.idle_connections()) == 1
        time.sleep(1.2)  # the BLPOP's nil and "stale" are now on the old socket
        assert store.transport.exchange([("ECHO", "mine"), ("ECHO", "too")]) == ["mine", "too"]
    finally:
        client.close()


def test_only_an_answer_lost_after_sending_is_an_unknown_outcome(
    redis_server: RedisServer,
) -> None:
    """A batch sent whose answer is lost raises OutcomeUnknown (Redis may have run it: a PM
    must not hear "not saved"). A connection that cannot be made raises a plain
    StoreUnavailable, nothing having been sent: also when it is the connection that just lost
    an answer, reused at once."""
    client = connect(redis_server.url, socket_timeout=0.3)
    store = Store(client)
    try:
        with pytest.raises(OutcomeUnknown):
            store.transport.exchange([("BLPOP", "pmc:test:empty", 1)])
        assert len(store.transport.idle_connections()) == 1
        redis_server.stop()
        for _ in range(2):
            with pytest.raises(StoreUnavailable) as refused:
                store.transport.exchange([("PING",)])
            assert not isinstance(refused.value, OutcomeUnknown)
    finally:
        client.close()
        store.close()


def test_redis_restart_with_every_spare_connection_dead(redis_server: RedisServer) -> None:
    """Redis restarts: while it is down every operation fails fast with StoreUnavailable; once
    it is back, every caller succeeds at once although all spare connections are dead and the
    scripts are gone (idle connections are checked and opened again; one reload)."""
    client = connect(redis_server.url)
    store = Store(client)
    try:
        store.nudges.reschedule(T, "U1", NOW - timedelta(minutes=1))
        barrier = threading.Barrier(6)
        results: list[Any] = []

        def use() -> None:
            barrier.wait()
            try:
                results.append(store.transport.exchange([("PING",), ("ECHO", "x")]))
            except Exception as exc:
                results.append(exc)

        threads = [threading.Thread(target=use) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [["PONG", "x"]] * 6
        spares = len(store.transport.idle_connections())
        assert spares >= 2

        redis_server.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.nudges.reschedule(T, "U1", NOW)
        assert time.monotonic() - started < 2.5
        redis_server.start()  # same port; the AOF keeps data, never scripts

        results.clear()
        barrier = threading.Barrier(spares)
        threads = [threading.Thread(target=use) for _ in range(spares)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [["PONG", "x"]] * spares
        store.nudges.reschedule(T, "U2", NOW - timedelta(minutes=1))  # NOSCRIPT -> reload
        claims = store.nudges.claim_due(NOW, lease_s=60, limit=16, token_prefix="p.9")
        assert "U2" in {c.user_id for c in claims}  # (U1 may be back from the AOF too)
    finally:
        client.close()


def test_a_fast_restart_costs_no_failed_call(redis_server: RedisServer) -> None:
    """Redis restarts between two calls, however fast: every spare connection is checked
    before use (a poll) and opened again, so no call is sent on a dead connection (where it
    would fail as "may have run") and callers arriving together afterwards all succeed."""
    client = connect(redis_server.url)
    store = Store(client)

    def together(count: int) -> list[Any]:
        barrier = threading.Barrier(count)
        outcomes: list[Any] = []

        def use() -> None:
            barrier.wait()
            try:
                outcomes.append(store.transport.exchange([("ECHO", "x")]))
            except StoreUnavailable as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=use) for _ in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return outcomes

    try:
        assert together(6) == [["x"]] * 6
        spares = len(store.transport.idle_connections())
        assert spares >= 2
        redis_server.stop()
        redis_server.start()
        assert store.transport.exchange([("ECHO", "x")]) == ["x"]  # the top connection was dead
        assert together(spares) == [["x"]] * spares
    finally:
        client.close()


def test_thread_churn_does_not_grow_connections(redis_server: RedisServer) -> None:
    """Threads come and go (a thread pool per tick, request threads): the store keeps at most
    as many connections as were ever in use at once, on the server as in its stack."""
    admin = redis.Redis(port=redis_server.port, decode_responses=True)
    client = connect(redis_server.url)
    store = Store(client)
    try:
        base = _clients(admin)
        for _round in range(8):
            barrier = threading.Barrier(10)

            def work(b: threading.Barrier = barrier) -> None:
                b.wait()
                for _ in range(20):
                    store.transport.exchange([("INCR", "pmc:test:n")])

            threads = [threading.Thread(target=work) for _ in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert admin.get("pmc:test:n") == str(8 * 10 * 20)
        assert len(store.transport.idle_connections()) <= 10
        assert _clients(admin) - base <= 10
    finally:
        client.close()
        admin.close()


def test_health_check_ping_after_the_server_closed_idle_connections(
    url: str, admin: redis.Redis
) -> None:
    """A spare connection is checked before each use; when the server has closed it
    meanwhile (Redis `timeout`, CLIENT KILL), it is opened again, and the batch's replies are
    the batch's own (no PONG from a health check among them)."""
    client = connect(url, health_check_interval=0.05)
    store = Store(client)
    try:
        assert store.transport.exchange([("ECHO", "1")]) == ["1"]
        time.sleep(0.1)
        assert store.transport.exchange([("ECHO", "2"), ("ECHO", "3")]) == ["2", "3"]
        admin.client_kill_filter(_type="normal", skipme=True)
        time.sleep(0.1)
        assert store.transport.exchange([("ECHO", "4"), ("ECHO", "5")]) == ["4", "5"]
        admin.client_kill_filter(_type="normal", skipme=True)
        # In steady use too: a connection the server has just closed is opened again before
        # anything is sent on it (a send on it would be an unknown outcome).
        assert store.transport.exchange([("ECHO", "6")]) == ["6"]
    finally:
        client.close()


def test_a_forked_child_never_uses_the_parents_connection(store: Store) -> None:
    """After fork, the child makes its own connection (another CLIENT ID) and the parent's
    connection still works afterwards (the child neither shared nor shut it down)."""
    parent_id = store.transport.exchange([("CLIENT", "ID")])[0]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_end)
            child_id = store.transport.exchange([("CLIENT", "ID")])[0]
            os.write(write_end, str(child_id).encode())
            import gc

            gc.collect()  # the parent's connections, dropped by the child, are finalized
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child_id = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_id and int(child_id) != int(parent_id)
    assert store.transport.exchange([("CLIENT", "ID")]) == [parent_id]


def test_the_sandbox_fakeredis_client_runs_scripted_batches() -> None:
    """`pm-coach sandbox` without REDIS_URL uses FakeRedis(decode_responses=True): `_take`
    builds its connections, NOSCRIPT is recognized and reloaded, error replies stay in step,
    and the ticker's scripted round trips work end to end."""
    store = Store(fakeredis.FakeRedis(decode_responses=True))
    assert store.profiles.enrol(T, "U1", "Europe/Berlin", NOW) == "new"
    claim = _due_claim(store)
    [state] = store.nudges.nudge_states([(T, "U1")])
    assert state.profile["tz"] == "Europe/Berlin"
    assert store.nudges.guard([(T, "U1", "2026-11-25", claim.token)], 60) == ["ok"]
    store.redis.script_flush()
    store.nudges.mark_sent_many([_sent(claim)])  # (fresh Store: both scripts loaded first)
    assert store.redis.get(Keys.sent(T, "U1", "2026-11-25")) == "sent:1790000000.000100"
    assert store.nudges.due_at(T, "U1") == NOW + timedelta(days=1)
    replies = store.transport.exchange([("SET", "k", "v"), ("HSET", "k", "f", "v"), ("GET", "k")])
    assert replies[0] == "OK"
    assert isinstance(replies[1], redis.exceptions.ResponseError)
    assert replies[2] == "v"
