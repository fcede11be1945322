"""The store's errors and what they mean to a PM and to an operator: refused, unavailable, or
sent with its answer lost (OutcomeUnknown). Imports only redis-py's exception classes.
"""

from __future__ import annotations

import redis

# Errors that mean "Redis will not store this right now": it refuses writes (maxmemory reached
# with noeviction: OOM; a read-only replica: READONLY; a Redis Cluster node that holds other
# slots: MOVED/ASK, TRYAGAIN, CLUSTERDOWN). Nothing was written; the same request can succeed
# once an operator fixes Redis.
StoreRefused = (
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.AskError,  # MovedError is one
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.SlotNotCoveredError,  # a cluster that lost a node without a replica
)
# Errors that mean "Redis is not there right now" (unreachable, too slow) or refuses to store
# what we send: handlers turn them all into "not saved" and give the PM's text back, except
# OutcomeUnknown (one of them), which only says "could not confirm".
StoreUnavailable = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.RedisClusterUnreachableError,  # no node of the cluster answers
    *StoreRefused,
)


class OutcomeUnknown(redis.exceptions.ConnectionError):
    """`Transport.exchange` sent its commands and their answer was lost (a timeout, a
    connection cut while reading): Redis may have run them, late. Never tell a PM "not saved"
    for this; a refusal Redis answered (OOM, READONLY, MOVED, LOADING...) or a connection that
    failed before anything was sent is raised as itself. The original error is its
    `__cause__`."""


# Errors of a batch sent whose answer did not come: OutcomeUnknown. Except ANSWERED, raised
# although Redis answered (nothing ran).
LOST = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
ANSWERED = (redis.exceptions.BusyLoadingError, redis.exceptions.AuthenticationError)

# Why Redis does not store our writes (`Store.health`, `pm-coach check`, /healthz), for operators.
CAUSES = {
    "unreachable": "unreachable (connection refused, reset or timed out)",
    "oom": "out of memory: maxmemory reached with the noeviction policy, writes are refused (OOM)",
    "read_only_replica": "a read-only replica: REDIS_URL must name the primary (READONLY)",
    "cluster_redirect": (
        "a Redis Cluster that this process took for a single node (Redis was unreachable "
        "when it started): restart it (MOVED/ASK)"
    ),
    "cluster_down": "the Redis Cluster is down or resharding (CLUSTERDOWN/TRYAGAIN)",
    "cluster_db": "a Redis Cluster has database 0 only: end REDIS_URL with /0 or no database",
    "error": "an unexpected error reply",
}


def unavailable_cause(exc: BaseException) -> str:
    """The key of CAUSES for an error the store raised."""
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return "oom"
    if isinstance(exc, redis.exceptions.ReadOnlyError):
        return "read_only_replica"
    if isinstance(exc, redis.exceptions.AskError):
        return "cluster_redirect"
    if isinstance(
        exc,
        redis.exceptions.TryAgainError
        | redis.exceptions.ClusterDownError
        | redis.exceptions.SlotNotCoveredError,
    ):
        return "cluster_down"
    if isinstance(exc, redis.exceptions.RedisClusterUnreachableError):
        return "unreachable"
    if "SELECT is not allowed in cluster mode" in str(exc):
        return "cluster_db"
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return "unreachable"
    return "error"
