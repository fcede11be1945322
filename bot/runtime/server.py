"""HTTP mode's front: serves a WSGI app (`bot.runtime.slackwsgi.wsgi_app`: /slack/events, /healthz).

The front is one asyncio event loop (epoll on Linux: open connections are not bounded by
`select()`) that parses HTTP/1.1 with h11 and hands a request to a bounded pool of worker
threads only once its head and its whole body are in memory. A client that drips its request
costs a coroutine and a socket, never a worker thread, and is dropped at a total deadline (the
head within `header_timeout` of the connection or of its first byte on a kept-alive
connection, the body within `body_timeout` of the head): a byte per second does not keep it
alive. A body is refused with 413 before it is read when its Content-Length is over `max_body`,
and a chunked body is read no further than `max_body`; all the bodies being read at once share
a budget (`max_buffered`), past which a request is answered 503 before its body is read, so
many clients sending large bodies slowly cannot make the process hold gigabytes. A connection
is reused only when the previous request was read to its end and answered in full; every error
the front answers itself says `Connection: close` and closes. Answers leave in one write with
Nagle's algorithm off (otherwise each waits for the client's delayed ACK: 40 ms).

Why not a ready-made server: wsgiref and gunicorn's sync workers hold a thread per
connection, so as many slow clients as there are threads hold them all. uvicorn's and
hypercorn's timeouts are per read or for idle keep-alive, not a total deadline on a request's
head; a2wsgi (the usual WSGI-to-ASGI bridge) starts the WSGI app before the body has arrived, so
a slow body holds a worker thread. granian wants to own the process (workers, signals), while
`pm-coach run`'s composition root owns it (scheduler, executors, a clean SIGTERM). What we need
is small: the parsing is h11's (python-hyper's well-kept sans-I/O parser); this module adds only
deadlines, limits and the hand-off to threads.

`Server.stop()` stops accepting, closes idle connections, lets requests already being served
finish (up to `shutdown_timeout`), and returns once the loop has stopped: what a clean SIGTERM
needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import resource
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes

import h11

from bot.runtime.logs import get_logger

# Slack's payloads are a few KiB; a modal submission with every field filled stays far below.
MAX_BODY_BYTES = 1024 * 1024
# All bodies being read at once, together: past it a request is answered 503 before its body
# is read, so clients that send large bodies slowly cannot make the process hold gigabytes.
# Slack's requests are a few KiB each: thousands of them fit.
MAX_BUFFERED_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024  # request line + headers
HEADER_TIMEOUT_S = 5.0  # a request's head, from the connection (or its first byte when reused)
BODY_TIMEOUT_S = 10.0  # its whole body, from the end of its head
KEEPALIVE_TIMEOUT_S = 30.0  # an idle kept-alive connection waiting for its next request
WRITE_TIMEOUT_S = 10.0  # a response to be taken by the client
LINGER_S = 2.0  # reading and dropping input after an error answer, before closing
READ_CHUNK = 64 * 1024

WSGIApp = Callable[..., Iterable[bytes]]
# A look at a request's head before its body is read: a status to refuse it with, or None.
EarlyCheck = Callable[[str, str, Mapping[str, str]], int | None]
# The HTTP front -------------------------------------------------------------------------------


class _Refused(Exception):
    """A request the front answers itself (with `status`) and then closes the connection on."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(eq=False)
class _Connection:
    """One client connection; `busy` from the moment a request's head is in until its answer
    is written (what a graceful stop waits for)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(
        default_factory=lambda: h11.Connection(
            h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES
        )
    )
    busy: bool = False
    task: asyncio.Task[None] | None = None
    reserved: int = 0  # bytes of the body being read, counted in the server's budget


@dataclass
class _Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Server:
    """The HTTP front: `prepare()` binds, `serve()` runs until `stop()` (from any thread)."""

    def __init__(
        self,
        application: WSGIApp,
        host: str,
        port: int,
        *,
        threads: int = 16,
        shutdown_timeout: float = 10.0,
        header_timeout: float = HEADER_TIMEOUT_S,
        body_timeout: float = BODY_TIMEOUT_S,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT_S,
        max_body: int = MAX_BODY_BYTES,
        max_buffered: int = MAX_BUFFERED_BYTES,
        backlog: int = 1024,
        early: EarlyCheck | None = None,
    ) -> None:
        self.application = application
        self.host, self.port = host, port
        self.threads = threads
        self.shutdown_timeout = shutdown_timeout
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.keepalive_timeout = keepalive_timeout
        self.max_body = max_body
        self.max_buffered = max_buffered
        self._buffered = 0  # the bodies being read now (changed on the event loop only)
        self.backlog = backlog
        self.early = early
        self.bind_addr: tuple[str, int] = (host, port)
        self.log = get_logger("pm_coach.http")
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[_Connection] = set()
        self._pool: ThreadPoolExecutor | None = None

    @property
    def accepted_sockets(self) -> list[Any]:
        """The sockets of the connections open now (asyncio's read-only socket views), for a
        look at their options from outside the event loop."""
        sockets = (c.writer.get_extra_info("socket") for c in list(self._connections))
        return [sock for sock in sockets if sock is not None]

    # Lifecycle --------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Bind and listen, so `bind_addr` holds the real port (useful with port 0)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP named, so asyncio turns Nagle's algorithm off on accepted connections
        # (it does so only for sockets whose proto says TCP); `_accepted` makes sure of it.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(self.backlog)
        sock.setblocking(False)
        self._sock = sock
        self.bind_addr = sock.getsockname()[:2]

    def serve(self) -> None:
        """Serve until `stop()`; blocks the calling thread."""
        if self._sock is None:
            self.prepare()
        try:
            asyncio.run(self._serve())
        finally:
            self._stopped.set()

    def stop(self) -> None:
        """Stop accepting, let requests being served finish (up to `shutdown_timeout`), and
        return once `serve()` is done (or at once if it never started)."""
        with self._lock:
            self._stop_requested.set()
            loop, stopping = self._loop, self._stopping
        if loop is None or stopping is None:
            return  # not serving (yet): a later serve() sees _stop_requested and returns
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(stopping.set)
        self._stopped.wait(self.shutdown_timeout + 5)

    async def _serve(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        with self._lock:
            self._loop, self._stopping = loop, stopping
            if self._stop_requested.is_set():
                stopping.set()
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="http")
        server = await asyncio.start_server(
            self._accepted, sock=self._sock, backlog=self.backlog, limit=READ_CHUNK
        )
        try:
            await stopping.wait()
        finally:
            server.close()
            await self._drain_connections()
            self._pool.shutdown(wait=False, cancel_futures=True)
            with self._lock:
                self._loop = None

    async def _drain_connections(self) -> None:
        """Close idle connections now; give busy ones `shutdown_timeout` to answer."""
        for conn in list(self._connections):
            if not conn.busy and conn.task is not None:
                conn.task.cancel()
        tasks = [c.task for c in self._connections if c.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.shutdown_timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # One connection ---------------------------------------------------------------------------

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._stopping is not None
        conn = _Connection(reader, writer, task=asyncio.current_task())
        # An answer's head and body must not wait for the client's delayed ACK (40 ms).
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connections.add(conn)
        try:
            if not self._stopping.is_set():
                await self._converse(conn)
        except (ConnectionError, TimeoutError):
            pass  # the client went away, or does not take its answer
        except asyncio.CancelledError:
            # Only stop() cancels a connection; ending quietly spares asyncio's stream
            # callback an error log about a cancelled task.
            pass
        except Exception:
            self.log.exception("http_connection_failed")
        finally:
            self._release(conn)
            self._connections.discard(conn)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _converse(self, conn: _Connection) -> None:
        """Requests in turn on one connection, for as long as it may be reused."""
        loop = asyncio.get_running_loop()
        assert self._stopping is not None and self._pool is not None
        head_deadline: float | None = loop.time() + self.header_timeout
        while True:
            try:
                request = await self._read_head(conn, head_deadline)
                if request is None:
                    return  # closed, or idle too long, between requests
                conn.busy = True
                self._check_head(request)
                body = await self._read_body(conn, request, loop.time() + self.body_timeout)
            except _Refused as refused:
                self._release(conn)
                await self._refuse(conn, refused.status)
                return
            environ = self._environ(conn, request, body)
            del body  # the environ's stream holds it until the app is done with it
            try:
                reply = await loop.run_in_executor(self._pool, self._call, environ)
            except Exception:
                self.log.exception("http_app_failed", path=environ.get("PATH_INFO"))
                await self._refuse(conn, 500)
                return
            finally:
                environ.clear()  # the body is not held while the connection waits for more
                self._release(conn)
            closing = self._stopping.is_set()
            await self._write(conn, reply, head_only=request.method == b"HEAD", close=closing)
            conn.busy = False
            if closing or not self._reusable(conn.h11):
                return
            conn.h11.start_next_cycle()
            # The next head's deadline starts with its first byte (already here if pipelined).
            head_deadline = loop.time() + self.header_timeout if _buffered(conn.h11) else None

    def _check_head(self, request: h11.Request) -> None:
        """Refuse, before its body is read, a head over MAX_HEADER_BYTES (h11 limits only a
        head that arrives in pieces) and a request `early` turns away."""
        # As sent: the request line's spaces, version and CRLF; each header's ": " and CRLF.
        size = len(request.method) + len(request.target) + 12
        size += sum(len(name) + len(value) + 4 for name, value in request.headers)
        if size > MAX_HEADER_BYTES:
            raise _Refused(431)
        if self.early is None:
            return
        path = unquote_to_bytes(request.target.partition(b"?")[0]).decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}
        status = self.early(request.method.decode("ascii"), path, headers)
        if status is not None:
            raise _Refused(status)

    @staticmethod
    def _reusable(conn: h11.Connection) -> bool:
        return bool(conn.our_state is h11.DONE and conn.their_state is h11.DONE)

    async def _read_head(self, conn: _Connection, deadline: float | None) -> h11.Request | None:
        """The next request's head, or None when the client closed (or idled out) between
        requests. `deadline` None: a kept-alive connection, whose head deadline starts with
        the first byte of the next request."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                event = conn.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise _Refused(exc.error_status_hint) from None
            if isinstance(event, h11.Request):
                return event
            if isinstance(event, h11.ConnectionClosed):
                return None
            if event is not h11.NEED_DATA:  # PAUSED cannot happen here; be safe
                raise _Refused(400)
            if deadline is None:
                try:
                    async with asyncio.timeout(self.keepalive_timeout):
                        data = await conn.reader.read(READ_CHUNK)
                except TimeoutError:
                    return None
                deadline = loop.time() + self.header_timeout
            else:
                data = await self._read_by(conn, deadline, 408)
            conn.h11.receive_data(data)  # b"": the client closed (h11 tells how cleanly)

    async def _read_body(self, conn: _Connection, request: h11.Request, deadline: float) -> bytes:
        length = _content_length(request)
        if length is not None and length > self.max_body:
            raise _Refused(413)  # before reading a byte of it
        if length:
            self._reserve(conn, length)  # before reading a byte of it, too
        if conn.h11.they_are_waiting_for_100_continue:
            await self._send(conn, h11.InformationalResponse(status_code=100, headers=[]))
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                event = conn.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise _Refused(exc.error_status_hint) from None
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.max_body:
                    raise _Refused(413)  # a chunked body over the limit: read no further
                if length is None:
                    self._reserve(conn, len(event.data))
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            elif event is h11.NEED_DATA:
                data = await self._read_by(conn, deadline, 408)
                conn.h11.receive_data(data)
            else:
                raise _Refused(400)  # the client closed mid-body

    def _reserve(self, conn: _Connection, size: int) -> None:
        """Count `size` more bytes of `conn`'s body in the budget, or refuse it with 503."""
        if self._buffered + size > self.max_buffered:
            raise _Refused(503)
        self._buffered += size
        conn.reserved += size

    def _release(self, conn: _Connection) -> None:
        self._buffered -= conn.reserved
        conn.reserved = 0

    @staticmethod
    async def _read_by(conn: _Connection, deadline: float, status: int) -> bytes:
        try:
            async with asyncio.timeout_at(deadline):
                return await conn.reader.read(READ_CHUNK)
        except TimeoutError:
            raise _Refused(status) from None

    # Answers ----------------------------------------------------------------------------------

    async def _send(self, conn: _Connection, *events: Any) -> None:
        """Send `events` in one write (head and body in one segment where they fit)."""
        data = b"".join(conn.h11.send(event) or b"" for event in events)
        if data:
            conn.writer.write(data)
        async with asyncio.timeout(WRITE_TIMEOUT_S):  # no task per call, unlike wait_for
            await conn.writer.drain()

    async def _write(
        self, conn: _Connection, reply: _Reply, *, head_only: bool, close: bool
    ) -> None:
        headers = [(k, v) for k, v in reply.headers if k.lower() not in _FRAMING]
        headers.append(("Content-Length", str(len(reply.body))))
        if close:
            headers.append(("Connection", "close"))
        response = h11.Response(
            status_code=reply.status, headers=headers, reason=_reason(reply.status)
        )
        body = [] if head_only or not reply.body else [h11.Data(data=reply.body)]
        await self._send(conn, response, *body, h11.EndOfMessage())

    async def _refuse(self, conn: _Connection, status: int) -> None:
        """Answer `status` with `Connection: close`, if the connection can still take an
        answer; the caller then closes it."""
        self.log.debug("http_refused", status=status)
        if conn.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = f"{status} {_reason(status).decode()}\n".encode()
        headers = [
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
        if status == 503:
            headers.append(("Retry-After", "1"))
        response = h11.Response(status_code=status, headers=headers, reason=_reason(status))
        with contextlib.suppress(Exception):  # the client may be gone or not reading
            await self._send(conn, response, h11.Data(data=body), h11.EndOfMessage())
            await self._linger(conn)

    @staticmethod
    async def _linger(conn: _Connection) -> None:
        """Half-close, then read and drop what the client is still sending, for a moment: a
        socket closed with unread input sends a reset, which can destroy the answer before the
        client reads it (a 413 to a client still sending its body)."""
        conn.writer.write_eof()
        async with asyncio.timeout(LINGER_S):
            while await conn.reader.read(READ_CHUNK):
                pass

    # WSGI -------------------------------------------------------------------------------------

    def _environ(self, conn: _Connection, request: h11.Request, body: bytes) -> dict[str, Any]:
        target = request.target
        path, _, query = target.partition(b"?")
        peer = conn.writer.get_extra_info("peername") or ("", 0)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method.decode("ascii"),
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "SERVER_NAME": str(self.bind_addr[0]),
            "SERVER_PORT": str(self.bind_addr[1]),
            "SERVER_PROTOCOL": "HTTP/" + request.http_version.decode("ascii"),
            "REMOTE_ADDR": str(peer[0]),
            "REMOTE_PORT": str(peer[1]),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for raw_name, raw_value in request.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            if name in ("content-length", "transfer-encoding"):
                continue  # the body is whole and de-chunked: CONTENT_LENGTH says its size
            if name == "content-type":
                environ["CONTENT_TYPE"] = value
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _call(self, environ: dict[str, Any]) -> _Reply:
        """Run the WSGI app on a worker thread and collect its whole answer."""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return written.append

        result = self.application(environ, start_response)
        try:
            chunks = [*written, *result]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise RuntimeError("the WSGI app returned without calling start_response")
        status, headers = started
        return _Reply(int(str(status).split(" ", 1)[0]), list(headers), b"".join(chunks))


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _buffered(conn: h11.Connection) -> bool:
    """Whether h11 already holds bytes of the next request."""
    return bool(conn.trailing_data[0])


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)  # h11 has checked it is digits
    return None


def make_server(application: WSGIApp, host: str, port: int, **options: Any) -> Server:
    """The HTTP front for `application` (`Server`'s keyword options: `threads` workers, `early`
    to look at each request's head before its body is read — `unsigned_early` where Slack signs
    requests —, and deadlines and limits for tests)."""
    return Server(application, host, port, **options)


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (each client holds a
    socket); return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
