"""Benchmark 1: the slash-command path. Signed `/win` requests over real HTTP to the production
server (real Redis, fake Slack) and to two bare Bolt apps served the same way, each server in
its own process; the load generator runs here, on keep-alive `http.client` connections."""

from __future__ import annotations

import http.client
import random
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.infra import SIGNING_SECRET, TEAM, Child, FakeControl, RedisProc, cpu_seconds, user_id
from bench.report import Figure, verdict
from bot.fakeslack import payloads, signed_headers

MODES = ("prod", "bare_default", "bare_pbr")
PM_PREFIX = "UP"
PMS = 32
SLACK_ACK_S = 3.0
BURST_GOAL_S = SLACK_ACK_S / 2  # "well inside Slack's 3 s": within half of it


@dataclass
class Sizes:
    rounds: int
    seconds: float  # per throughput measurement
    sequential: int  # requests per latency round
    burst: int


# Many short rounds, alternating between the servers: a slow phase of a shared VM (its speed
# moves by a third within minutes) then costs every server a round alike, and the medians
# below are the figures, not a best round one server happened to get.
FULL = Sizes(rounds=9, seconds=1.25, sequential=100, burst=200)
QUICK = Sizes(rounds=2, seconds=0.5, sequential=15, burst=100)


@dataclass
class Server:
    mode: str
    child: Child
    port: int
    log: Path
    seq: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_request(self, k: int, *, pm: int | None = None) -> tuple[bytes, dict[str, str]]:
        """The next signed `/win`: from PM `pm`, or from one that varies with `k` and the
        sequence number."""
        with self.lock:
            self.seq += 1
            n = self.seq
        body, ctype = payloads.slash_command(
            "/win",
            f"clarity Bench win {n} framed the pricing question",
            team_id=TEAM,
            user_id=user_id(PM_PREFIX, (k + n) % PMS if pm is None else pm),
            channel_id="C0BENCH",
            response_url="http://127.0.0.1:9/hooks/unused",  # /win answers in its ack
        )
        return body, signed_headers(SIGNING_SECRET, body, content_type=ctype)


def post(conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str]) -> bool:
    conn.request("POST", "/slack/events", body, headers)
    response = conn.getresponse()
    data = response.read()
    return response.status == 200 and b"Logged" in data


def connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def load(server: Server, concurrency: int, seconds: float) -> dict[str, Any]:
    """`concurrency` threads on keep-alive connections for `seconds`: requests per second."""
    ok = [0] * concurrency
    errors = [0] * concurrency
    start = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def worker(k: int) -> None:
        conn = connection(server.port)
        start.wait()
        while time.perf_counter() < deadline[0]:
            body, headers = server.next_request(k)
            try:
                if post(conn, body, headers):
                    ok[k] += 1
                else:
                    errors[k] += 1
            except (OSError, http.client.HTTPException):
                errors[k] += 1
                conn.close()
                conn = connection(server.port)
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for thread in threads:
        thread.start()
    pid = server.child.process.pid
    cpu_before = cpu_seconds(pid)
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join(seconds + 30)
    elapsed = time.perf_counter() - began
    cpu = cpu_seconds(pid) - cpu_before
    done = max(1, sum(ok) + sum(errors))
    return {
        "ok": sum(ok),
        "errors": sum(errors),
        "elapsed_s": elapsed,
        "rps": sum(ok) / elapsed,
        "cpu_ms_per_req": 1000 * cpu / done,
        "cores": cpu / elapsed,
    }


def sequential(
    servers: dict[str, Server], count: int, order: random.Random
) -> dict[str, dict[str, Any]]:
    """`count` requests to each server, one at a time, taking turns request by request: a
    slow moment of the VM then costs every server alike, not whichever was being measured.
    Each turn goes through the servers in a random order (`order`), so every server follows
    every other one about equally often: a request to the bare app in Bolt's default mode
    leaves the machine idle for 10 ms, and a server that follows it finds cold caches.
    `after` counts, per server, the server each of its requests followed."""
    conns = {mode: connection(server.port) for mode, server in servers.items()}
    out: dict[str, dict[str, Any]] = {
        m: {"latencies": [], "errors": 0, "after": dict.fromkeys(servers, 0)} for m in servers
    }
    modes = list(servers)
    previous = ""
    for _ in range(count):
        order.shuffle(modes)
        for mode in modes:
            if previous:
                out[mode]["after"][previous] += 1
            previous = mode
            server = servers[mode]
            body, headers = server.next_request(0)
            began = time.perf_counter()
            try:
                good = post(conns[mode], body, headers)
            except (OSError, http.client.HTTPException):
                good = False
                conns[mode].close()
                conns[mode] = connection(server.port)
            out[mode]["latencies"].append(time.perf_counter() - began)
            out[mode]["errors"] += not good
    for conn in conns.values():
        conn.close()
    return out


def burst(server: Server, count: int) -> dict[str, Any]:
    """`count` requests at once, each on a fresh connection: per-request latency from release
    (connect, queueing and the answer)."""
    prepared = [server.next_request(k) for k in range(count)]
    release = threading.Barrier(count)
    latencies = [0.0] * count
    good = [False] * count

    def worker(k: int) -> None:
        body, headers = prepared[k]
        release.wait()
        began = time.perf_counter()
        conn = connection(server.port)
        try:
            good[k] = post(conn, body, headers)
        except (OSError, http.client.HTTPException):
            good[k] = False
        finally:
            conn.close()
        latencies[k] = time.perf_counter() - began

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return {
        "max_s": max(latencies),
        "p50_s": statistics.median(latencies),
        "errors": count - sum(good),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_servers(fake: FakeControl, redis_url: str, logdir: Path) -> dict[str, Server]:
    servers = {}
    for mode in MODES:
        log = logdir / f"{mode}.log"
        child = Child(
            "bench.serve",
            mode,
            "--redis",
            redis_url,
            "--fake",
            fake.api_base_url,
            "--log",
            str(log),
            log_name=mode,
        )
        servers[mode] = Server(mode, child, 0, log)
    for server in servers.values():
        server.port = int(server.child.wait_ready(60)["port"])
    return servers


def run(fake: FakeControl, sizes: Sizes) -> dict[str, Any]:
    redis = RedisProc(aof=True).start()  # AOF everysec, as README recommends for production
    logdir = Path(tempfile.mkdtemp(prefix="pmc-bench-slash-"))
    fake.add_users(PM_PREFIX, PMS)
    servers = start_servers(fake, redis.url, logdir)
    out: dict[str, Any] = {
        m: {"rps": [], "latencies": [], "errors": 0, "cpu": [], "cores": [], "after": {}}
        for m in MODES
    }
    order = random.Random(7)  # the c1 turns' orders: the same in every run
    try:
        # Warm up: every PM's first request (users.info, enrolment, welcome DM) happens here.
        for server in servers.values():
            for k in range(PMS):
                conn = connection(server.port)
                body, headers = server.next_request(k, pm=k)
                post(conn, body, headers)
                conn.close()
        time.sleep(1.0)  # enrolment work after the acks (schedule, welcome DM) settles
        for server in servers.values():
            load(server, 8, 0.5)
        for r in range(sizes.rounds):
            # The load order turns every round: the server loaded last starts the latency
            # turns below warm, the one loaded first has been idle for seconds; each server
            # takes each place equally often.
            for mode in MODES[r % len(MODES) :] + MODES[: r % len(MODES)]:
                server = servers[mode]
                result = load(server, 8, sizes.seconds)
                out[mode]["rps"].append(result["rps"])
                out[mode]["cpu"].append(result["cpu_ms_per_req"])
                out[mode]["cores"].append(result["cores"])
                out[mode]["errors"] += result["errors"]
            for mode, result in sequential(servers, sizes.sequential, order).items():
                out[mode]["latencies"].extend(result["latencies"])
                out[mode]["errors"] += result["errors"]
                for other, n in result["after"].items():
                    out[mode]["after"][other] = out[mode]["after"].get(other, 0) + n
        for mode, server in servers.items():
            out[mode]["burst"] = burst(server, sizes.burst)
        for mode, server in servers.items():
            text = server.log.read_text(errors="replace") if server.log.exists() else ""
            out[mode]["log_errors"] = text.count('"level": "error"')
    finally:
        for server in servers.values():
            server.child.stop()
        redis.stop()
        for path in logdir.glob("*"):
            path.unlink()
        logdir.rmdir()
    for mode in MODES:
        lat = out[mode].pop("latencies")
        out[mode]["rps_median"] = statistics.median(out[mode]["rps"])
        out[mode]["cpu_ms_per_req"] = statistics.median(out[mode]["cpu"])
        out[mode]["server_cores"] = statistics.median(out[mode]["cores"])
        out[mode]["median_ms"] = 1000 * statistics.median(lat)
        out[mode]["p90_ms"] = 1000 * percentile(lat, 0.90)
        out[mode]["p99_ms"] = 1000 * percentile(lat, 0.99)
        out[mode]["requests_c1"] = len(lat)
    return out


def figures(out: dict[str, Any], sizes: Sizes) -> list[Figure]:
    prod, dflt, pbr = out["prod"], out["bare_default"], out["bare_pbr"]
    figs = []
    better = max(("bare_default", "bare_pbr"), key=lambda m: out[m]["rps_median"])
    base = out[better]["rps_median"]
    ok = prod["rps_median"] >= 0.8 * base and prod["errors"] == 0
    note = (
        f"median of {sizes.rounds} alternating rounds of {sizes.seconds:g}s; bare default "
        f"{dflt['rps_median']:.0f}/s, bare pbr {pbr['rps_median']:.0f}/s; errors prod "
        f"{prod['errors']}; server CPU/request: "
        f"prod {prod['cpu_ms_per_req']:.2f} ms, bare {out[better]['cpu_ms_per_req']:.2f} ms"
    )
    if not ok:
        note = (
            f"the prod server spends {prod['cpu_ms_per_req']:.2f} ms CPU per request vs "
            f"{out[better]['cpu_ms_per_req']:.2f} ms for the bare app "
            f"({prod['cpu_ms_per_req'] / out[better]['cpu_ms_per_req']:.1f}×) in one process, "
            f"one GIL ({prod['server_cores']:.2f} vs {out[better]['server_cores']:.2f} core busy)"
        )
    figs.append(
        Figure(
            "1",
            "/win throughput at concurrency 8 (prod server)",
            prod["rps_median"],
            "req/s",
            base,
            better.replace("_", " "),
            "≥ 0.8× better bare",
            verdict(ok),
            note,
            out,
        )
    )
    faster = min(("bare_default", "bare_pbr"), key=lambda m: out[m]["median_ms"])
    base = out[faster]["median_ms"]
    ok = prod["median_ms"] <= 1.25 * base
    after_idle = {
        m: out[m]["after"].get("bare_default", 0) / max(1, sum(out[m]["after"].values()))
        for m in ("prod", "bare_pbr")
    }
    note = (
        f"{prod['requests_c1']} requests each, the servers in turn; p90/p99 prod "
        f"{prod['p90_ms']:.1f}/{prod['p99_ms']:.1f} ms; bare default median "
        f"{dflt['median_ms']:.1f} ms, bare pbr {pbr['median_ms']:.1f} ms; requests right after "
        f"one to bare default (10 ms idle): prod {after_idle['prod']:.0%}, bare pbr "
        f"{after_idle['bare_pbr']:.0%}"
    )
    figs.append(
        Figure(
            "1",
            "/win median latency at concurrency 1 (prod server)",
            prod["median_ms"],
            "ms",
            base,
            faster.replace("_", " "),
            "≤ 1.25× faster bare",
            verdict(ok),
            note,
        )
    )
    best = min(("bare_default", "bare_pbr"), key=lambda m: out[m]["burst"]["max_s"])
    burst_prod = prod["burst"]
    ok = burst_prod["max_s"] <= BURST_GOAL_S and burst_prod["errors"] == 0
    figs.append(
        Figure(
            "1",
            f"/win burst of {sizes.burst} concurrent requests: slowest ack (prod)",
            1000 * burst_prod["max_s"],
            "ms",
            1000 * out[best]["burst"]["max_s"],
            best.replace("_", " "),
            f"all OK, ≤ {1000 * BURST_GOAL_S:.0f} ms",
            verdict(ok),
            f"median {1000 * burst_prod['p50_s']:.0f} ms, {burst_prod['errors']} failed; "
            f"bare default max {1000 * dflt['burst']['max_s']:.0f} ms, bare pbr "
            f"{1000 * pbr['burst']['max_s']:.0f} ms",
        )
    )
    return figs
