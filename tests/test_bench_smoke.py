"""`make bench` is not run by CI (it takes minutes): these run its recap steps at tiny sizes so
a change to the store cannot break the benchmark unnoticed (it did once: a fake pipeline in
bench/populate.py lacked an argument the store started passing)."""

from __future__ import annotations

from bench import recap
from bench.infra import RedisProc


def test_recap_timing_and_memory_steps_run_at_small_sizes() -> None:
    server = RedisProc().start()
    try:
        timed = recap.timing(server.url, 200, 1)
    finally:
        server.stop()
    assert timed["members"] == 200 and timed["build_s"] > 0 and timed["plain_s"] > 0
    assert 0 < timed["wins_read"] <= 4 * recap.MAX_HIGHLIGHTS * 2
    memory = recap.memory(1_000)
    assert memory["wins"] == 1_000 and memory["bytes_per_win"] > memory["json_bytes_per_win"] > 0
    assert recap.timing_figure(timed).verdict in ("PASS", "MISS")


def test_ab_compares_server_variants_side_by_side() -> None:
    from bench.ab import Variant, compare

    variants = [Variant.parse("bare=bare_pbr"), Variant.parse("quiet=prod:BENCH_LOG_LEVEL=ERROR")]
    assert variants[1] == Variant("quiet", "prod", "", {"BENCH_LOG_LEVEL": "ERROR"})
    results = compare(variants, rounds=1, seconds=0.3)
    assert set(results) == {"bare", "quiet"} and results["bare"]["ratio"] == 1.0
    assert results["quiet"]["rps"] > 0 and results["quiet"]["c1_ms"] > 0


def test_cluster_recap_step_and_memory_of_a_year_run_at_small_sizes() -> None:
    """bench.cluster starts its own 3-master cluster and compares it with one node: the recap
    step builds the same recap on both and counts round trips on every master."""
    from bench import cluster
    from bench.infra import ClusterProc

    node, nodes = RedisProc().start(), ClusterProc(3)
    try:
        nodes.start()
        assert len(nodes.urls) == 3 and 6379 not in nodes.servers.ports  # type: ignore[union-attr]
        out = cluster.recap_build(
            {"node": node.url, "cluster": nodes.url},
            {"node": [node.url], "cluster": nodes.urls},
            60,
            1,
        )
    finally:
        nodes.stop()
        node.stop()
    assert out["node"]["build_s"] > 0 and out["cluster"]["build_s"] > 0
    assert len(out["cluster"]["reads_by_node"]) == 3
    assert all(reads > 0 for reads in out["cluster"]["reads_by_node"].values())
    # round trips counted at the client, by the node each send went to
    assert len(out["cluster"]["round_trips_by_node"]) == 3
    assert all(sends > 0 for sends in out["cluster"]["round_trips_by_node"].values())
    assert list(out["node"]["round_trips_by_node"]) == [node.url.split(":")[2].split("/")[0]]
    year = recap.memory_year(3)
    by_key = year["memory_usage_per_pm_by_key"]
    assert year["bytes_per_pm_year"] > by_key["wins"] > by_key["reflections"] > 0
