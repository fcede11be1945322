"""Figures, the table they print as, and the machine they were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.redis_server import find_redis_server


@dataclass
class Figure:
    """One line of the table: a measured value against a baseline from the same run."""

    bench: str
    what: str
    value: float
    unit: str
    baseline: float | None
    baseline_label: str
    goal: str
    verdict: str  # PASS | MISS | INFO
    reason: str = ""  # why, for a MISS (and notes for INFO)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    magnitude = abs(value)
    if magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".rstrip()


def table(figures: list[Figure]) -> str:
    headers = ["#", "what", "value", "baseline (what)", "ratio", "goal", "result"]
    rows = []
    for f in figures:
        base = fmt(f.baseline, f.unit) if f.baseline is not None else "—"
        rows.append(
            [
                f.bench,
                f.what,
                fmt(f.value, f.unit) if f.verdict not in ("SKIP", "ERROR") else "—",
                f"{base} ({f.baseline_label})" if f.baseline_label else base,
                f"{f.ratio:.2f}×" if f.ratio is not None else "—",
                f.goal,
                f.verdict,
            ]
        )
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    widths[1] = min(widths[1], 62)
    widths[3] = min(widths[3], 44)

    def line(cells: list[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            text = str(cell)
            if len(text) > widths[i]:
                text = text[: widths[i] - 1] + "…"
            out.append(text.rjust(widths[i]) if i in (2, 4) else text.ljust(widths[i]))
        return "  ".join(out).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    for f, row in zip(figures, rows, strict=True):
        out.append(line(row))
        for extra in (
            [f"{' ' * widths[0]}  {f.what[widths[1] - 1 :]}"] if len(f.what) > widths[1] else []
        ) + ([f"{' ' * widths[0]}  ↳ {f.reason}"] if f.reason else []):
            out.append(extra)
    return "\n".join(out)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for row in handle:
                if row.startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def redis_version() -> str:
    binary = find_redis_server()
    if binary is None:
        return "not found"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def machine() -> dict[str, Any]:
    import redis
    import slack_bolt
    import slack_sdk

    mem_kb = 0
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for row in handle:
                if row.startswith("MemTotal:"):
                    mem_kb = int(row.split()[1])
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "redis_server": redis_version(),
        "redis_py": redis.__version__,
        "slack_bolt": slack_bolt.version.__version__,
        "slack_sdk": slack_sdk.version.__version__,
        "platform": platform.platform(),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def machine_lines(info: dict[str, Any]) -> list[str]:
    return [
        f"machine: {info['cores']} cores · {info['cpu']} · {info['memory_gb']} GB · "
        f"{info['platform']}",
        f"python {info['python']} · {info['redis_server']} · redis-py {info['redis_py']} · "
        f"slack_bolt {info['slack_bolt']} · slack_sdk {info['slack_sdk']}",
        f"load average at start (1/5/15 min): {info['load_at_start']}",
    ]
