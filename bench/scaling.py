"""Benchmark 5: does the cost grow linearly? Nudge fan-out (fake answering at once) and the
recap build at several sizes; per-item cost at each size against the smallest size's."""

from __future__ import annotations

from typing import Any

from bench.report import Figure, verdict


def size_label(n: int) -> str:
    return f"{n / 1000:g}k" if n >= 1000 else str(n)


def fanout_figures(results: list[dict[str, Any]], skipped: list[str]) -> list[Figure]:
    figs = [Figure("5", line, 0, "", None, "", "—", "SKIP") for line in skipped]
    if not results:
        return figs
    figs = []
    results = sorted(results, key=lambda r: r["n"])
    smallest = results[0]
    base = 1000 * smallest["elapsed_s"] / smallest["n"]
    for r in results:
        cost = 1000 * r["elapsed_s"] / r["n"]
        largest = r is results[-1] and len(results) > 1
        note = f"{r['per_s']:.0f} nudges/s, {r['cpu_ms_per_item']:.2f} ms CPU per nudge"
        if r.get("plain"):
            plain = r["plain"]
            note += (
                f"; plain loop {1000 * plain['elapsed_s'] / plain['n']:.2f} ms per message "
                f"(Ticker/plain throughput {r['per_s'] / plain['per_s']:.2f})"
            )
        else:
            note += "; plain loop not run at this size (time budget)"
        if r.get("not_sent"):
            note += f"; {r['not_sent']} NOT SENT"
        figs.append(
            Figure(
                "5",
                f"fan-out cost per nudge at {size_label(r['n'])} PMs"
                + (" (ratio: largest/smallest)" if largest else ""),
                cost,
                "ms",
                base,
                f"per nudge at {size_label(smallest['n'])}",
                "≤ 2× smallest",
                verdict(cost <= 2 * base and not r.get("not_sent")),
                note,
                r,
            )
        )
    for line in skipped:
        figs.append(Figure("5", line, 0, "", None, "", "—", "SKIP"))
    return figs


def recap_figures(results: list[dict[str, Any]], skipped: list[str]) -> list[Figure]:
    figs = [Figure("5", line, 0, "", None, "", "—", "SKIP") for line in skipped]
    if not results:
        return figs
    figs = []
    results = sorted(results, key=lambda r: r["members"])
    smallest = results[0]
    base = 1e6 * smallest["build_s"] / smallest["members"]
    for r in results:
        cost = 1e6 * r["build_s"] / r["members"]
        largest = r is results[-1] and len(results) > 1
        figs.append(
            Figure(
                "5",
                f"recap cost per member at {size_label(r['members'])} members"
                + (" (ratio: largest/smallest)" if largest else ""),
                cost,
                "µs",
                base,
                f"per member at {size_label(smallest['members'])}",
                "≤ 2× smallest",
                verdict(cost <= 2 * base),
                f"build {1000 * r['build_s']:.0f} ms vs plain read {1000 * r['plain_s']:.0f} ms "
                f"({r['build_s'] / r['plain_s']:.2f}×); "
                f"{1e6 * r['plain_s'] / r['members']:.0f} µs per member plain",
                r,
            )
        )
    for line in skipped:
        figs.append(Figure("5", line, 0, "", None, "", "—", "SKIP"))
    return figs
