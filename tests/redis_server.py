"""A private redis-server for the test session, on a free loopback port.

Never touches any other server: PMC_TEST_REDIS_URL may point the suite at a *disposable* server
instead (it is flushed between tests). With no redis-server binary on the machine the suite
falls back to fakeredis, loudly; under CI (CI=true) that fallback is refused.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server process the tests own: they may stop and start it (fault tests)."""

    binary: str
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pmc-redis-")))
    process: subprocess.Popen[bytes] | None = None
    aof: bool = True  # appendonly everysec, as README recommends for production
    started: bool = False
    password: str | None = None  # the start-up check's, when extra_args set requirepass
    extra_args: Sequence[str] = ()  # appended to the command line (cluster nodes add theirs)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start redis-server and wait until *this* process answers on the port. A free port
        can be taken by someone else between `free_port()` and the bind (another test worker's
        server, a client socket): then our server exits, and a ping alone would reach theirs —
        two workers sharing one Redis flush each other's keys. So check the answering pid, and
        take a new port when ours was lost — on the first start only: a restart (fault tests)
        keeps the port its clients know, or fails."""
        for _attempt in range(1 if self.started else 5):
            if self._launch():
                self.started = True
                return self
            self.port = free_port()
        raise RuntimeError("redis-server could not start on a free port (5 attempts)")

    def _launch(self) -> bool:
        self.process = subprocess.Popen(
            self.arguments(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.2)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    self.process = None
                    return False  # the port was taken: our server exited
                try:
                    pid = client.info("server")["process_id"]
                except redis.ConnectionError:
                    time.sleep(0.02)
                    continue
                if pid == self.process.pid:
                    return True
                time.sleep(0.02)  # someone else's server answers: ours is about to exit
        finally:
            client.close()
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def arguments(self) -> list[str]:
        """The command line of one launch, built afresh each time: `start()` may have moved
        to another port since the last one."""
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *(
                ["--appendonly", "yes", "--appendfsync", "everysec"]
                if self.aof
                else ["--appendonly", "no"]
            ),
            "--dir",
            str(self.workdir),
            "--protected-mode",
            "yes",
            *self.extra_args,
        ]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def remove(self) -> None:
        """Stop for good: the server, then its working directory (its AOF and dump)."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if Path(p).exists()),
        None,
    )


def find_redis_cli() -> str | None:
    return shutil.which("redis-cli") or next(
        (p for p in ("/usr/bin/redis-cli", "/usr/local/bin/redis-cli") if Path(p).exists()),
        None,
    )
