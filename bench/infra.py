"""Plumbing shared by the benchmarks: private redis-servers, child processes, the fake Slack's
control API, settings, and Redis counters (client round trips, server reads and commands)."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from bot.fakeslack import PROXY_VARS
from bot.runtime.settings import Settings
from bot.store import connect
from tests.redis_cluster import RedisClusterServers
from tests.redis_server import RedisServer, find_redis_cli, find_redis_server, free_port
from tests.test_store import CountingConnection

ROOT = Path(__file__).resolve().parent.parent
TEAM = "T0BENCH"
BOT_TOKEN = "xoxb-bench-0000-secretbot"  # noqa: S105 - the fake's test token
SIGNING_SECRET = "bench-signing-secret-7c1d"  # noqa: S105 - loopback only
FORBIDDEN_PORTS = {6379}


def loopback_port() -> int:
    for _ in range(20):
        port = free_port()
        if port not in FORBIDDEN_PORTS:
            return port
    raise RuntimeError("no free loopback port")


# Redis ----------------------------------------------------------------------------------------


def _redis_binary() -> str:
    binary = find_redis_server()
    if binary is None:
        raise SystemExit("bench: redis-server not found (make bench installs it)")
    return binary


@dataclass
class RedisProc(RedisServer):
    """The test suite's private redis-server, owned by one benchmark: a free loopback port,
    never 6379; AOF off by default for the bulk-data benchmarks; its directory removed at
    stop."""

    binary: str = field(default_factory=_redis_binary)
    port: int = field(default_factory=loopback_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pmc-bench-")))
    aof: bool = False

    def start(self) -> RedisProc:
        assert self.port not in FORBIDDEN_PORTS
        super().start()
        return self

    def client(self, **overrides: Any) -> redis.Redis:
        return connect(self.url, **overrides)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class ClusterProc:
    """A Redis Cluster owned by one benchmark: `masters` masters, no replicas, on free loopback
    ports (never 6379), AOF off; started with the test suite's `RedisClusterServers`
    (`redis-cli --cluster create`, then every node agrees on the slot map)."""

    def __init__(self, masters: int = 3) -> None:
        self.masters = masters
        self.servers: RedisClusterServers | None = None

    def start(self) -> ClusterProc:
        cli = find_redis_cli()
        if cli is None:
            raise SystemExit("bench: redis-cli not found (make bench installs it)")
        for _attempt in range(3):
            servers = RedisClusterServers(_redis_binary(), cli, masters=self.masters).start()
            if not FORBIDDEN_PORTS & {
                p for node in servers.nodes for p in (node.port, node.bus_port)
            }:
                self.servers = servers
                return self
            servers.stop()
        raise RuntimeError("bench: no cluster on free ports away from 6379")

    @property
    def url(self) -> str:
        """The first node's URL: what an operator puts in REDIS_URL."""
        assert self.servers is not None
        return self.servers.url

    @property
    def urls(self) -> list[str]:
        assert self.servers is not None
        return self.servers.urls

    def stop(self) -> None:
        if self.servers is not None:
            self.servers.stop()
            self.servers = None


def counting_client(url: str) -> redis.Redis:
    """The production client configuration, counting every send (= one round trip)."""
    return connect(url, connection_class=CountingConnection, health_check_interval=0)


class ServerCounters:
    """Server-side counts from INFO: socket reads (≈ round trips; a pipeline larger than 16 KB
    is read in several chunks) and commands (commandstats, including those run inside Lua)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)
        first = self._raw()
        second = self._raw()
        # What one snapshot costs itself (two INFO calls on this connection).
        self.overhead = {k: second[k] - first[k] for k in first}

    def _raw(self) -> dict[str, int]:
        stats = self.client.info("stats")
        commands = self.client.info("commandstats")
        out = {"reads": int(stats["total_reads_processed"])}
        out["commands"] = sum(int(v["calls"]) for v in commands.values())
        for name, value in commands.items():
            out[name.removeprefix("cmdstat_")] = int(value["calls"])
        return out

    def snapshot(self) -> dict[str, int]:
        return self._raw()

    def delta(self, before: dict[str, int]) -> dict[str, int]:
        after = self._raw()
        out = {}
        for key, value in after.items():
            diff = value - before.get(key, 0) - self.overhead.get(key, 0)
            if diff:
                out[key] = diff
        return out

    def close(self) -> None:
        self.client.close()


class NodeCounters:
    """`ServerCounters` of several nodes (a cluster's masters): deltas per node, by port, and
    summed with `total`."""

    def __init__(self, urls: list[str]) -> None:
        self.nodes = {str(urlsplit(url).port): ServerCounters(url) for url in urls}

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {port: counters.snapshot() for port, counters in self.nodes.items()}

    def delta(self, before: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        return {port: counters.delta(before[port]) for port, counters in self.nodes.items()}

    @staticmethod
    def total(per_node: dict[str, dict[str, int]]) -> dict[str, int]:
        out: dict[str, int] = {}
        for counts in per_node.values():
            for key, value in counts.items():
                out[key] = out.get(key, 0) + value
        return out

    def close(self) -> None:
        for counters in self.nodes.values():
            counters.close()


# Child processes ------------------------------------------------------------------------------


def child_env(root: Path = ROOT, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class Child:
    """A `python -m bench.<module>` child that prints `READY <json>` when it is ready."""

    def __init__(
        self,
        module: str,
        *args: str,
        log_name: str | None = None,
        root: Path = ROOT,
        env: dict[str, str] | None = None,
    ) -> None:
        """`root`: the checkout to run the module from (another revision, for `bench.ab`);
        `env`: extra environment variables."""
        self.log_path = Path(tempfile.mkstemp(prefix=f"pmc-bench-{log_name or module}-")[1])
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=root,
            env=child_env(root, env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self.info: dict[str, Any] = {}

    def read_line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        fd = self.process.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(fd, 1)
            if not chunk:
                break
            if chunk == b"\n":
                return buffer.decode()
            buffer += chunk
        raise RuntimeError(
            f"{self.process.args!r}: no line within {timeout}s (exit {self.process.poll()}); "
            f"log {self.log_path}: {self.tail()}"
        )

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        line = self.read_line(timeout)
        if not line.startswith("READY "):
            raise RuntimeError(f"unexpected line from child: {line!r}; {self.tail()}")
        self.info = json.loads(line[len("READY ") :])
        return self.info

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def result(self, timeout: float) -> dict[str, Any]:
        line = self.read_line(timeout)
        if not line.startswith("RESULT "):
            raise RuntimeError(f"unexpected line from child: {line!r}; {self.tail()}")
        return dict(json.loads(line[len("RESULT ") :]))

    def tail(self, lines: int = 8) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self._log.close()
        self.log_path.unlink(missing_ok=True)


# The fake Slack in its own process ------------------------------------------------------------


class FakeControl:
    """Talks to `bench.fakeproc` through its Web API (custom `bench.*` methods)."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self.api_base_url = str(child.info["api_base_url"])
        self.base_url = str(child.info["base_url"])

    @classmethod
    def start(cls) -> FakeControl:
        child = Child("bench.fakeproc", "--team", TEAM, "--token", BOT_TOKEN)
        child.wait_ready(60)
        return cls(child)

    def call(self, method: str, **args: Any) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - loopback fake
            self.api_base_url + method,
            data=json.dumps(args).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {BOT_TOKEN}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            body = json.loads(response.read())
        if not body.get("ok"):
            raise RuntimeError(f"fake {method}: {body}")
        return dict(body)

    def add_users(self, prefix: str, count: int, tz: str = "Europe/Berlin") -> None:
        self.call("bench.add_users", prefix=prefix, count=count, tz=tz)

    def reset(self) -> None:
        self.call("bench.reset")

    def bucket(self, rate: float | None, burst: int = 20) -> None:
        self.call("bench.bucket", rate=rate, burst=burst)

    def stats(self) -> dict[str, Any]:
        return self.call("bench.stats")

    def delay(self, method: str, seconds: float) -> None:
        """Every answer of `method` takes `seconds` from now on (0: at once again)."""
        self.call("bench.delay", of=method, seconds=seconds)

    def arrivals(self, method: str) -> list[float]:
        """When (time.time()) each call to `method` reached the fake, before any delay."""
        return [float(t) for t in self.call("bench.arrivals", of=method)["arrivals"]]

    def stop(self) -> None:
        self.child.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def user_id(prefix: str, i: int) -> str:
    return f"{prefix}{i:06d}"


def settings_for(
    fake_api_url: str, redis_url: str, *, rate: float = 4.0, burst: int = 20
) -> Settings:
    port = urlsplit(redis_url).port
    if not redis_url or port is None or port in FORBIDDEN_PORTS:
        raise ValueError(f"bench: refusing Redis URL {redis_url!r}: use a private server")
    if not fake_api_url.startswith("http://127.0.0.1:"):
        raise ValueError(f"bench: Slack must be the loopback fake, not {fake_api_url!r}")
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_base_url=fake_api_url,
        redis_url=redis_url,
        slack_post_rate=rate,
        slack_post_burst=burst,
        log_level="WARNING",
        log_format="json",
    )


def standalone(
    run: Callable[[FakeControl, str, bool], dict[str, Any]],
    figures: Callable[[dict[str, Any]], list[Any]],
) -> int:
    """`python -m bench.<name> [--quick]`: one benchmark alone, with its own Redis and fake
    Slack, its figures printed as the table."""
    from bench.report import table
    from bot.fakeslack import drop_proxies

    drop_proxies()
    quick = "--quick" in sys.argv[1:]
    redis_proc = RedisProc().start()
    fake = FakeControl.start()
    try:
        out = run(fake, redis_proc.url, quick)
    finally:
        fake.stop()
        redis_proc.stop()
    print(table(figures(out)))
    return 0
