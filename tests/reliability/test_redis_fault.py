"""Redis goes away and comes back while PMs keep typing and the scheduler keeps ticking.

Each test has a redis-server of its own (AOF on, `appendfsync everysec`); `.stop()` / `.start()`
keep its port and data directory, so the app's client reconnects to the same data. The app is
never restarted.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bot.domain.schedule import parse_schedule
from bot.fakeslack import FakeSlack
from bot.runtime.compose import build_runtime
from bot.runtime.logs import get_logger
from bot.runtime.settings import Settings
from bot.scheduled import jobs
from bot.store import Store, StoreUnavailable, connect
from bot.surfaces.blocks import ACTION_PICK_CLARITY
from tests.conftest import TEAM, Clock, serve_app
from tests.driver import SlackDriver
from tests.redis_server import RedisServer
from tests.reliability.conftest import LogCapture, settle
from tests.test_ticker import make_ticker, sent_slots

FRI_15_BERLIN = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
MON_9_LONDON = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
RECAP_CHANNEL = "C0RECAPF"


@dataclass
class Faulty:
    server: RedisServer
    settings: Settings
    client: redis.Redis
    slack: SlackDriver

    def fresh(self) -> redis.Redis:
        """A client of the test's own, to read what Redis really holds."""
        return redis.Redis.from_url(self.server.url, decode_responses=True)

    def crash(self) -> None:
        """SIGKILL: no shutdown, no final AOF flush beyond what Redis already wrote."""
        assert self.server.process is not None
        self.server.process.kill()
        self.server.process.wait(timeout=10)
        self.server.process = None


@pytest.fixture(name="faulty")
def _faulty(
    redis_server: RedisServer, settings: Settings, fake: FakeSlack, clock: Clock
) -> Iterator[Faulty]:
    own = settings.model_copy(update={"redis_url": redis_server.url})
    client = connect(redis_server.url)
    with serve_app(own, client, fake, clock) as slack:
        yield Faulty(redis_server, own, client, slack)
    client.close()


@dataclass
class Sent:
    n: int
    user: str
    started: float
    ended: float
    status: int
    text: str

    @property
    def logged(self) -> bool:
        return "Logged" in self.text

    @property
    def not_saved(self) -> bool:
        return "not saved" in self.text

    @property
    def unconfirmed(self) -> bool:  # sent as Redis went away: it may or may not be stored
        return "couldn't confirm" in self.text


def traffic(slack: SlackDriver, user: str, stop: threading.Event, out: list[Sent]) -> None:
    n = 0
    while not stop.is_set():
        started = time.monotonic()
        reply = slack.command("/win", f"clarity fault-{user}-{n}", user=user)
        out.append(Sent(n, user, started, time.monotonic(), reply.status, reply.text))
        n += 1
        time.sleep(0.01)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_no_pm_is_told_logged_for_a_win_that_is_not_there(
    faulty: Faulty, fake: FakeSlack, logs: LogCapture, how: str
) -> None:
    """Two PMs log wins in a loop while Redis is stopped (SIGTERM, or SIGKILL) and started
    again: every "Logged" win is in Redis afterwards, no "not saved" one is, every reply during
    the outage says "not saved" (one in flight as Redis went may say "couldn't confirm"), and
    the app recovers by itself (/healthz, new wins)."""
    slack = faulty.slack
    users = ["U0ALICE", "U0BOB"]
    for user in users:  # first requests read the zone from Slack; get that out of the way
        assert "Logged" in slack.command("/win", "clarity warm-up", user=user).text
    stop = threading.Event()
    sent: list[Sent] = []
    threads = [threading.Thread(target=traffic, args=(slack, u, stop, sent)) for u in users]
    for thread in threads:
        thread.start()
    time.sleep(0.6)
    down_from = time.monotonic()
    if how == "sigterm":
        faulty.server.stop()
    else:
        faulty.crash()
    down_at = time.monotonic()
    time.sleep(0.3)
    health_down = slack.get("/healthz").status
    time.sleep(0.7)
    up_from = time.monotonic()
    faulty.server.start()
    up_at = time.monotonic()
    time.sleep(0.8)
    stop.set()
    for thread in threads:
        thread.join(timeout=20)

    stored = {w.text for u in users for w in Store(faulty.fresh()).wins.user_wins(TEAM, u)}
    told_logged_missing = [s for s in sent if s.logged and f"fault-{s.user}-{s.n}" not in stored]
    told_not_saved_there = [s for s in sent if s.not_saved and f"fault-{s.user}-{s.n}" in stored]
    during = [s for s in sent if s.started >= down_at and s.ended <= up_from]
    after = [s for s in sent if s.started >= up_at]
    assert {s.status for s in sent} == {200}
    assert told_logged_missing == [] and told_not_saved_there == []
    assert all(s.logged or s.not_saved or s.unconfirmed for s in sent), [s.text[:80] for s in sent]
    assert len(during) >= 5 and all(s.not_saved for s in during), [s.text[:60] for s in during]
    assert len(after) >= 5 and all(s.logged for s in after), [s.text[:60] for s in after]
    assert sum(s.logged for s in sent if s.ended <= down_from) >= 5
    assert health_down == 503
    assert slack.get("/healthz").status == 200
    assert "Logged" in slack.command("/win", "clarity after the outage").text
    settle()
    assert logs.errors() == []


def test_every_surface_recovers_without_a_restart(
    faulty: Faulty, fake: FakeSlack, clock: Clock, logs: LogCapture
) -> None:
    """After an outage the same process serves the lane question and its button, the form,
    /coach, /reflect and the Home again (Lua scripts are re-loaded into the fresh server)."""
    slack = faulty.slack
    question = slack.command("/win", "Aligned sales and eng")
    faulty.server.stop()
    assert "not saved" in slack.command("/win", "clarity while down").text
    assert "did *not* go through" in slack.command("/coach", "stats").text
    faulty.server.start()
    click = slack.click(question, ACTION_PICK_CLARITY)
    assert "Logged" in str(slack.hook_posts(click)[0])
    assert "Logged" in slack.command("/win", "shipped back again").text
    assert "Where you stand" in slack.command("/coach", "stats").text
    assert "Saved privately" in slack.command("/reflect", "Recovered fine").text
    event = {"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "event_ts": "1.1"}
    assert slack.event(event).status == 200
    fake.wait_for("views.publish")
    texts = sorted(w.text for w in Store(faulty.fresh()).wins.user_wins(TEAM, "U0ALICE"))
    assert texts == ["Aligned sales and eng", "back again"]
    settle()
    assert logs.errors() == []


def enrol(runtime: object, fake: FakeSlack, clock: Clock, users: list[str]) -> None:
    coach = runtime.deps.coach  # type: ignore[attr-defined]
    for user in users:
        fake.add_user(user, tz="Europe/Berlin")
        coach.tz_cache.put(TEAM, user, "Europe/Berlin")
        coach.store.profiles.enrol(TEAM, user, "Europe/Berlin", clock())
        coach.store.profiles.set_profile(TEAM, user, **parse_schedule("fri 15:00").to_fields())
        coach.schedule_next(TEAM, user)


def test_scheduled_work_resumes_once_after_an_outage_across_the_due_instant(
    faulty: Faulty, fake: FakeSlack, clock: Clock, logs: LogCapture
) -> None:
    """Redis is down when Friday's nudges and Monday's recap fall due: the ticks then fail
    quietly; once Redis is back each PM gets exactly one nudge and the team one recap, and
    later ticks send nothing more."""
    runtime = build_runtime(faulty.settings, redis_client=faulty.client, clock=clock)
    users = [f"U0FLT{i:02d}" for i in range(12)]
    enrol(runtime, fake, clock, users)
    fake.add_channel(RECAP_CHANNEL, members=[*users, "U0ADMIN"])
    runtime.recaps.set_channel(TEAM, RECAP_CHANNEL, "U0ADMIN", "Europe/London")
    log = get_logger("test")

    def tick(at: datetime) -> None:
        clock.set(at)
        jobs.tick(runtime.ticker, runtime.recaps, clock, log)  # as every process's timer does

    for due in (FRI_15_BERLIN, MON_9_LONDON):
        faulty.server.stop()
        tick(due)
        tick(due + timedelta(seconds=30))
        faulty.server.start()
        for minutes in (1, 2, 7, 60, 60 * 24):
            tick(due + timedelta(minutes=minutes))
    assert sent_slots(fake, users) == {(u, "2026-11-27"): 1 for u in users}
    main_posts = [m for m in fake.messages(RECAP_CHANNEL) if "thread_ts" not in m]
    assert len(main_posts) == 1
    store = Store(faulty.fresh())
    for user in users:
        assert store.nudges.due_at(TEAM, user) == FRI_15_BERLIN + timedelta(weeks=1)
    assert store.recaps.recap_due_at(TEAM) == MON_9_LONDON + timedelta(weeks=1)
    assert len(logs.events("tick_failed")) == 4
    assert logs.errors() == []


def test_redis_lost_while_a_nudge_is_in_flight_sends_it_once(
    faulty: Faulty, fake: FakeSlack, clock: Clock, logs: LogCapture
) -> None:
    """Redis stops after Slack accepted a nudge but before it was recorded; once Redis is back
    and the lease has run out, the next tick must not post the same nudge a second time."""
    runtime = build_runtime(faulty.settings, redis_client=faulty.client, clock=clock)
    enrol(runtime, fake, clock, ["U0INFLT"])
    ticker = make_ticker(faulty.settings, faulty.client, lease_s=2)  # a short lease: fast test

    def tick(at: datetime) -> None:
        with contextlib.suppress(*StoreUnavailable):  # as jobs.tick does
            ticker.tick(at)

    fake.delay("chat.postMessage", 0.8)
    thread = threading.Thread(target=tick, args=(FRI_15_BERLIN,))
    thread.start()
    fake.wait_arrivals("chat.postMessage", 1, timeout=10)  # the post is in the fake's delay
    faulty.server.stop()  # the post is at Slack, which will accept it in 0.8 s
    thread.join(timeout=10)
    faulty.server.start()
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [200]
    assert logs.events("nudge_store_unavailable")  # accepted by Slack, not recorded
    time.sleep(2.2)  # the lease (and with it the send guard) runs out
    for minutes in (1, 5, 30):
        tick(FRI_15_BERLIN + timedelta(minutes=minutes))
    counts = Counter(sent_slots(fake, ["U0INFLT"]))
    assert counts == {("U0INFLT", "2026-11-27"): 1}, counts
