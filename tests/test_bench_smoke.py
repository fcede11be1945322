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
