"""The store on a real 3-master Redis Cluster, where the single node has no equivalent: how a
batch is split by node (one round trip per node, counted at the wire), keys of one operation
spread over every node, the cluster's redirects (MOVED after a reshard, ASK mid-migration),
NOSCRIPT on one node only, an answer lost on one node, a node that cannot be reached, health,
and `connect()` on any node, with AUTH. The store's contract as such runs on both in
tests/test_store.py.

Ids are chosen so their hash tags land on given nodes (`RedisClusterServers.tag_on`,
`key_slot`), so each test knows which node holds what.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import redis
from redis.cluster import RedisCluster

import bot.store.cluster
import bot.store.lua as lua
from bot.domain.wins import Lane, Win
from bot.store import (
    CAUSES,
    Claim,
    ClusterTransport,
    Completion,
    Keys,
    OutcomeUnknown,
    SentNudge,
    Store,
    StoreRefused,
    StoreUnavailable,
    connect,
    due_shard,
)
from bot.store.transport import Command, send_and_read
from tests.redis_cluster import RedisClusterServers, key_slot
from tests.redis_server import RedisServer, find_redis_server
from tests.test_store import keys_of

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SLOT = "2026-11-25"  # the nudges' local day
SCRIPTS = [getattr(lua, name) for name in dir(lua) if name.isupper()]


class NodeCounting(redis.Connection):
    """Counts round trips per node (by port) and by the name of the first command sent: each
    send of one command or of one whole batch is one; a connection's handshake is not
    counted."""

    sends: ClassVar[Counter[tuple[int, str]]] = Counter()
    _handshake = False
    _count_lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        with cls._count_lock:
            cls.sends = Counter()

    @classmethod
    def taken_named(cls) -> Counter[tuple[int, str]]:
        """(port, first command) of the sends since the last reset, and reset."""
        with cls._count_lock:
            sends, cls.sends = cls.sends, Counter()
        return +sends

    @classmethod
    def taken(cls) -> Counter[int]:
        """The round trips to each node (by port) since the last reset, and reset."""
        by_port: Counter[int] = Counter()
        for (port, _name), count in cls.taken_named().items():
            by_port[port] += count
        return by_port

    def on_connect_check_health(self, check_health: bool = True) -> None:
        self._handshake = True
        try:
            super().on_connect_check_health(check_health)
        finally:
            self._handshake = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._handshake:
            packed = command if isinstance(command, bytes) else b"".join(command)
            name = packed.split(b"\r\n", 3)[2].decode().upper()  # *N, $len, NAME
            with self._count_lock:
                type(self).sends[(int(self.port), name)] += 1
        super().send_packed_command(command, check_health)


@pytest.fixture(name="cluster")
def _cluster(redis_cluster: RedisClusterServers, cluster_url: str) -> RedisClusterServers:
    """The worker's cluster, healthy and empty (cluster_url resets it)."""
    assert cluster_url == redis_cluster.url
    return redis_cluster


@pytest.fixture(name="store")
def _store(cluster: RedisClusterServers) -> Iterator[Store]:
    """A store on the cluster whose connections count their round trips per node, with
    every script already loaded on every primary (steady state)."""
    client = connect(cluster.url, connection_class=NodeCounting, health_check_interval=0)
    assert isinstance(client, RedisCluster)
    store = Store(client)
    assert isinstance(store.transport, ClusterTransport)
    for script in SCRIPTS:
        store.transport.load_script(script)
    NodeCounting.reset()
    yield store
    store.close()
    client.close()


class Layout:
    """Ids whose hash tags land on chosen nodes of `cluster`, from one read of its slot map."""

    def __init__(self, cluster: RedisClusterServers) -> None:
        self.cluster = cluster
        self.owners = cluster.slot_owners()
        self.ports = cluster.ports

    def node(self, key: str) -> int:
        owner = self.owners[key_slot(key)]
        assert owner is not None
        return owner

    def port(self, key: str) -> int:
        return self.ports[self.node(key)]

    def team_on(self, index: int) -> str:
        return next(t for n in range(10_000) if self.node(Keys.team(t := f"T0C{n}")) == index)

    def user_on(self, team: str, index: int, *, shard_on: int | None = None, skip: int = 0) -> str:
        """A user of `team` whose `{T:U}` keys live on node `index` (and, with `shard_on`,
        whose due-index shard lives on that node)."""
        for n in range(100_000):
            user = f"U0C{n}"
            if self.node(Keys.profile(team, user)) != index:
                continue
            shard = Keys.due_index(due_shard(team, user))
            if shard_on is not None and self.node(shard) != shard_on:
                continue
            if skip == 0:
                return user
            skip -= 1
        raise AssertionError("no such user id")

    def shard_ports(self, pairs: Sequence[tuple[str, str]]) -> Counter[int]:
        """One round trip per node holding the due shards of `pairs`."""
        return Counter(set(self.port(Keys.due_index(due_shard(t, u))) for t, u in pairs))


def win(team: str, user: str, win_id: str) -> Win:
    return Win(win_id, team, user, Lane.CLARITY, "Framed the bet", NOW, "2026-W48", NOW)


def claimed(store: Store, pairs: Sequence[tuple[str, str]]) -> dict[str, Claim]:
    """Enrol `pairs`, make them due and claim them: their claims by user."""
    for team, user in pairs:
        store.profiles.enrol(team, user, "UTC", NOW)
        store.nudges.reschedule(team, user, NOW - timedelta(minutes=1))
    claims = store.nudges.claim_due(NOW, lease_s=60, limit=100, token_prefix="p")
    assert sorted(c.user_id for c in claims) == sorted(u for _t, u in pairs)
    return {c.user_id: c for c in claims}


def sent(claim: Claim) -> SentNudge:
    return SentNudge(
        claim,
        slot=SLOT,
        ts=f"1790000000.{claim.user_id}",
        channel="D1",
        prompt_id="p1",
        prompt="What moved?",
        now=NOW,
        notice=False,
        next_due=NOW + timedelta(days=7),
    )


def ignored(store: Store, team: str, user: str) -> str | None:
    """How many nudges MARK_SENT counted for the PM (None: none ran)."""
    return store.profiles.profile(team, user).get("ignored")


def commandstat(cluster: RedisClusterServers, index: int, command: str) -> int:
    """How many times node `index` ran `command` (INFO commandstats)."""
    client = cluster.client(index)
    try:
        stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    finally:
        client.close()
    return int(stats.get("calls", 0))


# One round trip per node ------------------------------------------------------------------


def test_a_win_is_one_command_to_the_one_node_that_holds_the_pm(
    cluster: RedisClusterServers, store: Store
) -> None:
    """`/win`'s store path on a cluster: one EVALSHA, sent to the node of the PM's `{T:U}`
    tag and to no other node, each time (the node clients carry connect()'s
    connection_class: the transport's own connections are counted too)."""
    layout = Layout(cluster)
    team = layout.team_on(0)
    user = layout.user_on(team, 1)
    for n in range(5):
        outcome = store.wins.log_win(win(team, user, f"w{n}"), tz="UTC", now=NOW)
        assert outcome.status == "logged"
    assert NodeCounting.taken() == Counter({layout.ports[1]: 5})
    assert {type(c) for c in store.transport.idle_connections()} == {NodeCounting}
    assert len(store.wins.user_wins(team, user)) == 5


def test_batches_spanning_every_node_are_one_round_trip_per_node(
    cluster: RedisClusterServers, store: Store
) -> None:
    """Enrolment (`{T:U}` script with `{T}:users`), claim_due (16 shards), nudge_states,
    guard, mark_sent_many and complete, with their keys on all three nodes: each works, and
    each node gets one round trip per batch."""
    layout = Layout(cluster)
    ports = layout.ports
    team = layout.team_on(0)
    users = [layout.user_on(team, i) for i in range(3)]
    pairs = [(team, u) for u in users]

    # Enrolment: the PM's node and the team's node, one round trip each (one, when the same).
    assert [store.profiles.enrol(team, u, "UTC", NOW) for u in users] == ["new"] * 3
    assert NodeCounting.taken() == Counter({ports[0]: 3, ports[1]: 1, ports[2]: 1})
    assert store.teams.team_users(team) == set(users)
    for user in users:
        store.nudges.reschedule(team, user, NOW - timedelta(minutes=1))
    NodeCounting.taken()

    claims = store.nudges.claim_due(NOW, lease_s=60, limit=100, token_prefix="p")
    shard_ports = {layout.port(Keys.due_index(s)) for s in range(16)}
    assert NodeCounting.taken() == Counter(dict.fromkeys(shard_ports, 1))
    assert sorted(c.user_id for c in claims) == sorted(users)

    states = store.nudges.nudge_states(pairs)
    assert [s.profile["tz"] for s in states] == ["UTC"] * 3
    assert NodeCounting.taken() == Counter(dict.fromkeys(ports, 1))

    items = [(team, c.user_id, SLOT, c.token) for c in claims]
    assert store.nudges.guard(items, 60) == ["ok"] * 3
    assert NodeCounting.taken() == Counter(dict.fromkeys(ports, 1))

    store.nudges.mark_sent_many([sent(c) for c in claims])
    records = Counter(dict.fromkeys(ports, 1))  # then COMPLETE, on the shards' nodes
    assert NodeCounting.taken() == records + layout.shard_ports(pairs)
    assert [ignored(store, team, u) for u in users] == ["1"] * 3
    assert {store.nudges.due_at(team, u) for u in users} == {NOW + timedelta(days=7)}

    for user in users:
        store.nudges.reschedule(team, user, NOW - timedelta(minutes=1))
    again = store.nudges.claim_due(NOW, lease_s=60, limit=100, token_prefix="q")
    NodeCounting.taken()
    done = [Completion(team, c.user_id, c.token, NOW + timedelta(days=1)) for c in again]
    assert store.nudges.complete(done) == 3
    assert NodeCounting.taken() == layout.shard_ports(pairs)


def test_forget_me_deletes_the_pm_on_every_node_that_holds_any_of_their_keys(
    cluster: RedisClusterServers, store: Store
) -> None:
    """The PM's `{T:U}` keys, their place in `{T}:users` and the recap's "set by", and their
    due-index entry and lease, each on another node: all go; another PM placed the same way
    keeps every key."""
    layout = Layout(cluster)
    team = layout.team_on(0)
    gone, kept = (layout.user_on(team, 1, shard_on=2, skip=n) for n in range(2))
    admin = connect(cluster.url)
    try:
        for user in (gone, kept):
            store.profiles.enrol(team, user, "Europe/Berlin", NOW)
            store.wins.log_win(win(team, user, "w1"), tz="Europe/Berlin", now=NOW)
            store.nudges.reschedule(team, user, NOW - timedelta(minutes=1))
        store.nudges.claim_due(NOW, lease_s=60, limit=100, token_prefix="p")  # leases
        store.recaps.set_team_settings(team, recap_channel="C1", recap_set_by=gone)
        where = {layout.node(k.split(" -> ")[0]) for k in keys_of(admin, gone)}
        assert where == {0, 1, 2}, "the PM's keys should span every node"
        before = keys_of(admin, kept)

        assert store.profiles.forget(team, gone) > 0

        assert keys_of(admin, gone) == []
        assert keys_of(admin, kept) == before
        assert store.teams.team_users(team) == {kept}
        assert store.recaps.team_settings(team) == {"recap_channel": "C1"}
    finally:
        admin.close()


# Redirects --------------------------------------------------------------------------------


def test_after_a_reshard_the_first_batch_follows_moved_and_stores_once(
    cluster: RedisClusterServers, store: Store
) -> None:
    """The PM's slot moves to another node behind the store's back: the next `/win` is
    refused by the old node (MOVED, nothing ran), the slot map is read again, and the win is
    stored on the new node, once; the next one goes there straight."""
    layout = Layout(cluster)
    team = layout.team_on(2)
    user = layout.user_on(team, 0)
    assert store.wins.log_win(win(team, user, "w1"), tz="UTC", now=NOW).status == "logged"
    cluster.migrate_slot(key_slot(Keys.profile(team, user)), 0, 1)
    NodeCounting.reset()

    outcome = store.wins.log_win(win(team, user, "w2"), tz="UTC", now=NOW)

    assert outcome.status == "logged" and outcome.state.counts["2026-W48"].clarity == 2
    sends = NodeCounting.taken_named()
    assert sum(n for (_port, name), n in sends.items() if name == "CLUSTER") == 1, sends
    evalsha = {port: n for (port, name), n in sends.items() if name == "EVALSHA"}
    assert evalsha == {layout.ports[0]: 1, layout.ports[1]: 1}, sends
    assert store.wins.log_win(win(team, user, "w3"), tz="UTC", now=NOW).status == "logged"
    assert NodeCounting.taken() == Counter({layout.ports[1]: 1})
    assert [w.id for w in store.wins.user_wins(team, user)] == ["w1", "w2", "w3"]
    assert store.wins.snapshot(team, user).state.counts["2026-W48"].clarity == 3


def test_mid_migration_a_moved_key_is_reached_by_asking_and_the_rest_stays_put(
    cluster: RedisClusterServers, store: Store
) -> None:
    """A slot held mid-migration: a script on a key already moved is refused by the source
    (ASK) and run on the target after ASKING, with the moved state; a script on a key not
    moved yet is served by the source, with no redirect."""
    layout = Layout(cluster)
    team = layout.team_on(0)
    key = Keys.rate(team)
    # One send per 10 s, no burst: a second reservation waits 10 s after the first.
    assert store.nudges.reserve_sends(team, 1, rate_per_s=0.1, burst=1) == [0.0]
    assert store.recaps.claim_recap(team, "2026-W48", "a", lease_s=60) == "ok"
    asking = commandstat(cluster, 1, "asking")
    with cluster.migrating(key_slot(key), 0, 1) as migration:
        assert migration.move_keys([key]) == 1
        NodeCounting.reset()
        [wait] = store.nudges.reserve_sends(team, 1, rate_per_s=0.1, burst=1)
        assert NodeCounting.taken() == Counter({layout.ports[0]: 1, layout.ports[1]: 1})
        assert 5 < wait <= 10, "the script did not run on the moved state"
        assert commandstat(cluster, 1, "asking") == asking + 1

        store.recaps.release_recap(team, "2026-W48", "a")
        assert NodeCounting.taken() == Counter({layout.ports[0]: 1})
    # The claim was deleted on the source (otherwise it would have moved with the slot).
    assert store.recaps.recap_state(team, "2026-W48") == ("", "")
    [third] = store.nudges.reserve_sends(team, 1, rate_per_s=0.1, burst=1)
    assert 15 < third <= 20, "the reservation mid-migration ran other than once"


def test_a_multi_key_script_mid_migration_is_refused_honestly_and_writes_nothing(
    cluster: RedisClusterServers, store: Store
) -> None:
    """While the PM's slot is migrating, Redis refuses a script over several of their keys
    when some do not exist on the node asked (TRYAGAIN): `/win` declares keys that usually do
    not (the undo marker, the pauses). The store waits a little, then reports the refusal
    (StoreRefused: "not saved"), having written nothing; once the slot has moved, the same
    win logs, once."""
    layout = Layout(cluster)
    team = layout.team_on(2)
    user = layout.user_on(team, 0)
    assert store.wins.log_win(win(team, user, "w1"), tz="UTC", now=NOW).status == "logged"
    with cluster.migrating(key_slot(Keys.profile(team, user)), 0, 1) as migration:
        with pytest.raises(StoreRefused) as refused:  # keys all on the source
            store.wins.log_win(win(team, user, "w2"), tz="UTC", now=NOW)
        assert isinstance(refused.value, redis.exceptions.TryAgainError)
        migration.move_keys()
        with pytest.raises(StoreRefused):  # all on the target: ASK, then TRYAGAIN there
            store.wins.log_win(win(team, user, "w2"), tz="UTC", now=NOW)
    assert [w.id for w in store.wins.user_wins(team, user)] == ["w1"]
    assert store.wins.log_win(win(team, user, "w2"), tz="UTC", now=NOW).status == "logged"
    assert store.wins.snapshot(team, user).state.counts["2026-W48"].clarity == 2


def test_noscript_on_one_node_resends_only_its_commands(
    cluster: RedisClusterServers, store: Store
) -> None:
    """One node forgot its scripts (restarted, SCRIPT FLUSH): in a batch over all three
    nodes, only that node's commands are sent again, so a script that is not idempotent runs
    once per command overall (MARK_SENT counts `ignored`; the rate budget)."""
    layout = Layout(cluster)
    team = layout.team_on(1)
    users = [layout.user_on(team, i) for i in range(3)]
    claims = claimed(store, [(team, u) for u in users])
    store.nudges.guard([(team, u, SLOT, claims[u].token) for u in users], 60)
    assert store.nudges.reserve_sends(team, 1, rate_per_s=0.1, burst=1) == [0.0]
    flusher = cluster.client(1)
    try:
        flusher.script_flush()
    finally:
        flusher.close()

    store.nudges.mark_sent_many([sent(claims[u]) for u in users])
    [wait] = store.nudges.reserve_sends(team, 1, rate_per_s=0.1, burst=1)

    assert [ignored(store, team, u) for u in users] == ["1", "1", "1"]
    assert 5 < wait <= 10, "the reservation ran other than once"
    assert {store.nudges.due_at(team, u) for u in users} == {NOW + timedelta(days=7)}


# Lost answers and unreachable nodes -------------------------------------------------------


def losing_on(port: int) -> Callable[[Any, Sequence[Command]], list[Any]]:
    """A wire that, once, loses the answer of a batch that node `port` has run."""
    armed = [True]

    def wire(conn: Any, commands: Sequence[Command]) -> list[Any]:
        replies = send_and_read(conn, commands)
        if armed[0] and int(conn.port) == port:
            armed[0] = False
            raise redis.TimeoutError("Timeout reading from socket")
        return replies

    return wire


def test_an_answer_lost_on_one_node_is_an_unknown_outcome_never_resent(
    cluster: RedisClusterServers, store: Store
) -> None:
    """Node 1's answer to its part of a batch is lost after it ran: the call is
    OutcomeUnknown, and nothing is sent again (the PM on node 1 is counted once). A lost
    `/win` on that node is then found by the store's check, stored once."""
    layout = Layout(cluster)
    team = layout.team_on(0)
    users = [layout.user_on(team, i) for i in range(3)]
    claims = claimed(store, [(team, u) for u in users])
    store.transport.wire = losing_on(layout.ports[1])
    with pytest.raises(OutcomeUnknown):
        store.nudges.mark_sent_many([sent(claims[u]) for u in users])
    assert ignored(store, team, users[1]) == "1"
    assert all(ignored(store, team, u) in (None, "1") for u in users)
    assert store.nudges.due_at(team, users[1]) != NOW + timedelta(days=7)  # not completed

    store.transport.wire = losing_on(layout.ports[1])
    lost = win(team, users[1], "w1")
    with pytest.raises(OutcomeUnknown):
        store.wins.log_win(lost, tz="UTC", now=NOW)
    found = store.wins.stored_win(lost, now=NOW)
    assert found is not None and found[0].id == "w1"
    assert [w.id for w in store.wins.user_wins(team, users[1])] == ["w1"]


class Refusing(redis.Connection):
    """A connection that cannot connect to the node at `port` (set it; 0: none): that node
    is unreachable before anything is sent to it, while the node itself stays up."""

    port_refused: ClassVar[int] = 0

    def connect(self) -> None:
        if int(self.port) == type(self).port_refused:
            self.disconnect()
            raise redis.ConnectionError(f"Error 111 connecting to 127.0.0.1:{self.port}.")
        super().connect()


def test_a_node_unreachable_after_the_last_redirect_is_never_a_reply(
    cluster: RedisClusterServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node that cannot be reached is tried once more after the slot map is read again,
    within the call's redirect budget: when the budget is spent before that second try, the
    call fails (StoreUnavailable), it never returns a reply for a command never sent."""
    monkeypatch.setattr(bot.store.cluster, "MAX_REDIRECTS", 0)
    layout = Layout(cluster)
    team = layout.team_on(0)
    user = layout.user_on(team, 1)
    client = connect(cluster.url, connection_class=Refusing)
    store = Store(client)
    try:
        store.profiles.enrol(team, user, "UTC", NOW)
        Refusing.port_refused = layout.ports[1]
        with pytest.raises(StoreUnavailable) as unreachable:
            store.nudges.guard([(team, user, SLOT, "t")], 60)
        assert not isinstance(unreachable.value, OutcomeUnknown)
        Refusing.port_refused = 0
        assert store.nudges.guard([(team, user, SLOT, "t")], 60) == ["ok"]
    finally:
        Refusing.port_refused = 0
        store.close()
        client.close()


def test_a_node_lost_while_reloading_its_scripts_is_an_unknown_outcome_when_others_ran(
    cluster: RedisClusterServers,
) -> None:
    """Node 1 answers NOSCRIPT for its part of a batch that nodes 0 and 2 ran, then cannot be
    reached to load the script: the call must not read as "nothing stored" (a plain
    StoreUnavailable) but as OutcomeUnknown; node 1's command never ran, the others once."""
    layout = Layout(cluster)
    team = layout.team_on(0)
    users = [layout.user_on(team, i) for i in range(3)]
    client = connect(cluster.url, connection_class=Refusing)
    store = Store(client)
    try:
        claims = claimed(store, [(team, u) for u in users])
        store.transport.load_script(lua.MARK_SENT)
        flusher = cluster.client(1)
        try:
            flusher.script_flush()
        finally:
            flusher.close()

        def wire(conn: Any, commands: Sequence[Command]) -> list[Any]:
            replies = send_and_read(conn, commands)
            if int(conn.port) == layout.ports[1]:  # its NOSCRIPT read, node 1 is gone
                Refusing.port_refused = layout.ports[1]
            return replies

        store.transport.wire = wire
        with pytest.raises(OutcomeUnknown):
            store.nudges.mark_sent_many([sent(claims[u]) for u in users])
        Refusing.port_refused = 0
        assert [ignored(store, team, u) for u in users] == ["1", None, "1"]
    finally:
        Refusing.port_refused = 0
        store.close()
        client.close()


def test_a_node_down_is_unavailable_after_a_refresh_and_health_names_it(
    cluster: RedisClusterServers, store: Store
) -> None:
    """Node 1 stops and the others mark the cluster failed: health says so; a PM on node 1
    cannot be reached (before anything was sent: StoreUnavailable, not an unknown outcome,
    after the slot map was read again); a batch over nodes 0 and 1 stores nothing (node 0
    refuses while the cluster is down). Once the node is back, the same store serves again
    and stores each nudge once."""
    layout = Layout(cluster)
    team = layout.team_on(2)
    down, up = layout.user_on(team, 1), layout.user_on(team, 0)
    claims = claimed(store, [(team, down), (team, up)])
    assert store.health() == "ok"

    cluster.stop_node(1, wait_fail=True)

    assert store.health() in ("cluster_down", "unreachable")
    with pytest.raises(StoreUnavailable) as alone:
        store.nudges.mark_sent_many([sent(claims[down])])
    assert not isinstance(alone.value, OutcomeUnknown)
    with pytest.raises(StoreUnavailable):
        store.nudges.mark_sent_many([sent(claims[down]), sent(claims[up])])

    cluster.start_node(1)

    assert store.health() == "ok"
    assert (ignored(store, team, down), ignored(store, team, up)) == (None, None)
    store.nudges.mark_sent_many([sent(claims[down]), sent(claims[up])])
    assert (ignored(store, team, down), ignored(store, team, up)) == ("1", "1")
    assert set(CAUSES) >= {"cluster_down", "unreachable"}


# Connecting -------------------------------------------------------------------------------


def test_connect_on_any_node_of_a_cluster_gives_a_cluster_client(
    cluster: RedisClusterServers, redis_url: str
) -> None:
    """REDIS_URL may name any node: each gives redis-py's cluster client, which sees all
    three primaries; a single Redis gives a plain client."""
    for url in cluster.urls:
        client = connect(url)
        try:
            assert isinstance(client, RedisCluster), url
            assert Store(client).nodes() == sorted(f"127.0.0.1:{p}" for p in cluster.ports)
        finally:
            client.close()
    if redis_url.startswith("fakeredis://"):
        return
    single = connect(redis_url)
    try:
        assert type(single) is redis.Redis
        assert not Store(single).is_cluster
    finally:
        single.close()


def test_a_database_other_than_0_on_a_cluster_is_named(cluster: RedisClusterServers) -> None:
    """A cluster has database 0 only: REDIS_URL ending in /1 is not a traceback or a bare
    "ResponseError" but a cause that says what to change."""
    client = connect(f"{cluster.url}/1")
    try:
        assert Store(client).health() == "cluster_db"
        assert "/0" in CAUSES["cluster_db"]
    finally:
        client.close()


@pytest.fixture(name="password_server")
def _password_server() -> Iterator[RedisServer]:
    binary = find_redis_server()
    if binary is None:
        pytest.skip("needs a redis-server binary")
    server = RedisServer(
        binary, aof=False, password="s3cret", extra_args=["--requirepass", "s3cret"]
    )
    server.start()
    yield server
    server.remove()


def test_auth_from_the_url_on_a_single_node_and_on_a_cluster(
    cluster: RedisClusterServers, password_server: RedisServer
) -> None:
    """`redis://:password@host:port`: the password reaches every connection, the store's own
    included (its scripts run), on a single node and on every node of a cluster."""
    client = connect(f"redis://:s3cret@127.0.0.1:{password_server.port}/0")
    store = Store(client)
    assert not store.is_cluster
    assert store.wins.log_win(win("T0A", "U0A", "w1"), tz="UTC", now=NOW).status == "logged"
    assert store.health() == "ok"
    store.close()
    client.close()
    without = connect(password_server.url)  # the password is needed: the test can fail
    try:
        with pytest.raises(redis.AuthenticationError):
            without.ping()
    finally:
        without.close()

    admins = [cluster.client(i) for i in range(3)]
    try:
        for admin in admins:
            admin.config_set("requirepass", "s3cret")
        client = connect(f"redis://:s3cret@127.0.0.1:{cluster.ports[2]}")
        assert isinstance(client, RedisCluster)
        store = Store(client)
        layout = Layout(cluster)
        team = layout.team_on(0)
        users = [layout.user_on(team, i) for i in range(3)]
        for user in users:
            outcome = store.wins.log_win(win(team, user, "w1"), tz="UTC", now=NOW)
            assert outcome.status == "logged"
        assert store.health() == "ok"
        store.close()
        client.close()
    finally:
        for admin in admins:  # connected before the password was set: still signed in
            admin.config_set("requirepass", "")
            admin.close()


# Connections ------------------------------------------------------------------------------


def test_concurrent_batches_over_every_node_get_their_own_replies_in_order(
    cluster: RedisClusterServers, store: Store
) -> None:
    """Many threads send batches whose commands alternate between the three nodes: each
    caller gets exactly its own replies, in its commands' order (a batch split by node is
    put back together by position; no two threads share a node connection)."""
    tags = [cluster.tag_on(i) for i in range(3)]
    errors: list[str] = []
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(100):
            value = f"{n}-{i}"
            keys = [f"{{{tag}}}:thread{n}" for tag in tags]
            commands = [("SET", key, f"{value}@{key}") for key in keys]
            commands += [("GET", key) for key in reversed(keys)]
            replies = store.transport.exchange(commands)
            expected = ["OK"] * 3 + [f"{value}@{key}" for key in reversed(keys)]
            if replies != expected:
                errors.append(f"{value}: {replies!r}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    idle = store.transport.idle_connections()
    assert len({id(c) for c in idle}) == len(idle) <= 8 * 3


def test_closing_the_store_and_its_client_closes_every_connection_on_every_node(
    cluster: RedisClusterServers,
) -> None:
    """What every `pm-coach` command does on its way out (the store, then the client)
    leaves no connection of the process open on any node: neither the store's own per-node
    connections nor the cluster client's pools."""
    name = "pmc-close-cluster"
    admins = [cluster.client(i) for i in range(3)]

    def mine() -> list[int]:
        return [sum(1 for c in a.client_list() if c.get("name") == name) for a in admins]

    try:
        client = connect(cluster.url, client_name=name)
        store = Store(client)
        keys = [f"{{{cluster.tag_on(i)}}}:k" for i in range(3)]
        for _ in range(3):
            store.transport.exchange([("GET", key) for key in keys])
        client.mget(keys[0])  # the client's own pools too
        assert all(count >= 1 for count in mine()), mine()
        store.close()
        client.close()
        deadline = time.monotonic() + 2.0  # the server notices closed sockets on its next loop
        while any(mine()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert mine() == [0, 0, 0]
    finally:
        for admin in admins:
            admin.close()
