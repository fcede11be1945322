"""The fake's journal: every call as it arrives, every call once answered, and held answers.

:class:`Journal` records a :class:`Call` for each request after it has been answered and its
effect applied (so ``wait_for(...)`` followed by a read of the workspace sees a consistent
state), notes each arrival before any hold or delay, and holds the answers of a method until a
test lets them go (:meth:`Journal.hold`). A subclass may keep less (the bench keeps counters:
override :meth:`Journal.record`). Imports nothing of the package.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


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


class Journal:
    """Calls answered (``calls``), arrivals and holds; thread-safe."""

    def __init__(self) -> None:
        self.changed = threading.Condition(threading.RLock())  # notified on every change
        self.calls: list[Call] = []
        # (method, time.time()) as calls arrive; the latest ones only, for long benchmarks.
        self._arrivals: deque[tuple[str, float]] = deque(maxlen=100_000)
        self._holds: dict[str, threading.Event] = {}  # method -> open when set (see hold())
        self._released = threading.Event()  # the fake stops: nothing is held any more

    # answered calls

    def record(self, call: Call) -> None:
        with self.changed:
            self.calls.append(call)
            self.changed.notify_all()

    def calls_to(self, method: str) -> list[Call]:
        with self.changed:
            return [c for c in self.calls if c.method == method]

    def clear(self) -> None:
        with self.changed:
            self.calls.clear()

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self.changed:
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
                self.changed.wait(left)

    # arrivals and holds

    def hold(self, method: str) -> threading.Event:
        """Every call to `method` waits once it has arrived, until the event is set."""
        with self.changed:
            gate = self._holds[method] = threading.Event()
        return gate

    def arrivals(self, method: str) -> list[float]:
        with self.changed:
            return [at for m, at in self._arrivals if m == method]

    def wait_arrivals(self, method: str, count: int, timeout: float = 10.0) -> list[float]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(found := self.arrivals(method)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} call(s) to {method} to arrive within {timeout}s, "
                        f"got {len(found)}"
                    )
                self.changed.wait(left)
            return found

    def arrive(self, method: str) -> None:
        """Note a call's arrival; then wait while `method` is held (until the fake stops)."""
        with self.changed:
            self._arrivals.append((method, time.time()))
            self.changed.notify_all()
            gate = self._holds.get(method)
        while gate is not None and not gate.wait(0.05) and not self._released.is_set():
            pass

    def release_all(self) -> None:
        """The fake stops: held calls answer now, and later ones are not held."""
        self._released.set()
