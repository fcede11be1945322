"""Pins of the redis-py (and hiredis) surface `bot.store.transport` relies on beyond redis-py's
public client API, and of the cluster client API `bot.store.cluster` and `connect` use: one
test per internal. A redis-py upgrade that changes one fails here, with
a message that names what the transport needs, before any behaviour test fails obscurely.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from bot.store import connect
from bot.store.transport import Transport, send_and_read
from tests.redis_cluster import RedisClusterServers, key_slot


@pytest.fixture(name="client")
def _client(redis_url: str) -> Iterator[redis.Redis]:
    if redis_url.startswith("fakeredis://"):
        pytest.skip("needs a real redis-server")
    client = connect(redis_url, socket_timeout=2.0)
    yield client
    client.close()


def _new_connection(client: redis.Redis) -> redis.Connection:
    pool = client.connection_pool
    return pool.connection_class(**pool.connection_kwargs)  # type: ignore[no-any-return]


def test_the_pool_exposes_connection_class_and_kwargs(client: redis.Redis) -> None:
    """`Transport` makes its own connections as `pool.connection_class(**pool.connection_kwargs)`,
    which must carry the client's settings (decoding, timeouts)."""
    pool = client.connection_pool
    assert isinstance(pool.connection_class, type), "ConnectionPool.connection_class is gone"
    assert issubclass(pool.connection_class, redis.connection.AbstractConnection)
    kwargs = pool.connection_kwargs
    assert isinstance(kwargs, dict), "ConnectionPool.connection_kwargs is no longer a dict"
    for name in ("socket_timeout", "socket_connect_timeout", "retry"):
        assert name in kwargs, f"ConnectionPool.connection_kwargs lacks {name!r}"
    conn = _new_connection(client)
    try:
        conn.connect()
        conn.send_command("ECHO", "é")
        assert conn.read_response() == "é", "connection_kwargs no longer carry decode_responses"
    finally:
        conn.disconnect()


def test_connect_is_a_no_op_on_a_connected_connection(client: redis.Redis) -> None:
    """`_make_ready` calls `connect()` before every exchange, relying on it doing nothing (no
    new socket, no handshake) when the connection is up."""
    conn = _new_connection(client)
    try:
        conn.connect()
        conn.send_command("CLIENT", "ID")
        first = conn.read_response()
        conn.connect()
        conn.send_command("CLIENT", "ID")
        assert conn.read_response() == first, "connect() reconnects a connected connection"
    finally:
        conn.disconnect()


def test_can_read_tells_a_connection_the_server_closed(client: redis.Redis) -> None:
    """`_make_ready` polls `can_read()`: False on an idle live connection; True (or a
    ConnectionError) once the server has closed it, so it is opened again before a send."""
    conn = _new_connection(client)
    try:
        conn.connect()
        assert conn.can_read() is False, "can_read() is not False on an idle connection"
        conn.send_command("CLIENT", "ID")
        own_id = conn.read_response()
        client.client_kill_filter(_id=own_id)
        time.sleep(0.05)
        # A ConnectionError is also how a closed connection may show.
        with contextlib.suppress(redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            assert conn.can_read(), "can_read() does not report a closed connection"
    finally:
        conn.disconnect()


def test_send_packed_command_accepts_check_health(client: redis.Redis) -> None:
    """`send_and_read` sends with `send_packed_command(packed, check_health=False)` (no
    health-check PING among a batch's replies) and reads with `read_response()`."""
    conn = _new_connection(client)
    params = inspect.signature(conn.send_packed_command).parameters
    assert "check_health" in params, "send_packed_command lost its check_health parameter"
    try:
        conn.connect()
        conn.send_packed_command(conn.pack_commands([("ECHO", "a"), ("ECHO", "b")]), False)
        assert [conn.read_response(), conn.read_response()] == ["a", "b"]
    finally:
        conn.disconnect()


def test_read_response_raises_an_error_reply_after_reading_it(client: redis.Redis) -> None:
    """An error reply is raised by `read_response()` as a ResponseError once read, so the next
    reply on the connection is the next command's (the batch stays in step), and NOSCRIPT is
    its own class (`run_scripts` reloads on it)."""
    conn = _new_connection(client)
    try:
        conn.connect()
        replies = send_and_read(
            conn, [("HSET", "pmc:test:str", "f", "v"), ("EVALSHA", "0" * 40, 0), ("ECHO", "next")]
        )
    finally:
        conn.disconnect()
    client.delete("pmc:test:str")
    assert isinstance(replies[0], redis.exceptions.ResponseError) or replies[0] == 1
    assert isinstance(replies[1], redis.exceptions.NoScriptError), "NOSCRIPT is not NoScriptError"
    assert replies[2] == "next", "an error reply left the connection out of step"


def test_hiredis_packs_the_same_bytes_as_redis_py() -> None:
    """`send_and_read` packs with hiredis's `pack_command` (what redis-py's hiredis packer does,
    less its per-argument pass): the bytes must be those redis-py's packer sends."""
    hiredis = pytest.importorskip("hiredis")
    commands = [("EVALSHA", "ab" * 20, 2, "k1", "k2", 1.5, 7, "é"), ("GET", "k")]
    ours = b"".join(hiredis.pack_command(c) for c in commands)
    conn = redis.Connection()
    assert ours == b"".join(conn.pack_commands(commands)), "hiredis and redis-py's packer differ"
    resp = redis.connection.PythonRespSerializer(6000, conn.encoder.encode)
    reference = b"".join(b"".join(resp.pack(*c)) for c in commands)
    assert ours == reference, "hiredis.pack_command no longer packs RESP as redis-py does"


def test_the_exception_classes_the_store_sorts_by() -> None:
    """`bot.store.errors` tells "answered, nothing ran" from "lost" by redis-py's exception
    hierarchy: BusyLoadingError and AuthenticationError are ConnectionErrors that Redis
    answered; MOVED is an ASK; OOM and READONLY are error replies."""
    exc = redis.exceptions
    assert issubclass(exc.BusyLoadingError, exc.ConnectionError)
    assert issubclass(exc.AuthenticationError, exc.ConnectionError)
    assert issubclass(exc.MovedError, exc.AskError)
    assert issubclass(exc.OutOfMemoryError, exc.ResponseError)
    assert issubclass(exc.ReadOnlyError, exc.ResponseError)
    assert issubclass(exc.NoScriptError, exc.ResponseError)


def test_a_transport_counts_on_the_clients_connection_class(client: redis.Redis) -> None:
    """The transport's own connections are of the client's `connection_class` (round-trip
    counting in tests rides on it), and closing the transport disconnects them."""
    transport = Transport(client)
    assert transport.exchange([("PING",)]) == ["PONG"]
    [conn] = transport.idle_connections()
    assert type(conn) is client.connection_pool.connection_class
    transport.close()
    assert transport.idle_connections() == ()


# redis-py's cluster client, as `bot.store.cluster.ClusterTransport`, `connect` and
# `Store.health` use it ------------------------------------------------------------------------


@pytest.fixture(name="cluster_client")
def _cluster_client(cluster_url: str) -> Iterator[RedisCluster]:
    client = connect(cluster_url, socket_timeout=2.0)
    assert isinstance(client, RedisCluster), "connect() no longer builds a RedisCluster"
    yield client
    client.close()


def test_cluster_from_url_takes_connects_options_to_every_node(
    redis_cluster: RedisClusterServers, cluster_url: str
) -> None:
    """`connect` builds `RedisCluster.from_url(url, **options)` with the single node's options;
    each node's client must carry them (the transport makes its connections from the node
    client's pool: `connection_class(**connection_kwargs)`)."""

    class Marked(redis.Connection):
        pass

    client = RedisCluster.from_url(
        cluster_url,
        decode_responses=True,
        socket_connect_timeout=0.5,
        socket_timeout=1.0,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
        connection_class=Marked,
    )
    try:
        nodes = client.get_primaries()
        assert len(nodes) == 3, "RedisCluster.get_primaries() does not list every primary"
        for node in nodes:
            pool = node.redis_connection.connection_pool
            assert pool.connection_class is Marked, "connection_class does not reach the nodes"
            for name, value in (("socket_timeout", 1.0), ("socket_connect_timeout", 0.5)):
                assert pool.connection_kwargs.get(name) == value, f"{name} does not reach nodes"
            assert pool.connection_kwargs.get("decode_responses") is True
    finally:
        client.close()


def test_cluster_nodes_by_key_by_address_and_by_default(
    redis_cluster: RedisClusterServers, cluster_client: RedisCluster
) -> None:
    """`get_node_from_key` routes every command (the slot's primary), `get_node(host=, port=)`
    finds an ASK target (None for an address it does not know), `get_default_node` takes the
    commands without a key; a ClusterNode's `name` is "host:port" (the transport's per-node
    key) and its `redis_connection` a plain client of that node."""
    for index in range(3):
        key = f"{{{redis_cluster.tag_on(index)}}}:k"
        node = cluster_client.get_node_from_key(key)
        assert isinstance(node, ClusterNode), "get_node_from_key() no longer gives a ClusterNode"
        assert node.port == redis_cluster.ports[index], "get_node_from_key() is not the owner"
        assert node.name == f"{node.host}:{node.port}", "ClusterNode.name is not host:port"
        assert isinstance(node.redis_connection, redis.Redis), "ClusterNode.redis_connection"
        assert node.redis_connection.ping() is True
        same = cluster_client.get_node(host=node.host, port=node.port)
        assert same is node, "get_node(host=, port=) does not find a known node"
    assert cluster_client.get_node(host="127.0.0.1", port=1) is None, "get_node() of no node"
    default = cluster_client.get_default_node()
    assert isinstance(default, ClusterNode), "get_default_node() no longer gives a ClusterNode"


def test_nodes_manager_initialize_reads_the_slot_map_again(
    redis_cluster: RedisClusterServers, cluster_client: RedisCluster
) -> None:
    """After MOVED the transport calls `nodes_manager.initialize()`: it must re-read the slot
    map, so that `get_node_from_key` names the new owner."""
    key = f"{{{redis_cluster.tag_on(0, prefix='guard')}}}:k"
    assert cluster_client.get_node_from_key(key).port == redis_cluster.ports[0]
    redis_cluster.migrate_slot(key_slot(key), 0, 1)
    cluster_client.nodes_manager.initialize()
    moved = cluster_client.get_node_from_key(key)
    assert moved.port == redis_cluster.ports[1], "nodes_manager.initialize() kept the old map"


def test_redirect_replies_carry_slot_and_address(redis_cluster: RedisClusterServers) -> None:
    """The transport reads MOVED and ASK replies raw (`read_response`) and follows them by
    `AskError.host`, `.port` and `.slot_id`; MovedError is an AskError (one isinstance
    test sorts both)."""
    exc = redis.exceptions
    assert issubclass(exc.MovedError, exc.AskError), "MovedError is no longer an AskError"
    assert issubclass(exc.TryAgainError, exc.ResponseError), "TryAgainError is not a reply"
    key = f"{{{redis_cluster.tag_on(0, prefix='redirect')}}}:k"
    slot = key_slot(key)
    wrong = redis_cluster.client(1)
    try:
        conn = _new_connection(wrong)
        try:
            conn.connect()
            [moved] = send_and_read(conn, [("GET", key)])
        finally:
            conn.disconnect()
    finally:
        wrong.close()
    assert isinstance(moved, exc.MovedError), f"a MOVED reply reads as {moved!r}"
    assert (moved.host, moved.port, moved.slot_id) == ("127.0.0.1", redis_cluster.ports[0], slot)
    source = redis_cluster.client(0)
    try:
        with redis_cluster.migrating(slot, 0, 2):
            conn = _new_connection(source)
            try:
                conn.connect()
                [ask] = send_and_read(conn, [("GET", key)])  # not on the source: ASK
            finally:
                conn.disconnect()
    finally:
        source.close()
    assert isinstance(ask, exc.AskError) and not isinstance(ask, exc.MovedError), repr(ask)
    assert (ask.host, ask.port, ask.slot_id) == ("127.0.0.1", redis_cluster.ports[2], slot)


def test_cluster_info_and_slots_reply_shapes(
    redis_cluster: RedisClusterServers, cluster_client: RedisCluster
) -> None:
    """`Store.health` reads `CLUSTER INFO` through a node's `execute_command` (a dict, or the
    raw text) for `cluster_state`, and `CLUSTER SLOTS` through a plain client (a dict keyed
    by (start, end) with a "primary", or the raw list); `is_cluster_node` reads
    `info("cluster")["cluster_enabled"]`."""
    node = cluster_client.get_primaries()[0]
    info = node.redis_connection.execute_command("CLUSTER INFO")
    if isinstance(info, dict):
        assert info.get("cluster_state") == "ok", f"CLUSTER INFO's dict lacks it: {info!r}"
    else:
        assert "cluster_state:ok" in str(info), f"CLUSTER INFO reads as {info!r}"
    plain = redis_cluster.client(0)
    try:
        assert str(plain.info("cluster").get("cluster_enabled")) == "1"
        ranges = plain.execute_command("CLUSTER SLOTS")
    finally:
        plain.close()
    if isinstance(ranges, dict):
        owners = {str(v.get("primary")) for v in ranges.values()}
        assert all(isinstance(k, tuple) and len(k) == 2 for k in ranges), repr(ranges)
    else:
        owners = {str(r[2][:2]) for r in ranges}
    assert len(owners) == 3, f"CLUSTER SLOTS names {owners!r}, not the 3 primaries"


def test_cluster_scan_iter_and_pipelines_span_every_node(
    redis_cluster: RedisClusterServers, cluster_client: RedisCluster
) -> None:
    """Forget-me finds a PM's keys with `scan_iter(match=...)` and the repositories read with
    non-transactional pipelines whose keys span slots: on a cluster both must reach every
    node."""
    keys = [f"{{{redis_cluster.tag_on(i, prefix='scan')}}}:k" for i in range(3)]
    pipe = cluster_client.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, "v")
    assert pipe.execute() == [True] * 3, "a pipeline over three nodes failed"
    found = set(cluster_client.scan_iter(match="{scan*", count=100))
    assert found == set(keys), "RedisCluster.scan_iter() does not scan every primary"
    assert cluster_client.unlink(*keys) == 3
