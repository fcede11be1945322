"""Shared fixtures: a private redis-server, the loopback fake Slack, and the real app served
over HTTP by the production server, driven with signed requests."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import redis

from bot.fakeslack import FakeSlack, drop_proxies
from bot.runtime.app import create_app
from bot.runtime.compose import FORM_THREADS, build_runtime, healthy
from bot.runtime.logs import configure_logging
from bot.runtime.server import make_server
from bot.runtime.settings import Settings
from bot.runtime.slackwsgi import wsgi_app
from tests.driver import SlackDriver
from tests.redis_cluster import RedisClusterServers
from tests.redis_server import RedisServer, find_redis_cli, find_redis_server

SIGNING_SECRET = "test-signing-secret-5f2a9c"
BOT_TOKEN = "xoxb-test-1111-2222-secretbot"
APP_TOKEN = "xapp-1-test-secretapp"
TEAM = "T0TEAM"

drop_proxies()  # slack-sdk reads them; its Socket Mode client ignores NO_PROXY

# Log as production does (JSON through the redactor) so pytest captures it with each test.
configure_logging("INFO", "json", [BOT_TOKEN, SIGNING_SECRET, APP_TOKEN])


class Clock:
    """A clock tests move by hand; aware UTC datetimes only."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def set(self, now: datetime) -> None:
        with self._lock:
            self.now = now

    def advance(self, **kwargs: float) -> None:
        with self._lock:
            self.now = self.now + timedelta(**kwargs)


@pytest.fixture(scope="session", name="redis_url")
def _redis_url() -> Iterator[str]:
    """The suite's own Redis: a private redis-server, or PMC_TEST_REDIS_URL (disposable)."""
    url = os.environ.get("PMC_TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = find_redis_server()
    if binary is None:
        if os.environ.get("CI"):
            pytest.exit("redis-server is required in CI; install Debian's redis-server", 3)
        message = "NO redis-server FOUND: the suite runs against fakeredis, which is NOT real Redis"
        warnings.warn(message, stacklevel=1)
        print(f"\n*** {message} ***\n", file=sys.stderr)
        yield "fakeredis://"
        return
    server = RedisServer(binary).start()
    yield server.url
    server.remove()


@pytest.fixture(name="redis_server")
def _redis_server() -> Iterator[RedisServer]:
    """A redis-server of its own for a test that stops and restarts it."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("needs a redis-server binary")
    server = RedisServer(binary).start()
    yield server
    server.remove()


@pytest.fixture(scope="session", name="redis_cluster")
def _redis_cluster() -> Iterator[RedisClusterServers]:
    """A real 3-master Redis Cluster of this worker's own, started on first use (about 2 s):
    or PMC_TEST_REDIS_CLUSTER=host:port,host:port,... naming the masters of a *disposable*
    cluster (flushed between tests; stop_node/start_node skip on it)."""
    spec = os.environ.get("PMC_TEST_REDIS_CLUSTER")
    if spec:
        cluster = RedisClusterServers.external(spec, find_redis_cli())
        yield cluster
        cluster.close()
        return
    server, cli = find_redis_server(), find_redis_cli()
    if server is None or cli is None:
        missing = " and ".join(
            name for name, path in (("redis-server", server), ("redis-cli", cli)) if path is None
        )
        if os.environ.get("CI"):
            pytest.exit(f"NO {missing} FOUND: CI needs Debian's redis-server and redis-tools", 3)
        message = f"NO {missing} FOUND: the Redis Cluster tests are SKIPPED"
        warnings.warn(message, stacklevel=1)
        print(f"\n*** {message} ***\n", file=sys.stderr)
        pytest.skip(message)
    cluster = RedisClusterServers(server, cli).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(name="cluster_url")
def _cluster_url(redis_cluster: RedisClusterServers) -> str:
    """The cluster's first node URL, for a test starting from an empty, healthy cluster: a
    node a previous test stopped is started again, a slot migration it left open is closed,
    every master is flushed. The slot layout a previous test left (a reshard) is kept."""
    redis_cluster.reset()
    return redis_cluster.url


def make_redis(url: str) -> redis.Redis:
    if url.startswith("fakeredis://"):
        import fakeredis

        return fakeredis.FakeRedis(decode_responses=True)
    from bot.store import connect

    return connect(url)


@pytest.fixture(name="rds")
def _rds(redis_url: str) -> Iterator[redis.Redis]:
    client = make_redis(redis_url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(name="fake")
def _fake() -> Iterator[FakeSlack]:
    with FakeSlack(team_id=TEAM, bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        fake.add_user("U0ALICE", name="alice", tz="Europe/Berlin")
        fake.add_user("U0BOB", name="bob", tz="America/New_York")
        fake.add_user("U0ADMIN", name="admin", tz="Europe/London", is_admin=True)
        yield fake


@pytest.fixture(name="clock")
def _clock() -> Clock:
    # Wednesday 2026-11-25 10:00 UTC: ISO week 2026-W48 in Berlin and New York alike.
    return Clock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))


@pytest.fixture(name="settings")
def _settings(fake: FakeSlack, redis_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_base_url=fake.api_base_url,
        # On the fakeredis fallback the runtime is handed `rds`: the URL need only be valid.
        redis_url="redis://fakeredis.invalid/0" if redis_url == "fakeredis://" else redis_url,
        slack_post_rate=500,  # tests measure correctness; pacing has its own tests
        slack_post_burst=500,
    )


class TrackedExecutor(ThreadPoolExecutor):
    """The app's background executor, able to say when all handed-off work is done."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending = 0
        self._idle = threading.Condition()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        with self._idle:
            self._pending += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Any) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def settle(self, timeout: float = 15.0) -> None:
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout):
                raise AssertionError(f"after-ack work still running after {timeout} s")


def settle_all(*executors: TrackedExecutor) -> None:
    """Wait for each in turn: a form's work may hand a welcome DM to the background pool."""
    for executor in executors:
        executor.settle()


def start_http(app: Any, store: Any) -> tuple[Any, threading.Thread]:
    """The real HTTP server in front of `app` on a free loopback port, serving it as
    `pm-coach run` does (signatures checked on the raw bytes); stop it with `server.stop()`."""
    server = make_server(
        wsgi_app(app, lambda: healthy(store), SIGNING_SECRET),
        "127.0.0.1",
        0,
        threads=8,
    )
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    return server, thread


@contextmanager
def serve_app(
    settings: Settings,
    redis_client: redis.Redis,
    fake: FakeSlack,
    clock: Clock,
) -> Iterator[SlackDriver]:
    """The real app, wired as `pm-coach run` wires it, behind the real HTTP server."""
    runtime = build_runtime(settings, redis_client=redis_client, clock=clock)
    executor = TrackedExecutor(max_workers=8, thread_name_prefix="after-ack")
    forms = TrackedExecutor(max_workers=FORM_THREADS, thread_name_prefix="forms")
    app = create_app(
        settings, runtime.deps, background=executor, forms=forms, verified_upstream=True
    )
    server, thread = start_http(app, runtime.store)
    port = server.bind_addr[1]
    try:
        yield SlackDriver(
            base_url=f"http://127.0.0.1:{port}",
            secret=SIGNING_SECRET,
            fake=fake,
            team_id=TEAM,
            store=runtime.store,
            coach=runtime.deps.coach,
            ticker=runtime.ticker,
            recaps=runtime.recaps,
            settle=partial(settle_all, forms, executor),
        )
    finally:
        server.stop()
        thread.join(timeout=5)
        forms.shutdown(wait=True)
        executor.shutdown(wait=True)


@pytest.fixture(name="slack")
def _slack(
    settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> Iterator[SlackDriver]:
    """The running app and a driver that talks to it as Slack does."""
    with serve_app(settings, rds, fake, clock) as driver:
        yield driver
