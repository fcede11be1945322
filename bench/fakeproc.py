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

from bot.fakeslack import Call, FakeSlack

MAX_LIFETIME_S = 1800.0


class BenchSlack(FakeSlack):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._counts: Counter[tuple[str, int]] = Counter()
        self._posted: Counter[str] = Counter()
        self._handlers.update(
            {
                "bench.add_users": self._bench_add_users,
                "bench.reset": self._bench_reset,
                "bench.bucket": self._bench_bucket,
                "bench.stats": self._bench_stats,
                "bench.delay": self._bench_delay,
                "bench.arrivals": self._bench_arrivals,
            }
        )

    def _record(self, call: Call) -> None:
        if call.method.startswith("bench."):
            return
        with self._lock:
            self._counts[(call.method, call.status)] += 1

    def _chat_post_message(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        channel = self._postable(args.get("channel"), user_ok=True)
        self._check_content(args)
        ts = self._next_ts()
        message = self._bot_message(args, ts)
        self._posted[channel.id] += 1
        return {"ok": True, "channel": channel.id, "ts": ts, "message": message}

    def _bench_add_users(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        prefix, count = str(args["prefix"]), int(args["count"])
        tz = str(args.get("tz") or "Europe/Berlin")
        added = 0
        for i in range(count):
            uid = f"{prefix}{i:06d}"
            if uid not in self._users:
                self.add_user(uid, name=uid.lower(), tz=tz)
                added += 1
        return {"ok": True, "added": added, "users": len(self._users)}

    def _bench_reset(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        self._counts.clear()
        self._posted.clear()
        self._bucket = None
        return {"ok": True}

    def _bench_bucket(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        rate = args.get("rate")
        # workspace_bucket takes the lock itself; we already hold it (RLock).
        self.workspace_bucket(None if rate is None else float(rate), int(args.get("burst", 20)))
        return {"ok": True}

    def _bench_delay(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        """Every answer of method `of` takes `seconds` from now on (0: answered at once again)."""
        method, seconds = str(args["of"]), float(args.get("seconds") or 0)
        with self._lock:  # (an RLock: already ours while a method runs)
            self._delays.pop(method, None)
        if seconds > 0:
            self.delay(method, seconds, times=None)
        return {"ok": True}

    def _bench_arrivals(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        """When (epoch seconds) each call to method `of` arrived, before its delay."""
        return {"ok": True, "arrivals": self.arrivals(str(args["of"]))}

    def _bench_stats(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        calls: dict[str, dict[str, int]] = {}
        for (method, status), n in self._counts.items():
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
    # Also stop when the parent goes away (stdin closes), and never outlive the bench.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait(MAX_LIFETIME_S)
    fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
