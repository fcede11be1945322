"""The store: the only package that talks to Redis. `Store` composes the transport (the wire,
`bot.store.transport`) and one repository per area: `wins`, `profiles`, `nudges`, `recaps`,
`teams`. The key layout is documented in `bot.store.keys`, each Lua script in
`bot/store/scripts/`. Imports redis-py and `bot.domain` only.

Costs: logging a win is one round trip (one EVALSHA); a PM's first request in a process adds
one profile read.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster

from bot.store.cluster import ClusterTransport
from bot.store.errors import (
    CAUSES,
    OutcomeUnknown,
    StoreRefused,
    StoreUnavailable,
    unavailable_cause,
)
from bot.store.keys import RECENT_MAX, UNDONE_TTL_S, Keys, due_shard
from bot.store.nudges import NudgeRepo
from bot.store.profiles import ProfileRepo
from bot.store.recaps import RecapRepo
from bot.store.records import (
    Claim,
    Completion,
    DeleteOutcome,
    LogOutcome,
    NudgeState,
    PMState,
    RecapMember,
    SentNudge,
    Snapshot,
    week_candidates,
)
from bot.store.teams import TeamRepo
from bot.store.transport import Client, Transport, Wired, connect, is_cluster_node
from bot.store.wins import WinRepo

__all__ = [
    "CAUSES",
    "RECENT_MAX",
    "UNDONE_TTL_S",
    "Claim",
    "Client",
    "ClusterTransport",
    "Completion",
    "DeleteOutcome",
    "Keys",
    "LogOutcome",
    "NudgeRepo",
    "NudgeState",
    "OutcomeUnknown",
    "PMState",
    "ProfileRepo",
    "RecapMember",
    "RecapRepo",
    "SentNudge",
    "Snapshot",
    "Store",
    "StoreRefused",
    "StoreUnavailable",
    "TeamRepo",
    "Transport",
    "WinRepo",
    "Wired",
    "connect",
    "due_shard",
    "is_cluster_node",
    "unavailable_cause",
    "week_candidates",
]


class Store:
    """Every read and write of PM Coach state, by area: `wins`, `profiles`, `nudges`, `recaps`,
    `teams` share one client and one transport. Connections are passed in (the client) or made
    by the transport with the client's settings, never configured here. `transport` replaces
    the default one (`Transport(client)`): another wire, or a test's (see `Transport.wire`)."""

    def __init__(self, client: Client, *, transport: Wired | None = None) -> None:
        self.redis = client
        if transport is None:
            cluster = isinstance(client, RedisCluster)
            transport = ClusterTransport(client) if cluster else Transport(client)  # type: ignore[arg-type]
        self.transport: Wired = transport
        self.wins = WinRepo(client, self.transport)
        self.profiles = ProfileRepo(client, self.transport)
        self.nudges = NudgeRepo(client, self.transport)
        self.teams = TeamRepo(client, self.transport)
        self.recaps = RecapRepo(client, self.transport, self.teams)

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except StoreUnavailable:
            return False

    def health(self) -> str:
        """ "ok" if Redis takes writes now, else why not (a key of CAUSES): "unreachable",
        "oom", "read_only_replica", "cluster_redirect", "cluster_down". A tiny probe key is
        written with a TTL. On a cluster, every primary must say `cluster_state:ok` too. A
        single-node client facing a cluster of several masters is redirected for most keys,
        whichever slot the probe is in: "cluster_redirect"."""
        if isinstance(self.redis, RedisCluster):
            return _cluster_health(self.redis)
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(Keys.PROBE, "1", px=60_000)
        pipe.info("cluster")
        try:
            probe, info = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            return unavailable_cause(exc)
        if isinstance(probe, Exception):
            return unavailable_cause(probe)
        if isinstance(info, dict) and str(info.get("cluster_enabled")) == "1":
            try:
                owners = {str(node[2]) for node in _cluster_slot_owners(self.redis)}
            except redis.RedisError as exc:
                return unavailable_cause(exc)
            if len(owners) > 1:
                return "cluster_redirect"
        return "ok"

    @property
    def is_cluster(self) -> bool:
        return isinstance(self.redis, RedisCluster)

    def nodes(self) -> list[str]:
        """The primaries that hold the data ("host:port"): one for a single Redis."""
        if isinstance(self.redis, RedisCluster):
            return sorted(node.name for node in self.redis.get_primaries())  # type: ignore[no-untyped-call]
        kwargs = self.redis.connection_pool.connection_kwargs
        return [f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"]

    def close(self) -> None:
        """Close the store's own connections (the client's pool is closed with the client)."""
        self.transport.close()


def _cluster_slot_owners(client: redis.Redis) -> list[Any]:
    """(start, end, owner id) of every slot range of a cluster node (CLUSTER SLOTS)."""
    ranges = client.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
    if isinstance(ranges, dict):  # redis-py's callback: {(start, end): {primary, ...}}
        return [(lo, hi, str(v.get("primary"))) for (lo, hi), v in ranges.items()]
    return [(r[0], r[1], str(r[2][:2])) for r in ranges]


def _cluster_health(client: RedisCluster) -> str:
    try:
        for node in client.get_primaries():  # type: ignore[no-untyped-call]
            if _cluster_state(node.redis_connection) != "ok":
                return "cluster_down"
        client.set(Keys.PROBE, "1", px=60_000)
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        return unavailable_cause(exc)
    return "ok"


def _cluster_state(node: redis.Redis) -> str:
    """`cluster_state` of CLUSTER INFO on one node ("ok" or "fail")."""
    info = node.execute_command("CLUSTER INFO")  # type: ignore[no-untyped-call]
    if isinstance(info, dict):  # redis-py's response callback
        return str(info.get("cluster_state"))
    fields = dict(line.split(":", 1) for line in str(info).split() if ":" in line)
    return fields.get("cluster_state", "")
