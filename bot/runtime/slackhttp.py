"""Web API calls on kept-alive HTTP connections.

slack-sdk's `WebClient` sends every call through `urllib`, which opens a new connection for
each one (`Connection: close`): against Slack, a TCP and TLS handshake per post. A fan-out of
nudges spends more on that than on everything else it does. `KeepAliveWebClient` is the same
client with one change: each thread keeps its connection to the API host open between calls.

Everything above the wire is slack-sdk's own: arguments, headers, retry handlers, response
parsing and errors. Only the step that urllib did is replaced, and it hands back what urllib
would have: the response on a 2xx; an `HTTPError` (status, headers, body) on any other status,
so the retry handlers see a 429 and its `Retry-After` exactly as before; a `URLError` when the
request could not be sent; the socket's own error when the answer did not arrive (the request
may have reached Slack, so callers that post never repeat it blindly, as before).

A connection is reused only while it is fresh: used within `IDLE_S`, and, when it has been
quiet for more than `CHECK_AFTER_S`, not closed by the server meanwhile (a connection the
server has closed reads as ready; checked with poll(), which, unlike select(), takes any file
descriptor number). Anything else gets a new connection. A request that could not be sent on
a reused connection (the server ended it just before) is sent once more on a new one: it
never reached the server. With a proxy configured (slack-sdk reads the proxy variables), the
client falls back to urllib unchanged.
"""

from __future__ import annotations

import io
import logging
import os
import select
import selectors
import socket
import ssl
import threading
import time
from http.client import (
    CONTINUE,
    NO_CONTENT,
    NOT_MODIFIED,
    HTTPConnection,
    HTTPException,
    HTTPMessage,
    HTTPResponse,
    HTTPSConnection,
    LineTooLong,
    UnknownProtocol,
)
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient

IDLE_S = 30.0  # Slack's load balancers keep an idle connection longer than this
CHECK_AFTER_S = 0.25  # a connection quiet for longer is checked for a close by the server

_Key = tuple[str, str, int]


class _PerThread(threading.local):
    def __init__(self) -> None:
        self.conns: dict[_Key, tuple[HTTPConnection, float]] = {}


class KeepAliveWebClient(WebClient):
    """A slack-sdk `WebClient` whose calls reuse one HTTP connection per thread and host."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = _PerThread()
        self._open: set[HTTPConnection] = set()
        self._open_lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        self._pid = os.getpid()

    def close(self) -> None:
        """Close every connection this client holds (at shutdown; a thread's next call opens
        a new one)."""
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            conn.close()

    def open_connections(self) -> int:
        """How many connections this client holds open, all threads together."""
        with self._open_lock:
            return len(self._open)

    def kept_sockets(self) -> list[socket.socket]:
        """The sockets of the connections the calling thread keeps for its next calls: what a
        test ends or watches to play the server's side of a kept-alive connection."""
        return [conn.sock for conn, _ in self._local.conns.values() if conn.sock is not None]

    # slack-sdk's hook: everything around it (retries, parsing, errors) stays slack-sdk's. A
    # private method, hence the pin in pyproject.toml; tests/test_internals_slack.py fails
    # when a release changes its signature, its call path, what it returns or raises.
    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if self.proxy is not None or scheme not in ("http", "https") or not parts.hostname:
            return super()._perform_urllib_http_request_internal(url, req)
        key = (scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80))
        selector = parts.path + (f"?{parts.query}" if parts.query else "")
        # As urllib sends them: title-case names, no `Connection: close`.
        headers = {k.title(): v for k, v in req.header_items() if k.lower() != "connection"}
        conn, reused = self._connection(key)
        while True:
            try:
                conn.request(req.get_method(), selector or "/", body=req.data, headers=headers)
                break
            except OSError as exc:  # not (wholly) sent: the server cannot have handled it
                self._drop(key, conn)
                if not reused:  # refused, reset, timed out connecting: as urllib
                    raise URLError(exc) from exc
            # A kept-alive connection the server had ended (a race with its idle timeout, or
            # a reset): the request never left, so it goes once more, on a new connection.
            conn, reused = self._connection(key)
        try:
            resp = conn.getresponse()
            body = resp.read()
        except BaseException:  # the answer was lost: the request may have been handled
            self._drop(key, conn)
            raise
        if resp.will_close:
            self._drop(key, conn)
        else:
            self._local.conns[key] = (conn, time.monotonic())
        if not 200 <= resp.status < 300:
            raise HTTPError(url, resp.status, resp.reason, resp.headers, io.BytesIO(body))
        return self._result(resp, body)

    def _result(self, resp: HTTPResponse, body: bytes) -> dict[str, Any]:
        debug = self._logger.level <= logging.DEBUG
        ctype, charset = content_type(resp.headers.get("Content-Type") or "")
        if ctype == "application/gzip":  # admin.analytics.getFile
            if debug:
                self._logger.debug(
                    "Received the following response - "
                    f"status: {resp.status}, headers: {dict(resp.headers)}, body: (binary)"
                )
            return {"status": resp.status, "headers": resp.headers, "body": body}
        try:
            text = body.decode(charset or "utf-8")
        except LookupError:  # a charset Python does not know: as urllib's caller, say UTF-8
            text = body.decode("utf-8")
        if debug:
            self._logger.debug(
                "Received the following response - "
                f"status: {resp.status}, headers: {dict(resp.headers)}, body: {text}"
            )
        return {"status": resp.status, "headers": resp.headers, "body": text}

    def _connection(self, key: _Key) -> tuple[HTTPConnection, bool]:
        """The thread's connection to `key` if it is fresh (and True), else a new one."""
        if self._pid != os.getpid():  # a forked child never writes on its parent's sockets
            self._local, self._open, self._pid = _PerThread(), set(), os.getpid()
        held = self._local.conns.pop(key, None)
        if held is not None:
            conn, last_used = held
            idle = time.monotonic() - last_used
            # (No socket: `close()` ran meanwhile; http.client would quietly reopen it untracked.)
            fresh = conn.sock is not None and idle < IDLE_S
            if fresh and (idle < CHECK_AFTER_S or _still_open(conn)):
                return conn, True
            self._drop(key, conn)
        scheme, host, port = key
        new: HTTPConnection
        if scheme == "https":
            if self._tls is None:
                self._tls = self.ssl or ssl.create_default_context()
            new = HTTPSConnection(host, port, timeout=self.timeout, context=self._tls)
        else:
            new = HTTPConnection(host, port, timeout=self.timeout)
        new.response_class = LineParsedResponse
        with self._open_lock:
            self._open.add(new)
        return new, False

    def _drop(self, key: _Key, conn: HTTPConnection) -> None:
        self._local.conns.pop(key, None)
        conn.close()
        with self._open_lock:
            self._open.discard(conn)


def _still_open(conn: HTTPConnection) -> bool:
    """An idle keep-alive connection has nothing to read; one the server closed (or that got
    unexpected bytes) reads as ready, and must not carry a request."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        return not _readable(sock)
    except (OSError, ValueError):
        return False


def _readable(sock: socket.socket) -> bool:
    """Whether `sock` has something to read (bytes, end of stream, an error) right now.

    poll(), not select(): select() refuses file descriptors from 1024 up (FD_SETSIZE), which a
    busy process reaches, and every connection would then count as closed."""
    if _HAS_POLL:
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLPRI)  # POLLHUP / POLLERR always
        return bool(poller.poll(0))
    with selectors.DefaultSelector() as sel:  # Windows: no poll(); its select() has no limit
        sel.register(sock, selectors.EVENT_READ)
        return bool(sel.select(0))


_HAS_POLL = hasattr(select, "poll")


def content_type(value: str) -> tuple[str, str]:
    """The media type (lower case) and charset of a Content-Type value; what the email
    package's `get_content_type()` and `get_content_charset()` give for well-formed values."""
    media, _, params = value.partition(";")
    charset = ""
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset":
            charset = val.strip().strip('"').lower()
    return media.strip().lower(), charset


MAX_HEADER_LINE = 65536
MAX_HEADERS = 100


class LineParsedResponse(HTTPResponse):
    """http.client's response, with the header block parsed line by line into the same
    `HTTPMessage` (`set_raw`, as the email package's parser stores them) instead of through
    the email package's feed parser, which costs more than the rest of a post. The rest is
    `HTTPResponse.begin` as it stands (status line, 1xx skipped, length, chunking, close);
    tests/test_internals_slack.py fails when a Python's `begin` differs from the one copied."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != CONTINUE:
                break
            _read_header_lines(self.fp)
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise UnknownProtocol(version)
        self.headers = self.msg = parse_header_lines(_read_header_lines(self.fp))
        te = self.headers.get("transfer-encoding")
        self.chunked = bool(te) and te.lower() == "chunked"
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        if status in (NO_CONTENT, NOT_MODIFIED) or 100 <= status < 200 or self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


def _read_header_lines(fp: Any) -> list[bytes]:
    lines: list[bytes] = []
    while True:
        line = fp.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return lines
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise HTTPException(f"got more than {MAX_HEADERS} headers")


def parse_header_lines(lines: list[bytes]) -> HTTPMessage:
    """Name and value of each header as the email package's compat32 parser stores them: the
    value without leading blanks or the line break; continuation lines joined on."""
    msg = HTTPMessage()
    name, value = "", ""
    for raw in lines:
        line = raw.decode("iso-8859-1")
        if line[:1] in (" ", "\t") and name:
            value += line
            continue
        if name:
            msg.set_raw(name, value.rstrip("\r\n"))
        name, sep, value = line.partition(":")
        if not sep:  # not a header line (the email parser sets such lines aside too)
            name = ""
            continue
        value = value.lstrip(" \t")
    if name:
        msg.set_raw(name, value.rstrip("\r\n"))
    return msg
