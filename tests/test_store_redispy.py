"""Pins of the redis-py (and hiredis) surface `bot.store.transport` relies on beyond redis-py's
public client API: one test per internal. A redis-py upgrade that changes one fails here, with
a message that names what the transport needs, before any behaviour test fails obscurely.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Iterator

import pytest
import redis

from bot.store import connect
from bot.store.transport import Transport, send_and_read


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
