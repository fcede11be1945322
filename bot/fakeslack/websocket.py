"""The server side of RFC 6455, just enough for Socket Mode over loopback.

Text frames out (unmasked, as a server sends them); text, continuation, ping, pong and
close frames in (masked, as clients send them). No extensions (no permessage-deflate),
no TLS. It runs inside a request thread of the fake's HTTP server, so the Socket Mode
endpoint lives on the same port as the Web API.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import threading
from io import BufferedIOBase

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


def accept_key(sec_websocket_key: str) -> str:
    """The Sec-WebSocket-Accept answer to a client's Sec-WebSocket-Key."""
    digest = hashlib.sha1(sec_websocket_key.encode() + _GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def encode_frame(opcode: int, payload: bytes) -> bytes:
    head = bytes([0x80 | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 1 << 16:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


class Closed(Exception):
    """The peer closed the connection (or it broke)."""


class WebSocket:
    """One accepted connection. ``receive()`` from one thread; ``send_*`` from any."""

    def __init__(self, sock: socket.socket, rfile: BufferedIOBase) -> None:
        self._sock = sock
        self._rfile = rfile
        self._send_lock = threading.Lock()
        self.closed = False

    def _read(self, n: int) -> bytes:
        try:
            data = self._rfile.read(n)
        except OSError as exc:  # reset by peer, or shut down by close()
            raise Closed(str(exc)) from exc
        if data is None or len(data) < n:
            raise Closed("connection closed")
        return data

    def _read_frame(self) -> tuple[bool, int, bytes]:
        b1, b2 = self._read(2)
        size = b2 & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self._read(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self._read(8))
        mask = self._read(4) if b2 & 0x80 else b""
        data = self._read(size) if size else b""
        if mask:
            data = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
        return bool(b1 & 0x80), b1 & 0x0F, data

    def receive(self) -> str:
        """The next text message; answers pings; raises Closed when the peer goes away."""
        parts: list[bytes] = []
        while True:
            fin, opcode, data = self._read_frame()
            if opcode == OP_PING:
                self._send(OP_PONG, data)
            elif opcode == OP_PONG:
                continue
            elif opcode == OP_CLOSE:
                self.close(data[:2] if len(data) >= 2 else b"")
                raise Closed("closed by peer")
            else:  # text, binary, continuation
                parts.append(data)
                if fin:
                    return b"".join(parts).decode("utf-8", errors="replace")

    def _send(self, opcode: int, payload: bytes) -> None:
        with self._send_lock:
            if self.closed:
                raise Closed("connection closed")
            try:
                self._sock.sendall(encode_frame(opcode, payload))
            except OSError as exc:
                self.closed = True
                raise Closed(str(exc)) from exc

    def send_text(self, text: str) -> None:
        self._send(OP_TEXT, text.encode())

    def ping(self, payload: bytes = b"") -> None:
        self._send(OP_PING, payload)

    def close(self, code: bytes = struct.pack("!H", 1000)) -> None:
        """Send a close frame (best effort) and shut the socket so receive() returns."""
        with self._send_lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(OSError):
                self._sock.sendall(encode_frame(OP_CLOSE, code))
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
