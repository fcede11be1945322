"""`python -m bench.ab`: compare `/win` server variants side by side, for changes too small for
the run-to-run drift of a shared VM (±20 % in absolute figures).

All variants run at once against one Redis and one fake Slack; load rounds alternate between
them (concurrency 8, then concurrency 1), so drift hits every variant alike. Prints each
variant's median throughput, CPU per request and c1 latency, and its median per-round
throughput ratio against the first variant, with the spread of that ratio.

    python -m bench.ab bare=bare_pbr now=prod                  # product vs bare app
    python -m bench.ab before=prod@HEAD~1 after=prod           # a change, as a git revision
    python -m bench.ab info=prod warn=prod:BENCH_LOG_LEVEL=WARNING   # an environment variable

A variant is `NAME=MODE[@REV][:VAR=VALUE,...]`; MODE is a `bench.serve` mode; REV runs that
mode from a temporary git worktree of the revision (its own `bench/serve.py`).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import slash
from bench.infra import ROOT, Child, FakeControl, RedisProc
from bot.fakeslack import drop_proxies


@dataclass(frozen=True)
class Variant:
    name: str
    mode: str
    rev: str
    env: dict[str, str]

    @classmethod
    def parse(cls, spec: str) -> Variant:
        name, _, rest = spec.partition("=")
        target, _, envs = rest.partition(":")
        mode, _, rev = target.partition("@")
        env = dict(pair.split("=", 1) for pair in envs.split(",") if pair)
        if not name or not mode:
            raise SystemExit(f"bench.ab: not NAME=MODE[@REV][:VAR=VALUE,...]: {spec!r}")
        return cls(name, mode, rev, env)


def worktree(stack: ExitStack, rev: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="pmc-ab-"))
    add = ["git", "worktree", "add", "--detach", "-q", str(path), rev]
    subprocess.run(add, cwd=ROOT, check=True)
    stack.callback(
        subprocess.run, ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False
    )
    return path


def compare(variants: list[Variant], rounds: int, seconds: float) -> dict[str, dict[str, float]]:
    with ExitStack() as stack:
        fake = FakeControl.start()
        stack.callback(fake.stop)
        redis = RedisProc(aof=True).start()
        stack.callback(redis.stop)
        fake.add_users(slash.PM_PREFIX, slash.PMS)
        servers: dict[str, slash.Server] = {}
        # Each server logs to a file, as in `make bench` (a line to /dev/null costs far less).
        logdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pmc-ab-logs-")))
        for v in variants:
            root = worktree(stack, v.rev) if v.rev else ROOT
            log = logdir / f"{v.name}.log"
            child = Child(
                "bench.serve", v.mode, "--redis", redis.url, "--fake", fake.api_base_url,
                "--log", str(log), log_name=v.name, root=root, env=v.env,
            )  # fmt: skip
            stack.callback(child.stop)
            servers[v.name] = slash.Server(v.name, child, 0, log)
        for server in servers.values():
            server.port = int(server.child.wait_ready(60)["port"])
            for k in range(slash.PMS):  # each PM's first request (enrolment) before measuring
                conn = slash.connection(server.port)
                slash.post(conn, *server.next_request(k, pm=k))
                conn.close()
        time.sleep(1.0)
        names = list(servers)
        rps: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        latency: dict[str, list[float]] = {n: [] for n in names}
        for n in names:
            slash.load(servers[n], 8, min(seconds, 0.5))  # warm-up
        turns = random.Random(7)  # the c1 turns' orders
        for r in range(rounds):
            order = names if r % 2 == 0 else names[::-1]
            for n in order:
                out = slash.load(servers[n], 8, seconds)
                rps[n].append(out["rps"])
                cpu[n].append(out["cpu_ms_per_req"])
            for n, result in slash.sequential(servers, 40, turns).items():
                latency[n].extend(result["latencies"])
    first = names[0]
    results = {}
    for n in names:
        ratios = [a / b for a, b in zip(rps[n], rps[first], strict=True)]
        results[n] = {
            "rps": statistics.median(rps[n]),
            "cpu_ms": statistics.median(cpu[n]),
            "c1_ms": 1000 * statistics.median(latency[n]),
            "ratio": statistics.median(ratios),
            "ratio_low": min(ratios),
            "ratio_high": max(ratios),
        }
    return results


def main() -> int:
    drop_proxies()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="NAME=MODE[@REV][:VAR=VALUE,...]")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=1.5, help="per concurrency-8 round")
    args = parser.parse_args()
    variants = [Variant.parse(spec) for spec in args.variants]
    results = compare(variants, args.rounds, args.seconds)
    first = variants[0].name
    print(f"{'variant':12} {'req/s':>7} {'CPU/req':>8} {'c1':>8}  throughput vs {first}")
    for name, r in results.items():
        print(
            f"{name:12} {r['rps']:7.0f} {r['cpu_ms']:6.2f}ms {r['c1_ms']:6.2f}ms  "
            f"{r['ratio']:.3f} (rounds {r['ratio_low']:.3f}–{r['ratio_high']:.3f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
