"""`python -m bench.fakeproc`: the loopback fake Slack in a process of its own, so it does not
share a GIL with the code under test or the baseline.

It is `bot.fakeslack.FakeSlack` with two changes for volume: the call journal keeps counters
instead of every request, and chat.postMessage counts posts per channel instead of storing the
messages (Block Kit validation and the answer are unchanged). Control methods, called through
the Web API with the bot token: bench.add_users, bench.reset, bench.bucket, bench.stats,
bench.delay, bench.arrivals.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections import Counter
from typing import Any

from bot.fakeslack import Call, FakeSlack, Journal
from bot.fakeslack.methods.chat import check_content
from bot.fakeslack.state import Workspace

MAX_LIFETIME_S = 1800.0

JsonDict = dict[str, Any]


class CountingJournal(Journal):
    """Counts answered calls per (method, status) instead of keeping them."""

    def __init__(self) -> None:
        super().__init__()
        self._counts: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()

    def record(self, call: Call) -> None:
        if call.method.startswith("bench."):
            return
        with self._lock:
            self._counts[(call.method, call.status)] += 1

    def snapshot(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


class BenchSlack(FakeSlack):
    def __init__(self, **kwargs: Any) -> None:
        self.counting = CountingJournal()
        super().__init__(journal=self.counting, **kwargs)
        self._posted: Counter[str] = Counter()
        self.methods.update(
            {
                "chat.postMessage": self._post_message,
                "bench.add_users": self._bench_add_users,
                "bench.reset": self._bench_reset,
                "bench.bucket": self._bench_bucket,
                "bench.stats": self._bench_stats,
                "bench.delay": self._bench_delay,
                "bench.arrivals": self._bench_arrivals,
            }
        )

    def _post_message(self, ws: Workspace, args: JsonDict) -> JsonDict:
        channel = ws.postable(args.get("channel"), user_ok=True)
        check_content(args)
        ts = ws.next_ts()
        message = ws.bot_message(args, ts)
        self._posted[channel.id] += 1
        return {"ok": True, "channel": channel.id, "ts": ts, "message": message}

    def _bench_add_users(self, ws: Workspace, args: JsonDict) -> JsonDict:
        prefix, count = str(args["prefix"]), int(args["count"])
        tz = str(args.get("tz") or "Europe/Berlin")
        added = 0
        for i in range(count):
            uid = f"{prefix}{i:06d}"
            if uid not in ws.users:
                ws.add_user(uid, name=uid.lower(), tz=tz)
                added += 1
        return {"ok": True, "added": added, "users": len(ws.users)}

    def _bench_reset(self, ws: Workspace, args: JsonDict) -> JsonDict:
        self.counting.reset()
        self._posted.clear()
        self.workspace_bucket(None)
        return {"ok": True}

    def _bench_bucket(self, ws: Workspace, args: JsonDict) -> JsonDict:
        rate = args.get("rate")
        self.workspace_bucket(None if rate is None else float(rate), int(args.get("burst", 20)))
        return {"ok": True}

    def _bench_delay(self, ws: Workspace, args: JsonDict) -> JsonDict:
        """Every answer of method `of` takes `seconds` from now on (0: answered at once again)."""
        method, seconds = str(args["of"]), float(args.get("seconds") or 0)
        self.faults.clear_delays(method)
        if seconds > 0:
            self.delay(method, seconds, times=None)
        return {"ok": True}

    def _bench_arrivals(self, ws: Workspace, args: JsonDict) -> JsonDict:
        """When (epoch seconds) each call to method `of` arrived, before its delay."""
        return {"ok": True, "arrivals": self.arrivals(str(args["of"]))}

    def _bench_stats(self, ws: Workspace, args: JsonDict) -> JsonDict:
        calls: dict[str, dict[str, int]] = {}
        for (method, status), n in self.counting.snapshot().items():
            calls.setdefault(method, {})[str(status)] = n
        return {
            "ok": True,
            "calls": calls,
            "channels_posted": len(self._posted),
            "posts": sum(self._posted.values()),
            "duplicates": sum(n - 1 for n in self._posted.values() if n > 1),
        }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--team", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fake = BenchSlack(team_id=args.team, bot_token=args.token).start()
    info = {"port": fake.port, "base_url": fake.base_url, "api_base_url": fake.api_base_url}
    print("READY " + json.dumps(info), flush=True)

    def stop_with_the_parent() -> None:
        sys.stdin.read()  # returns when the parent goes away (stdin closes)
        stop.set()

    # Also stop when the parent goes away, and never outlive the bench.
    threading.Thread(target=stop_with_the_parent, daemon=True).start()
    stop.wait(MAX_LIFETIME_S)
    fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
