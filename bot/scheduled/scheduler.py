"""APScheduler 3.x as a local timer only: a few fixed jobs per process, no shared job store.

All schedule state lives in Redis (see DESIGN-SCHEDULING.md); every process runs the same jobs
and the duties themselves make sure work is done once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

Duty = tuple[str, Callable[[], object], float]  # (job id, function, interval in seconds)


def build_scheduler(duties: list[Duty], *, run_now: bool = True) -> BackgroundScheduler:
    """One interval job per duty. With `run_now`, each also runs as soon as the scheduler
    starts, so a process that (re)starts after something fell due catches up at once."""
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=2)},
        job_defaults={
            "coalesce": True,  # a late process runs a duty once, not once per missed interval
            "max_instances": 1,
            "misfire_grace_time": 30,  # the default of 1 s silently skips late runs
        },
        timezone="UTC",
    )
    for job_id, func, seconds in duties:
        first = datetime.now(UTC) if run_now else None
        scheduler.add_job(
            func,
            "interval",
            seconds=seconds,
            id=job_id,
            replace_existing=True,
            next_run_time=first,
        )
    return scheduler
