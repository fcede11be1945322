"""The tick under pressure: racing processes over weeks with DST, crashes between claim and
send, lost answers, Slack errors, pacing against a workspace budget, batched round trips."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.domain.schedule import parse_schedule
from bot.fakeslack import FakeSlack
from bot.runtime.app import nudge_client
from bot.runtime.compose import build_runtime
from bot.runtime.logs import get_logger
from bot.runtime.settings import Settings
from bot.scheduled.ticker import Ticker
from bot.store import Store, connect
from tests.conftest import TEAM, Clock
from tests.test_store import CountingConnection, counting_client

FRI_15_BERLIN = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Los_Angeles",
]
SCHEDULES = ["fri 15:00", "mon,thu 09:30", "weekdays 08:45", "sun 10:00"]


def make_ticker(
    settings: Settings,
    client: redis.Redis,
    *,
    timeout: float = 10.0,
    rate: float = 500,
    burst: int = 500,
    lease_s: float = 300,
) -> Ticker:
    return Ticker(
        Store(client),
        lambda team, on_429: nudge_client(settings, on_429, timeout=timeout),
        default_target=50,
        rate_per_s=rate,
        burst=burst,
        log=get_logger("test"),
        lease_s=lease_s,
    )


def enrol_pm(
    settings: Settings,
    rds: redis.Redis,
    clock: Clock,
    user: str,
    tz: str,
    schedule: str = "fri 15:00",
) -> None:
    runtime = build_runtime(settings, redis_client=rds, clock=clock)
    coach = runtime.deps.coach
    coach.tz_cache.put(TEAM, user, tz)
    coach.store.profiles.enrol(TEAM, user, tz, clock())
    coach.store.profiles.set_profile(TEAM, user, **parse_schedule(schedule).to_fields())
    coach.schedule_next(TEAM, user)


def sent_slots(fake: FakeSlack, users: list[str]) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for user in users:
        for message in fake.messages(user):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("slot"):
                counts[(user, payload["slot"])] += 1
    return counts


def expected_instants(
    tz: str, schedule: str, start: datetime, end: datetime
) -> list[tuple[str, datetime]]:
    """Independently: every scheduled local instant in [start, end), by the wall clock."""
    parsed = parse_schedule(schedule)
    zone = ZoneInfo(tz)
    out = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    while True:
        local = datetime.combine(day, parsed.at, tzinfo=zone)
        instant = local.astimezone(UTC)
        if instant >= end:
            break
        if day.weekday() in parsed.days and instant > start:
            out.append((day.isoformat(), instant))
        day += timedelta(days=1)
    return out


@pytest.fixture(name="many")
def _many(fake: FakeSlack) -> Iterator[list[str]]:
    users = [f"U{i:04d}" for i in range(240)]
    for i, user in enumerate(users):
        fake.add_user(user, tz=ZONES[i % len(ZONES)])
    yield users


def test_three_racing_tickers_over_six_weeks_with_dst(
    settings: Settings, redis_url: str, rds: redis.Redis, fake: FakeSlack, many: list[str]
) -> None:
    """240 PMs in six zones with four schedules, six weeks across Sydney's, the EU's and the
    US's DST changes, three tickers with their own connections racing at every due instant:
    every scheduled nudge is sent exactly once — zero duplicates, zero missing."""
    start = datetime(2026, 9, 28, 0, 0, tzinfo=UTC)
    end = datetime(2026, 11, 9, 0, 0, tzinfo=UTC)
    clock = Clock(start)
    expected: dict[tuple[str, str], datetime] = {}
    for i, user in enumerate(many):
        tz, schedule = ZONES[i % len(ZONES)], SCHEDULES[i % len(SCHEDULES)]
        enrol_pm(settings, rds, clock, user, tz, schedule)
        for slot, instant in expected_instants(tz, schedule, start, end):
            expected[(user, slot)] = instant
    tickers = [make_ticker(settings, connect(redis_url)) for _ in range(3)]
    store = Store(rds)
    for instant in sorted(set(expected.values())):
        at = instant + timedelta(seconds=5)
        threads = [threading.Thread(target=t.tick, args=(at,)) for t in tickers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for user in {u for (u, _), when in expected.items() if when == instant}:
            store.profiles.enrol(TEAM, user, "UTC", at)  # the PM interacts: no back-off in this run
    counts = sent_slots(fake, many)
    duplicates = {k: n for k, n in counts.items() if n > 1}
    missing = set(expected) - set(counts)
    unexpected = set(counts) - set(expected)
    assert len(expected) > 2000
    assert not duplicates and not missing and not unexpected


def test_a_process_that_died_after_claiming_loses_nothing(
    settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """A claim abandoned before sending is taken over after the lease and sent once."""
    enrol_pm(settings, rds, clock, "U0ALICE", "Europe/Berlin")
    store = Store(rds)
    [claim] = store.nudges.claim_due(FRI_15_BERLIN, lease_s=300, limit=10, token_prefix="dead")
    assert claim.user_id == "U0ALICE"
    ticker = make_ticker(settings, rds)
    assert ticker.tick(FRI_15_BERLIN + timedelta(minutes=1)).sent == []  # still leased
    report = ticker.tick(FRI_15_BERLIN + timedelta(minutes=6))
    assert len(report.sent) == 1
    assert sent_slots(fake, ["U0ALICE"]) == {("U0ALICE", "2026-11-27"): 1}
    assert store.nudges.due_at(TEAM, "U0ALICE") == FRI_15_BERLIN + timedelta(weeks=1)


def test_a_lost_answer_is_checked_in_history_not_reposted(
    settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """Slack accepted the post but the answer never came (timeout): the retry finds the nudge
    in the DM's history and records it instead of posting twice."""
    enrol_pm(settings, rds, clock, "U0ALICE", "Europe/Berlin")
    ticker = make_ticker(settings, rds, timeout=1)
    fake.delay("chat.postMessage", 1.6)
    first = ticker.tick(FRI_15_BERLIN)
    assert first.sent == [] and next(r for _, r in first.retried).startswith("unknown:")
    fake.wait_for("chat.postMessage")  # Slack did take it, after the client gave up
    report = ticker.tick(FRI_15_BERLIN + timedelta(minutes=3))
    assert len(report.sent) == 1
    assert len(fake.calls_to("chat.postMessage")) == 1  # no second post
    assert fake.calls_to("conversations.history")
    assert sent_slots(fake, ["U0ALICE"]) == {("U0ALICE", "2026-11-27"): 1}
    record = Store(rds).nudges.nudge_record(TEAM, "U0ALICE")
    assert record["ts"] == fake.messages("U0ALICE")[-1]["ts"]


def test_a_lost_request_is_posted_after_checking(
    settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """If the history shows the post never arrived, the retry posts it: once."""
    enrol_pm(settings, rds, clock, "U0ALICE", "Europe/Berlin")
    store = Store(rds)
    [claim] = store.nudges.claim_due(FRI_15_BERLIN, lease_s=60, limit=10, token_prefix="lost")
    store.nudges.mark_unknown(TEAM, "U0ALICE", "2026-11-27", claim.token)
    report = make_ticker(settings, rds).tick(FRI_15_BERLIN + timedelta(minutes=2))
    assert len(report.sent) == 1
    assert sent_slots(fake, ["U0ALICE"]) == {("U0ALICE", "2026-11-27"): 1}


def test_server_errors_are_retried_later_without_duplicates(
    settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    enrol_pm(settings, rds, clock, "U0ALICE", "Europe/Berlin")
    ticker = make_ticker(settings, rds)
    fake.server_error("chat.postMessage", status=503, times=2)
    assert ticker.tick(FRI_15_BERLIN).retried
    assert ticker.tick(FRI_15_BERLIN + timedelta(minutes=3)).retried
    assert ticker.tick(FRI_15_BERLIN + timedelta(minutes=6)).sent == []  # backing off
    assert len(ticker.tick(FRI_15_BERLIN + timedelta(minutes=12)).sent) == 1
    assert sent_slots(fake, ["U0ALICE"]) == {("U0ALICE", "2026-11-27"): 1}


def test_rate_limited_post_waits_and_pushes_the_shared_budget(
    settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """A 429 waits for Retry-After (slack-sdk's handler), then delivers once; the shared budget
    is pushed back so other processes hold off too."""
    enrol_pm(settings, rds, clock, "U0ALICE", "Europe/Berlin")
    fake.rate_limit("chat.postMessage", retry_after=1)
    report = make_ticker(settings, rds).tick(FRI_15_BERLIN)
    assert len(report.sent) == 1
    statuses = [c.status for c in fake.calls_to("chat.postMessage")]
    assert statuses == [429, 200]
    assert rds.exists(f"pmc:v1:{{{TEAM}}}:rate")


def test_missed_nudges_go_out_late_by_day_and_never_at_night(
    settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """Every process was down at 15:00: at 17:00 the nudge goes out late; a Tokyo PM whose
    15:00 nudge is found at 22:30 local is skipped to next week instead."""
    fake.add_user("U0TOKYO", tz="Asia/Tokyo")
    enrol_pm(settings, rds, clock, "U0ALICE", "Europe/Berlin")
    enrol_pm(settings, rds, clock, "U0TOKYO", "Asia/Tokyo", "fri 18:00")
    ticker = make_ticker(settings, rds)
    night = ticker.tick(datetime(2026, 11, 27, 13, 30, tzinfo=UTC))  # 22:30 in Tokyo
    assert [(c.user_id, r) for c, r in night.skipped] == [("U0TOKYO", "night")]
    assert Store(rds).nudges.due_at(TEAM, "U0TOKYO") == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    late = ticker.tick(FRI_15_BERLIN + timedelta(hours=2))
    assert [c.user_id for c, _ in late.sent] == ["U0ALICE"]
    missed = ticker.tick(datetime(2026, 12, 4, 9, 0, tzinfo=UTC) + timedelta(hours=7))
    assert [(c.user_id, r) for c, r in missed.skipped] == [("U0TOKYO", "missed")]


def test_claiming_is_batched(
    settings: Settings, redis_url: str, rds: redis.Redis, fake: FakeSlack, many: list[str]
) -> None:
    """240 due nudges cost about one round trip each (the write after Slack's answer), plus a
    handful per batch of about 100 — not several sequential round trips per nudge."""
    clock = Clock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    for user in many:
        enrol_pm(settings, rds, clock, user, "Europe/Berlin")
    client = counting_client(redis_url)
    ticker = make_ticker(settings, client)
    CountingConnection.sends = 0
    report = ticker.tick(FRI_15_BERLIN)
    assert len(report.sent) == len(many)
    assert CountingConnection.sends <= 1.25 * len(many) + 20, CountingConnection.sends


def test_pacing_keeps_429s_rare_across_processes(
    settings: Settings, redis_url: str, rds: redis.Redis, fake: FakeSlack, many: list[str]
) -> None:
    """Three tickers share one budget of 30/s against a workspace that allows 40/s with bursts
    of 20: under 5% of requests are answered 429 and every nudge is delivered once."""
    clock = Clock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    users = many[:150]
    for user in users:
        enrol_pm(settings, rds, clock, user, "Europe/Berlin")
    fake.workspace_bucket(40, burst=20)
    tickers = [make_ticker(settings, connect(redis_url), rate=30, burst=10) for _ in range(3)]
    threads = [threading.Thread(target=t.tick, args=(FRI_15_BERLIN,)) for t in tickers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    calls = fake.calls_to("chat.postMessage")
    limited = sum(1 for c in calls if c.status == 429)
    assert sent_slots(fake, users) == {(u, "2026-11-27"): 1 for u in users}
    assert limited / len(calls) < 0.05, (limited, len(calls))


def test_tick_cli_prints_what_it_sent(
    settings: Settings, redis_url: str, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    from tests.test_cli import cli_env, pm_coach

    enrol_pm(settings, rds, clock, "U0ALICE", "Europe/Berlin")
    result = pm_coach("tick", "--at", "2026-11-27T15:00:30+01:00", env=cli_env(fake, redis_url))
    assert result.returncode == 0, result.stderr
    assert "sent     T0TEAM:U0ALICE" in result.stdout
    assert "summary: 1 sent" in result.stdout
    again = pm_coach("tick", "--at", "2026-11-27T15:00:30+01:00", env=cli_env(fake, redis_url))
    assert "summary: 0 sent" in again.stdout
    bad = pm_coach("tick", "--at", "friday", env=cli_env(fake, redis_url))
    assert bad.returncode == 2 and "ISO-8601" in bad.stderr
    assert (
        date(2026, 11, 27).isoformat()
        in fake.messages("U0ALICE")[-1]["metadata"]["event_payload"]["slot"]
    )
