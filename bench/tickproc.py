"""`python -m bench.tickproc ticker|plain ...`: one of several sending processes that share one
fake Slack (and, for `ticker`, one Redis), started together by the parent.

* `ticker`: a `pm-coach tick`-like process — `build_runtime`'s Ticker (shared GCRA budget in
  Redis, slack-sdk's 429 handler as a safety net) running `Ticker.tick` with the default time
  budget, again and again until it finds nothing left to claim.
* `plain`: the retry-only baseline — a plain slack-sdk WebClient with `RateLimitErrorRetryHandler`
  and no shared budget, posting its slice of the messages from `--workers` threads.

Prints `READY {}` once imported and connected, waits for `GO` on stdin, then prints
`RESULT {json}` with wall-clock start and end (time.time(), comparable across processes).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from datetime import timedelta
from typing import Any

from bench.infra import BOT_TOKEN, settings_for, user_id
from bench.populate import FRI_15_BERLIN
from bot.fakeslack import drop_proxies

MAX_S = 600.0


def run_ticker(args: argparse.Namespace) -> dict[str, Any]:
    from bot.runtime.compose import build_runtime
    from bot.runtime.logs import configure_logging

    settings = settings_for(args.fake, args.redis, rate=args.rate, burst=args.burst)
    configure_logging("ERROR", "json", settings.secret_values())
    runtime = build_runtime(settings)
    ticker = runtime.ticker
    ticker.workers = args.workers
    runtime.store.ping()
    print("READY {}", flush=True)
    sys.stdin.readline()
    now = FRI_15_BERLIN + timedelta(seconds=5)
    totals = {"sent": 0, "skipped": 0, "dropped": 0, "retried": 0, "deferred": 0, "ticks": 0}
    reasons: dict[str, int] = {}
    start = time.time()
    while time.time() - start < MAX_S:
        report = ticker.tick(now)  # default budget, as `pm-coach tick` and the minute tick
        totals["ticks"] += 1
        claimed = 0
        for kind in ("sent", "skipped", "dropped", "retried", "deferred"):
            items = getattr(report, kind)
            totals[kind] += len(items)
            claimed += len(items)
            if kind != "sent":
                for _, reason in items:
                    reasons[reason] = reasons.get(reason, 0) + 1
        if claimed == 0:
            break
    end = time.time()
    runtime.redis.close()
    return {"start": start, "end": end, **totals, "reasons": reasons}


def run_plain(args: argparse.Namespace) -> dict[str, Any]:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    from bot.domain.streaks import WeekCount
    from bot.surfaces.nudge_blocks import nudge_message

    client = WebClient(token=BOT_TOKEN, base_url=args.fake, timeout=10)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=args.retries))
    message = nudge_message(
        "Which decision this week needed you most, and did you make room for it?",
        WeekCount(shipped=2, clarity=1),
        slot="2026-11-27",
        user_id="U000000",
        notice=False,
    )
    users = [user_id(args.prefix, i) for i in range(args.first, args.first + args.count)]
    counter = itertools.count()
    lock = threading.Lock()
    outcome = {"sent": 0, "failed": 0}
    print("READY {}", flush=True)
    sys.stdin.readline()
    start = time.time()

    def worker() -> None:
        while time.time() - start < MAX_S:
            i = next(counter)
            if i >= len(users):
                return
            try:
                client.chat_postMessage(channel=users[i], **message)
                key = "sent"
            except SlackApiError:
                key = "failed"
            with lock:
                outcome[key] += 1

    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(MAX_S)
    return {"start": start, "end": time.time(), **outcome}


def main() -> int:
    drop_proxies()
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["ticker", "plain"])
    parser.add_argument("--fake", required=True, help="the fake's Web API base URL")
    parser.add_argument("--redis", default="")
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--prefix", default="U")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--retries", type=int, default=20)
    args = parser.parse_args()
    result = run_ticker(args) if args.mode == "ticker" else run_plain(args)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
