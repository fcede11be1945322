"""FakeSlack: a loopback HTTP + WebSocket server that answers like Slack's Web API.

One ThreadingHTTPServer on 127.0.0.1 serves:

* ``/api/<method>``   Web API methods (POST or GET; form, JSON or multipart bodies);
* ``/hooks/<key>``    response_url hooks (journaled as method ``"response_url"``);
* ``/upload/v1/<k>``  upload URLs handed out by files.getUploadURLExternal (``"upload_url"``);
* ``/link/?ticket=``  the Socket Mode WebSocket endpoint handed out by apps.connections.open.

Every request is journaled as a :class:`Call` after it has been answered and its effect
applied, so ``wait_for(...)`` followed by ``messages(...)`` sees a consistent state.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import email.parser
import email.policy
import json
import logging
import math
import queue
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, urlsplit

from bot.fakeslack import payloads
from bot.fakeslack.blockkit import validate_blocks, validate_view
from bot.fakeslack.shapes import Channel, User, dm_channel_id
from bot.fakeslack.websocket import Closed, WebSocket, accept_key

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]

# Arguments Slack takes as JSON-encoded strings in form bodies; decoded in Call.args.
_JSON_ARGS = ("blocks", "attachments", "view", "files", "metadata")
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_RETIRED_METHODS = frozenset({"files.upload"})  # sunset in favour of the external upload flow
MAX_MESSAGE_TEXT = 40_000


@dataclass
class Call:
    """One request the fake received, and what it answered."""

    method: str
    args: dict[str, Any]
    token: str | None
    status: int
    response: dict[str, Any]
    at: float
    headers: dict[str, str] = field(default_factory=dict)


class SlackError(Exception):
    """Raised inside a method handler: answered as {"ok": false, "error": ..., **extra}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _invalid_arguments(messages: list[str]) -> SlackError:
    return SlackError(
        "invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]}
    )


@dataclass
class _Fault:
    kind: Literal["fail", "rate_limit", "server_error"]
    error: str
    status: int
    retry_after: int
    remaining: int | None  # None: until cleared


@dataclass
class _Delay:
    seconds: float
    remaining: int | None


@dataclass
class _Bucket:
    rate: float
    burst: int
    tokens: float
    last: float

    def take(self, now: float) -> int | None:
        """Consume one token; None if granted, else the Retry-After in whole seconds."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        if self.rate <= 0:
            return 60
        return max(1, math.ceil((1 - self.tokens) / self.rate))


@dataclass
class _Reply:
    status: int
    body: JsonDict
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None  # a non-JSON body (upload URL answers)


@dataclass
class _Upload:
    file_id: str
    filename: str
    length: int
    content: bytes | None = None


@dataclass
class _SocketConn:
    ws: WebSocket
    ready: bool = False


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _int_arg(args: JsonDict, key: str, default: int) -> int:
    value = args.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SlackError(f"invalid_{key}") from None


def _encode_cursor(key: str) -> str:
    return base64.b64encode(f"user:{key}".encode()).decode()


def _page(items: list[str], args: JsonDict, default_limit: int) -> tuple[list[str], str]:
    """Slack cursor pagination over ids: (page, next_cursor or "")."""
    limit = _int_arg(args, "limit", default_limit)
    if limit < 0:
        raise SlackError("invalid_limit")
    limit = min(limit, 1000) if limit else len(items) or 1
    start = 0
    cursor = args.get("cursor") or ""
    if cursor:
        try:
            kind, _, key = base64.b64decode(cursor, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise SlackError("invalid_cursor") from None
        if kind != "user" or key not in items:
            raise SlackError("invalid_cursor")
        start = items.index(key)
    page = items[start : start + limit]
    rest = items[start + limit :]
    return page, _encode_cursor(rest[0]) if rest else ""


def _parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        raw = data if isinstance(data, bytes) else b""
        fields[name] = raw if part.get_filename() else raw.decode("utf-8", errors="replace")
    return fields


def parse_args(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Request arguments as Slack reads them: query string + form, JSON or multipart body.

    JSON-valued form fields (blocks, attachments, view, files, metadata) are decoded.
    Raises SlackError("invalid_json") for a malformed JSON body.
    """
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(data, dict):
            raise SlackError("json_not_object")
        args.update(data)
    elif ctype == "multipart/form-data":
        args.update(_parse_multipart(body, content_type))
    elif body:
        args.update(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    for key in _JSON_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                args[key] = json.loads(value)
            except ValueError:
                if key == "view":
                    raise SlackError("invalid_arguments") from None
                raise SlackError(f"invalid_{key}") from None
    return args


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer whose request threads are daemon threads we can still join."""

    daemon_threads = True
    # The default backlog of 5 drops connections when many clients post at once, and a dropped
    # SYN costs the client a one-second retransmission: a fake delay Slack does not have.
    request_queue_size = 1024

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # As Slack: HTTP/1.1, so a client may keep its connection open between calls (every answer
    # carries its Content-Length); a request with `Connection: close` (urllib) closes it.
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle kept-alive connection is closed after this (seconds)
    # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm holds
    # the body back until the client's delayed ACK (40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True

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
        fake = self.server.fake
        path = url.path
        if path.startswith("/api/"):
            reply = fake._serve_api(path[len("/api/") :], url.query, body, headers)
        elif path.startswith("/hooks/"):
            reply = fake._serve_hook(path[len("/hooks/") :], body, headers)
        elif path.startswith("/upload/v1/"):
            reply = fake._serve_upload(path[len("/upload/v1/") :], body, headers)
        else:
            reply = _Reply(404, {"ok": False, "error": "not_found"})
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
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
        fake = self.server.fake
        ticket = dict(parse_qsl(urlsplit(self.path).query)).get("ticket", "")
        key = self.headers.get("Sec-WebSocket-Key")
        upgrade = (self.headers.get("Upgrade") or "").lower()
        if upgrade != "websocket" or not key:
            self._send(_Reply(400, {"ok": False, "error": "not_a_websocket_request"}))
            return
        if not fake._ticket_valid(ticket):
            self._send(_Reply(401, {"ok": False, "error": "invalid_ticket"}))
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
        fake._socket_session(WebSocket(self.connection, self.rfile))


_MethodHandler = Callable[[JsonDict, str | None], JsonDict]


class FakeSlack:
    """A fake Slack workspace on loopback. See the package docstring for what it emulates."""

    def __init__(
        self,
        team_id: str = "T0TEAM",
        bot_token: str = "xoxb-test",  # noqa: S107 (a fake's well-known test token)
        app_token: str = "xapp-test",  # noqa: S107
        *,
        bot_user_id: str = payloads.BOT_USER_ID,
        bot_id: str = payloads.BOT_ID,
        api_app_id: str = payloads.API_APP_ID,
        team_name: str = "Fake Workspace",
        team_domain: str = payloads.TEAM_DOMAIN,
        bot_name: str = "pm-coach",
        trigger_ttl: float | None = None,
        response_url_max_uses: int | None = 5,
        socket_ping_interval: float = 0.5,
    ) -> None:
        self.team_id = team_id
        self.bot_token = bot_token
        self.app_token = app_token
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.api_app_id = api_app_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_name = bot_name
        # Slack: a trigger_id expires after 3 s. Off by default so slow CI stays green;
        # set to 3.0 to check that the app opens modals fast enough.
        self.trigger_ttl = trigger_ttl
        self.response_url_max_uses = response_url_max_uses
        # Slack pings Socket Mode clients; pinging often also lets slack_sdk's builtin
        # client close fast (its reader otherwise sits in a 3 s recv() after close()).
        self.socket_ping_interval = socket_ping_interval

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self.calls: list[Call] = []
        self._users: dict[str, User] = {}
        self._channels: dict[str, Channel] = {}
        self._dm_open: set[str] = set()
        self._messages: dict[str, list[JsonDict]] = {}
        self._ephemerals: dict[str, list[JsonDict]] = {}
        self._views: dict[str, JsonDict] = {}  # every view: modals and home tabs
        self._modal_ids: list[str] = []
        self._home_ids: dict[str, str] = {}  # user -> view id
        self._used_triggers: set[str] = set()
        self._uploads: dict[str, _Upload] = {}  # upload key -> upload
        self._files: list[JsonDict] = []
        self._hook_uses: Counter[str] = Counter()
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, list[_Delay]] = {}
        self._bucket: _Bucket | None = None
        self._last_ts_us = 0
        self._tickets: set[str] = set()
        self._sockets: list[_SocketConn] = []
        self._ack_waiters: dict[str, list[queue.Queue[JsonDict]]] = {}
        self._holds: dict[str, threading.Event] = {}  # method -> open when set (see hold())
        # (method, time.time()) as calls arrive; the latest ones only, for long benchmarks.
        self._arrivals: deque[tuple[str, float]] = deque(maxlen=100_000)

        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._pinger: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stopped = False

        self.add_user(bot_user_id, name=bot_name, is_bot=True)
        self._handlers: dict[str, _MethodHandler] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "conversations.open": self._conversations_open,
            "conversations.members": self._conversations_members,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "apps.connections.open": self._apps_connections_open,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        if self._stopped:
            raise RuntimeError("a stopped FakeSlack cannot be restarted; make a new one")
        if self._server is not None:
            return self
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fakeslack-http",
            daemon=True,
        )
        self._thread.start()
        self._pinger = threading.Thread(
            target=self._ping_sockets, name="fakeslack-ping", daemon=True
        )
        self._pinger.start()
        return self

    def stop(self) -> None:
        """Stop serving, close Socket Mode connections, join threads. Idempotent."""
        with self._lock:
            if self._server is None or self._stopped:
                return
            self._stopped = True
            sockets = list(self._sockets)
        self._stopping.set()
        for conn in sockets:
            conn.ws.close(b"\x03\xe9")  # 1001 going away
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        for thread in (self._thread, self._pinger):
            if thread is not None:
                thread.join(5)
        self._server.join_request_threads(5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def connections_opened(self) -> int:
        """How many HTTP connections clients have opened so far (each may carry many calls)."""
        return self._server.connections_opened if self._server is not None else 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, key: str) -> str:
        return f"{self.base_url}/hooks/{key}"

    # ------------------------------------------------------------------ directory

    def add_user(
        self,
        user_id: str,
        *,
        name: str = "",
        tz: str = "Europe/Berlin",
        is_admin: bool = False,
        is_owner: bool = False,
        deleted: bool = False,
        is_bot: bool = False,
    ) -> None:
        with self._lock:
            self._users[user_id] = User(
                user_id, name or user_id, tz, is_admin, is_owner, deleted, is_bot
            )
            if user_id != self.bot_user_id:
                dm = dm_channel_id(user_id)
                self._channels[dm] = Channel(
                    dm, members=[user_id, self.bot_user_id], is_im=True, im_user=user_id
                )

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str = "",
        members: list[str] | None = None,
        is_archived: bool = False,
        bot_is_member: bool = True,
        is_private: bool = False,
    ) -> None:
        with self._lock:
            people = list(members or [])
            if bot_is_member and self.bot_user_id not in people:
                people.append(self.bot_user_id)
            self._channels[channel_id] = Channel(
                channel_id,
                name or channel_id.lower(),
                people,
                is_archived,
                bot_is_member,
                is_private,
            )

    def dm_channel(self, user_id: str) -> str:
        return dm_channel_id(user_id)

    # ------------------------------------------------------------------ journal

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def clear_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = Counter(c.method for c in self.calls)
                    raise AssertionError(
                        f"expected {count} call(s) to {method} within {timeout}s, "
                        f"got {len(found)}; calls so far: {dict(seen) or 'none'}"
                    )
                self._changed.wait(left)

    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    # ------------------------------------------------------------------ state

    def messages(self, channel: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._messages.get(self._dm_alias(channel), []))

    def ephemerals(self, user: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._ephemerals.get(user, []))

    def home_view(self, user: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home_ids.get(user)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def open_views(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {vid: copy.deepcopy(self._views[vid]) for vid in self._modal_ids}

    def close_view(self, view_id: str) -> None:
        """The user closed a modal: it no longer counts as open."""
        with self._lock:
            if view_id in self._modal_ids:
                self._modal_ids.remove(view_id)

    def files(self, user_or_channel: str) -> list[dict[str, Any]]:
        with self._lock:
            key = self._dm_alias(user_or_channel)
            return [copy.deepcopy(f) for f in self._files if f["channel_id"] == key]

    def _dm_alias(self, channel_or_user: str) -> str:
        """A known user id stands for the bot's DM with that user."""
        if channel_or_user in self._users and channel_or_user != self.bot_user_id:
            return dm_channel_id(channel_or_user)
        return channel_or_user

    # ------------------------------------------------------------------ faults

    def fail(self, method: str, error: str, *, times: int | None = 1, status: int = 200) -> None:
        self._add_fault(method, _Fault("fail", error, status, 0, times))

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int | None = 1) -> None:
        self._add_fault(method, _Fault("rate_limit", "ratelimited", 429, retry_after, times))

    def server_error(self, method: str, *, status: int = 503, times: int | None = 1) -> None:
        self._add_fault(method, _Fault("server_error", "fatal_error", status, 0, times))

    def delay(self, method: str, seconds: float, *, times: int | None = 1) -> None:
        with self._lock:
            self._delays.setdefault(method, []).append(_Delay(seconds, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def workspace_bucket(self, rate_per_s: float | None, burst: int = 20) -> None:
        with self._lock:
            if rate_per_s is None:
                self._bucket = None
            else:
                self._bucket = _Bucket(rate_per_s, burst, float(burst), time.monotonic())

    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    # ------------------------------------------------------------------ holding answers

    def hold(self, method: str) -> threading.Event:
        """Every call to `method` waits in the fake once it has arrived, before any delay or
        fault, until the returned event is set (or the fake stops): a test decides when Slack
        answers, and can see with `wait_arrivals` which calls are waiting meanwhile."""
        with self._lock:
            gate = self._holds[method] = threading.Event()
        return gate

    def arrivals(self, method: str) -> list[float]:
        """When (time.time()) each call to `method` arrived, before any hold or delay: the
        journal (`calls`) has a call only once it is answered."""
        with self._lock:
            return [at for m, at in self._arrivals if m == method]

    def wait_arrivals(self, method: str, count: int, timeout: float = 10.0) -> list[float]:
        """Wait until `count` calls to `method` have arrived (bounded by `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := self.arrivals(method)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} call(s) to {method} to arrive within {timeout}s, "
                        f"got {len(found)}"
                    )
                self._changed.wait(left)
            return found

    def _arrive(self, method: str) -> None:
        with self._changed:
            self._arrivals.append((method, time.time()))
            self._changed.notify_all()
            gate = self._holds.get(method)
        while gate is not None and not gate.wait(0.05) and not self._stopping.is_set():
            pass

    def _take(self, table: dict[str, list[Any]], method: str) -> Any:
        """Consume one use of the first pending fault/delay for this method."""
        with self._lock:
            pending = table.get(method)
            if not pending:
                return None
            item = pending[0]
            if item.remaining is not None:
                item.remaining -= 1
                if item.remaining <= 0:
                    pending.pop(0)
            return item

    def _injected(self, method: str) -> _Reply | None:
        """Sleep for a pending delay, then answer a pending fault if there is one."""
        delay = cast(_Delay | None, self._take(self._delays, method))
        if delay is not None:
            self._stopping.wait(delay.seconds)
        fault = cast(_Fault | None, self._take(self._faults, method))
        if fault is None:
            return None
        body = {"ok": False, "error": fault.error}
        if fault.kind == "rate_limit":
            return _Reply(429, body, {"Retry-After": str(fault.retry_after)})
        return _Reply(fault.status, body)

    # ------------------------------------------------------------------ Web API

    def _serve_api(self, method: str, query: str, body: bytes, headers: dict[str, str]) -> _Reply:
        token: str | None = None
        args: JsonDict = {}
        try:
            args = parse_args(query, body, headers.get("Content-Type", ""))
            auth = headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else None
            form_token = args.pop("token", None)
            token = token or (str(form_token) if form_token else None)
            self._arrive(method)
            reply = self._injected(method) or self._answer(method, args, token)
        except SlackError as exc:
            reply = _Reply(200, {"ok": False, "error": exc.error, **exc.extra})
        self._record(Call(method, args, token, reply.status, reply.body, time.time(), headers))
        return reply

    def _answer(self, method: str, args: JsonDict, token: str | None) -> _Reply:
        if method in _RETIRED_METHODS:
            raise SlackError("method_deprecated")
        handler = self._handlers.get(method)
        if handler is None:
            raise SlackError("unknown_method", req_method=method)
        self._authenticate(method, token)
        if method == "chat.postMessage" and self._bucket is not None:
            with self._lock:
                retry_after = self._bucket.take(time.monotonic())
            if retry_after is not None:
                body = {"ok": False, "error": "ratelimited"}
                return _Reply(429, body, {"Retry-After": str(retry_after)})
        with self._lock:
            return _Reply(200, handler(args, token))

    def _authenticate(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        expected = self.app_token if method in _APP_TOKEN_METHODS else self.bot_token
        if token == expected:
            return
        if token in (self.bot_token, self.app_token):
            raise SlackError("not_allowed_token_type")
        raise SlackError("invalid_auth")

    def _next_ts(self) -> str:
        micros = max(self._last_ts_us + 1, int(time.time() * 1_000_000))
        self._last_ts_us = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _user(self, user_id: Any) -> User:
        user = self._users.get(str(user_id or ""))
        if user is None:
            raise SlackError("user_not_found")
        return user

    def _channel(self, channel_id: Any, *, user_ok: bool = False) -> Channel:
        """A channel the bot can see (private channels it is not in are invisible).

        ``user_ok``: a user id stands for the bot's DM with them (chat.postMessage only).
        """
        wanted = str(channel_id or "")
        channel = self._channels.get(self._dm_alias(wanted) if user_ok else wanted)
        if channel is None or (channel.is_private and not channel.bot_is_member):
            raise SlackError("channel_not_found")
        return channel

    def _postable(self, channel_id: Any, *, user_ok: bool = False) -> Channel:
        channel = self._channel(channel_id, user_ok=user_ok)
        if channel.is_archived:
            raise SlackError("is_archived")
        if not channel.bot_is_member:
            raise SlackError("not_in_channel")
        return channel

    def _check_content(self, args: JsonDict, *, require: bool = True) -> None:
        text, blocks = args.get("text"), args.get("blocks")
        if require and not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
            raise SlackError("msg_too_long")
        if blocks is not None:
            errors = validate_blocks(blocks, surface="message")
            if errors:
                raise SlackError(
                    "invalid_blocks",
                    errors=errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
                )

    def _bot_message(self, args: JsonDict, ts: str) -> JsonDict:
        message: JsonDict = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": ts,
            "bot_id": self.bot_id,
            "app_id": self.api_app_id,
            "text": args.get("text") or "",
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.api_app_id,
                "name": self.bot_name,
                "deleted": False,
                "team_id": self.team_id,
            },
        }
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                message[key] = copy.deepcopy(args[key])
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
            message["parent_user_id"] = self.bot_user_id
        return message

    def _stored(self, channel: str, ts: Any) -> JsonDict:
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    # auth / users / conversations

    def _auth_test(self, args: JsonDict, token: str | None) -> JsonDict:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _user_object(self, user: User) -> JsonDict:
        return user.to_api(self.team_id, bot_id=self.bot_id, app_id=self.api_app_id)

    def _users_info(self, args: JsonDict, token: str | None) -> JsonDict:
        user = self._user_object(self._user(args.get("user")))
        if _truthy(args.get("include_locale")):
            user["locale"] = "en-US"
        return {"ok": True, "user": user}

    def _users_list(self, args: JsonDict, token: str | None) -> JsonDict:
        page, cursor = _page(list(self._users), args, default_limit=0)
        return {
            "ok": True,
            "members": [self._user_object(self._users[uid]) for uid in page],
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_open(self, args: JsonDict, token: str | None) -> JsonDict:
        if args.get("channel"):
            channel = self._channel(args["channel"])
            return {"ok": True, "channel": {"id": channel.id}}
        ids = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not ids:
            raise SlackError("users_list_not_supplied")
        if len(ids) > 1:
            raise SlackError("method_not_supported_for_channel_type")  # group DMs: not emulated
        user = self._user(ids[0])
        if user.deleted:
            raise SlackError("user_disabled")
        dm = self._channels[dm_channel_id(user.id)]
        already = dm.id in self._dm_open
        self._dm_open.add(dm.id)
        info: JsonDict = {"id": dm.id}
        if _truthy(args.get("return_im")):
            info = dm.to_api(team_id=self.team_id, creator=self.bot_user_id)
        return {"ok": True, "no_op": already, "already_open": already, "channel": info}

    def _conversations_members(self, args: JsonDict, token: str | None) -> JsonDict:
        channel = self._channel(args.get("channel"))
        page, cursor = _page(channel.members, args, default_limit=100)
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}

    def _conversations_info(self, args: JsonDict, token: str | None) -> JsonDict:
        channel = self._channel(args.get("channel"))
        info = channel.to_api(team_id=self.team_id, creator=self.bot_user_id)
        if _truthy(args.get("include_num_members")) and not channel.is_im:
            info["num_members"] = len(channel.members)
        return {"ok": True, "channel": info}

    def _conversations_history(self, args: JsonDict, token: str | None) -> JsonDict:
        """Newest first; `oldest`/`latest` bound ts (exclusive unless `inclusive`); message
        metadata only with `include_all_metadata`, as Slack does. No cursor paging: at most
        `limit` (default 100, max 999) messages and `has_more`."""
        channel = self._channel(args.get("channel"))
        oldest = float(args.get("oldest") or 0)
        latest = float(args.get("latest") or 9e12)
        inclusive = _truthy(args.get("inclusive"))
        limit = min(_int_arg(args, "limit", 100) or 100, 999)
        with_metadata = _truthy(args.get("include_all_metadata"))
        found = []
        for message in reversed(self._messages.get(channel.id, [])):
            ts = float(message["ts"])
            inside = oldest <= ts <= latest if inclusive else oldest < ts < latest
            if not inside or message.get("thread_ts") not in (None, message["ts"]):
                continue
            shown = {k: copy.deepcopy(v) for k, v in message.items() if k != "channel"}
            if not with_metadata:
                shown.pop("metadata", None)
            found.append(shown)
        return {
            "ok": True,
            "messages": found[:limit],
            "has_more": len(found) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    # chat

    def _chat_post_message(self, args: JsonDict, token: str | None) -> JsonDict:
        channel = self._postable(args.get("channel"), user_ok=True)
        self._check_content(args)
        message = self._bot_message(args, self._next_ts())
        self._messages.setdefault(channel.id, []).append({**message, "channel": channel.id})
        return {"ok": True, "channel": channel.id, "ts": message["ts"], "message": message}

    def _chat_post_ephemeral(self, args: JsonDict, token: str | None) -> JsonDict:
        channel = self._postable(args.get("channel"))
        user = self._user(args.get("user"))
        if user.id not in channel.members:
            raise SlackError("user_not_in_channel")
        self._check_content(args)
        ts = self._next_ts()
        entry = {**self._bot_message(args, ts), "channel": channel.id, "recipient": user.id}
        self._ephemerals.setdefault(user.id, []).append(entry)
        return {"ok": True, "message_ts": ts}

    def _chat_update(self, args: JsonDict, token: str | None) -> JsonDict:
        channel = self._channel(args.get("channel"))
        message = self._stored(channel.id, args.get("ts"))
        self._check_content(args, require=False)
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in args:
                message[key] = copy.deepcopy(args[key])
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        shown = {k: v for k, v in message.items() if k not in ("channel", "ts")}
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": copy.deepcopy(shown),
        }

    def _chat_delete(self, args: JsonDict, token: str | None) -> JsonDict:
        channel = self._channel(args.get("channel"))
        message = self._stored(channel.id, args.get("ts"))
        self._messages[channel.id].remove(message)
        return {"ok": True, "channel": channel.id, "ts": message["ts"]}

    # views

    def _view_arg(self, args: JsonDict, kinds: tuple[str, ...]) -> JsonDict:
        view = args.get("view")
        errors = validate_view(view)
        if not errors and cast(JsonDict, view)["type"] not in kinds:
            errors = ["failed to match all allowed schemas [json-pointer:/view/type]"]
        if errors:
            raise _invalid_arguments(errors)
        return cast(JsonDict, view)

    def _use_trigger(self, args: JsonDict) -> None:
        trigger = str(args.get("trigger_id") or args.get("interactivity_pointer") or "")
        if not trigger:
            raise _invalid_arguments(["missing required field: trigger_id"])
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        issued = payloads.trigger_issued_at(trigger)
        ttl = self.trigger_ttl
        if ttl is not None and issued is not None and time.time() - issued > ttl:
            raise SlackError("expired_trigger_id")
        self._used_triggers.add(trigger)

    def _complete(self, view: JsonDict, **kwargs: Any) -> JsonDict:
        return payloads.complete_view(
            view, team_id=self.team_id, api_app_id=self.api_app_id, bot_id=self.bot_id, **kwargs
        )

    def _check_external_id(self, view: JsonDict, own_id: str | None = None) -> None:
        external = view.get("external_id")
        if external and any(
            v.get("external_id") == external and vid != own_id for vid, v in self._views.items()
        ):
            raise SlackError("duplicate_external_id")

    def _views_open(self, args: JsonDict, token: str | None) -> JsonDict:
        view = self._view_arg(args, ("modal",))
        self._check_external_id(view)
        self._use_trigger(args)
        full = self._complete(view, view_id=payloads.new_view_id())
        self._views[full["id"]] = full
        self._modal_ids.append(full["id"])
        return {"ok": True, "view": copy.deepcopy(full)}

    def _views_push(self, args: JsonDict, token: str | None) -> JsonDict:
        view = self._view_arg(args, ("modal",))
        self._check_external_id(view)
        self._use_trigger(args)
        previous = self._modal_ids[-1] if self._modal_ids else None
        root = self._views[previous]["root_view_id"] if previous else None
        full = self._complete(
            view, view_id=payloads.new_view_id(), root_view_id=root, previous_view_id=previous
        )
        self._views[full["id"]] = full
        self._modal_ids.append(full["id"])
        return {"ok": True, "view": copy.deepcopy(full)}

    def _views_update(self, args: JsonDict, token: str | None) -> JsonDict:
        view_id = args.get("view_id")
        external_id = args.get("external_id")
        if not view_id and not external_id:
            raise _invalid_arguments(["either view_id or external_id is required"])
        if not view_id:
            view_id = next(
                (vid for vid, v in self._views.items() if v.get("external_id") == external_id),
                None,
            )
        current = self._views.get(str(view_id or ""))
        if current is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._view_arg(args, (current["type"],))
        self._check_external_id(view, own_id=current["id"])
        full = self._complete(
            view,
            view_id=current["id"],
            view_hash=self._fresh_hash(current["hash"]),
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
        )
        self._views[current["id"]] = full
        return {"ok": True, "view": copy.deepcopy(full)}

    def _views_publish(self, args: JsonDict, token: str | None) -> JsonDict:
        user = self._user(args.get("user_id"))
        view = self._view_arg(args, ("home",))
        view_id = self._home_ids.get(user.id)
        current = self._views.get(view_id) if view_id else None
        if args.get("hash") and current is not None and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        new_hash = self._fresh_hash(current["hash"]) if current is not None else None
        full = self._complete(view, view_id=view_id or payloads.new_view_id(), view_hash=new_hash)
        self._views[full["id"]] = full
        self._home_ids[user.id] = full["id"]
        return {"ok": True, "view": copy.deepcopy(full)}

    @staticmethod
    def _fresh_hash(old: str) -> str:
        new = payloads.new_view_hash()
        while new == old:
            new = payloads.new_view_hash()
        return new

    # files (the external upload flow of files_upload_v2)

    def _files_get_upload_url(self, args: JsonDict, token: str | None) -> JsonDict:
        filename = args.get("filename")
        if not filename:
            raise _invalid_arguments(["missing required field: filename"])
        if args.get("length") in (None, ""):
            raise _invalid_arguments(["missing required field: length"])
        length = _int_arg(args, "length", 0)
        key = secrets.token_urlsafe(16)
        upload = _Upload("F" + secrets.token_hex(5).upper(), str(filename), length)
        self._uploads[key] = upload
        return {
            "ok": True,
            "upload_url": f"{self.base_url}/upload/v1/{key}",
            "file_id": upload.file_id,
        }

    def _files_complete_upload(self, args: JsonDict, token: str | None) -> JsonDict:
        wanted = args.get("files")
        if not isinstance(wanted, list) or not wanted:
            raise _invalid_arguments(["missing required field: files"])
        by_id = {u.file_id: u for u in self._uploads.values()}
        uploads: list[tuple[_Upload, str]] = []
        for item in wanted:
            upload = by_id.get(str(item.get("id") if isinstance(item, dict) else ""))
            if upload is None or upload.content is None:
                raise SlackError("file_not_found")
            uploads.append((upload, str(item.get("title") or upload.filename)))
        channels = [str(args["channel_id"])] if args.get("channel_id") else []
        channels += [c for c in str(args.get("channels") or "").split(",") if c]
        targets = [self._postable(c).id for c in channels]
        now = int(time.time())
        shown = []
        for upload, title in uploads:
            content = upload.content or b""
            shown.append(
                {
                    "id": upload.file_id,
                    "created": now,
                    "timestamp": now,
                    "name": upload.filename,
                    "title": title,
                    "mimetype": "text/plain",
                    "filetype": "text",
                    "pretty_type": "Plain Text",
                    "user": self.bot_user_id,
                    "user_team": self.team_id,
                    "editable": True,
                    "size": len(content),
                    "mode": "snippet",
                    "is_external": False,
                    "external_type": "",
                    "is_public": False,
                    "public_url_shared": False,
                    "display_as_bot": False,
                    "username": "",
                    "url_private": f"{self.base_url}/files-pri/{upload.file_id}",
                    "url_private_download": f"{self.base_url}/files-pri/{upload.file_id}/download",
                    "permalink": f"https://{self.team_domain}.slack.com/files/{upload.file_id}",
                    "comments_count": 0,
                    "shares": {},  # Slack shares asynchronously: empty in this answer
                    "channels": [],
                    "groups": [],
                    "ims": [],
                    "has_more_shares": False,
                    "file_access": "visible",
                }
            )
            for channel_id in targets or [self.bot_user_id]:
                self._files.append(
                    {
                        "id": upload.file_id,
                        "filename": upload.filename,
                        "title": title,
                        "content": content,
                        "channel_id": channel_id,
                        "initial_comment": args.get("initial_comment") or "",
                        "thread_ts": args.get("thread_ts"),
                    }
                )
        for channel_id in targets:  # the share appears as a message from the bot
            share = self._bot_message(
                {"text": args.get("initial_comment") or "", "thread_ts": args.get("thread_ts")},
                self._next_ts(),
            )
            share.update({"files": copy.deepcopy(shown), "upload": True, "channel": channel_id})
            self._messages.setdefault(channel_id, []).append(share)
        return {"ok": True, "files": shown}

    def _serve_upload(self, key: str, body: bytes, headers: dict[str, str]) -> _Reply:
        with self._lock:
            upload = self._uploads.get(key)
        reply = self._injected("upload_url") or self._store_upload(upload, body, headers)
        args = {"_upload": key, "file_id": upload.file_id if upload else None, "size": len(body)}
        answer = {"body": reply.text} if reply.text is not None else reply.body
        self._record(Call("upload_url", args, None, reply.status, answer, time.time(), headers))
        return reply

    def _store_upload(self, upload: _Upload | None, body: bytes, headers: dict[str, str]) -> _Reply:
        if upload is None:
            return _Reply(404, {}, text="upload_url_not_found")
        content = body
        ctype = headers.get("Content-Type", "")
        if ctype.lower().startswith("multipart/form-data"):
            fields = _parse_multipart(body, ctype)
            part = fields.get("file", next(iter(fields.values()), b""))
            content = part if isinstance(part, bytes) else str(part).encode()
        with self._lock:
            upload.content = content
        return _Reply(200, {}, text=f"OK - {len(content)}")

    # response_url hooks

    def _serve_hook(self, key: str, body: bytes, headers: dict[str, str]) -> _Reply:
        args: JsonDict = {}
        try:
            parsed = json.loads(body or b"{}")
            args = parsed if isinstance(parsed, dict) else {"_body": parsed}
        except ValueError:
            args = {"_raw": body.decode("utf-8", errors="replace")}
        args["_hook"] = key
        reply = self._injected("response_url")
        if reply is None:
            with self._lock:
                self._hook_uses[key] += 1
                uses = self._hook_uses[key]
            limit = self.response_url_max_uses
            if "_raw" in args or "_body" in args:
                reply = _Reply(400, {"ok": False, "error": "invalid_payload"})
            elif limit is not None and uses > limit:
                reply = _Reply(404, {"ok": False, "error": "used_url"})
            else:
                reply = _Reply(200, {"ok": True})
        call = Call("response_url", args, None, reply.status, reply.body, time.time(), headers)
        self._record(call)
        return reply

    # ------------------------------------------------------------------ Socket Mode

    def _apps_connections_open(self, args: JsonDict, token: str | None) -> JsonDict:
        ticket = secrets.token_hex(16)
        self._tickets.add(ticket)
        url = f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.api_app_id}"
        return {"ok": True, "url": url}

    def _ticket_valid(self, ticket: str) -> bool:
        with self._lock:
            return ticket in self._tickets

    def _socket_session(self, ws: WebSocket) -> None:
        """Run one Socket Mode connection: hello, then read acks until it closes."""
        conn = _SocketConn(ws)
        with self._changed:
            if self._stopped:
                ws.close()
                return
            self._sockets.append(conn)
            count = len(self._sockets)
        hello = {
            "type": "hello",
            "num_connections": count,
            "debug_info": {
                "host": "applink-fake-1",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.api_app_id},
        }
        try:
            ws.send_text(json.dumps(hello))
            with self._changed:
                conn.ready = True
                self._changed.notify_all()
            while True:
                self._on_socket_message(ws.receive())
        except Closed:
            pass
        finally:
            ws.close()
            with self._changed:
                if conn in self._sockets:
                    self._sockets.remove(conn)
                self._changed.notify_all()

    def _on_socket_message(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            log.debug("fakeslack: non-JSON Socket Mode message %r", text[:200])
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        envelope_id = str(message["envelope_id"])
        self._record(Call("socket_ack", message, None, 200, {}, time.time(), {}))
        with self._lock:
            waiters = self._ack_waiters.get(envelope_id)
            waiter = waiters.pop(0) if waiters else None
            if waiters == []:
                del self._ack_waiters[envelope_id]
        if waiter is not None:
            waiter.put(message)

    def _ping_sockets(self) -> None:
        while not self._stopping.wait(self.socket_ping_interval):
            with self._lock:
                conns = [c for c in self._sockets if c.ready]
            for conn in conns:
                try:
                    conn.ws.ping(b"fakeslack")
                except Closed:
                    continue

    def socket_connected(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(c.ready for c in self._sockets):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def _live_socket(self) -> _SocketConn:
        with self._lock:
            ready = [c for c in self._sockets if c.ready and not c.ws.closed]
        if not ready:
            raise AssertionError("no Socket Mode client is connected to the fake")
        return ready[-1]

    def socket_send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = True,
        retry_attempt: int = 0,
        envelope_id: str | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Deliver an envelope to the newest connection; return the client's ack."""
        eid = envelope_id or secrets.token_hex(18)
        envelope = {
            "envelope_id": eid,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }
        waiter: queue.Queue[JsonDict] = queue.Queue(maxsize=1)
        with self._lock:
            self._ack_waiters.setdefault(eid, []).append(waiter)
        try:
            self._live_socket().ws.send_text(json.dumps(envelope))
            return waiter.get(timeout=timeout)
        except Closed:
            raise AssertionError(f"Socket Mode connection closed while sending {eid}") from None
        except queue.Empty:
            raise AssertionError(
                f"no ack for {envelope_type} envelope {eid} within {timeout}s"
            ) from None
        finally:
            with self._lock:
                pending = self._ack_waiters.get(eid, [])
                if waiter in pending:
                    pending.remove(waiter)
                if not pending:
                    self._ack_waiters.pop(eid, None)

    def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected clients to reconnect, as Slack does every few hours."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}}
        with self._lock:
            conns = list(self._sockets)
        for conn in conns:
            try:
                conn.ws.send_text(json.dumps(message))
            except Closed:
                continue
