"""The HTTP front against hostile or broken clients: slow ones cannot starve the app, a request
must arrive whole within its deadlines, bodies are limited before they are read, and a
connection is never reused after a request it did not read to its end.

Raw sockets on loopback; the real app (real Redis, the fake Slack) behind the real front, plus
one test of `pm-coach run` itself.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import pytest
import redis

from bot.fakeslack import FakeSlack, payloads, signed_headers
from bot.runtime.app import create_app
from bot.runtime.compose import build_runtime, healthy
from bot.runtime.server import Server, make_server
from bot.runtime.settings import Settings
from bot.runtime.slackwsgi import unsigned_early, wsgi_app
from tests.conftest import SIGNING_SECRET, TEAM, Clock
from tests.redis_server import free_port
from tests.test_cli import Process, cli_env

CLIENT_TIMEOUT_S = 30.0  # generous: the machine may be loaded; no latency is asserted


# Serving and talking raw HTTP ----------------------------------------------------------------


@dataclass
class Front:
    server: Server
    port: int
    store: Any


@contextmanager
def front(settings: Settings, rds: redis.Redis, clock: Clock, **limits: Any) -> Iterator[Front]:
    """The real app, wired as `pm-coach run` wires it, behind a front with these limits."""
    runtime = build_runtime(settings, redis_client=rds, clock=clock)
    app = create_app(settings, runtime.deps, verified_upstream=True)
    server = make_server(
        wsgi_app(app, lambda: healthy(runtime.store), SIGNING_SECRET),
        "127.0.0.1",
        0,
        threads=8,
        **limits,
    )
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield Front(server, server.bind_addr[1], runtime.store)
    finally:
        server.stop()
        thread.join(timeout=15)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def win_request(text: str, *, user: str = "U0ALICE", chunked: bool = False) -> bytes:
    """A signed /win as Slack sends it (or chunked, as no Slack does but HTTP allows)."""
    body, content_type = payloads.slash_command(
        "/win",
        text,
        team_id=TEAM,
        user_id=user,
        channel_id="C0GENERAL",
        response_url="http://127.0.0.1:9/hooks/unused",
    )
    headers = signed_headers(SIGNING_SECRET, body, content_type=content_type)
    return request("POST", "/slack/events", body, headers, chunked=chunked)


def request(
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    chunked: bool = False,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        payload = (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def read_answer(stream: BinaryIO) -> Answer | None:
    """One HTTP/1.1 response from `stream`, or None at the end of the stream."""
    status_line = stream.readline()
    if not status_line:
        return None
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int(stream.readline().split(b";")[0], 16):
            body += stream.read(size + 2)[:-2]
        stream.readline()
    else:
        body = stream.read(int(headers.get("content-length", "0")))
    return Answer(status, headers, body)


def read_all_answers(sock: socket.socket) -> list[Answer]:
    """Every response until the server closes the connection."""
    stream = sock.makefile("rb")
    answers = []
    while (answer := read_answer(stream)) is not None:
        answers.append(answer)
    return answers


def closed_by_server(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


class Dripper:
    """Clients that send `message` a byte at a time, `every` seconds apart, on a thread of
    their own; `finished` is set when one has sent all of it."""

    def __init__(self, socks: list[socket.socket], message: bytes, every: float) -> None:
        self.socks, self.message, self.every = socks, message, every
        self.sent = 0
        self.finished = threading.Event()
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        live = list(self.socks)
        for i in range(len(self.message)):
            if self.halt.wait(self.every) or not live:
                return
            for sock in list(live):
                try:
                    sock.sendall(self.message[i : i + 1])
                except OSError:
                    live.remove(sock)  # the server dropped it
            self.sent = i + 1
        self.finished.set()

    def stop(self) -> None:
        self.halt.set()
        self.thread.join(timeout=10)
        for sock in self.socks:
            sock.close()


# Slow clients ---------------------------------------------------------------------------------


SLOW_CLIENTS = 100


def test_slow_clients_do_not_starve_slack_or_the_health_check(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """With 100 connections dripping their headers a byte a second (many more than there are
    worker threads), a signed /win and /healthz are still answered."""
    head = b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"x" * 200
    # Deadlines far off: this checks that waiting clients hold no thread, not the deadline.
    with front(settings, rds, clock, header_timeout=300, body_timeout=300) as served:
        socks = [connect(served.port) for _ in range(SLOW_CLIENTS)]
        for sock in socks:
            sock.sendall(b"P")
        dripper = Dripper(socks, head[1:], every=1.0)
        try:
            with connect(served.port) as sock:
                sock.sendall(win_request("clarity framed the bet despite slow clients"))
                win = read_answer(sock.makefile("rb"))
            with connect(served.port) as sock:
                sock.sendall(request("GET", "/healthz"))
                health = read_answer(sock.makefile("rb"))
            still_dripping = not dripper.finished.is_set()
        finally:
            dripper.stop()
    assert win is not None and win.status == 200 and b"Logged" in win.body
    assert health is not None and health.status == 200
    assert still_dripping  # the answers came while the slow clients were held open


@pytest.mark.parametrize("phase", ["head", "body"])
def test_a_request_dripped_a_byte_at_a_time_is_dropped_at_its_deadline(
    settings: Settings, rds: redis.Redis, clock: Clock, phase: str
) -> None:
    """A request whose head (or body) does not arrive whole within its deadline is answered
    408 and closed, though each byte came well within the deadline of the one before."""
    body = b"x" * 400
    whole = request("POST", "/slack/events", body, {"Content-Type": "text/plain"})
    head, rest = whole[: len(whole) - len(body)], body
    with front(settings, rds, clock, header_timeout=1.0, body_timeout=1.0) as served:
        sock = connect(served.port)
        if phase == "head":
            message = whole
        else:
            sock.sendall(head)
            message = rest
        dripper = Dripper([sock], message, every=0.05)  # 20+ s for the whole message
        try:
            received = closed_by_server(sock)
            finished = dripper.finished.is_set()
        finally:
            dripper.stop()
    assert not finished, "the server waited for the whole dripped message"
    assert received.startswith(b"HTTP/1.1 408 "), received[:80]


# Body limits ----------------------------------------------------------------------------------


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """Content-Length: 200 MB gets 413 and a closed connection without a byte of the body
    being sent (the server could not have read it), even with a valid-looking signature."""
    headers = signed_headers(SIGNING_SECRET, b"")
    head = request("POST", "/slack/events", b"", headers).replace(
        b"Content-Length: 0", b"Content-Length: 200000000"
    )
    with front(settings, rds, clock) as served, connect(served.port) as sock:
        sock.sendall(head)
        answers = read_all_answers(sock)
    assert [a.status for a in answers] == [413]
    assert answers[0].headers.get("connection") == "close"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"X-Slack-Signature": "v0=" + "0" * 64, "X-Slack-Request-Timestamp": "soon"},
        signed_headers(SIGNING_SECRET, b"", timestamp=int(time.time()) - 301),
    ],
    ids=["no_signature", "timestamp_not_a_number", "timestamp_301s_old"],
)
def test_an_unsigned_body_is_refused_by_its_head_before_it_is_read(
    settings: Settings, rds: redis.Redis, clock: Clock, headers: dict[str, str]
) -> None:
    """A POST to /slack/events that cannot be Slack's by its head alone gets 401 as soon as
    the head is in: the declared body (under the limit) is never sent, and never waited for
    (the body deadline is far off, so only the early check can answer)."""
    head = request("POST", "/slack/events", b"", headers).replace(
        b"Content-Length: 0", b"Content-Length: 900000"
    )
    with (
        front(settings, rds, clock, body_timeout=300, early=unsigned_early) as served,
        connect(served.port) as sock,
    ):
        sock.sendall(head)
        answers = read_all_answers(sock)
    assert [a.status for a in answers] == [401]
    assert answers[0].headers.get("connection") == "close"


def test_the_early_check_lets_signed_requests_through(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """A signed /win and /healthz pass the early check untouched."""
    with front(settings, rds, clock, early=unsigned_early) as served:
        with connect(served.port) as sock:
            sock.sendall(win_request("clarity signed, past the early check"))
            win = read_answer(sock.makefile("rb"))
        with connect(served.port) as sock:
            sock.sendall(request("GET", "/healthz"))
            health = read_answer(sock.makefile("rb"))
    assert win is not None and win.status == 200 and b"Logged" in win.body
    assert health is not None and health.status == 200


def test_bodies_being_read_share_one_budget(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """Clients holding large bodies half-sent take the budget for bodies being read; the next
    large body is answered 503 before it is read, and once they are gone the budget is free
    again for a signed /win. (Each body is under the per-request limit: only the budget can
    refuse it.)"""
    declared = 100 * 1024
    head = request("POST", "/slack/events", b"", {"Content-Type": "text/plain"}).replace(
        b"Content-Length: 0", f"Content-Length: {declared}".encode()
    )
    limits = {"max_body": 200 * 1024, "max_buffered": 256 * 1024, "body_timeout": 300}
    with front(settings, rds, clock, **limits) as served:
        holders = [connect(served.port) for _ in range(2)]
        for sock in holders:
            sock.sendall(head + b"x" * (declared - 1))  # all but the last byte
        # A request on the first holder's heels proves the server has taken both heads.
        with connect(served.port) as probe:
            probe.sendall(request("GET", "/healthz"))
            assert read_answer(probe.makefile("rb")) is not None
        with connect(served.port) as sock:
            sock.sendall(head)
            refused = read_all_answers(sock)
        for sock in holders:
            sock.close()
        win = None
        for _ in range(50):  # the server notices the holders are gone on its next read
            with connect(served.port) as sock:
                sock.sendall(win_request("clarity after the budget was freed"))
                win = read_answer(sock.makefile("rb"))
            if win is not None and win.status == 200:
                break
            time.sleep(0.1)
    assert [a.status for a in refused] == [503]
    assert refused[0].headers.get("retry-after") == "1"
    assert win is not None and win.status == 200 and b"Logged" in win.body


def test_a_head_over_its_limit_is_refused_even_in_one_packet(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """A 20 KiB head sent in one write (h11 limits only heads that arrive in pieces) gets 431."""
    head = request("GET", "/healthz", headers={"X-Padding": "x" * 20 * 1024})
    with front(settings, rds, clock) as served, connect(served.port) as sock:
        sock.sendall(head)
        answers = read_all_answers(sock)
    assert [a.status for a in answers] == [431]


@pytest.mark.parametrize(
    ("timestamp", "status"),
    [("9" * 4301, 401), ("9" * 13, 401), ("-5", 401), (None, None)],
    ids=["4301_digits", "13_digits", "negative", "now"],
)
def test_the_early_check_judges_any_timestamp_without_failing(
    timestamp: str | None, status: int | None
) -> None:
    """`unsigned_early` answers every timestamp a client can send (Python refuses to parse an
    int of over 4,300 digits: that must be a 401, not an error)."""
    headers = {
        "x-slack-signature": "v0=" + "0" * 64,
        "x-slack-request-timestamp": str(int(time.time())) if timestamp is None else timestamp,
    }
    assert unsigned_early("POST", "/slack/events", headers) == status


def test_answers_are_not_held_back_by_nagles_algorithm(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """Every accepted connection has TCP_NODELAY set (asyncio sets it only on sockets whose
    proto says TCP; without it an answer's head and body wait for the client's delayed ACK,
    40 ms per request). The latency itself is in `make bench` (6)."""
    with front(settings, rds, clock) as served, connect(served.port) as sock:
        sock.sendall(request("GET", "/healthz"))  # keep-alive: the connection stays open
        assert read_answer(sock.makefile("rb")) is not None
        accepted = served.server.accepted_sockets
        flags = [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in accepted]
    assert flags and all(flags), flags


def test_a_chunked_body_is_read_no_further_than_the_limit(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """A chunked body that grows past the limit is answered 413 and the connection closed;
    the server stops reading it (the client's remaining chunks go nowhere)."""
    limit = 64 * 1024
    chunk = b"a" * 16 * 1024
    head = request("POST", "/slack/events", b"", signed_headers(SIGNING_SECRET, b""), chunked=True)
    head = head.removesuffix(b"0\r\n\r\n")
    with front(settings, rds, clock, max_body=limit) as served, connect(served.port) as sock:
        sock.sendall(head)
        # Twice the limit in chunks, then (if the server were still reading) the end.
        sender_errors: list[BaseException] = []

        def send_chunks() -> None:
            try:
                for _ in range(2 * limit // len(chunk)):
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sock.sendall(b"0\r\n\r\n")
            except OSError as exc:
                sender_errors.append(exc)

        sender = threading.Thread(target=send_chunks, daemon=True)
        sender.start()
        answers = read_all_answers(sock)
        sender.join(timeout=CLIENT_TIMEOUT_S)
    assert [a.status for a in answers] == [413]
    assert answers[0].headers.get("connection") == "close"


def test_a_signed_chunked_win_within_the_limit_is_served(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """Chunked bodies are read (de-chunked, signature checked on the bytes) like any other."""
    with front(settings, rds, clock) as served, connect(served.port) as sock:
        sock.sendall(win_request("clarity chunked but genuine", chunked=True))
        answer = read_answer(sock.makefile("rb"))
    assert answer is not None and answer.status == 200 and b"Logged" in answer.body


# Keep-alive -----------------------------------------------------------------------------------


def test_a_refused_chunked_body_is_never_read_as_the_next_request(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """A chunked POST with a bad signature whose body is itself a `GET /healthz` request gets
    one 401; its body is never answered as a request of its own (no response desync), and the
    request that really follows on the connection gets its own answer (or the connection is
    closed)."""
    smuggled = request("GET", "/healthz")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64,
    }
    forged = request("POST", "/slack/events", smuggled, headers, chunked=True)
    follow_up = request("GET", "/nowhere", headers={"Connection": "close"})
    with front(settings, rds, clock) as served, connect(served.port) as sock:
        sock.sendall(forged + follow_up)
        statuses = [a.status for a in read_all_answers(sock)]
    assert statuses in ([401, 404], [401]), statuses


def test_pipelined_requests_on_one_connection_are_answered_in_order(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """Three requests sent back to back on a kept-alive connection get three answers, in
    order."""
    first = win_request("clarity pipelined one")
    second = win_request("shipped pipelined two")
    health = request("GET", "/healthz", headers={"Connection": "close"})
    with front(settings, rds, clock) as served, connect(served.port) as sock:
        sock.sendall(first + second + health)
        answers = read_all_answers(sock)
    assert [a.status for a in answers] == [200, 200, 200]
    assert b"pipelined one" in answers[0].body and b"pipelined two" in answers[1].body
    assert b'"ok": true' in answers[2].body


# `pm-coach run` itself ------------------------------------------------------------------------


def team_keys(client: redis.Redis) -> dict[str, Any]:
    """Every key of the team with its value (the process's own liveness keys left out)."""
    return {
        str(key): client.dump(key) for key in client.scan_iter("*", count=1000) if TEAM in str(key)
    }


def test_pm_coach_run_refuses_unsigned_requests_and_serves_signed_ones(
    fake: FakeSlack, redis_url: str, rds: redis.Redis
) -> None:
    """The production wiring (`pm-coach run` in HTTP mode): an unsigned or forged POST gets 401
    and stores nothing; a signed /win gets 200 and is stored; /healthz answers 200; SIGTERM
    stops the process cleanly."""
    port = free_port()
    process = Process(cli_env(fake, redis_url, PORT=str(port)))
    try:
        process.wait_for_log("serving_http")
        before = team_keys(rds)
        fake.clear_calls()
        body, content_type = payloads.slash_command(
            "/win",
            "clarity a forged win",
            team_id=TEAM,
            user_id="U0ALICE",
            channel_id="C0GENERAL",
            response_url=fake.response_url("forged"),
        )
        forged_headers = signed_headers("not-our-secret", body, content_type=content_type)
        statuses = []
        for headers in ({"Content-Type": content_type}, forged_headers):
            with connect(port) as sock:
                sock.sendall(request("POST", "/slack/events", body, headers))
                answer = read_answer(sock.makefile("rb"))
                statuses.append(answer.status if answer else None)
        # An unsigned head declaring a body it never sends is answered at once, by its head.
        with connect(port) as sock:
            head = request("POST", "/slack/events", b"", {"Content-Type": content_type})
            sock.sendall(head.replace(b"Content-Length: 0", b"Content-Length: 900000"))
            answer = read_answer(sock.makefile("rb"))
            statuses.append(answer.status if answer else None)
        forged_left = {"keys_changed": team_keys(rds) != before, "calls": list(fake.calls)}

        with connect(port) as sock:
            sock.sendall(win_request("clarity signed and sent to a real process"))
            win = read_answer(sock.makefile("rb"))
        with connect(port) as sock:
            sock.sendall(request("GET", "/healthz"))
            health = read_answer(sock.makefile("rb"))
        stored = team_keys(rds) != before
    finally:
        code = process.stop()
    assert statuses == [401, 401, 401]
    assert forged_left == {"keys_changed": False, "calls": []}
    assert win is not None and win.status == 200 and b"Logged" in win.body
    assert stored
    assert health is not None and health.status == 200
    assert code == 0
    process.wait_for_log("stopped")


def test_stop_closes_waiting_connections_without_waiting_for_them(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """`stop()` closes a connection still dripping its head and an idle kept-alive one at once
    (they are not requests in flight) and returns, long before its shutdown timeout."""
    with front(settings, rds, clock, shutdown_timeout=600, header_timeout=600) as served:
        idle, slow = connect(served.port), connect(served.port)
        idle.sendall(request("GET", "/healthz"))
        answer = read_answer(idle.makefile("rb"))
        slow.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        stopper = threading.Thread(target=served.server.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=120)
        stopped = not stopper.is_alive()
        leftovers = closed_by_server(idle), closed_by_server(slow)
        idle.close()
        slow.close()
    assert answer is not None and answer.status == 200
    assert stopped
    assert leftovers == (b"", b"")
