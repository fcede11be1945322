"""A real Redis Cluster for the tests: three masters on free loopback ports, no replicas.

Each node is a `RedisServer` (tests/redis_server.py) with the cluster arguments added, so it
gets the same guarantee: the process answering on its port is ours, and a port someone took
between `free_port()` and the bind is traded for another (on the first start only). A node
also needs a cluster-bus port: it is picked free as well (`--cluster-port`), rather than the
default port + 10000, which may be taken or past 65535.

`redis-cli --cluster create` joins the nodes; every change of the slot map (creation,
`reshard`, `migrate_slot`, a node restart) then waits, polling with a deadline, until every
node reports `cluster_state:ok`, sees every other node connected and healthy, and answers the
same `CLUSTER SLOTS`, covering all 16384 slots.

The admin calls use one plain `redis.Redis` per node, never `redis.cluster`: the fixture must
not depend on the code under test. PMC_TEST_REDIS_CLUSTER may instead name the masters of a
*disposable* cluster (`RedisClusterServers.external`): everything works on it except stopping
and starting nodes, which skips the test.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.redis_server import RedisServer, free_port

SLOTS = 16384
NODE_TIMEOUT_MS = 2000
READY_TIMEOUT = 30.0  # seconds; a restarted master alone waits 2 s, a FAIL flag 2 node timeouts


def _crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM), the hash Redis Cluster maps keys to slots with."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key: str | bytes) -> int:
    """The slot of `key`, computed as Redis does (the hash tag `{…}` alone counts when it is
    non-empty). Tests check it against CLUSTER KEYSLOT; it saves a round trip per key."""
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start != -1:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    return _crc16(data) % SLOTS


@dataclass
class ClusterNode(RedisServer):
    """One cluster node: a `RedisServer` with cluster mode on, its own cluster-bus port, its
    nodes.conf and its RDB file named after its port (all nodes share one directory)."""

    bus_port: int = 0
    node_timeout_ms: int = NODE_TIMEOUT_MS
    aof: bool = False

    @property
    def config_file(self) -> Path:
        return self.workdir / f"nodes-{self.port}.conf"

    @property
    def rdb_file(self) -> Path:
        return self.workdir / f"dump-{self.port}.rdb"

    def arguments(self) -> list[str]:
        return [
            *super().arguments(),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            self.config_file.name,
            "--cluster-port",
            str(self.bus_port),
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
            "--dbfilename",
            self.rdb_file.name,
        ]

    def _launch(self) -> bool:
        if not self.started and not _bindable(self.bus_port, self.port):
            # Checked here as well as by the launch: a redis-server that cannot bind its bus
            # port exits, and RedisServer's probe takes seconds of client retries to notice.
            self.bus_port = _free_port_except({self.port})
        launched = super()._launch()
        if not launched and not self.started:
            # The client port or the bus port was taken: forget this attempt's identity (a
            # nodes.conf already written) and try another bus port with the next client port.
            self.config_file.unlink(missing_ok=True)
            self.bus_port = 0
        return launched


def _bindable(port: int, other: int) -> bool:
    """Whether `port` (not 0, not `other`) is free on the loopback right now."""
    if port in (0, other):
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port_except(taken: set[int]) -> int:
    while True:
        port = free_port()
        if port not in taken:
            return port


def _cluster_info(text: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and line.strip())


@dataclass(frozen=True)
class NodeView:
    """One line of CLUSTER NODES."""

    node_id: str
    host: str
    port: int
    flags: frozenset[str]
    link: str
    slots: tuple[tuple[int, int], ...]
    migrations: tuple[str, ...]  # "[slot->-id]" (migrating) and "[slot-<-id]" (importing)


def _cluster_nodes(text: str) -> list[NodeView]:
    views = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        address = parts[1].split("@", 1)[0]
        host, _, port = address.rpartition(":")
        slots: list[tuple[int, int]] = []
        migrations: list[str] = []
        for item in parts[8:]:
            if item.startswith("["):
                migrations.append(item)
            elif "-" in item:
                low, high = item.split("-", 1)
                slots.append((int(low), int(high)))
            else:
                slots.append((int(item), int(item)))
        views.append(
            NodeView(
                node_id=parts[0],
                host=host,
                port=int(port) if port else 0,
                flags=frozenset(parts[2].split(",")),
                link=parts[7],
                slots=tuple(slots),
                migrations=tuple(migrations),
            )
        )
    return views


class ClusterNotReady(AssertionError):
    pass


class RedisClusterServers:
    """A Redis Cluster the tests talk to; nodes are addressed by index (0, 1, 2), in the order
    of `ports`/`urls`. Started by the suite (`RedisClusterServers(server, cli).start()`), or a
    disposable one named by the operator (`RedisClusterServers.external("h:p,h:p,h:p")`)."""

    def __init__(
        self,
        server_binary: str | None,
        cli_binary: str | None,
        *,
        masters: int = 3,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
    ) -> None:
        self.server_binary = server_binary
        self.cli_binary = cli_binary
        self.masters = masters
        self.node_timeout_ms = node_timeout_ms
        self.workdir: Path | None = None
        self.nodes: list[ClusterNode] = []  # empty for an external cluster
        self.addresses: list[tuple[str, int]] = []
        self._known_nodes = masters  # how many nodes every node must see (replicas included)
        self._admins: dict[int, redis.Redis] = {}

    # -- starting and stopping ---------------------------------------------------------------

    def start(self) -> RedisClusterServers:
        """Start the nodes, join them with `redis-cli --cluster create`, wait until ready."""
        if self.server_binary is None or self.cli_binary is None:
            raise RuntimeError("starting a cluster needs redis-server and redis-cli")
        self.workdir = Path(tempfile.mkdtemp(prefix="pmc-redis-cluster-"))
        atexit.register(self.stop)
        try:
            taken: set[int] = set()
            for _index in range(self.masters):
                node = ClusterNode(
                    self.server_binary,
                    port=_free_port_except(taken),
                    workdir=self.workdir,
                    node_timeout_ms=self.node_timeout_ms,
                )
                self.nodes.append(node)
                node.start()
                taken |= {node.port, node.bus_port}
            self.addresses = [("127.0.0.1", node.port) for node in self.nodes]
            self._redis_cli(
                "--cluster",
                "create",
                *(f"{host}:{port}" for host, port in self.addresses),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            )
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    @classmethod
    def external(cls, spec: str, cli_binary: str | None = None) -> RedisClusterServers:
        """A disposable cluster named `host:port,host:port,...`: its masters, all of them
        (they must cover the 16384 slots). It is flushed between tests; never name a cluster
        whose data matters."""
        cluster = cls(None, cli_binary)
        for item in spec.split(","):
            host, _, port = item.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"PMC_TEST_REDIS_CLUSTER: {item!r} is not host:port")
            cluster.addresses.append((host, int(port)))
        cluster.masters = len(cluster.addresses)
        views = _cluster_nodes(cluster._admin(0).execute_command("CLUSTER", "NODES"))
        cluster._known_nodes = len(views)
        for index, url in enumerate(cluster.urls):
            role = cluster._admin(index).execute_command("ROLE")[0]
            if role != "master":
                raise ValueError(f"PMC_TEST_REDIS_CLUSTER: {url} is a {role}, not a master")
        cluster.wait_ready()
        return cluster

    def stop(self) -> None:
        """Stop every node the suite started and remove their directory (idempotent)."""
        atexit.unregister(self.stop)
        self.close()
        for node in self.nodes:
            node.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def close(self) -> None:
        for client in self._admins.values():
            client.close()
        self._admins.clear()

    @property
    def owned(self) -> bool:
        """True when the suite started the nodes (and may stop them)."""
        return bool(self.nodes)

    # -- addresses ---------------------------------------------------------------------------

    @property
    def ports(self) -> list[int]:
        return [port for _host, port in self.addresses]

    @property
    def urls(self) -> list[str]:
        return [f"redis://{host}:{port}" for host, port in self.addresses]

    @property
    def url(self) -> str:
        """The first node's URL: what an operator would put in REDIS_URL."""
        return self.urls[0]

    def client(self, index: int, **kwargs: Any) -> redis.Redis:
        """A new plain (non-cluster) client of node `index`, decoding replies and never
        retrying (redis-py's default retries a refused connection for seconds); close it."""
        host, port = self.addresses[index]
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_timeout": 10,
            "retry": Retry(NoBackoff(), 0),
        }
        return redis.Redis(host=host, port=port, **(options | kwargs))

    def _admin(self, index: int) -> redis.Redis:
        """The fixture's own client of a node: no retries (a stopped node fails at once)."""
        if index not in self._admins:
            self._admins[index] = self.client(index, socket_connect_timeout=1)
        return self._admins[index]

    def _index_of(self, host: str, port: int) -> int | None:
        for index, (known_host, known_port) in enumerate(self.addresses):
            if known_port == port and (known_host == host or host in ("", known_host)):
                return index
        return None

    # -- the slot map ------------------------------------------------------------------------

    def node_ids(self) -> list[str]:
        """Each node's cluster id (CLUSTER MYID), by index."""
        return [self._admin(i).execute_command("CLUSTER", "MYID") for i in range(self.masters)]

    def keyslot(self, key: str) -> int:
        """The slot of `key` as the cluster computes it (CLUSTER KEYSLOT)."""
        return int(self._admin(self._any_up()).execute_command("CLUSTER", "KEYSLOT", key))

    def slot_owners(self) -> list[int | None]:
        """The index of the node serving each slot (None: unassigned, or a node not in
        `addresses`), as node 0 (or the first node up) sees it; `wait_ready` has checked that
        all nodes agree."""
        owners: list[int | None] = [None] * SLOTS
        for low, high, master, *_replicas in self._admin(self._any_up()).execute_command(
            "CLUSTER", "SLOTS"
        ):
            index = self._index_of(str(master[0]), int(master[1]))
            owners[int(low) : int(high) + 1] = [index] * (int(high) - int(low) + 1)
        return owners

    def slots_of(self, index: int) -> list[int]:
        return [slot for slot, owner in enumerate(self.slot_owners()) if owner == index]

    def node_of(self, key: str) -> int:
        """The index of the node serving `key`."""
        owner = self.slot_owners()[key_slot(key)]
        if owner is None:
            raise LookupError(f"no known node serves {key!r}")
        return owner

    def tag_on(self, index: int, *, prefix: str = "t", skip: int = 0) -> str:
        """A hash tag (without braces) whose slot node `index` serves: keys `{tag}…` all land
        there. `skip` gives the next ones (distinct slots), for tests needing several."""
        owners = self.slot_owners()
        seen: set[int] = set()
        candidate = 0
        while True:
            tag = f"{prefix}{candidate}"
            slot = key_slot(tag)
            if owners[slot] == index and slot not in seen:
                if skip == 0:
                    return tag
                skip -= 1
                seen.add(slot)
            candidate += 1

    # -- readiness ---------------------------------------------------------------------------

    def _any_up(self) -> int:
        for index in range(self.masters):
            if not self.nodes or self._running(index):
                return index
        raise RuntimeError("no node of the cluster is running")

    def _running(self, index: int) -> bool:
        process = self.nodes[index].process
        return process is not None and process.poll() is None

    def _readiness_problem(self) -> str | None:
        """Why the cluster is not ready yet, or None when it is."""
        slot_maps = []
        for index in range(self.masters):
            admin = self._admin(index)
            try:
                info = _cluster_info(admin.execute_command("CLUSTER", "INFO"))
                views = _cluster_nodes(admin.execute_command("CLUSTER", "NODES"))
                slots = admin.execute_command("CLUSTER", "SLOTS")
            except redis.RedisError as error:
                return f"node {index}: {type(error).__name__}: {error}"
            if info.get("cluster_state") != "ok":
                return f"node {index}: cluster_state:{info.get('cluster_state')}"
            if len(views) != self._known_nodes:
                return f"node {index} knows {len(views)} nodes, not {self._known_nodes}"
            for view in views:
                bad = view.flags & {"fail", "fail?", "handshake", "noaddr"}
                if bad or view.link != "connected":
                    return f"node {index} sees {view.host}:{view.port} {sorted(bad)} {view.link}"
            slot_maps.append(
                sorted((int(low), int(high), str(master[2])) for low, high, master, *_ in slots)
            )
        first = slot_maps[0]
        if any(other != first for other in slot_maps[1:]):
            return "the nodes do not agree on CLUSTER SLOTS"
        covered = sum(high - low + 1 for low, high, _id in first)
        if covered != SLOTS:
            return f"CLUSTER SLOTS covers {covered} slots, not {SLOTS}"
        return None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Wait until every node says cluster_state:ok, sees every node connected and not
        failing, and all answer the same CLUSTER SLOTS covering every slot. Returns the
        seconds waited; raises ClusterNotReady with the last reason after `timeout`."""
        return self._wait(self._readiness_problem, timeout)

    def _wait(self, problem: Callable[[], str | None], timeout: float) -> float:
        started = time.monotonic()
        deadline = started + timeout
        pause = 0.01
        while True:
            reason = problem()
            if reason is None:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise ClusterNotReady(f"cluster not ready after {timeout} s: {reason}")
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def cluster_state(self, index: int) -> str:
        """Node `index`'s cluster_state (ok or fail)."""
        info = _cluster_info(self._admin(index).execute_command("CLUSTER", "INFO"))
        return info["cluster_state"]

    # -- data --------------------------------------------------------------------------------

    def flushall(self) -> None:
        """FLUSHALL on every master."""
        for index in range(self.masters):
            self._admin(index).flushall()

    def reset(self) -> None:
        """Back to a usable cluster between tests: start any stopped node, close slot
        migrations a test left open (CLUSTER SETSLOT STABLE), wait until ready, flush every
        master. The slot layout a test left (after a reshard) is kept."""
        for index, node in enumerate(self.nodes):
            if not self._running(index):
                node.start()
        for index in range(self.masters):
            admin = self._admin(index)
            with suppress(redis.RedisError):
                for view in _cluster_nodes(admin.execute_command("CLUSTER", "NODES")):
                    for item in view.migrations if "myself" in view.flags else ():
                        slot = int(item.strip("[]").split("-", 1)[0])
                        admin.execute_command("CLUSTER", "SETSLOT", slot, "STABLE")
        self.wait_ready()
        self.flushall()

    # -- faults ------------------------------------------------------------------------------

    def _require_owned(self, what: str) -> None:
        if not self.owned:
            pytest.skip(f"{what} needs a cluster the suite started (not PMC_TEST_REDIS_CLUSTER)")

    def stop_node(self, index: int, *, keep_data: bool = True, wait_fail: bool = False) -> None:
        """Stop node `index`. keep_data: a clean `SHUTDOWN SAVE` (its RDB is loaded when it
        starts again, so nothing acknowledged is lost); otherwise SIGKILL, a crash: it comes
        back empty but still serving its slots (its nodes.conf is kept). wait_fail: wait
        until every other node reports cluster_state:fail (about the node timeout, 2 s, plus
        gossip); otherwise return as soon as the process is gone."""
        self._require_owned("stop_node")
        node = self.nodes[index]
        process = node.process
        if process is None or process.poll() is not None:
            raise RuntimeError(f"node {index} is not running")
        if keep_data:
            with suppress(redis.ConnectionError):
                self._admin(index).shutdown(save=True)
        else:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=15)
        node.stop()
        self._admin(index).connection_pool.disconnect()
        if not keep_data:
            node.rdb_file.unlink(missing_ok=True)  # an older clean stop's RDB: not this crash's
        if wait_fail:
            others = [i for i in range(self.masters) if i != index]
            self._wait(
                lambda: next(
                    (
                        f"node {i}: cluster_state:{state}"
                        for i in others
                        if (state := self.cluster_state(i)) != "fail"
                    ),
                    None,
                ),
                READY_TIMEOUT,
            )

    def start_node(self, index: int, *, wait: bool = True) -> float:
        """Start node `index` again on its port with its nodes.conf (it rejoins as itself) and,
        unless wait=False, wait until the whole cluster is ready. Returns the seconds waited."""
        self._require_owned("start_node")
        started = time.monotonic()
        self.nodes[index].start()
        if wait:
            self.wait_ready()
        return time.monotonic() - started

    # -- moving slots ------------------------------------------------------------------------

    def _redis_cli(self, *args: str) -> str:
        if self.cli_binary is None:
            pytest.skip("needs redis-cli (PMC_TEST_REDIS_CLUSTER without redis-cli here)")
        result = subprocess.run(
            [self.cli_binary, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"redis-cli {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def reshard(self, slots: int, from_index: int, to_index: int) -> list[int]:
        """Move `slots` slots and their keys from one node to another with
        `redis-cli --cluster reshard`, wait until all nodes agree, return the slots moved."""
        self.wait_ready()
        ids = self.node_ids()
        before = self.slot_owners()
        host, port = self.addresses[from_index]
        self._redis_cli(
            "--cluster",
            "reshard",
            f"{host}:{port}",
            "--cluster-from",
            ids[from_index],
            "--cluster-to",
            ids[to_index],
            "--cluster-slots",
            str(slots),
            "--cluster-yes",
        )
        self.wait_ready()
        after = self.slot_owners()
        return [slot for slot in range(SLOTS) if before[slot] != after[slot]]

    @contextmanager
    def migrating(self, slot: int, from_index: int, to_index: int) -> Iterator[SlotMigration]:
        """Hold `slot` mid-migration (MIGRATING on the source, IMPORTING on the target) so a
        test can provoke ASK replies; move keys with `.move_keys(...)`. On leaving, the rest
        of the keys move and the slot is handed over (`.finish()`), even on an exception."""
        migration = SlotMigration(self, slot, from_index, to_index)
        migration.begin()
        try:
            yield migration
        finally:
            migration.finish()

    def migrate_slot(self, slot: int, from_index: int, to_index: int) -> None:
        """Move one slot and its keys, step by step as a resharding tool does."""
        with self.migrating(slot, from_index, to_index):
            pass


@dataclass
class SlotMigration:
    """One slot moving from a node to another: begin, move keys (any number of times),
    finish."""

    cluster: RedisClusterServers
    slot: int
    from_index: int
    to_index: int
    finished: bool = False
    ids: list[str] = field(default_factory=list)

    def begin(self) -> None:
        self.ids = self.cluster.node_ids()
        source, target = self._source(), self._target()
        target.execute_command(
            "CLUSTER", "SETSLOT", self.slot, "IMPORTING", self.ids[self.from_index]
        )
        source.execute_command(
            "CLUSTER", "SETSLOT", self.slot, "MIGRATING", self.ids[self.to_index]
        )

    def _source(self) -> redis.Redis:
        return self.cluster._admin(self.from_index)

    def _target(self) -> redis.Redis:
        return self.cluster._admin(self.to_index)

    def move_keys(self, keys: Iterable[str] | None = None) -> int:
        """MIGRATE `keys` (default: every key still in the slot on the source) to the target;
        returns how many were asked to move. Keys not on the source are ignored."""
        host, port = self.cluster.addresses[self.to_index]
        if keys is not None:
            return self._migrate(host, port, list(keys))
        moved = 0
        while batch := self._source().execute_command("CLUSTER", "GETKEYSINSLOT", self.slot, 100):
            moved += self._migrate(host, port, batch)
        return moved

    def _migrate(self, host: str, port: int, keys: list[str]) -> int:
        if keys:
            self._source().execute_command("MIGRATE", host, port, "", 0, 5000, "KEYS", *keys)
        return len(keys)

    def finish(self) -> None:
        """Move the remaining keys and give the slot to the target on every node (target,
        source, then the others), then wait until the whole cluster agrees."""
        if self.finished:
            return
        self.finished = True
        self.move_keys()
        order = [self.to_index, self.from_index] + [
            i for i in range(self.cluster.masters) if i not in (self.to_index, self.from_index)
        ]
        for index in order:
            self.cluster._admin(index).execute_command(
                "CLUSTER", "SETSLOT", self.slot, "NODE", self.ids[self.to_index]
            )
        self.cluster.wait_ready()
