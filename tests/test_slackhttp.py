"""KeepAliveWebClient: slack-sdk's client on kept-alive connections, with urllib's results and
errors, against the fake Slack (HTTP/1.1, as Slack)."""

from __future__ import annotations

import email.message
import http.client
import http.server
import io
import os
import resource
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path
from urllib.error import URLError

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.fakeslack import FakeSlack
from bot.runtime import slackhttp
from bot.runtime.compose import build_runtime
from bot.runtime.settings import Settings
from bot.runtime.slackhttp import KeepAliveWebClient, content_type, parse_header_lines
from tests.conftest import BOT_TOKEN, TEAM
from tests.redis_server import free_port

USER = "U0ALICE"


def client_for(fake: FakeSlack, **kwargs: object) -> KeepAliveWebClient:
    return KeepAliveWebClient(token=BOT_TOKEN, base_url=fake.api_base_url, **kwargs)  # type: ignore[arg-type]


def post(client: WebClient, text: str = "hi") -> str:
    return str(client.chat_postMessage(channel=USER, text=text)["ts"])


@pytest.fixture(name="client")
def _client(fake: FakeSlack) -> Iterator[KeepAliveWebClient]:
    client = client_for(fake, timeout=5)
    yield client
    client.close()


def test_calls_from_one_thread_share_one_connection(
    fake: FakeSlack, client: KeepAliveWebClient
) -> None:
    before = fake.connections_opened
    stamps = [post(client, f"n{i}") for i in range(20)]
    assert len(set(stamps)) == 20
    assert fake.connections_opened - before == 1
    assert [m["text"] for m in fake.messages(USER)] == [f"n{i}" for i in range(20)]
    # slack-sdk's own client opens one connection per call (urllib sends Connection: close).
    plain = WebClient(token=BOT_TOKEN, base_url=fake.api_base_url)
    before = fake.connections_opened
    for i in range(3):
        post(plain, f"p{i}")
    assert fake.connections_opened - before == 3


def test_each_thread_keeps_its_own_connection(fake: FakeSlack, client: KeepAliveWebClient) -> None:
    before = fake.connections_opened

    def work(k: int) -> None:
        for i in range(10):
            post(client, f"t{k}-{i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake.connections_opened - before == 4
    assert client.open_connections() == 4
    assert len(fake.messages(USER)) == 40
    client.close()
    assert client.open_connections() == 0
    post(client, "after close")  # a closed client opens a new connection on its next call
    assert fake.messages(USER)[-1]["text"] == "after close"


def test_after_close_a_thread_opens_a_new_connection_and_keeps_track_of_it(
    fake: FakeSlack, client: KeepAliveWebClient
) -> None:
    post(client, "before")
    opened = fake.connections_opened
    client.close()
    post(client, "after")  # at once: the closed connection is not reused, even when fresh
    assert fake.connections_opened == opened + 1
    assert client.open_connections() == 1  # tracked, so the next close() closes it too
    client.close()
    assert client.open_connections() == 0


def test_api_errors_and_responses_are_slack_sdks_own(
    fake: FakeSlack, client: KeepAliveWebClient
) -> None:
    response = client.users_info(user=USER)
    assert response["user"]["id"] == USER
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0NOPE", text="x")
    assert refused.value.response["error"] == "channel_not_found"
    bad = client_for(fake)
    bad.token = "xoxb-wrong"
    with pytest.raises(SlackApiError) as unauth:
        post(bad)
    assert unauth.value.response["error"] == "invalid_auth"


def test_a_429_reaches_the_retry_handler_with_its_retry_after(fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", retry_after=1, times=1)
    client = client_for(fake, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    started = time.monotonic()
    post(client, "after 429")
    assert time.monotonic() - started >= 0.9  # waited Retry-After
    statuses = [c.status for c in fake.calls if c.method == "chat.postMessage"]
    assert statuses == [429, 200]
    bare = client_for(fake)
    fake.rate_limit("chat.postMessage", retry_after=7, times=1)
    with pytest.raises(SlackApiError) as limited:
        post(bare)
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    post(bare, "same connection after a 429")
    assert fake.messages(USER)[-1]["text"] == "same connection after a 429"


def test_server_errors_are_retried_by_slack_sdks_handler(fake: FakeSlack) -> None:
    fake.server_error("views.publish", status=503, times=2)
    client = client_for(fake, retry_handlers=[ServerErrorRetryHandler(max_retry_count=2)])
    view = {"type": "home", "blocks": []}
    assert client.views_publish(user_id=USER, view=view)["ok"]
    assert [c.status for c in fake.calls if c.method == "views.publish"] == [503, 503, 200]


def test_a_timeout_raises_the_socket_error_and_drops_the_connection(fake: FakeSlack) -> None:
    client = client_for(fake, timeout=1)
    post(client, "first")
    opened = fake.connections_opened
    fake.delay("chat.postMessage", 1.5, times=1)
    with pytest.raises(TimeoutError):  # the answer was lost: not a URLError (not "unsent")
        post(client, "slow")
    assert client.open_connections() == 0
    post(client, "next")
    assert fake.connections_opened == opened + 1
    # Sent on a kept-alive connection, its answer lost: never sent a second time.
    fake.wait_for("chat.postMessage", count=3)  # the slow one is journalled once answered
    assert sorted(m["text"] for m in fake.messages(USER)) == ["first", "next", "slow"]


def test_a_request_not_sent_on_a_kept_alive_connection_goes_once_on_a_new_one(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ended a kept-alive connection just as it was reused (no check caught it): the
    request could not be written, so it never reached Slack and is sent once more on a new
    connection, with no retry handler (nudges have none) and no "unknown" outcome."""
    client = client_for(fake, retry_handlers=[])
    post(client, "first")
    opened = fake.connections_opened
    monkeypatch.setattr(slackhttp, "CHECK_AFTER_S", 3600.0)  # the race: reused unchecked
    [sock] = client.kept_sockets()
    sock.shutdown(socket.SHUT_WR)  # writing on it now fails, as on a reset connection
    post(client, "second")
    assert fake.connections_opened == opened + 1
    assert [m["text"] for m in fake.messages(USER)] == ["first", "second"]
    assert client.open_connections() == 1


def test_a_request_not_sent_on_a_new_connection_is_a_urlerror_not_a_resend(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a reused connection earns the one resend: a new connection that cannot send says
    so (URLError, as urllib), and the fake received nothing."""
    client = client_for(fake, retry_handlers=[])
    attempts: list[int] = []

    def refuse(self: http.client.HTTPConnection, *args: object, **kwargs: object) -> None:
        attempts.append(1)
        raise ConnectionResetError("reset while sending")

    monkeypatch.setattr(http.client.HTTPConnection, "request", refuse)
    with pytest.raises(URLError):
        post(client, "never")
    assert attempts == [1]
    assert fake.messages(USER) == []


@pytest.fixture(name="high_fds")
def _high_fds() -> Iterator[None]:
    """Every file descriptor below 1100 taken, so the next socket's number is past select()'s
    FD_SETSIZE (1024), as in a busy server process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1200
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held: list[int] = []
    try:
        held.append(os.open(os.devnull, os.O_RDONLY))
        while held[-1] < 1100:  # dup() takes the lowest free number: every gap fills first
            held.append(os.dup(held[0]))
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_kept_alive_connection_past_fd_1024_is_still_reused(
    fake: FakeSlack, high_fds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before reuse works for any descriptor number (select() raised for >= 1024,
    and every connection then counted as closed: keep-alive silently off)."""
    client = client_for(fake, retry_handlers=[])
    post(client, "first")
    [sock] = client.kept_sockets()
    assert sock.fileno() >= 1024
    opened = fake.connections_opened
    monkeypatch.setattr(slackhttp, "CHECK_AFTER_S", 0.0)  # every reuse is checked
    for i in range(3):
        post(client, f"again {i}")
    assert fake.connections_opened == opened  # the same connection, checked and reused
    fake.close_connections()
    [sock] = client.kept_sockets()
    wait_readable(sock)
    post(client, "after the server closed it")
    assert fake.connections_opened == opened + 1  # ... and a closed one is still seen as closed
    client.close()


def wait_readable(sock: socket.socket) -> None:
    """Until the server's close reached `sock` (bounded)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    assert poller.poll(5000), "the server's close never arrived"


def test_nothing_listening_is_a_urlerror_that_slack_sdk_retries() -> None:
    port = free_port()
    handler = ConnectionErrorRetryHandler(max_retry_count=1)
    client = KeepAliveWebClient(
        token=BOT_TOKEN, base_url=f"http://127.0.0.1:{port}/api/", retry_handlers=[handler]
    )
    with pytest.raises(URLError) as refused:
        client.auth_test()
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    assert client.open_connections() == 0


def test_a_connection_the_server_closed_while_idle_is_replaced(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No retry handler (slack-sdk's default one retries connection errors): the check before
    # reuse alone must avoid the dead connection, as nudges are never retried blindly.
    client = client_for(fake, retry_handlers=[])
    post(client, "first")
    opened = fake.connections_opened
    fake.close_connections()  # Slack's load balancer ends an idle connection
    time.sleep(0.1)
    monkeypatch.setattr(slackhttp, "CHECK_AFTER_S", 0.05)
    post(client, "second")
    assert fake.connections_opened == opened + 1
    assert [m["text"] for m in fake.messages(USER)] == ["first", "second"]


def test_a_connection_idle_too_long_is_not_reused(
    fake: FakeSlack, client: KeepAliveWebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(client)
    opened = fake.connections_opened
    monkeypatch.setattr(slackhttp, "IDLE_S", 0.0)
    post(client)
    assert fake.connections_opened == opened + 1


def test_a_connection_close_answer_is_not_reused() -> None:
    """An HTTP/1.0 server (or `Connection: close`) ends the connection after its answer."""
    with FakeSlack(bot_token=BOT_TOKEN, http_version="HTTP/1.0") as fake:
        fake.add_user(USER, name="alice")
        client = client_for(fake)
        post(client)
        post(client)
        assert client.open_connections() == 0
        assert len(fake.messages(USER)) == 2


def test_with_a_proxy_the_client_falls_back_to_urllib(fake: FakeSlack) -> None:
    """slack-sdk reads the proxy variables; through a proxy, urllib does the call as before.
    The fake stands in for the proxy: it serves the absolute URL urllib sends a proxy."""
    client = KeepAliveWebClient(
        token=BOT_TOKEN, base_url="http://slack.invalid/api/", proxy=fake.base_url
    )
    before = fake.connections_opened
    post(client, "via proxy")
    post(client, "via proxy again")
    assert fake.connections_opened - before == 2  # urllib: one connection per call
    assert client.open_connections() == 0
    assert fake.messages(USER)[-1]["text"] == "via proxy again"


def test_a_forked_child_does_not_reuse_its_parents_connection(
    fake: FakeSlack, client: KeepAliveWebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(client)
    opened = fake.connections_opened
    monkeypatch.setattr(slackhttp.os, "getpid", lambda: -1)  # as after os.fork()
    post(client)
    assert fake.connections_opened == opened + 1


# The header parser against the email package's, which http.client uses ------------------------

HEADER_BLOCKS = [
    "Content-Type: application/json; charset=utf-8\r\nContent-Length: 12\r\n",
    "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Empty:\r\nX-Spaces:   padded  \r\n",
    "X-Folded: first\r\n  second\r\n\tthird\r\nNext: value\r\n",
    "retry-after: 30\r\nX-Slack-Req-Id: 1f2e\r\nVia: 1.1 a, 1.1 b\r\n",
    'Content-Type: text/plain;charset="ISO-8859-1"\r\nX-Colon: a: b: c\r\n',
    "X-Latin: caf\xe9\r\nX-Tab:\tvalue\r\n",
    "X-Bare-Newline: yes\nOther: two\n",
]


def stdlib_headers(block: str) -> list[tuple[str, str]]:
    raw = (block + "\r\n").encode("iso-8859-1")
    return list(http.client.parse_headers(io.BytesIO(raw)).items())


def ours(block: str) -> list[tuple[str, str]]:
    lines = io.BytesIO(block.encode("iso-8859-1")).readlines()
    return list(parse_header_lines(lines).items())


@pytest.mark.parametrize("block", HEADER_BLOCKS)
def test_headers_parse_as_http_client_parses_them(block: str) -> None:
    assert ours(block) == stdlib_headers(block)


_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters=":"),
    min_size=1,
    max_size=12,
)
_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\r\n"),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, _values), max_size=8))
def test_generated_headers_parse_as_http_client_parses_them(
    pairs: list[tuple[str, str]],
) -> None:
    block = "".join(f"{name}: {value}\r\n" for name, value in pairs)
    assert ours(block) == stdlib_headers(block)


@pytest.mark.parametrize(
    "value",
    [
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'text/plain; charset="iso-8859-1"',
        "Application/GZIP",
        "text/html",
        "",
        "application/json; boundary=x; charset=utf-16",
    ],
)
def test_content_type_reads_as_the_email_package_reads_it(value: str) -> None:
    msg = email.message.Message()
    if value:
        msg["Content-Type"] = value
    media, charset = content_type(value)
    expected_media = msg.get_content_type() if value else "text/plain"
    assert (media or "text/plain") == expected_media
    assert (charset or None) == msg.get_content_charset()


def test_a_full_response_head_parses_like_http_client(fake: FakeSlack) -> None:
    """Status, headers, length and keep-alive through the real socket, both parsers."""
    for response_class in (http.client.HTTPResponse, slackhttp.LineParsedResponse):
        conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
        conn.response_class = response_class
        conn.request(
            "POST",
            "/api/auth.test",
            body=b"",
            headers={"Authorization": f"Bearer {BOT_TOKEN}"},
        )
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200 and resp.version == 11 and not resp.will_close
        assert resp.length == 0 and b'"ok": true' in body
        assert Parser().parsestr("".join(f"{k}: {v}\n" for k, v in resp.headers.items()))
        conn.close()


def test_the_fake_closes_kept_alive_connections_when_it_stops() -> None:
    fake = FakeSlack(bot_token=BOT_TOKEN).start()
    fake.add_user(USER)
    client = client_for(fake)
    post(client)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2.0  # the idle connection's thread did not hold it
    [sock] = client.kept_sockets()
    sock.settimeout(1.0)
    assert sock.recv(1) == b""  # closed by the server
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", fake.port), timeout=0.5).close()


def test_the_runtime_talks_to_slack_on_kept_alive_connections_and_closes_them(
    fake: FakeSlack, settings: Settings, rds: redis.Redis
) -> None:
    """Every client `pm-coach` builds keeps its connection; `Runtime.close()` (what every
    command does on its way out) closes them all, the nudge clients too."""
    runtime = build_runtime(settings, redis_client=rds)
    coach = runtime.deps.coach
    nudges = runtime.ticker.client(TEAM)
    clients = [runtime.client, coach.poster, coach.profile_client, nudges]
    assert all(isinstance(c, KeepAliveWebClient) for c in clients)
    before = fake.connections_opened
    for _ in range(3):
        runtime.client.users_info(user=USER)
        coach.poster.chat_postMessage(channel=USER, text="welcome")
        coach.profile_client.users_info(user=USER)
        nudges.chat_postMessage(channel=USER, text="nudge")
    assert fake.connections_opened - before == 4
    runtime.close()
    assert [c.open_connections() for c in clients] == [0, 0, 0, 0]  # type: ignore[attr-defined]


# HTTPS, as against Slack: a local TLS server with a certificate made for the test ------------


class _TlsApi(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _TlsHandler)
        self.context = context
        self.connections = 0

    def get_request(self) -> tuple[socket.socket, object]:
        sock, addr = super().get_request()
        self.connections += 1
        return self.context.wrap_socket(sock, server_side=True), addr


class _TlsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 5

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"ok": true, "url": "https://127.0.0.1/", "team": "T", "user": "U"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(name="tls_api")
def _tls_api(tmp_path: Path) -> Iterator[tuple[_TlsApi, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate for the TLS test")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _TlsApi(context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server, cert
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_https_calls_share_one_tls_connection_and_check_the_certificate(
    tls_api: tuple[_TlsApi, Path],
) -> None:
    server, cert = tls_api
    base_url = f"https://127.0.0.1:{server.server_address[1]}/api/"
    trusting = KeepAliveWebClient(
        token=BOT_TOKEN, base_url=base_url, ssl=ssl.create_default_context(cafile=str(cert))
    )
    for _ in range(3):
        assert trusting.auth_test()["ok"]
    assert server.connections == 1
    trusting.close()
    # Without the test's CA the certificate is refused, as urllib would refuse it.
    default = KeepAliveWebClient(token=BOT_TOKEN, base_url=base_url, retry_handlers=[])
    with pytest.raises(URLError) as refused:
        default.auth_test()
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
