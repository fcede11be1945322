"""Benchmark: the HTTP front on its own. The same small WSGI app (reads the body, answers 300
bytes of JSON, as a /win reply does) served by `bot.runtime.server` and by the standard library's
threading WSGI server, one request at a time over a kept-alive connection, the servers taking
turns. The figure: the front's median latency against the standard library's.

The `/win` benchmarks (1) compare the product with bare Bolt apps served by the same front, so
a cost of the front itself (an answer held back 40 ms by Nagle's algorithm, once) shows in none
of their ratios: this one measures it.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bench.report import Figure, verdict
from bot.runtime.server import make_server as make_front

REQUESTS = {False: 2_000, True: 300}  # per server, by `quick`
ROUNDS = 5
MAX_RATIO = 1.5
BODY = b"command=%2Fwin&text=" + b"clarity+" * 60
REPLY = b'{"response_type": "ephemeral", "text": "' + b"x" * 260 + b'"}'


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [REPLY]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Slack's connections are

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def front() -> Iterator[int]:
    server = make_front(app, "127.0.0.1", 0, threads=16)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server.bind_addr[1]
    finally:
        server.stop()


@contextmanager
def stdlib() -> Iterator[int]:
    server = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def latencies(port: int, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    out = []
    try:
        for _ in range(count):
            began = time.perf_counter()
            conn.request("POST", "/slack/events", body=BODY, headers=headers)
            response = conn.getresponse()
            response.read()
            out.append(time.perf_counter() - began)
    finally:
        conn.close()
    return out


def run(quick: bool) -> dict[str, Any]:
    per_round = REQUESTS[quick] // ROUNDS
    samples: dict[str, list[float]] = {"front": [], "stdlib": []}
    with front() as front_port, stdlib() as stdlib_port:
        ports = {"front": front_port, "stdlib": stdlib_port}
        latencies(front_port, 50)  # warm both
        latencies(stdlib_port, 50)
        for turn in range(ROUNDS):
            order = ["front", "stdlib"] if turn % 2 == 0 else ["stdlib", "front"]
            for name in order:
                samples[name] += latencies(ports[name], per_round)
    return {
        name: {
            "requests": len(values),
            "median_ms": 1000 * statistics.median(values),
            "p99_ms": 1000 * sorted(values)[int(0.99 * (len(values) - 1))],
        }
        for name, values in samples.items()
    }


def figures(out: dict[str, Any]) -> list[Figure]:
    mine, base = out["front"], out["stdlib"]
    ok = mine["median_ms"] <= MAX_RATIO * base["median_ms"]
    return [
        Figure(
            "6",
            "HTTP front alone: median latency, one kept-alive client (bot.runtime.server)",
            mine["median_ms"],
            "ms",
            base["median_ms"],
            "stdlib threading WSGI server",
            f"≤ {MAX_RATIO:g}× the stdlib server",
            verdict(ok),
            f"{mine['requests']} requests each, servers in turn; p99 {mine['p99_ms']:.2f} ms "
            f"vs {base['p99_ms']:.2f} ms",
            out,
        )
    ]


def main() -> int:
    import sys

    from bench.report import table

    print(table(figures(run("--quick" in sys.argv[1:]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
