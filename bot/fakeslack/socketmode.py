"""The Socket Mode side of the fake: connections, hello, envelopes, acks and disconnects.

:class:`SocketMode` runs each accepted WebSocket (``websocket.py`` speaks the frames): it says
``hello``, journals every ack as a ``"socket_ack"`` call and hands it to whoever sent that
envelope, pings live connections, and lets a test deliver an envelope to the newest connection
(:meth:`SocketMode.send`, same ``envelope_id`` for a redelivery) or ask clients to reconnect.
The HTTP transport upgrades ``/link/`` requests into sessions here. Imports ``journal`` and
``websocket``.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from bot.fakeslack.journal import Call, Journal
from bot.fakeslack.websocket import Closed, WebSocket

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]


@dataclass
class _Conn:
    ws: WebSocket
    ready: bool = False  # hello sent


class SocketMode:
    """Socket Mode connections to the fake; thread-safe."""

    def __init__(self, journal: Journal, app_id: str, ping_interval: float) -> None:
        self._journal = journal
        self._app_id = app_id
        # Slack pings Socket Mode clients; pinging often also lets slack_sdk's builtin
        # client close fast (its reader otherwise sits in a 3 s recv() after close()).
        self.ping_interval = ping_interval
        self._changed = threading.Condition(threading.RLock())
        self._conns: list[_Conn] = []
        self._ack_waiters: dict[str, list[queue.Queue[JsonDict]]] = {}
        self._stopping = threading.Event()

    def session(self, ws: WebSocket) -> None:
        """Run one connection: hello, then read acks until it closes."""
        conn = _Conn(ws)
        with self._changed:
            if self._stopping.is_set():
                ws.close()
                return
            self._conns.append(conn)
            count = len(self._conns)
        hello = {
            "type": "hello",
            "num_connections": count,
            "debug_info": {
                "host": "applink-fake-1",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self._app_id},
        }
        try:
            ws.send_text(json.dumps(hello))
            with self._changed:
                conn.ready = True
                self._changed.notify_all()
            while True:
                self._on_message(ws.receive())
        except Closed:
            pass
        finally:
            ws.close()
            with self._changed:
                if conn in self._conns:
                    self._conns.remove(conn)
                self._changed.notify_all()

    def _on_message(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            log.debug("fakeslack: non-JSON Socket Mode message %r", text[:200])
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        envelope_id = str(message["envelope_id"])
        self._journal.record(Call("socket_ack", message, None, 200, {}, time.time(), {}))
        with self._changed:
            waiters = self._ack_waiters.get(envelope_id)
            waiter = waiters.pop(0) if waiters else None
            if waiters == []:
                del self._ack_waiters[envelope_id]
        if waiter is not None:
            waiter.put(message)

    def ping_loop(self) -> None:
        """Ping ready connections every `ping_interval` until stop()."""
        while not self._stopping.wait(self.ping_interval):
            with self._changed:
                conns = [c for c in self._conns if c.ready]
            for conn in conns:
                try:
                    conn.ws.ping(b"fakeslack")
                except Closed:
                    continue

    def stop(self) -> None:
        """Refuse new sessions, close the open ones (1001 going away), end the ping loop."""
        with self._changed:
            self._stopping.set()
            conns = list(self._conns)
        for conn in conns:
            conn.ws.close(b"\x03\xe9")

    def connected(self, timeout: float = 5.0) -> bool:
        """Whether a client is connected and greeted, waiting up to `timeout` for one."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(c.ready for c in self._conns):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def _live(self) -> _Conn:
        with self._changed:
            ready = [c for c in self._conns if c.ready and not c.ws.closed]
        if not ready:
            raise AssertionError("no Socket Mode client is connected to the fake")
        return ready[-1]

    def send(
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
        with self._changed:
            self._ack_waiters.setdefault(eid, []).append(waiter)
        try:
            self._live().ws.send_text(json.dumps(envelope))
            return waiter.get(timeout=timeout)
        except Closed:
            raise AssertionError(f"Socket Mode connection closed while sending {eid}") from None
        except queue.Empty:
            raise AssertionError(
                f"no ack for {envelope_type} envelope {eid} within {timeout}s"
            ) from None
        finally:
            with self._changed:
                pending = self._ack_waiters.get(eid, [])
                if waiter in pending:
                    pending.remove(waiter)
                if not pending:
                    self._ack_waiters.pop(eid, None)

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected clients to reconnect, as Slack does every few hours."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}}
        with self._changed:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.ws.send_text(json.dumps(message))
            except Closed:
                continue
