"""The fake's HTTP transport: a threaded HTTP/1.1 server on 127.0.0.1 (free port).

:class:`HttpServer` accepts connections (one daemon thread each, kept alive between requests
as Slack's are) and :class:`Handler` routes each request to the :class:`Endpoints`:
``/api/<method>``, ``/hooks/<key>``, ``/upload/v1/<key>``, and ``/link/?ticket=`` upgraded to
a WebSocket for Socket Mode; anything else is a 404. ``http_version="HTTP/1.0"`` makes it an
old server that closes every connection after its answer. Imports ``answers``, ``endpoints``
and ``websocket``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.fakeslack.answers import Reply
from bot.fakeslack.endpoints import Endpoints
from bot.fakeslack.websocket import WebSocket, accept_key

log = logging.getLogger(__name__)


class HttpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer whose request threads are daemon threads we can still join."""

    daemon_threads = True
    # The default backlog of 5 drops connections when many clients post at once, and a dropped
    # SYN costs the client a one-second retransmission: a fake delay Slack does not have.
    request_queue_size = 1024

    def __init__(self, endpoints: Endpoints, http_version: str = "HTTP/1.1") -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.endpoints = endpoints
        self.http_version = http_version
        self._request_threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self._connections: set[Any] = set()  # open client sockets (kept alive between requests)
        self.connections_opened = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._threads_lock:
            self._connections.add(request)
            self.connections_opened += 1
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="fakeslack-request",
            daemon=True,
        )
        with self._threads_lock:
            self._request_threads = [t for t in self._request_threads if t.is_alive()]
            self._request_threads.append(thread)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._threads_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End every kept-alive connection: its thread's wait for a next request returns."""
        with self._threads_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("fakeslack: error while answering %s", client_address, exc_info=True)

    def join_request_threads(self, timeout: float) -> None:
        with self._threads_lock:
            threads = list(self._request_threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class Handler(BaseHTTPRequestHandler):
    server: HttpServer
    # As Slack: HTTP/1.1, so a client may keep its connection open between calls (every answer
    # carries its Content-Length); a request with `Connection: close` (urllib) closes it.
    # setup() takes the server's http_version.
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle kept-alive connection is closed after this (seconds)
    # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm holds
    # the body back until the client's delayed ACK (40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        self.protocol_version = self.server.http_version
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fakeslack %s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        if urlsplit(self.path).path.startswith("/link"):
            self._websocket()
        else:
            self._dispatch(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._dispatch(self.rfile.read(length) if length else b"")

    def _dispatch(self, body: bytes) -> None:
        url = urlsplit(self.path)
        headers = {k.title(): v for k, v in self.headers.items()}  # names: any case, as Slack
        endpoints = self.server.endpoints
        path = url.path
        if path.startswith("/api/"):
            reply = endpoints.api(path[len("/api/") :], url.query, body, headers)
        elif path.startswith("/hooks/"):
            reply = endpoints.hook(path[len("/hooks/") :], body, headers)
        elif path.startswith("/upload/v1/"):
            reply = endpoints.upload(path[len("/upload/v1/") :], body, headers)
        else:
            reply = Reply(404, {"ok": False, "error": "not_found"})
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.text is not None:
            data, ctype = reply.text.encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(reply.body).encode(), "application/json; charset=utf-8"
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout) before we answered
            log.debug("fakeslack: client went away before the answer to %s", self.path)

    def _websocket(self) -> None:
        endpoints = self.server.endpoints
        ticket = dict(parse_qsl(urlsplit(self.path).query)).get("ticket", "")
        key = self.headers.get("Sec-WebSocket-Key")
        upgrade = (self.headers.get("Upgrade") or "").lower()
        if upgrade != "websocket" or not key:
            self._send(Reply(400, {"ok": False, "error": "not_a_websocket_request"}))
            return
        if not endpoints.ticket_valid(ticket):
            self._send(Reply(401, {"ok": False, "error": "invalid_ticket"}))
            return
        self.close_connection = True
        self.wfile.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
            ).encode()
        )
        endpoints.socket_session(WebSocket(self.connection, self.rfile))
