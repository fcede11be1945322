"""Faults a test injects into the fake: errors, 429 + Retry-After, 5xx, slow answers, and a
workspace-wide token bucket on chat.postMessage.

:class:`Faults` keeps, per method, a queue of pending faults and delays (each for a number of
calls, or until cleared) and answers :meth:`Faults.injected` as a call is served: sleep for a
pending delay, then the :class:`Reply` of a pending fault, if any. Imports ``answers``.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Literal, TypeVar

from bot.fakeslack.answers import Reply


@dataclass
class Fault:
    kind: Literal["fail", "rate_limit", "server_error"]
    error: str
    status: int
    retry_after: int
    remaining: int | None  # None: until cleared


@dataclass
class Delay:
    seconds: float
    remaining: int | None  # None: until cleared


@dataclass
class Bucket:
    """A token bucket: `rate` tokens a second, at most `burst` saved up."""

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


_Pending = TypeVar("_Pending", Fault, Delay)


class Faults:
    """Pending faults and delays per method, and the workspace bucket; thread-safe."""

    def __init__(self, stopping: threading.Event) -> None:
        self._lock = threading.Lock()
        self._stopping = stopping  # cuts injected delays short when the fake stops
        self._faults: dict[str, list[Fault]] = {}
        self._delays: dict[str, list[Delay]] = {}
        self._bucket: Bucket | None = None

    def add(self, method: str, fault: Fault) -> None:
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    def delay(self, method: str, seconds: float, *, times: int | None = 1) -> None:
        with self._lock:
            self._delays.setdefault(method, []).append(Delay(seconds, times))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def clear_delays(self, method: str) -> None:
        with self._lock:
            self._delays.pop(method, None)

    def workspace_bucket(self, rate_per_s: float | None, burst: int = 20) -> None:
        with self._lock:
            if rate_per_s is None:
                self._bucket = None
            else:
                self._bucket = Bucket(rate_per_s, burst, float(burst), time.monotonic())

    def bucket_retry_after(self) -> int | None:
        """Take a token of the workspace bucket: None if granted (or no bucket), else the
        Retry-After of the 429."""
        with self._lock:
            return self._bucket.take(time.monotonic()) if self._bucket is not None else None

    def injected(self, method: str) -> Reply | None:
        """Sleep for a pending delay, then answer a pending fault if there is one."""
        delay = self._take(self._delays, method)
        if delay is not None:
            self._stopping.wait(delay.seconds)
        fault = self._take(self._faults, method)
        if fault is None:
            return None
        body = {"ok": False, "error": fault.error}
        if fault.kind == "rate_limit":
            return Reply(429, body, {"Retry-After": str(fault.retry_after)})
        return Reply(fault.status, body)

    def _take(self, table: dict[str, list[_Pending]], method: str) -> _Pending | None:
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
