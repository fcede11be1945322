"""Scheduled duties as plain functions; the scheduler only decides when they run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.scheduled.recaps import Recaps
from bot.scheduled.ticker import Ticker
from bot.store import Store, StoreUnavailable, unavailable_cause


def heartbeat(store: Store, process_id: str, clock: Callable[[], datetime], log: Any) -> None:
    """Tell Redis this process is alive, so `pm-coach check` can count live processes."""
    try:
        alive = store.teams.heartbeat(process_id, clock())
    except StoreUnavailable as exc:  # down, or refusing writes (OOM, read-only replica...)
        log.warning("heartbeat_failed", reason="redis_unavailable", cause=unavailable_cause(exc))
        return
    log.debug("heartbeat", processes=alive)


def tick(ticker: Ticker, recaps: Recaps, clock: Callable[[], datetime], log: Any) -> None:
    """Send the nudges and recaps due now (every process runs this; Redis keeps it exactly
    once)."""
    try:
        now = clock()
        ticker.tick(now)
        recaps.run_due(now)
    except StoreUnavailable as exc:
        log.warning("tick_failed", reason="redis_unavailable", cause=unavailable_cause(exc))
    except Exception:
        # Claimed work is leased: whatever failed here is retried by the next tick.
        log.exception("tick_failed")
