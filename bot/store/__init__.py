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
from bot.store.transport import Transport, connect
from bot.store.wins import WinRepo

__all__ = [
    "CAUSES",
    "RECENT_MAX",
    "UNDONE_TTL_S",
    "Claim",
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
    "connect",
    "due_shard",
    "unavailable_cause",
    "week_candidates",
]


class Store:
    """Every read and write of PM Coach state, by area: `wins`, `profiles`, `nudges`, `recaps`,
    `teams` share one client and one transport. Connections are passed in (the client) or made
    by the transport with the client's settings, never configured here. `transport` replaces
    the default one (`Transport(client)`): another wire, or a test's (see `Transport.wire`)."""

    def __init__(self, client: redis.Redis, *, transport: Transport | None = None) -> None:
        self.redis = client
        self.transport = transport if transport is not None else Transport(client)
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
        "oom", "read_only_replica", "cluster_redirect", "cluster_down". One round trip: a tiny
        probe key written with a TTL, and INFO's cluster line (a plain client facing a Redis
        Cluster of several masters is redirected for most keys, whichever slot the probe is in).
        """
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

    def close(self) -> None:
        """Close the store's own connections (the client's pool is closed with the client)."""
        self.transport.close()


def _cluster_slot_owners(client: redis.Redis) -> list[Any]:
    """(start, end, owner id) of every slot range of a cluster node (CLUSTER SLOTS)."""
    ranges = client.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
    if isinstance(ranges, dict):  # redis-py's callback: {(start, end): {primary, ...}}
        return [(lo, hi, str(v.get("primary"))) for (lo, hi), v in ranges.items()]
    return [(r[0], r[1], str(r[2][:2])) for r in ranges]
