"""The store's wire: one round trip per batch of commands on the store's own connections, Lua
scripts called by SHA, and `connect`, the client every process uses. Imports redis-py (and
hiredis when installed) and `bot.store.errors` only.

A command whose answer was lost is never resent blindly: `Transport.exchange` raises
OutcomeUnknown, and the caller may `check` what was stored. This is the hot path of `/win` and of
every batch of nudges, hence the raw exchange instead of redis-py's pipeline.

The redis-py surface it relies on beyond the public client API, each pinned by a test in
`tests/test_store_redispy.py`: `ConnectionPool.connection_class` and `.connection_kwargs` (to
make connections with the client's settings), and on a connection `connect()` (a no-op when
connected), `can_read()`, `disconnect()`, `send_packed_command(..., check_health=False)`,
`read_response()` (an error reply raised as ResponseError after it was read) and
`pack_commands()`; hiredis's `pack_command` (the same bytes as redis-py's packer).
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, Protocol

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError
from redis.retry import Retry

try:  # redis-py packs commands with hiredis when it is installed (pyproject asks for it)
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - redis-py's own packer then
    _pack = None  # type: ignore[assignment]

from bot.store.errors import ANSWERED, LOST, OutcomeUnknown, StoreUnavailable

# Connect, and each read, of a check after a lost answer (`Transport.check`): the PM is
# waiting, and Slack gives the answer 3 s.
CHECK_TIMEOUT_S = 0.5

Command = tuple[Any, ...]
# The client a store is built on: one Redis, or redis-py's client of a Redis Cluster.
Client = redis.Redis | RedisCluster
# Writes a batch on a connection in one send and reads every reply (an error reply in its
# place, as its exception). `send_and_read` is the real one; a test passes another to lose an
# answer (see `Transport`).
Wire = Callable[[Any, Sequence[Command]], list[Any]]


def connect(url: str, **overrides: Any) -> Client:
    """A client that fails fast: a PM must hear "not saved" well inside Slack's 3 s.

    `url` may name a single Redis or any node of a Redis Cluster: a node that says
    `cluster_enabled:1` gets redis-py's cluster client (slot map, node discovery), built from
    the same URL and options (TLS with `rediss://`, AUTH from the URL). When Redis cannot be
    reached to ask, the single-node client is returned; if it then meets a cluster, the store's
    health check says so (`cluster_redirect`) and /healthz fails, so the process is restarted.
    """
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": 0.5,
        "socket_timeout": 1.0,
        "retry": Retry(NoBackoff(), 1),
        "health_check_interval": 30,
    }
    options.update(overrides)
    client = redis.Redis.from_url(url, **options)
    if not is_cluster_node(client):
        return client
    try:
        cluster = RedisCluster.from_url(url, **options)
    except (redis.RedisError, redis.exceptions.RedisClusterException):
        return client  # a cluster that cannot serve every slot yet: health says why
    client.close()
    return cluster


def is_cluster_node(client: redis.Redis) -> bool:
    """Whether `client` talks to a node of a Redis Cluster (False when it cannot tell)."""
    try:
        info = client.info("cluster")
    except redis.RedisError:
        return False
    return str(info.get("cluster_enabled")) == "1"


@cache
def script_sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1


_SCRIPTS: dict[str, str] = {}  # SHA → script, for `run_scripts` to load what Redis lacks


def evalsha(script: str, keys: Sequence[str], *args: Any) -> Command:
    """The EVALSHA command of `script` for `Transport.run_scripts`."""
    sha = script_sha(script)
    _SCRIPTS[sha] = script
    return ("EVALSHA", sha, len(keys), *keys, *args)


def script_source(sha: str) -> str:
    """The script `evalsha` named by `sha` (to load it where Redis answered NOSCRIPT)."""
    return _SCRIPTS[sha]


def send_and_read(conn: Any, commands: Sequence[Command]) -> list[Any]:
    """The wire step: `commands` in one write on `conn`, then every reply read; an error reply
    is returned in its place as its exception (the connection stays in step)."""
    # No health-check PING: `Transport.exchange` has checked an idle connection already.
    if _pack is not None:  # what redis-py's hiredis packer does, less its per-argument pass
        packed = [b"".join([_pack(command) for command in commands])]
    else:
        packed = conn.pack_commands(commands)
    conn.send_packed_command(packed, check_health=False)
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(conn.read_response())
        except redis.exceptions.ResponseError as exc:  # the reply was read: stay in step
            replies.append(exc)
    return replies


class Transport:
    """One round trip per batch, on connections of the store's own, made with `client`'s
    settings (and its `connection_class`, so a counting connection counts these too).

    `wire` is the function that writes a batch and reads its replies (`send_and_read`); the
    attribute is public so that a test can replace it on a running store to lose an answer
    after Redis ran the batch, or before it reached Redis.
    """

    def __init__(self, client: redis.Redis, *, wire: Wire = send_and_read) -> None:
        self.client = client
        self.wire = wire
        self._loaded: set[str] = set()
        self._spare: deque[Any] = deque()  # idle connections, most recently used last
        self._spare_pid = os.getpid()

    def exchange(self, commands: Sequence[Command]) -> list[Any]:
        """Send `commands` in one write and read every reply: one round trip, as a
        non-transactional pipeline, without redis-py's per-command bookkeeping (which costs
        more than the commands themselves on the hot paths: a `/win`, a batch of nudges).
        Replies are raw (no response callbacks: HGETALL is a flat list); an error reply is
        returned as its exception.

        The connections wait in a stack that needs no lock. Each is checked for a close by the
        server (restart, crash, idle timeout) before it is used, and opened again (a poll:
        about 2 µs): a failure to reach Redis is then known to have sent nothing
        (StoreUnavailable, "not saved"). Once the batch is sent, a lost answer is
        OutcomeUnknown: Redis may have run it, so it is never sent twice. The connection is
        closed after any failure, so a half-read answer never reaches the next caller.
        """
        if self._spare_pid != os.getpid():  # a forked child never uses its parent's sockets
            self._spare, self._spare_pid = deque(), os.getpid()
        try:
            conn = self._spare.pop()
        except IndexError:
            pool = self.client.connection_pool
            conn = pool.connection_class(**pool.connection_kwargs)
        sending = False
        try:
            _make_ready(conn)
            sending = True
            return self.wire(conn, commands)
        except BaseException as exc:
            conn.disconnect()
            lost = isinstance(exc, LOST) and not isinstance(exc, ANSWERED)
            if sending and lost and not isinstance(exc, OutcomeUnknown):
                raise OutcomeUnknown(str(exc)) from exc
            raise
        finally:
            self._spare.append(conn)

    def run_scripts(self, commands: Sequence[Command]) -> list[Any]:
        """`exchange` a batch of commands that call scripts by SHA (see `evalsha`). If Redis
        does not know one of them (a new, restarted or flushed server), every script of the
        batch is loaded and the batch sent again, once: NOSCRIPT means nothing of it ran, and
        scripts run by SHA are idempotent for a resend, or fenced by their arguments
        (COMPLETE's token, LOG_WIN's win id).

        Scripts are called by SHA, so the steady state is one round trip (redis-py's Script
        objects would add a SCRIPT EXISTS to every pipeline). The first error reply is raised.
        """
        for attempt in range(2):
            replies = self.exchange(commands)
            if not attempt and any(isinstance(reply, NoScriptError) for reply in replies):
                for sha in dict.fromkeys(c[1] for c in commands if c[0] == "EVALSHA"):
                    self.client.script_load(script_source(sha))
                    self._loaded.add(sha)
                continue
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return replies
        raise AssertionError("unreachable")

    def load_script(self, script: str) -> None:
        """Load `script` into Redis unless this transport has loaded it already: before a
        batch whose NOSCRIPT retry must not come after a point of no return."""
        sha = script_sha(script)
        if sha not in self._loaded:
            self.client.script_load(script)
            self._loaded.add(sha)

    def check(self, commands: Sequence[Command]) -> list[Any]:
        """Read `commands` (one round trip) after a lost answer, on a connection of their own
        with CHECK_TIMEOUT_S and no retry, closed afterwards: a PM is waiting for it. A new
        connection is also read by Redis after the one that lost its answer, so a write that
        was on its way is found. Raises StoreUnavailable, or the first error reply."""
        pool = self.client.connection_pool
        options = {
            **pool.connection_kwargs,
            "socket_timeout": CHECK_TIMEOUT_S,
            "socket_connect_timeout": CHECK_TIMEOUT_S,
            "retry": Retry(NoBackoff(), 0),
        }
        conn = pool.connection_class(**options)
        try:
            replies = self.wire(conn, commands)
        finally:
            conn.disconnect()
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def idle_connections(self) -> tuple[Any, ...]:
        """The connections waiting for the next `exchange` (at most as many as were ever in
        use at once)."""
        return tuple(self._spare)

    def close(self) -> None:
        """Close the transport's own connections (the client's pool is closed with the
        client)."""
        while self._spare:
            self._spare.pop().disconnect()


class Wired(Protocol):
    """What the repositories need of a transport: `Transport` on one Redis,
    `bot.store.cluster.ClusterTransport` on a cluster."""

    wire: Wire

    def exchange(self, commands: Sequence[Command]) -> list[Any]: ...
    def run_scripts(self, commands: Sequence[Command]) -> list[Any]: ...
    def check(self, commands: Sequence[Command]) -> list[Any]: ...
    def load_script(self, script: str) -> None: ...
    def idle_connections(self) -> tuple[Any, ...]: ...
    def close(self) -> None: ...


class Repository:
    """What every repository of the store holds: `redis`, the client, for plain commands and
    pipelines; `transport` for scripted batches and answers that may be lost."""

    def __init__(self, client: Client, transport: Wired) -> None:
        self.redis = client
        self.transport = transport


def _make_ready(conn: Any) -> None:
    """Connect `conn` if needed; if the server closed it meanwhile (it reads as ready: end of
    stream), open it again. Raises StoreUnavailable when Redis cannot be reached."""
    conn.connect()  # nothing to do when connected
    try:
        stale = conn.can_read()
    except StoreUnavailable:
        stale = True
    if stale:
        conn.disconnect()
        conn.connect()
