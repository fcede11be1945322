"""Benchmark: slow clients. A real `pm-coach run` process (HTTP mode, real Redis, the fake Slack)
answers signed `/win` requests one at a time, first alone, then while 500 other connections
(quick: 100) drip their request headers a byte a second, reconnecting whenever the server drops
them at its header deadline, as an attacker would. The figure: the p99 ack latency with the
slow clients against the p99 without them.

The slow clients and the load generator run here, the server in its own process, so the
server's file descriptors and GIL are its own.
"""

from __future__ import annotations

import http.client
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.infra import (
    BOT_TOKEN,
    ROOT,
    SIGNING_SECRET,
    TEAM,
    FakeControl,
    child_env,
    loopback_port,
    standalone,
    user_id,
)
from bench.report import Figure, verdict
from bot.fakeslack import payloads, signed_headers

SLACK_ACK_S = 3.0
MAX_RATIO = 3.0
PM_PREFIX = "USLOW"
PMS = 16
SLOW = {False: 500, True: 100}  # slow clients, by `quick`
REQUESTS = {False: 200, True: 40}  # acks measured per phase
DRIP_EVERY_S = 1.0
HEAD = b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"x" * 4000


class Server:
    """`pm-coach run` in a process of its own, stopped with SIGTERM."""

    def __init__(self, fake: FakeControl, redis_url: str) -> None:
        self.port = loopback_port()
        self.log_path = Path(tempfile.mkstemp(prefix="pmc-bench-slowclients-")[1])
        self._log = self.log_path.open("wb")
        env = child_env(
            ROOT,
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_BASE_URL": fake.api_base_url,
                "REDIS_URL": redis_url,
                "PORT": str(self.port),
                "LOG_LEVEL": "WARNING",
                "LOG_FORMAT": "json",
            },
        )
        env = {k: v for k, v in env.items() if k != "SLACK_APP_TOKEN"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.1)
        raise RuntimeError(f"pm-coach run not ready (exit {self.process.poll()}); {self.tail()}")

    def tail(self) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()[-8:]
        return " | ".join(text)

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()
        self.log_path.unlink(missing_ok=True)
        return self.process.returncode


class SlowClients:
    """`count` connections that each send one byte of a request head every second, on one
    thread; a connection the server drops is opened again (and counted)."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.socks: list[tuple[socket.socket, int]] = []  # socket, bytes sent
        self.reconnects = 0
        self.failed_connects = 0
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def _open(self) -> tuple[socket.socket, int] | None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            self.failed_connects += 1
            return None
        sock.setblocking(False)
        return sock, 0

    def start(self) -> SlowClients:
        for _ in range(self.count):
            opened = self._open()
            if opened is not None:
                self.socks.append(opened)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.halt.wait(DRIP_EVERY_S):
            kept: list[tuple[socket.socket, int]] = []
            for sock, sent in self.socks:
                try:
                    sock.send(HEAD[sent % len(HEAD) : sent % len(HEAD) + 1])
                    kept.append((sock, sent + 1))
                except OSError:  # dropped by the server: come back, as an attacker would
                    sock.close()
                    self.reconnects += 1
            while len(kept) < self.count and not self.halt.is_set():
                opened = self._open()
                if opened is None:
                    break
                kept.append(opened)
            self.socks = kept

    def held(self) -> int:
        return len(self.socks)

    def stop(self) -> None:
        self.halt.set()
        self.thread.join(timeout=30)
        for sock, _ in self.socks:
            sock.close()


def acks(port: int, count: int) -> dict[str, Any]:
    """`count` signed /win requests one after another on a kept-alive connection."""
    latencies: list[float] = []
    errors = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(count):
        body, ctype = payloads.slash_command(
            "/win",
            f"clarity slow-clients bench win {i} framed the pricing question",
            team_id=TEAM,
            user_id=user_id(PM_PREFIX, i % PMS),
            channel_id="C0BENCH",
            response_url="http://127.0.0.1:9/hooks/unused",
        )
        headers = signed_headers(SIGNING_SECRET, body, content_type=ctype)
        began = time.perf_counter()
        try:
            conn.request("POST", "/slack/events", body, headers)
            response = conn.getresponse()
            ok = response.status == 200 and b"Logged" in response.read()
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        if ok:
            latencies.append(time.perf_counter() - began)
        else:
            errors += 1
    conn.close()
    latencies.sort()
    return {
        "requests": count,
        "errors": errors,
        "p50_s": percentile(latencies, 0.50),
        "p99_s": percentile(latencies, 0.99),
        "max_s": latencies[-1] if latencies else None,
    }


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed <= hard or (soft < needed and hard == resource.RLIM_INFINITY):
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run(fake: FakeControl, redis_url: str, quick: bool) -> dict[str, Any]:
    slow, requests = SLOW[quick], REQUESTS[quick]
    fd_limit = raise_fd_limit(slow + 256)
    fake.add_users(PM_PREFIX, PMS)
    server = Server(fake, redis_url)
    clients: SlowClients | None = None
    try:
        server.wait_ready()
        acks(server.port, min(10, requests))  # warm-up: profiles fetched, connections open
        alone = acks(server.port, requests)
        clients = SlowClients(server.port, slow).start()
        time.sleep(2 * DRIP_EVERY_S)  # every slow client has dripped a byte or two
        held_before = clients.held()
        crowded = acks(server.port, requests)
        held_after = clients.held()
    finally:
        if clients is not None:
            clients.stop()
        code = server.stop()
    return {
        "slow_clients": slow,
        "held_at_start": held_before,
        "held_at_end": held_after,
        "reconnects": clients.reconnects if clients else 0,
        "failed_connects": clients.failed_connects if clients else 0,
        "alone": alone,
        "crowded": crowded,
        "exit_code": code,
        "fd_limit_here": fd_limit,
        "pid": os.getpid(),
    }


def figures(out: dict[str, Any]) -> list[Figure]:
    alone, crowded = out["alone"], out["crowded"]
    base, value = alone["p99_s"], crowded["p99_s"]
    ok = (
        value is not None
        and base is not None
        and value <= SLACK_ACK_S
        and value <= MAX_RATIO * base
        and crowded["errors"] == 0
        and alone["errors"] == 0
    )
    note = (
        f"{crowded['requests']} sequential acks each phase; {out['held_at_start']}→"
        f"{out['held_at_end']} slow connections held open while measuring, "
        f"{out['reconnects']} dropped at the header deadline and reopened; errors "
        f"{alone['errors']} alone, {crowded['errors']} crowded; server exit {out['exit_code']}"
    )
    if not ok:
        note = "MISS: " + note
    return [
        Figure(
            "6",
            f"/win ack p99 with {out['slow_clients']} slow-header clients (pm-coach run)",
            1000 * value if value is not None else float("nan"),
            "ms",
            1000 * base if base is not None else None,
            "no slow clients",
            f"≤ {1000 * SLACK_ACK_S:.0f} ms and ≤ {MAX_RATIO:g}× p99 with none",
            verdict(ok),
            note,
            out,
        )
    ]


def main() -> int:
    """`python -m bench.slowclients [--quick]`: this benchmark alone."""
    return standalone(run, figures)


if __name__ == "__main__":
    raise SystemExit(main())
