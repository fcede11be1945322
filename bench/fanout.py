"""Benchmark 3: nudge fan-out. PMs due at the same minute, sent by `Ticker.tick`, against a plain
slack-sdk `chat_postMessage` loop with the same number of threads to the same fake Slack; then
against a fake enforcing a workspace budget, from three processes."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient

from bench.infra import (
    BOT_TOKEN,
    TEAM,
    Child,
    FakeControl,
    settings_for,
    user_id,
)
from bench.populate import FRI_15_BERLIN, enrol_due
from bench.report import Figure, verdict
from bot.domain.streaks import WeekCount
from bot.runtime.app import nudge_client
from bot.runtime.logs import get_logger
from bot.scheduled.ticker import Ticker
from bot.store import Store, connect
from bot.surfaces.nudge_blocks import nudge_message

WORKERS = 8  # Ticker's default
PREFIX = "U"
TICK_AT = FRI_15_BERLIN + timedelta(seconds=5)
FAST_RATE, FAST_BURST = 10_000.0, 1000  # far above what the fake can take: never binds
WORKSPACE_RATE, WORKSPACE_BURST = 40.0, 20  # the fake's bucket, scaled down from Slack's
PROCESSES = 3


def prepare_population(fake: FakeControl, redis_url: str, n: int) -> None:
    rds = connect(redis_url)
    rds.flushall()
    fake.add_users(PREFIX, n)
    enrol_due(rds, TEAM, [user_id(PREFIX, i) for i in range(n)], FRI_15_BERLIN)
    rds.close()


def product_fast(
    fake: FakeControl,
    redis_url: str,
    n: int,
    *,
    limit_s: float,
    counters: Any = None,
    **client_options: Any,
) -> dict[str, Any]:
    """`Ticker.tick` sending `n` due nudges as fast as the fake answers. `counters` (a
    `ServerCounters` or `NodeCounters`): its delta over the tick is the result's "server";
    `client_options` go to the store's client (a counting `connection_class`)."""
    prepare_population(fake, redis_url, n)
    fake.reset()
    settings = settings_for(fake.api_base_url, redis_url, rate=FAST_RATE, burst=FAST_BURST)
    store = Store(connect(redis_url, **client_options))
    ticker = Ticker(
        store,
        lambda team, on_429: nudge_client(settings, on_429),
        default_target=settings.balance_target,
        rate_per_s=FAST_RATE,
        burst=FAST_BURST,
        log=get_logger("bench"),
        workers=WORKERS,
    )
    store.ping()
    ticker.client(TEAM)
    before = counters.snapshot() if counters is not None else None
    cpu = time.process_time()
    started = time.perf_counter()
    report = ticker.tick(TICK_AT, budget_s=limit_s)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    server = counters.delta(before) if counters is not None else {}
    stats = fake.stats()
    store.redis.close()
    posts = stats["calls"].get("chat.postMessage", {})
    return {
        "n": n,
        "elapsed_s": elapsed,
        "per_s": len(report.sent) / elapsed,
        "sent": len(report.sent),
        "not_sent": n - len(report.sent),
        "posts_200": posts.get("200", 0),
        "duplicates": stats["duplicates"],
        "cpu_ms_per_item": 1000 * cpu / n,
        "cores": cpu / elapsed,
        "server": server,
    }


def plain_fast(fake: FakeControl, n: int, *, limit_s: float) -> dict[str, Any]:
    """The baseline: a plain slack-sdk loop, WORKERS threads, the same message to each PM."""
    fake.add_users(PREFIX, n)
    fake.reset()
    client = WebClient(token=BOT_TOKEN, base_url=fake.api_base_url, timeout=10)
    message = nudge_message(
        "Which decision this week needed you most, and did you make room for it?",
        WeekCount(shipped=2, clarity=1),
        slot="2026-11-27",
        user_id="U000000",
        notice=False,
    )
    users = [user_id(PREFIX, i) for i in range(n)]
    counter = itertools.count()
    sent = [0] * WORKERS
    deadline = time.monotonic() + limit_s

    def worker(k: int) -> None:
        while time.monotonic() < deadline:
            i = next(counter)
            if i >= n:
                return
            client.chat_postMessage(channel=users[i], **message)
            sent[k] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(WORKERS)]
    cpu = time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(limit_s + 30)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    stats = fake.stats()
    return {
        "n": n,
        "elapsed_s": elapsed,
        "per_s": sum(sent) / elapsed,
        "sent": sum(sent),
        "duplicates": stats["duplicates"],
        "cpu_ms_per_item": 1000 * cpu / n,
        "cores": cpu / elapsed,
    }


def run_processes(children: list[Child], timeout: float) -> list[dict[str, Any]]:
    for child in children:
        child.wait_ready(60)
    for child in children:
        child.send("GO")
    return [child.result(timeout) for child in children]


def rate_limited(
    fake: FakeControl, redis_url: str, n: int, ticker_rate: float = WORKSPACE_RATE
) -> dict[str, Any]:
    """Three processes against a fake enforcing 40/s with bursts of 20: the product (shared
    GCRA budget, SLACK_POST_RATE = `ticker_rate`, by default the workspace's own rate) and the
    retry-only baseline."""
    ideal = n / WORKSPACE_RATE
    timeout = 8 * ideal + 60
    out: dict[str, Any] = {"n": n, "ideal_s": ideal, "ticker_rate": ticker_rate}

    # The product: three pm-coach-tick-like processes sharing one Redis.
    prepare_population(fake, redis_url, n)
    fake.reset()
    fake.bucket(WORKSPACE_RATE, WORKSPACE_BURST)
    children = [
        Child(
            "bench.tickproc",
            "ticker",
            "--fake",
            fake.api_base_url,
            "--redis",
            redis_url,
            "--rate",
            str(ticker_rate),
            "--burst",
            str(WORKSPACE_BURST),
            log_name=f"ticker{k}",
        )
        for k in range(PROCESSES)
    ]
    try:
        results = run_processes(children, timeout)
    finally:
        for child in children:
            child.stop()
    stats = fake.stats()
    out["product"] = summarize(results, stats, n)

    # The baseline: three processes, each its third, slack-sdk's 429 retry handler only.
    fake.reset()
    fake.bucket(WORKSPACE_RATE, WORKSPACE_BURST)
    share = -(-n // PROCESSES)
    children = [
        Child(
            "bench.tickproc",
            "plain",
            "--fake",
            fake.api_base_url,
            "--first",
            str(k * share),
            "--count",
            str(max(0, min(share, n - k * share))),
            log_name=f"plain{k}",
        )
        for k in range(PROCESSES)
    ]
    try:
        results = run_processes(children, timeout)
    finally:
        for child in children:
            child.stop()
    stats = fake.stats()
    out["baseline"] = summarize(results, stats, n)
    fake.bucket(None)
    return out


def summarize(results: list[dict[str, Any]], stats: dict[str, Any], n: int) -> dict[str, Any]:
    posts = stats["calls"].get("chat.postMessage", {})
    requests = sum(posts.values())
    limited = posts.get("429", 0)
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    merged: dict[str, Any] = {}
    for r in results:
        for key, value in r.items():
            if isinstance(value, int) and key not in ("start", "end"):
                merged[key] = merged.get(key, 0) + value
            if key == "reasons":
                for reason, count in value.items():
                    merged.setdefault("reasons", {})
                    merged["reasons"][reason] = merged["reasons"].get(reason, 0) + count
    return {
        "requests": requests,
        "answered_429": limited,
        "share_429": limited / requests if requests else 0.0,
        "delivered": stats["channels_posted"],
        "duplicates": stats["duplicates"],
        "completion_s": end - start,
        "undelivered": n - stats["channels_posted"],
        **merged,
    }


# Figures --------------------------------------------------------------------------------------


def fast_figures(product: dict[str, Any], plain: dict[str, Any]) -> Figure:
    ratio = product["per_s"] / plain["per_s"]
    ok = ratio >= 0.8 and product["not_sent"] == 0 and product["duplicates"] == 0
    reason = (
        f"CPU per nudge in the sending process: Ticker {product['cpu_ms_per_item']:.2f} ms, "
        f"plain loop {plain['cpu_ms_per_item']:.2f} ms "
        f"({product['cpu_ms_per_item'] / plain['cpu_ms_per_item']:.1f}×; one process, one GIL: "
        f"{product['cores']:.2f} vs {plain['cores']:.2f} core busy)"
    )
    if product["not_sent"] or product["duplicates"]:
        reason = (
            f"{product['not_sent']} not sent, {product['duplicates']} duplicates; " + reason
        ).strip("; ")
    return Figure(
        "3",
        f"fan-out: {product['n']:,} PMs due at once (Ticker.tick, instant fake)",
        product["per_s"],
        "nudges/s",
        plain["per_s"],
        f"slack-sdk loop, {WORKERS} threads",
        "≥ 0.8× baseline",
        verdict(ok),
        reason,
        {"product": product, "baseline": plain},
    )


def limited_figures(result: dict[str, Any]) -> list[Figure]:
    n, ideal = result["n"], result["ideal_s"]
    product, base = result["product"], result["baseline"]
    figures = []
    share_ok = product["share_429"] < 0.05
    figures.append(
        Figure(
            "3",
            f"rate-limited {WORKSPACE_RATE:.0f}/s burst {WORKSPACE_BURST}, {PROCESSES} procs, "
            f"{n:,} nudges: 429 share",
            100 * product["share_429"],
            "%",
            100 * base["share_429"],
            "slack-sdk retry-only",
            "< 5%",
            verdict(share_ok),
            ""
            if share_ok
            else f"{product['answered_429']} of {product['requests']} requests answered 429",
            result,
        )
    )
    complete = product["undelivered"] == 0 and product["duplicates"] == 0
    time_ok = product["completion_s"] <= 1.15 * ideal and complete
    reason = f"SLACK_POST_RATE {result['ticker_rate']:g}/s, burst {WORKSPACE_BURST}"
    limited_out = product.get("reasons", {}).get("slack:ratelimited", 0)
    if limited_out:
        reason = (
            f"{limited_out} nudge(s) answered 429 three times in a row (the handler's 2 retries) "
            f"and rescheduled ≥ 2 min later; {product['delivered']:,} delivered in "
            f"{product['completion_s']:.1f} s; {reason}"
        )
    elif not complete:
        reason = (
            f"{product['undelivered']} undelivered ({product.get('reasons', {})}), "
            f"{product['duplicates']} duplicates; {reason}"
        )
    figures.append(
        Figure(
            "3",
            f"rate-limited: completion of {n:,} nudges (Ticker ×{PROCESSES})",
            product["completion_s"],
            "s",
            ideal,
            f"ideal N÷{WORKSPACE_RATE:.0f}/s",
            "≤ 1.15× ideal",
            verdict(time_ok),
            reason,
        )
    )
    figures.append(
        Figure(
            "3",
            f"rate-limited: completion of {n:,} (slack-sdk retry-only ×{PROCESSES})",
            base["completion_s"],
            "s",
            ideal,
            f"ideal N÷{WORKSPACE_RATE:.0f}/s",
            "(baseline, no goal)",
            "INFO",
            f"{base['answered_429']} of {base['requests']} requests answered 429; "
            f"{base['delivered']:,} delivered, {base.get('failed', 0)} gave up",
        )
    )
    return figures
