"""The composition: how the process's parts are built and wired — the Redis client, the store,
the Web API clients, the coach, the ticker and the recaps — into one `Runtime`, plus the
/healthz probe and the pool forms open on. `pm-coach` (`bot.runtime.cli`) builds its runtime
here, and so do the sandbox, the tests and the bench, so all of them run the same wiring. It
may import everything below the runtime; it never imports the CLI or the sandbox.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient

from bot.coach import Coach
from bot.runtime.app import Deps, nudge_client, post_client, web_client
from bot.runtime.logs import get_logger
from bot.runtime.settings import Settings
from bot.runtime.slackhttp import KeepAliveWebClient
from bot.scheduled.recaps import Recaps
from bot.scheduled.ticker import Ticker
from bot.store import CAUSES, Client, Store, connect

# Opening a form is one Web API call that must start within its trigger_id's 3 s however slow
# Slack answers the others: each open gets a thread of its own at once, up to this many at a
# time (the pool starts threads only as opens need them). Past it, an open waits, and one that
# waited too long is dropped with a word to the PM (handlers.replies.TRIGGER_BUDGET_S).
FORM_THREADS = 32


def form_executor() -> ThreadPoolExecutor:
    """The pool forms open on (`create_app(forms=...)`)."""
    return ThreadPoolExecutor(max_workers=FORM_THREADS, thread_name_prefix="forms")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    redis: Client
    store: Store
    client: WebClient
    deps: Deps
    ticker: Ticker
    recaps: Recaps

    def close(self) -> None:
        """Close every Redis connection (the store's own, then the client's pool) and every
        kept-alive connection to Slack."""
        self.store.close()
        self.redis.close()
        coach = self.deps.coach
        clients = [self.client, coach.slack, coach.poster, coach.profile_client]
        for client in {id(c): c for c in [*clients, *self.ticker.clients()]}.values():
            if isinstance(client, KeepAliveWebClient):
                client.close()


def build_runtime(
    settings: Settings, redis_client: Client | None = None, clock: Any = utc_now
) -> Runtime:
    log = get_logger("pm_coach")
    client_: Client = redis_client if redis_client is not None else connect(settings.redis_url)
    store = Store(client_)
    client = web_client(settings)
    coach = Coach(
        store,
        client,
        clock,
        settings.balance_target,
        log,
        profile_client=web_client(settings, timeout=1.5, retries=False),
        post_client=post_client(settings),
    )
    ticker = Ticker(
        store,
        lambda team_id, on_429: nudge_client(settings, on_429),
        default_target=settings.balance_target,
        rate_per_s=settings.slack_post_rate,
        burst=settings.slack_post_burst,
        log=log,
    )
    recaps = Recaps(
        store,
        ticker.client,
        clock=clock,
        log=log,
        rate_per_s=settings.slack_post_rate,
        burst=settings.slack_post_burst,
    )
    deps = Deps(coach=coach, client=client, log=log, recaps=recaps, admin_ids=settings.admin_ids)
    return Runtime(settings, client_, store, client, deps, ticker, recaps)


def healthy(store: Store) -> dict[str, Any]:
    """/healthz: ok only while Redis takes writes (one probe write); otherwise names why not
    ("unreachable", "oom", "read_only_replica", "cluster_redirect", ...)."""
    cause = store.health()
    if cause == "ok":
        return {"ok": True, "redis": "ok"}
    return {"ok": False, "redis": cause, "detail": CAUSES.get(cause, cause)}
