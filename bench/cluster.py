"""Benchmark 7: the store on a 3-master Redis Cluster started by the benchmark, against one
redis-server measured in the same run, both with AOF off.

* `/win`: one production server process per side (`bench.serve prod`, the same app process
  count), throughput at concurrency 8 and the median at concurrency 1, in alternating rounds
  as benchmark 1 runs them.
* Commands per `/win`: `Coach.log_win` on a client whose connections count every command sent
  and every round trip, by node; and, for the HTTP `/win` itself, the servers' INFO deltas
  summed over the nodes (EVALSHA calls, socket reads, server time per script call).
* Nudge fan-out (`Ticker.tick`, the fake Slack answering at once), node and cluster in the
  order node, cluster, cluster, node; the recap build (`Recaps.build`) alternating; each with
  the round trips (server socket reads) on every node.

`python -m bench.cluster [--quick]` runs it alone.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import redis

from bench import fanout, slash
from bench.infra import (
    TEAM,
    Child,
    ClusterProc,
    FakeControl,
    NodeCounters,
    RedisProc,
    settings_for,
    user_id,
)
from bench.populate import recap_team
from bench.report import Figure, verdict
from bench.roundtrips import RECAP_CHANNEL, RECAP_WEEK, MembersStub
from bot.domain.wins import Lane
from bot.runtime.compose import build_runtime
from bot.runtime.logs import get_logger
from bot.scheduled.recaps import Recaps
from bot.store import Store, connect
from bot.store.lua import CLAIM, COMPLETE, GUARD, LOG_WIN, MARK_SENT, RESERVE
from tests.test_store import CountingConnection

SIDES = ("node", "cluster")
MASTERS = 3


@dataclass
class Sizes:
    rounds: int
    seconds: float  # per throughput measurement
    sequential: int  # requests per side per latency round
    wins: int  # /win requests and Coach.log_win calls counted
    fanout_n: int
    recap_members: int
    recap_repeats: int


FULL = Sizes(
    rounds=7,
    seconds=1.25,
    sequential=60,
    wins=200,
    fanout_n=10_000,
    recap_members=5_000,
    recap_repeats=5,
)
QUICK = Sizes(
    rounds=2,
    seconds=0.5,
    sequential=15,
    wins=30,
    fanout_n=1_000,
    recap_members=500,
    recap_repeats=3,
)


class WireCounting(CountingConnection):
    """`CountingConnection` (round trips: one per send) that also counts commands (one reply
    read per command sent) and both per node (by port). The handshake is not counted."""

    commands = 0
    by_port: ClassVar[dict[int, list[int]]] = {}  # port → [round trips, commands]

    @classmethod
    def reset(cls) -> None:
        super().reset()
        with cls._count_lock:
            cls.commands = 0
            cls.by_port = {}

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._handshake:
            with self._count_lock:
                WireCounting.by_port.setdefault(self.port, [0, 0])[0] += 1
        super().send_packed_command(command, check_health)

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        finally:
            if not self._handshake:
                with self._count_lock:
                    WireCounting.commands += 1
                    WireCounting.by_port.setdefault(self.port, [0, 0])[1] += 1


def script_usec(urls: list[str]) -> tuple[int, int]:
    """(EVALSHA calls, microseconds the servers spent in them) summed over `urls`."""
    calls = usec = 0
    for url in urls:
        client = redis.Redis.from_url(url, decode_responses=True)
        stats = client.info("commandstats").get("cmdstat_evalsha", {})
        client.close()
        calls += int(stats.get("calls", 0))
        usec += int(stats.get("usec", 0))
    return calls, usec


# /win over HTTP -------------------------------------------------------------------------------


def start_servers(fake: FakeControl, urls: dict[str, str], logdir: Path) -> dict[str, slash.Server]:
    servers = {}
    for side, url in urls.items():
        log = logdir / f"{side}.log"
        child = Child(
            "bench.serve",
            "prod",
            "--redis",
            url,
            "--fake",
            fake.api_base_url,
            "--log",
            str(log),
            log_name=f"cluster-{side}",
        )
        servers[side] = slash.Server(side, child, 0, log)
    for server in servers.values():
        server.port = int(server.child.wait_ready(60)["port"])
    return servers


def wire_at_servers(server: slash.Server, urls: list[str], count: int) -> dict[str, Any]:
    """`count` /win requests one at a time; the servers' deltas (summed over `urls`) per /win."""
    counters = NodeCounters(urls)
    calls0, usec0 = script_usec(urls)
    before = counters.snapshot()
    conn = slash.connection(server.port)
    ok = 0
    for _ in range(count):
        body, headers = server.next_request(0)
        ok += slash.post(conn, body, headers)
    conn.close()
    per_node = counters.delta(before)
    calls1, usec1 = script_usec(urls)
    counters.close()
    total = NodeCounters.total(per_node)
    calls = max(1, calls1 - calls0)
    return {
        "wins": ok,
        "evalsha_per_win": total.get("evalsha", 0) / max(1, ok),
        "reads_per_win": total.get("reads", 0) / max(1, ok),
        "commands_incl_lua_per_win": total.get("commands", 0) / max(1, ok),
        "reads_by_node": {port: counts.get("reads", 0) for port, counts in per_node.items()},
        "usec_per_script": (usec1 - usec0) / calls,
    }


def win_http(
    fake: FakeControl, urls: dict[str, str], nodes: dict[str, list[str]], sizes: Sizes
) -> dict[str, Any]:
    logdir = Path(tempfile.mkdtemp(prefix="pmc-bench-cluster-"))
    fake.add_users(slash.PM_PREFIX, slash.PMS)
    servers = start_servers(fake, urls, logdir)
    out: dict[str, Any] = {side: {"rps": [], "latencies": [], "errors": 0} for side in urls}
    order = random.Random(17)
    try:
        for server in servers.values():  # every PM's first /win: users.info, enrolment
            for k in range(slash.PMS):
                conn = slash.connection(server.port)
                body, headers = server.next_request(k, pm=k)
                slash.post(conn, body, headers)
                conn.close()
        time.sleep(1.0)
        for server in servers.values():
            slash.load(server, 8, 0.5)
        sides = list(urls)
        for r in range(sizes.rounds):
            for side in sides[r % 2 :] + sides[: r % 2]:
                result = slash.load(servers[side], 8, sizes.seconds)
                out[side]["rps"].append(result["rps"])
                out[side]["errors"] += result["errors"]
            for side, result in slash.sequential(servers, sizes.sequential, order).items():
                out[side]["latencies"].extend(result["latencies"])
                out[side]["errors"] += result["errors"]
        for side, server in servers.items():
            out[side]["wire"] = wire_at_servers(server, nodes[side], sizes.wins)
    finally:
        for server in servers.values():
            server.child.stop()
        for path in logdir.glob("*"):
            path.unlink()
        logdir.rmdir()
    for side in urls:
        lat = out[side].pop("latencies")
        out[side]["rps_median"] = statistics.median(out[side]["rps"])
        out[side]["median_ms"] = 1000 * statistics.median(lat)
        out[side]["p90_ms"] = 1000 * slash.percentile(lat, 0.90)
        out[side]["requests_c1"] = len(lat)
    return out


# Coach.log_win counted at the client ----------------------------------------------------------


def wire_at_client(fake: FakeControl, url: str, count: int) -> dict[str, Any]:
    """`count` Coach.log_win calls of a PM this process knows: commands and round trips sent,
    in total and by node."""
    load_scripts_everywhere(url)
    settings = settings_for(fake.api_base_url, url, rate=10_000, burst=1000)
    client = connect(url, connection_class=WireCounting, health_check_interval=0)
    runtime = build_runtime(settings, redis_client=client)
    coach = runtime.deps.coach
    pm = user_id("UR", 0)
    fake.add_users("UR", 1)
    first = coach.log_win(
        team_id=TEAM, user_id=pm, lane=Lane.CLARITY, text="Warm-up win", source="warm"
    )
    coach.finish_enrolment(TEAM, pm, first.enrolled)
    WireCounting.reset()
    for i in range(count):
        coach.log_win(
            team_id=TEAM,
            user_id=pm,
            lane=Lane.CLARITY if i % 2 else Lane.SHIPPED,
            text=f"Framed the pricing question #{i}",
            source=f"command:cluster-{i}",
        )
    out = {
        "n": count,
        "commands": WireCounting.commands / count,
        "round_trips": WireCounting.sends / count,
        "nodes_touched": len(WireCounting.by_port),
        "by_node": {str(p): [v / count for v in c] for p, c in WireCounting.by_port.items()},
    }
    runtime.store.close()
    runtime.store.redis.close()
    return out


def load_scripts_everywhere(url: str) -> None:
    """The scripts cached on every node: count the steady state, not the first NOSCRIPT."""
    store = Store(connect(url))
    for script in (LOG_WIN, CLAIM, COMPLETE, GUARD, MARK_SENT, RESERVE):
        store.transport.load_script(script)
    store.close()
    store.redis.close()


# Fan-out and recap ----------------------------------------------------------------------------


def fan_out(
    fake: FakeControl, urls: dict[str, str], nodes: dict[str, list[str]], n: int
) -> dict[str, Any]:
    """`Ticker.tick` sending `n` due nudges, node, cluster, cluster, node; round trips sent to
    each node (counted at the client, by port) and server socket reads per node."""
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in urls}
    for side in ("node", "cluster", "cluster", "node"):
        counters = NodeCounters(nodes[side])
        WireCounting.reset()
        result = fanout.product_fast(
            fake,
            urls[side],
            n,
            limit_s=300,
            counters=counters,
            connection_class=WireCounting,
            health_check_interval=0,
        )
        result["round_trips_by_node"] = {str(p): c[0] for p, c in WireCounting.by_port.items()}
        counters.close()
        runs[side].append(result)
    out: dict[str, Any] = {"n": n, "runs": runs}
    for side, results in runs.items():
        out[side] = {
            "per_s": statistics.mean(r["per_s"] for r in results),
            "not_sent": sum(r["not_sent"] for r in results),
            "duplicates": sum(r["duplicates"] for r in results),
            "round_trips_by_node": _mean_by_node([r["round_trips_by_node"] for r in results]),
            "reads_by_node": _mean_by_node(
                [{p: c.get("reads", 0) for p, c in r["server"].items()} for r in results]
            ),
        }
    return out


def _mean_by_node(runs: list[dict[str, int]]) -> dict[str, float]:
    ports = sorted({port for run in runs for port in run})
    return {port: statistics.mean(run.get(port, 0) for run in runs) for port in ports}


def recap_build(
    urls: dict[str, str], nodes: dict[str, list[str]], members: int, repeats: int
) -> dict[str, Any]:
    """`Recaps.build` of a channel of `members` PMs × 10 wins, on each side, alternating;
    medians, and the round trips per node of one build."""
    users = [user_id("UM", i) for i in range(members)]
    stub = MembersStub([*users, "U0FAKEBOT01"])
    recaps: dict[str, Recaps] = {}
    out: dict[str, Any] = {"members": members}
    for side, url in urls.items():
        rds = connect(url, socket_timeout=30)
        rds.flushall()
        recap_team(rds, TEAM, users, RECAP_WEEK)
        rds.close()
        # One build counted (round trips sent to each node; server socket reads), on a
        # client of its own; the timed builds below run on the production client.
        counted = Store(
            connect(url, socket_timeout=30, connection_class=WireCounting, health_check_interval=0)
        )
        counting = Recaps(
            counted, lambda team: stub, clock=lambda: datetime.now(UTC), log=get_logger()
        )
        counting.build(TEAM, RECAP_WEEK, RECAP_CHANNEL)  # the client learns the slot map
        counters = NodeCounters(nodes[side])
        WireCounting.reset()
        before = counters.snapshot()
        recap = counting.build(TEAM, RECAP_WEEK, RECAP_CHANNEL)
        per_node = counters.delta(before)
        counters.close()
        by_port = {str(p): c[0] for p, c in WireCounting.by_port.items()}
        counted.close()
        counted.redis.close()
        assert recap.members == members, (side, recap.members, members)
        store = Store(connect(url, socket_timeout=30))
        recaps[side] = Recaps(
            store, lambda team: stub, clock=lambda: datetime.now(UTC), log=get_logger()
        )
        recaps[side].build(TEAM, RECAP_WEEK, RECAP_CHANNEL)  # warm-up
        out[side] = {
            "runs_s": [],
            "round_trips_by_node": by_port,
            "reads_by_node": {p: c.get("reads", 0) for p, c in per_node.items()},
            "highlights": len(recap.highlights),
        }
    for _ in range(repeats):
        for side in urls:
            began = time.perf_counter()
            recaps[side].build(TEAM, RECAP_WEEK, RECAP_CHANNEL)
            out[side]["runs_s"].append(time.perf_counter() - began)
    for side in urls:
        out[side]["build_s"] = statistics.median(out[side]["runs_s"])
        recaps[side].store.close()
        recaps[side].store.redis.close()
    return out


# The benchmark --------------------------------------------------------------------------------


def run(
    fake: FakeControl, sizes: Sizes, say: Callable[[str], None] | None = None
) -> dict[str, Any]:
    def note(text: str) -> None:
        (say or (lambda t: print(t, file=sys.stderr, flush=True)))(text)

    node = RedisProc().start()
    cluster = ClusterProc(MASTERS)
    out: dict[str, Any] = {}
    try:
        began = time.monotonic()
        cluster.start()
        out["cluster_start_s"] = time.monotonic() - began
        urls = {"node": node.url, "cluster": cluster.url}
        nodes = {"node": [node.url], "cluster": cluster.urls}
        note(f"cluster: /win, one prod server on one node and one on {MASTERS} masters")
        out["win"] = win_http(fake, urls, nodes, sizes)
        note("cluster: commands per Coach.log_win, counted at the client")
        out["wire"] = {side: wire_at_client(fake, url, sizes.wins) for side, url in urls.items()}
        note(f"cluster: fan-out of {sizes.fanout_n:,} PMs, node/cluster/cluster/node")
        out["fanout"] = fan_out(fake, urls, nodes, sizes.fanout_n)
        note(f"cluster: recap of {sizes.recap_members:,} members, alternating")
        out["recap"] = recap_build(urls, nodes, sizes.recap_members, sizes.recap_repeats)
    finally:
        cluster.stop()
        node.stop()
    return out


def _by_node(reads: dict[str, float], per: float = 1.0) -> str:
    return " / ".join(f"{v / per:.3g}" for _port, v in sorted(reads.items()))


def figures(out: dict[str, Any], sizes: Sizes) -> list[Figure]:
    figs = []
    win = out["win"]
    node, clus = win["node"], win["cluster"]
    ratio = clus["rps_median"] / node["rps_median"]
    ok = ratio >= 0.8 and clus["errors"] == 0
    figs.append(
        Figure(
            "7",
            f"cluster: /win throughput at concurrency 8 ({MASTERS} masters, one prod server)",
            clus["rps_median"],
            "req/s",
            node["rps_median"],
            "one node, one prod server",
            "≥ 0.8× one node",
            verdict(ok),
            f"median of {sizes.rounds} alternating rounds of {sizes.seconds:g}s; errors "
            f"cluster {clus['errors']}, node {node['errors']}; AOF off on both sides",
            win,
        )
    )
    ok = clus["median_ms"] <= 1.25 * node["median_ms"]
    figs.append(
        Figure(
            "7",
            "cluster: /win median latency at concurrency 1",
            clus["median_ms"],
            "ms",
            node["median_ms"],
            "one node",
            "≤ 1.25× one node",
            verdict(ok),
            f"{clus['requests_c1']} requests each, in turn; p90 cluster {clus['p90_ms']:.1f} ms, "
            f"node {node['p90_ms']:.1f} ms",
        )
    )
    wire = out["wire"]
    at_server = clus["wire"]
    ok = wire["cluster"]["commands"] <= 1.0 + 1e-9 and wire["cluster"]["round_trips"] <= 1 + 1e-9
    figs.append(
        Figure(
            "7",
            "cluster: commands per /win sent to Redis (Coach.log_win, counted at the client)",
            wire["cluster"]["commands"],
            "cmd",
            wire["node"]["commands"],
            "one node",
            "1",
            verdict(ok),
            f"round trips {wire['cluster']['round_trips']:g} to "
            f"{wire['cluster']['nodes_touched']} node(s) of {MASTERS}; over HTTP at the servers, "
            f"summed over the nodes: EVALSHA {at_server['evalsha_per_win']:.2f}/win, socket "
            f"reads {at_server['reads_per_win']:.2f}/win (one node: "
            f"{node['wire']['reads_per_win']:.2f}), "
            f"{at_server['usec_per_script']:.0f} µs of server time per script call "
            f"(one node: {node['wire']['usec_per_script']:.0f} µs)",
            {"client": wire, "server": {"cluster": at_server, "node": node["wire"]}},
        )
    )
    fan = out["fanout"]
    n = fan["n"]
    ratio = fan["cluster"]["per_s"] / fan["node"]["per_s"]
    ok = ratio >= 0.8 and not fan["cluster"]["not_sent"] and not fan["cluster"]["duplicates"]
    figs.append(
        Figure(
            "7",
            f"cluster: fan-out of {n:,} PMs due at once (Ticker.tick)",
            fan["cluster"]["per_s"],
            "nudges/s",
            fan["node"]["per_s"],
            "one node",
            "≥ 0.8× one node",
            verdict(ok),
            f"mean of 2 each (node, cluster, cluster, node); round trips per 1,000 nudges by "
            f"node: {_by_node(fan['cluster']['round_trips_by_node'], n / 1000)} (one node: "
            f"{_by_node(fan['node']['round_trips_by_node'], n / 1000)}); not sent "
            f"{fan['cluster']['not_sent']}, duplicates {fan['cluster']['duplicates']}",
            fan,
        )
    )
    rec = out["recap"]
    ratio = rec["cluster"]["build_s"] / rec["node"]["build_s"]
    figs.append(
        Figure(
            "7",
            f"cluster: recap build of {rec['members']:,} members × 10 wins (Recaps.build)",
            1000 * rec["cluster"]["build_s"],
            "ms",
            1000 * rec["node"]["build_s"],
            "one node",
            "≤ 1.25× one node",
            verdict(ratio <= 1.25),
            f"median of {len(rec['cluster']['runs_s'])}, alternating; round trips per build by "
            f"node: {_by_node(rec['cluster']['round_trips_by_node'])} (one node: "
            f"{_by_node(rec['node']['round_trips_by_node'])})",
            rec,
        )
    )
    return figs


def main() -> int:
    from bench.infra import BOT_TOKEN, SIGNING_SECRET
    from bench.report import table
    from bot.fakeslack import drop_proxies
    from bot.runtime.logs import configure_logging

    drop_proxies()
    configure_logging("WARNING", "json", [BOT_TOKEN, SIGNING_SECRET], stream=sys.stderr)
    sizes = QUICK if "--quick" in sys.argv[1:] else FULL
    fake = FakeControl.start()
    try:
        out = run(fake, sizes)
    finally:
        fake.stop()
    print(table(figures(out, sizes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
