"""Guards on what `bot.runtime.slackhttp` takes from slack-sdk and CPython beyond their public
API: slack-sdk's private hook `_perform_urllib_http_request_internal` (its signature, that every
call goes through it, what it returns and raises), the attributes the override reads from the
client, and the parts of CPython's `http.client` and `urllib` that the kept-alive transport
copies or mirrors (`HTTPResponse.begin`, the header limits, urllib's errors).

Each test names the internal it guards and fails with a message that says what changed and
what to review. They run against the installed versions: a failure after an upgrade of
slack-sdk (pinned in pyproject.toml) or of Python is the signal to review slackhttp.py before
raising the pin.
"""

from __future__ import annotations

import ast
import builtins
import http.client
import inspect
import io
import socket
import textwrap
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.client import HTTPConnection, HTTPMessage, HTTPResponse
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

import pytest
import slack_sdk
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web.base_client import BaseClient

from bot.runtime.slackhttp import MAX_HEADER_LINE, MAX_HEADERS, KeepAliveWebClient

HOOK = "_perform_urllib_http_request_internal"
SDK = f"slack-sdk {slack_sdk.version.__version__}"
REVIEW = "review bot/runtime/slackhttp.py (KeepAliveWebClient) before raising the pin"
COPY = "bot/runtime/slackhttp.py copies it: review the copy against this Python's http.client"


def _tree(function: Callable[..., Any]) -> ast.AST:
    return ast.parse(textwrap.dedent(inspect.getsource(function)))


def _footprint(function: Callable[..., Any], module: object) -> dict[str, set[str]]:
    """The attributes of `self` a function sets and reads, and the module-level names and
    builtins it uses: what a copy of it has to reproduce."""
    stores: set[str] = set()
    loads: set[str] = set()
    names: set[str] = set()
    for node in ast.walk(_tree(function)):
        if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "self":
            (stores if isinstance(node.ctx, ast.Store) else loads).add(node.attr)
        elif (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and (hasattr(module, node.id) or hasattr(builtins, node.id))
        ):
            names.add(node.id)
    return {"sets": stores, "reads": loads, "uses": names}


class Recording(WebClient):
    """A client whose hook answers from a script instead of the network."""

    def __init__(self, answers: list[dict[str, Any] | Exception], **kwargs: Any) -> None:
        super().__init__(token="xoxb-test", base_url="http://127.0.0.1:9/api/", **kwargs)
        self.answers = answers
        self.calls: list[tuple[str, Request]] = []

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        self.calls.append((url, req))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _json_headers(**extra: str) -> HTTPMessage:
    headers = HTTPMessage()
    headers["Content-Type"] = "application/json; charset=utf-8"
    for name, value in extra.items():
        headers[name.replace("_", "-")] = value
    return headers


# slack-sdk ------------------------------------------------------------------------------------


def test_slack_sdks_hook_has_the_signature_keepalive_overrides() -> None:
    hook = getattr(BaseClient, HOOK, None)
    assert hook is not None, f"{SDK}: BaseClient.{HOOK} is gone; {REVIEW}"
    params = list(inspect.signature(hook).parameters)
    assert params == ["self", "url", "req"], (
        f"{SDK}: BaseClient.{HOOK}{inspect.signature(hook)} is no longer (self, url, req); {REVIEW}"
    )
    assert getattr(WebClient, HOOK) is hook, f"{SDK}: WebClient no longer inherits {HOOK}"
    override = inspect.signature(getattr(KeepAliveWebClient, HOOK))
    assert list(override.parameters) == params


def test_every_call_goes_through_the_hook_and_its_answer_becomes_the_response() -> None:
    """The hook gets the full URL and urllib's `Request` (method, headers, body), and the dict
    it returns (status, headers, body as text) is what the caller parses."""
    answer = {"status": 200, "headers": _json_headers(), "body": '{"ok": true, "user_id": "U1"}'}
    client = Recording([answer])
    response = client.chat_postMessage(channel="C1", text="hello")
    assert len(client.calls) == 1, f"{SDK}: chat.postMessage did not go through {HOOK}; {REVIEW}"
    url, req = client.calls[0]
    assert url == "http://127.0.0.1:9/api/chat.postMessage", (url, REVIEW)
    assert isinstance(req, Request) and req.get_method() == "POST", (req, REVIEW)
    assert dict(req.header_items()).get("Authorization") == "Bearer xoxb-test", REVIEW
    assert isinstance(req.data, bytes) and b"hello" in req.data, (req.data, REVIEW)
    assert response.status_code == 200 and response["user_id"] == "U1", (
        f"{SDK}: the hook's {{status, headers, body}} is no longer what the caller reads; {REVIEW}"
    )


def test_slack_sdks_own_hook_returns_the_shape_keepalive_returns() -> None:
    """KeepAliveWebClient answers as slack-sdk's hook does: {"status", "headers", "body"}, the
    body as text, or as bytes for `application/gzip` (admin.analytics.getFile)."""
    returned: list[set[str]] = []
    texts: set[str] = set()
    for node in ast.walk(_tree(getattr(BaseClient, HOOK))):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict):
            returned.append({getattr(key, "value", "?") for key in node.value.keys})
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.add(node.value)
    assert returned and all(keys == {"status", "headers", "body"} for keys in returned), (
        f"{SDK}: BaseClient.{HOOK} now returns {returned}; {REVIEW}"
    )
    assert "application/gzip" in texts, (
        f"{SDK}: BaseClient.{HOOK} no longer answers gzip bodies as bytes; {REVIEW}"
    )


def test_a_non_2xx_is_an_httperror_the_retry_handlers_and_errors_read() -> None:
    """On any other status the hook raises urllib's `HTTPError` (status, headers, body), as
    urlopen does: a 429 reaches the retry handlers with its Retry-After, a 500 becomes a
    `SlackApiError` with its status."""
    limited = HTTPError(
        "http://127.0.0.1:9/api/chat.postMessage",
        429,
        "Too Many Requests",
        _json_headers(Retry_After="0"),
        io.BytesIO(b'{"ok": false, "error": "ratelimited"}'),
    )
    ok = {"status": 200, "headers": _json_headers(), "body": '{"ok": true}'}
    client = Recording([limited, ok], retry_handlers=[RateLimitErrorRetryHandler(1)])
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    assert len(client.calls) == 2, f"{SDK}: a 429 HTTPError from {HOOK} was not retried; {REVIEW}"

    failed = HTTPError(
        "http://127.0.0.1:9/api/chat.postMessage",
        500,
        "Internal Server Error",
        _json_headers(),
        io.BytesIO(b'{"ok": false, "error": "fatal_error"}'),
    )
    with pytest.raises(SlackApiError) as raised:
        Recording([failed], retry_handlers=[]).chat_postMessage(channel="C1", text="x")
    assert raised.value.response.status_code == 500, (
        f"{SDK}: an HTTPError from {HOOK} no longer becomes the error's response; {REVIEW}"
    )


def test_a_request_not_sent_is_a_urlerror_slack_sdk_retries_once_by_default() -> None:
    """The override raises `URLError` when a request could not be sent, as urlopen does; the
    client's default retry handler sends it once more."""
    ok = {"status": 200, "headers": _json_headers(), "body": '{"ok": true}'}
    client = Recording([URLError(ConnectionRefusedError()), ok])
    assert client.auth_test()["ok"] is True
    assert len(client.calls) == 2, f"{SDK}: a URLError from {HOOK} is no longer retried; {REVIEW}"


def test_the_client_attributes_the_override_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """`proxy` (None without one, else the fallback to urllib), `ssl`, `timeout` and
    `_logger` (whose level decides whether a response is logged at DEBUG)."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    context = object()
    client = WebClient(token="xoxb-test", timeout=7, ssl=context)  # type: ignore[arg-type]
    assert client.timeout == 7 and client.ssl is context, f"{SDK}: timeout/ssl moved; {REVIEW}"
    assert client.proxy is None, f"{SDK}: `proxy` is {client.proxy!r} without one; {REVIEW}"
    logger = getattr(client, "_logger", None)
    assert logger is client.logger and isinstance(logger.level, int), (
        f"{SDK}: WebClient._logger is no longer its logger; {REVIEW}"
    )
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert WebClient(token="xoxb-test").proxy == "http://proxy.invalid:3128", (
        f"{SDK}: the proxy variables no longer set `proxy`; {REVIEW}"
    )


# CPython: http.client and urllib ---------------------------------------------------------------

# What CPython 3.11's HTTPResponse.begin sets, reads and calls; the transport's response class
# reproduces it with its own header parsing.
BEGIN = {
    "sets": {
        "chunk_left",
        "chunked",
        "code",
        "headers",
        "length",
        "msg",
        "reason",
        "status",
        "version",
        "will_close",
    },
    "reads": {
        "_check_close",
        "_method",
        "_read_status",
        "chunked",
        "debuglevel",
        "fp",
        "headers",
        "length",
        "will_close",
    },
    "uses": {
        "CONTINUE",
        "NOT_MODIFIED",
        "NO_CONTENT",
        "UnknownProtocol",
        "ValueError",
        "_read_headers",
        "int",
        "parse_headers",
        "print",
    },
}


def test_http_clients_response_begin_is_the_one_copied() -> None:
    found = _footprint(HTTPResponse.begin, http.client)
    for part, expected in BEGIN.items():
        assert found[part] == expected, (
            f"http.client.HTTPResponse.begin {part} {sorted(found[part] ^ expected)} differently "
            f"from the begin that was copied; {COPY}"
        )


def test_the_response_internals_begin_calls_keep_their_shape() -> None:
    """`_read_status()` gives (version, status, reason); `_check_close()` and `_method` are
    there; `fp` is the socket's file."""
    for name in ("_read_status", "_check_close"):
        method = getattr(HTTPResponse, name, None)
        assert method is not None, f"http.client.HTTPResponse.{name} is gone; {COPY}"
        assert list(inspect.signature(method).parameters) == ["self"], (name, COPY)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        response = HTTPResponse(ours, method="HEAD")
        assert response._method == "HEAD", f"HTTPResponse no longer keeps `_method`; {COPY}"
        assert response._read_status() == ("HTTP/1.1", 200, "OK\r\n"), COPY
        assert hasattr(response.fp, "readline"), COPY
        response.close()


def test_the_header_limits_match_http_clients() -> None:
    assert http.client._MAXLINE == MAX_HEADER_LINE, (
        f"http.client's header line limit is now {http.client._MAXLINE}; {COPY}"
    )
    assert http.client._MAXHEADERS == MAX_HEADERS, (
        f"http.client's header count limit is now {http.client._MAXHEADERS}; {COPY}"
    )
    read = _footprint(http.client._read_headers, http.client)["uses"]
    assert read == {"HTTPException", "LineTooLong", "_MAXHEADERS", "_MAXLINE", "len"}, (
        f"http.client._read_headers now uses {sorted(read)}; {COPY}"
    )


def test_headers_are_stored_as_the_email_package_stores_them() -> None:
    """The copy fills an `HTTPMessage` with `set_raw`, as http.client's `parse_headers` does
    through the email package's compat32 parser."""
    assert list(inspect.signature(HTTPMessage.set_raw).parameters) == ["self", "name", "value"]
    uses = _footprint(http.client.parse_headers, http.client)["uses"]
    assert uses == {"HTTPMessage", "_read_headers", "email"}, (
        f"http.client.parse_headers now uses {sorted(uses)}; {COPY}"
    )
    block = b"Content-Type: application/json\r\nX-Folded: one\r\n two\r\nX-Empty:\r\n\r\n"
    parsed = http.client.parse_headers(io.BytesIO(block))
    built = HTTPMessage()
    built.set_raw("Content-Type", "application/json")
    built.set_raw("X-Folded", "one\r\n two")
    built.set_raw("X-Empty", "")
    assert parsed.items() == built.items(), (
        f"http.client.parse_headers stores {parsed.items()}, not as set_raw does; {COPY}"
    )


@pytest.fixture(name="one_answer")
def _one_answer() -> Iterator[int]:
    """A port that answers one HTTP request with a fixed 200."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(timeout=5)


def test_a_connection_builds_its_response_from_response_class(one_answer: int) -> None:
    """The transport swaps in its response class through `HTTPConnection.response_class`, and
    tells a closed connection by `sock` being None."""

    class Marked(HTTPResponse):
        pass

    conn = HTTPConnection("127.0.0.1", one_answer, timeout=5)
    conn.response_class = Marked
    conn.request("GET", "/")
    response = conn.getresponse()
    assert isinstance(response, Marked), "HTTPConnection ignores response_class; " + COPY
    assert response.read() == b"ok"
    assert conn.sock is not None
    conn.close()
    assert conn.sock is None, "a closed HTTPConnection keeps its `sock`; " + COPY


def test_urllib_raises_urlerror_only_for_a_request_not_sent() -> None:
    """KeepAliveWebClient raises as urlopen does: `URLError` when the request could not be sent
    (slack-sdk retries it), the socket's own error when the answer was lost (a post may have
    been handled, so it is not sent again), `HTTPError` for any status outside 2xx."""

    def text(statements: list[ast.stmt]) -> str:
        return "\n".join(ast.unparse(statement) for statement in statements)

    catching_oserror = [
        node
        for node in ast.walk(_tree(urllib.request.AbstractHTTPHandler.do_open))
        if isinstance(node, ast.Try)
        and any(getattr(handler.type, "id", None) == "OSError" for handler in node.handlers)
    ]
    assert any(
        "h.request(" in text(node.body)
        and any("raise URLError" in text(handler.body) for handler in node.handlers)
        for node in catching_oserror
    ), f"urllib's do_open no longer wraps a send's OSError in URLError; {REVIEW}"
    assert not any("getresponse" in text(node.body) for node in catching_oserror), (
        f"urllib's do_open now wraps a lost answer in URLError; {REVIEW}"
    )
    processor = inspect.getsource(urllib.request.HTTPErrorProcessor.http_response)
    assert "200 <= code < 300" in processor, (
        f"urllib no longer raises HTTPError for every status outside 2xx; {REVIEW}"
    )
