"""`python -m bench` (`make bench`): PM Coach's benchmarks, each against a baseline measured in
the same run, printed as one table.

    make bench                       # everything, about 10 minutes on 2 cores
    make bench ARGS=--quick          # small sizes, < 1 minute (development, smoke test)
    make bench ARGS="--only fanout"  # one benchmark (or several: --only slash,recap)
    make bench ARGS="--json out.json"

Benchmarks: 1 slash (the /win path over HTTP), 2 roundtrips (Redis round trips per operation),
3 fanout (nudges per second; rate-limited, three processes), 4 recap (build time; memory per
win), 5 scaling (fan-out and recap at growing sizes), 6 edge (the HTTP front alone; /win with 500
slow clients open; first-time /win and form opens while Slack is slow), 7 cluster (/win, commands
per /win, fan-out and recap on a 3-master Redis Cluster it starts, against one node).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from bench import (
    cluster,
    fanout,
    front,
    recap,
    roundtrips,
    scaling,
    slash,
    slowclients,
    slowslack,
)
from bench.infra import BOT_TOKEN, SIGNING_SECRET, FakeControl, RedisProc
from bench.report import Figure, machine, machine_lines, table
from bot.fakeslack import drop_proxies
from bot.runtime.logs import configure_logging

NAMES = ("slash", "roundtrips", "fanout", "recap", "scaling", "edge", "cluster")
ALIASES = {str(i + 1): name for i, name in enumerate(NAMES)}


@dataclass
class Plan:
    quick: bool
    budget_s: float
    slash: slash.Sizes
    roundtrips: roundtrips.Sizes
    fanout_n: int
    limited_n: int
    recap_members: int
    recap_repeats: int
    memory_wins: int
    fanout_sizes: list[int]
    recap_sizes: list[int]
    cluster: cluster.Sizes
    year_pms: int


FULL = Plan(
    quick=False,
    budget_s=570.0,
    slash=slash.FULL,
    roundtrips=roundtrips.FULL,
    fanout_n=10_000,
    limited_n=2_000,
    recap_members=5_000,
    recap_repeats=5,
    memory_wins=100_000,
    fanout_sizes=[1_000, 10_000, 50_000],
    recap_sizes=[1_000, 10_000, 50_000],
    cluster=cluster.FULL,
    year_pms=200,
)
QUICK = Plan(
    quick=True,
    budget_s=55.0,
    slash=slash.QUICK,
    roundtrips=roundtrips.QUICK,
    fanout_n=1_000,
    limited_n=120,
    recap_members=500,
    recap_repeats=3,
    memory_wins=10_000,
    fanout_sizes=[500, 1_000, 1_500],
    recap_sizes=[250, 500, 1_000],
    cluster=cluster.QUICK,
    year_pms=20,
)


@dataclass
class Run:
    plan: Plan
    started: float = field(default_factory=time.monotonic)
    figures: list[Figure] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    fanout_cache: dict[int, dict[str, Any]] = field(default_factory=dict)
    fake: FakeControl | None = None
    redis: RedisProc | None = None
    ticker_rate: float = fanout.WORKSPACE_RATE

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        return self.plan.budget_s - self.elapsed()

    def say(self, text: str) -> None:
        print(f"[{self.elapsed():5.0f}s] {text}", file=sys.stderr, flush=True)

    def shared(self) -> tuple[FakeControl, RedisProc]:
        assert self.fake is not None and self.redis is not None
        return self.fake, self.redis


# The benchmarks -------------------------------------------------------------------------------


def bench_slash(run: Run) -> None:
    fake, _ = run.shared()
    out = slash.run(fake, run.plan.slash)
    run.raw["slash"] = out
    run.figures += slash.figures(out, run.plan.slash)


def bench_roundtrips(run: Run) -> None:
    fake, _ = run.shared()
    out = roundtrips.run(fake, run.plan.roundtrips)
    run.raw["roundtrips"] = out
    run.figures += roundtrips.figures(out)


def fast_pair(run: Run, n: int, *, plain: bool = True) -> dict[str, Any]:
    """Ticker.tick and (if asked) the plain loop at `n`, cached for the scaling benchmark."""
    fake, redis = run.shared()
    if n in run.fanout_cache and (run.fanout_cache[n].get("plain") or not plain):
        return run.fanout_cache[n]
    limit = max(60.0, run.left())
    result = fanout.product_fast(fake, redis.url, n, limit_s=limit)
    if plain:
        result["plain"] = fanout.plain_fast(fake, n, limit_s=limit)
    run.fanout_cache[n] = result
    return result


def bench_fanout(run: Run) -> None:
    fake, redis = run.shared()
    n = run.plan.fanout_n
    run.say(f"fanout: {n:,} PMs due at once, Ticker.tick and the plain loop")
    result = fast_pair(run, n)
    run.figures.append(fanout.fast_figures(result, result["plain"]))
    run.say(f"fanout: rate-limited, {run.plan.limited_n:,} nudges, three processes each side")
    limited = fanout.rate_limited(fake, redis.url, run.plan.limited_n, run.ticker_rate)
    run.raw["fanout"] = {"fast": result, "rate_limited": limited}
    run.figures += fanout.limited_figures(limited)


def bench_recap(run: Run) -> None:
    _, redis = run.shared()
    members = run.plan.recap_members
    run.say(f"recap: {members:,} members × 10 wins")
    timing = recap.timing(redis.url, members, run.plan.recap_repeats)
    run.figures.append(recap.timing_figure(timing))
    run.say(f"recap: memory over {run.plan.memory_wins:,} wins")
    memory = recap.memory(run.plan.memory_wins)
    run.figures += recap.memory_figures(memory)
    run.say(f"recap: memory of a year of use by {run.plan.year_pms:,} PMs")
    year = recap.memory_year(run.plan.year_pms)
    run.raw["recap"] = {"timing": timing, "memory": memory, "year": year}
    run.figures.append(recap.year_figure(year))


def bench_scaling(run: Run) -> None:
    _, redis = run.shared()
    recaps: list[dict[str, Any]] = []
    skipped_recaps = []
    for members in sorted(run.plan.recap_sizes):
        if recaps:  # populate ~0.5 ms per member, then one build and one plain read
            last = recaps[-1]
            per_member = (last["build_s"] + last["plain_s"]) / last["members"]
            estimate = members * (per_member + 0.0006)
            if estimate > run.left() - 0.05 * run.plan.budget_s:
                skipped_recaps.append(
                    f"recap at {scaling.size_label(members)} members skipped: ~{estimate:.0f} s "
                    f"would not fit the run's {run.plan.budget_s:.0f} s budget"
                )
                run.say(skipped_recaps[-1])
                continue
        run.say(f"scaling: recap at {members:,} members")
        small = members <= 10_000
        recaps.append(recap.timing(redis.url, members, 3 if small else 1, detail=small))
    run.figures += scaling.recap_figures(recaps, skipped_recaps)
    results, skipped = [], []
    rate = next((r["per_s"] for r in run.fanout_cache.values()), 0.0)
    for n in sorted(run.plan.fanout_sizes):
        estimate = (n / rate if rate else 0.0) * 1.15 + n / 4000
        if rate and estimate > run.left():
            skipped.append(
                f"fan-out at {scaling.size_label(n)} PMs skipped: ~{estimate:.0f} s at "
                f"{rate:.0f}/s would not fit the run's {run.plan.budget_s:.0f} s budget"
            )
            run.say(skipped[-1])
            continue
        plain_estimate = estimate * 0.6
        want_plain = n in run.fanout_cache or plain_estimate + estimate < run.left() - 20
        run.say(f"scaling: fan-out at {n:,} PMs" + ("" if want_plain else " (Ticker only)"))
        result = fast_pair(run, n, plain=want_plain)
        rate = result["per_s"]
        results.append(result)
    run.raw["scaling"] = {
        "recap": recaps,
        "fanout": results,
        "skipped": skipped_recaps + skipped,
    }
    run.figures += scaling.fanout_figures(results, skipped)


def bench_edge(run: Run) -> None:
    fake, redis = run.shared()
    run.say("edge: the HTTP front alone against the standard library's threading server")
    alone = front.run(run.plan.quick)
    run.figures += front.figures(alone)
    run.say("edge: /win acks with slow clients holding connections open")
    clients = slowclients.run(fake, redis.url, run.plan.quick)
    run.figures += slowclients.figures(clients)
    run.say("edge: first-time /win and form opens while Slack is slow")
    slack = slowslack.run(fake, redis.url, run.plan.quick)
    run.figures += slowslack.figures(slack)
    run.raw["edge"] = {"front": alone, "slow_clients": clients, "slow_slack": slack}


def bench_cluster(run: Run) -> None:
    fake, _ = run.shared()
    out = cluster.run(fake, run.plan.cluster, say=run.say)
    run.raw["cluster"] = out
    run.figures += cluster.figures(out, run.plan.cluster)


STEPS: dict[str, Callable[[Run], None]] = {
    "slash": bench_slash,
    "roundtrips": bench_roundtrips,
    "fanout": bench_fanout,
    "recap": bench_recap,
    "scaling": bench_scaling,
    "edge": bench_edge,
    "cluster": bench_cluster,
}


# Main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated benchmarks to run: {', '.join(NAMES)} (or 1-{len(NAMES)})",
    )
    parser.add_argument("--json", metavar="FILE", help="write every figure and raw result here")
    parser.add_argument(
        "--fanout-sizes", default="", help="scaling sizes for the fan-out, e.g. 1000,10000,50000"
    )
    parser.add_argument(
        "--recap-sizes", default="", help="scaling sizes for the recap, e.g. 1000,10000,50000"
    )
    parser.add_argument(
        "--ticker-rate",
        type=float,
        default=fanout.WORKSPACE_RATE,
        help="SLACK_POST_RATE of the rate-limited run (default: the fake workspace's 40/s)",
    )
    parser.add_argument(
        "--budget", type=float, default=0.0, help="seconds the run aims to fit (default 570/55)"
    )
    return parser.parse_args(argv)


def selected(only: str) -> list[str]:
    if not only:
        return list(NAMES)
    names = []
    for part in only.split(","):
        name = ALIASES.get(part.strip(), part.strip())
        if name not in NAMES:
            raise SystemExit(f"bench: unknown benchmark {part!r}; choose from {', '.join(NAMES)}")
        names.append(name)
    return [n for n in NAMES if n in names]


def on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: children and redis-servers stop


def main(argv: list[str] | None = None) -> int:
    drop_proxies()
    signal.signal(signal.SIGTERM, on_sigterm)
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.fanout_sizes:
        plan.fanout_sizes = [int(x) for x in args.fanout_sizes.split(",") if x]
    if args.recap_sizes:
        plan.recap_sizes = [int(x) for x in args.recap_sizes.split(",") if x]
    if args.budget:
        plan.budget_s = args.budget
    names = selected(args.only)
    configure_logging("WARNING", "json", [BOT_TOKEN, SIGNING_SECRET], stream=sys.stderr)
    info = machine()
    header = [
        f"PM Coach benchmarks ({'quick' if plan.quick else 'full'}): {', '.join(names)}",
        *machine_lines(info),
        "everything on loopback: private redis-server(s) on free ports, the fake Slack and each "
        "HTTP server in its own process",
    ]
    print("\n".join(header), flush=True)
    run = Run(plan, ticker_rate=args.ticker_rate)
    errors = 0
    with ExitStack() as stack:
        run.fake = FakeControl.start()
        stack.callback(run.fake.stop)
        run.redis = RedisProc().start()
        stack.callback(run.redis.stop)
        for name in names:
            run.say(f"{name}: starting")
            began = time.monotonic()
            try:
                STEPS[name](run)
            except Exception as exc:  # report and go on: the table still prints
                errors += 1
                traceback.print_exc()
                run.figures.append(
                    Figure(
                        name,
                        f"{name} FAILED: {type(exc).__name__}: {exc}",
                        0,
                        "",
                        None,
                        "",
                        "—",
                        "ERROR",
                    )
                )
            run.raw.setdefault("durations_s", {})[name] = round(time.monotonic() - began, 1)
            run.say(f"{name}: done in {time.monotonic() - began:.0f}s")
    runtime = run.elapsed()
    info["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print()
    print(table(run.figures))
    counts = {
        v: sum(1 for f in run.figures if f.verdict == v) for v in ("PASS", "MISS", "INFO", "SKIP")
    }
    print()
    print(
        f"{counts['PASS']} PASS · {counts['MISS']} MISS · {counts['INFO']} INFO"
        + (f" · {counts['SKIP']} SKIP" if counts["SKIP"] else "")
        + (f" · {errors} ERROR" if errors else "")
        + f" — total runtime {runtime:.0f} s; load average at end {info['load_at_end']}"
    )
    print("durations: " + ", ".join(f"{k} {v:.0f}s" for k, v in run.raw["durations_s"].items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "machine": info,
                    "plan": {"quick": plan.quick, "benchmarks": names},
                    "runtime_s": runtime,
                    "figures": [f.as_json() for f in run.figures],
                    "raw": run.raw,
                },
                handle,
                indent=2,
                default=str,
            )
        print(f"figures written to {args.json}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
