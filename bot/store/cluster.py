"""The store's wire on a Redis Cluster: the same interface as `Transport` (exchange, run_scripts,
check, load_script), with each batch split by the node that owns each command's slot and sent to
every node in one round trip on that node's own `Transport`. Imports redis-py and the store's
transport and errors only.

redis-py's cluster client keeps the slot map and discovers the nodes (`get_node_from_key`,
`get_node`, `nodes_manager.initialize`); this module only routes the raw batches the
single-node transport already knows how to send, so a command whose answer was lost is still
never sent again: redirects are followed only for commands the cluster *refused* (MOVED, ASK,
TRYAGAIN: nothing ran), and a node that could not be reached before anything was sent to it
gets the batch again only after the slot map was refreshed.

Every multi-key script keeps its keys inside one hash tag (see `bot.store.keys`), so one
command never spans two slots; a batch may, and is split.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, cast

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import AskError, MovedError, NoScriptError, TryAgainError

from bot.store.errors import OutcomeUnknown
from bot.store.transport import (
    Command,
    Transport,
    Wire,
    script_sha,
    script_source,
    send_and_read,
)

# How often one command may be redirected within a call (a slot that moves twice while a batch
# is on its way); then the refusal is the command's reply and the caller says "not saved".
MAX_REDIRECTS = 5
# A multi-key command whose keys are split by a slot migration (or that names a key that exists
# on neither side yet, as a win's undo marker) answers TRYAGAIN until the slot has moved: wait
# this long, doubling each round up to TRYAGAIN_MAX_WAIT_S — about 1 s in all, well inside the
# 3 s Slack gives an answer.
TRYAGAIN_WAIT_S = 0.05
TRYAGAIN_MAX_WAIT_S = 0.35

_COMMANDS_WITHOUT_KEY = frozenset({"PING", "ECHO", "INFO", "TIME", "SCRIPT", "CLUSTER"})


def command_key(command: Command) -> str | None:
    """The key that routes `command` (its first one), or None for a command without keys."""
    name = str(command[0]).upper()
    if name in ("EVALSHA", "EVAL"):
        return str(command[3]) if int(command[2]) > 0 else None
    if name in _COMMANDS_WITHOUT_KEY or len(command) < 2:
        return None
    return str(command[1])


def hash_tag(key: str) -> str:
    """What Redis hashes to place `key`: the text between its first `{` and the next `}` when
    that is not empty, else the whole key (the same slot whenever the tag is the same)."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


class ClusterTransport:
    """`Transport`'s contract on a Redis Cluster. `wire` is the same public seam: it is used on
    every node."""

    def __init__(self, client: RedisCluster, *, wire: Wire = send_and_read) -> None:
        self.client = client
        self.wire = wire
        self._nodes: dict[str, Transport] = {}
        self._lock = threading.Lock()
        self._loaded: set[str] = set()

    # Routing ---------------------------------------------------------------------------------

    def _transport(self, node: ClusterNode) -> Transport:
        transport = self._nodes.get(node.name)
        if transport is None:
            with self._lock:
                transport = self._nodes.get(node.name)
                if transport is None:
                    # The node's own client carries the cluster's settings (TLS, AUTH, timeouts,
                    # connection class); the wire is looked up per call, so a test may swap it.
                    transport = Transport(
                        node.redis_connection, wire=lambda conn, cmds: self.wire(conn, cmds)
                    )
                    self._nodes[node.name] = transport
        return transport

    def _node_of(self, command: Command) -> ClusterNode:
        key = command_key(command)
        if key is None:
            return cast(ClusterNode, self.client.get_default_node())  # type: ignore[no-untyped-call]
        return cast(ClusterNode, self.client.get_node_from_key(key))  # type: ignore[no-untyped-call]

    def _nodes_of(self, commands: Sequence[Command]) -> list[ClusterNode]:
        """The node of each command, looked up once per hash tag: a batch of many PMs' reads
        (a recap's 20,000) has a few commands per PM, all in the PM's one slot."""
        by_tag: dict[str, ClusterNode] = {}
        nodes = []
        for command in commands:
            key = command_key(command)
            if key is None:
                nodes.append(self._node_of(command))
                continue
            tag = hash_tag(key)
            node = by_tag.get(tag)
            if node is None:
                node = by_tag[tag] = self._node_of(command)
            nodes.append(node)
        return nodes

    def _node_at(self, host: str, port: int) -> ClusterNode:
        node = self.client.get_node(host=host, port=port)  # type: ignore[no-untyped-call]
        if node is None:  # a node the map does not know yet (a new master, a promoted replica)
            self.refresh()
            node = self.client.get_node(host=host, port=port)  # type: ignore[no-untyped-call]
        if node is None:
            raise redis.exceptions.ClusterDownError(f"no node at {host}:{port}")
        return cast(ClusterNode, node)

    def refresh(self) -> None:
        """Read the slot map again (after MOVED, or a node that could not be reached)."""
        self.client.nodes_manager.initialize()

    # The interface ---------------------------------------------------------------------------

    def exchange(self, commands: Sequence[Command]) -> list[Any]:
        """Send `commands`, each to the node that owns its slot, one round trip per node, and
        return every reply in order (an error reply as its exception). MOVED and ASK are
        followed, TRYAGAIN waited out: those commands did not run. A node that could not be
        reached (nothing sent to it) is tried once more after the slot map is read again, as
        after a failover. Once anything was sent, a lost answer is OutcomeUnknown."""
        replies: list[Any] = [None] * len(commands)
        # position → (node, ask): where the command goes next; ask: prefix it with ASKING
        targets: dict[int, tuple[ClusterNode, bool]] = {
            i: (node, False) for i, node in enumerate(self._nodes_of(commands))
        }
        sent_any = False
        refreshed = False
        unreached: BaseException | None = None  # why a node could not be reached
        redirected: list[int] = []
        retry: dict[int, tuple[ClusterNode, bool]] = {}
        for _round in range(MAX_REDIRECTS + 1):
            if not targets:
                break
            groups: dict[tuple[str, bool], list[int]] = {}
            nodes: dict[str, ClusterNode] = {}
            for i, (node, ask) in targets.items():
                groups.setdefault((node.name, ask), []).append(i)
                nodes[node.name] = node
            targets = {}
            retry = {}
            for (name, ask), positions in groups.items():
                batch = [commands[i] for i in positions]
                if ask:  # one ASKING before each command: it holds for the next command only
                    batch = [c for command in batch for c in (("ASKING",), command)]
                try:
                    answers = self._transport(nodes[name]).exchange(batch)
                except OutcomeUnknown:
                    raise
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                    if sent_any:  # others ran: this call's outcome is not "nothing stored"
                        raise OutcomeUnknown(str(exc)) from exc
                    if refreshed:
                        raise
                    refreshed, unreached = True, exc
                    self._refresh_after(exc)
                    for i in positions:
                        retry[i] = (self._node_of(commands[i]), False)
                    continue
                sent_any = True
                if ask:
                    answers = answers[1::2]
                for i, answer in zip(positions, answers, strict=True):
                    replies[i] = answer
                    if isinstance(answer, AskError | TryAgainError):  # MovedError is an AskError
                        redirected.append(i)
            targets = {**retry, **self._redirects(commands, replies, redirected, _round)}
            redirected = []
        else:
            # The redirect budget ran out before a node that could not be reached was tried
            # again: those commands have no reply, which must never read as one (a nil).
            if retry and unreached is not None:
                if sent_any:
                    raise OutcomeUnknown(str(unreached)) from unreached
                raise unreached
        return replies

    def _refresh_after(self, exc: BaseException) -> None:
        try:
            self.refresh()
        except (redis.RedisError, redis.exceptions.RedisClusterException):
            raise exc from None

    def _redirects(
        self, commands: Sequence[Command], replies: list[Any], refused: list[int], attempt: int
    ) -> dict[int, tuple[ClusterNode, bool]]:
        """Where each refused command goes next. MOVED: the slot map is read again (once for
        the whole batch). ASK: this key has moved already in a slot being migrated. TRYAGAIN:
        the keys of one command are split by a migration; both sides agree shortly."""
        if not refused:
            return {}
        if any(isinstance(replies[i], MovedError) for i in refused):
            self.refresh()
        if any(isinstance(replies[i], TryAgainError) for i in refused):
            time.sleep(min(TRYAGAIN_WAIT_S * 2**attempt, TRYAGAIN_MAX_WAIT_S))
        targets: dict[int, tuple[ClusterNode, bool]] = {}
        for i in refused:
            answer = replies[i]
            if isinstance(answer, AskError) and not isinstance(answer, MovedError):
                targets[i] = (self._node_at(answer.host, answer.port), True)
            else:
                targets[i] = (self._node_of(commands[i]), False)
        return targets

    def run_scripts(self, commands: Sequence[Command]) -> list[Any]:
        """`exchange` a batch of scripts called by SHA. A node that lacks a script (new,
        restarted, failed over) answers NOSCRIPT: nothing of that command ran, so the script is
        loaded on the nodes that lack it and those commands alone are sent again, once. If Redis
        cannot be reached meanwhile while other commands of the batch ran, that is
        OutcomeUnknown, not "nothing stored". The first error reply is raised."""
        replies = self.exchange(commands)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            try:
                # Loaded where it is missing only: one unreachable primary elsewhere must not
                # fail the batch.
                lacking = {(str(commands[i][1]), self._node_of(commands[i])) for i in missing}
                for sha, node in lacking:
                    node.redis_connection.script_load(script_source(sha))
                again = self.exchange([commands[i] for i in missing])
            except OutcomeUnknown:
                raise
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                if any(not isinstance(reply, Exception) for reply in replies):
                    raise OutcomeUnknown(str(exc)) from exc
                raise
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _load_everywhere(self, script: str) -> None:
        for node in self.client.get_primaries():  # type: ignore[no-untyped-call]
            node.redis_connection.script_load(script)
        self._loaded.add(script_sha(script))

    def load_script(self, script: str) -> None:
        """Load `script` on every primary unless this transport has done so already."""
        if script_sha(script) not in self._loaded:
            self._load_everywhere(script)

    def check(self, commands: Sequence[Command]) -> list[Any]:
        """Read `commands` after a lost answer, on fresh connections of each node (see
        `Transport.check`). Raises StoreUnavailable, or the first error reply."""
        replies: list[Any] = [None] * len(commands)
        groups: dict[str, list[int]] = {}
        nodes: dict[str, ClusterNode] = {}
        for i, command in enumerate(commands):
            node = self._node_of(command)
            groups.setdefault(node.name, []).append(i)
            nodes[node.name] = node
        for name, positions in groups.items():
            answers = self._transport(nodes[name]).check([commands[i] for i in positions])
            for i, answer in zip(positions, answers, strict=True):
                replies[i] = answer
        return replies

    def idle_connections(self) -> tuple[Any, ...]:
        """The connections waiting for the next `exchange`, on every node."""
        return tuple(conn for t in list(self._nodes.values()) for conn in t.idle_connections())

    def close(self) -> None:
        for transport in list(self._nodes.values()):
            transport.close()
