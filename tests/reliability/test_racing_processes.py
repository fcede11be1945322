"""Racing processes: three real `pm-coach tick --at <instant>` processes (subprocesses, not
threads) at every due instant of a simulated month, for 1,000 PMs in two teams, four schedules
and four time zones, across the EU's and the US's DST changes; against one Redis, and against
a 3-master Redis Cluster whose first node alone is REDIS_URL (each process detects the cluster).

Every scheduled nudge is sent exactly once (no duplicate, none missing, none unexpected) and
every team gets exactly one recap per week.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from redis.cluster import RedisCluster

from bot.domain.schedule import parse_schedule
from bot.domain.weeks import week_of
from bot.fakeslack import FakeSlack
from bot.runtime.compose import build_runtime
from bot.runtime.settings import Settings
from bot.store import Client, Keys, Store, connect
from bot.store.keys import DUE_SHARDS
from tests.conftest import TEAM, Clock
from tests.redis_cluster import RedisClusterServers, key_slot
from tests.test_cli import ROOT, cli_env
from tests.test_ticker import sent_slots

TEAM_B = "T0TEAMB"
START = datetime(2026, 10, 12, 0, 0, tzinfo=UTC)  # a Monday; EU DST ends Oct 25, US Nov 1
END = START + timedelta(weeks=4)
RECAP_TZ = "Europe/London"
RECAP_AT = time(9, 0)  # Monday 09:00 in London: the default recap time
PROCESSES = 3


@dataclass(frozen=True)
class Group:
    team: str
    tz: str
    weekday: int  # 0 = Monday
    at: time
    size: int

    @property
    def schedule(self) -> str:
        return f"{('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')[self.weekday]} {self.at:%H:%M}"


GROUPS = [
    Group(TEAM, "Europe/Berlin", 4, time(15, 0), 250),
    Group(TEAM, "America/New_York", 4, time(15, 0), 250),
    # 19:30 in Kolkata is 14:00 UTC, as 15:00 in Berlin once the EU is back on CET: from
    # Oct 30 those PMs fall due at the same instant, in different zones.
    Group(TEAM, "Asia/Kolkata", 4, time(19, 30), 125),
    Group(TEAM, "Europe/London", 0, time(9, 0), 125),
    Group(TEAM_B, "Europe/Berlin", 4, time(15, 0), 80),
    Group(TEAM_B, "America/New_York", 4, time(15, 0), 80),
    Group(TEAM_B, "Asia/Kolkata", 4, time(19, 30), 45),
    Group(TEAM_B, "Europe/London", 0, time(9, 0), 45),
]
RECAP_CHANNELS = {TEAM: "C0RECAPA", TEAM_B: "C0RECAPB"}


def local_instants(tz: str, weekday: int, at: time) -> list[tuple[str, datetime]]:
    """Independently of the product: each (local date, UTC instant) in (START, END)."""
    zone = ZoneInfo(tz)
    out = []
    day: date = (START - timedelta(days=2)).date()
    while day <= (END + timedelta(days=2)).date():
        instant = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if day.weekday() == weekday and START < instant < END:
            out.append((day.isoformat(), instant))
        day += timedelta(days=1)
    return out


def tick_processes(env: dict[str, str], at: datetime) -> list[subprocess.CompletedProcess[str]]:
    """Three `pm-coach tick --at` processes started together; wait for all of them."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "tick", "--at", at.isoformat()],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def spread_due_shards(cluster: RedisClusterServers) -> None:
    """The race's premise on a cluster: the 16 due-index shards (and their leases) live on
    every node. A layout a previous test left (a reshard) that gives a node none gets one
    shard's slot moved there (the cluster is empty: a slot move is cheap)."""
    for index in range(cluster.masters):
        owners = [cluster.node_of(Keys.due_index(shard)) for shard in range(DUE_SHARDS)]
        if index not in owners:
            donor = max(set(owners), key=owners.count)
            shard = owners.index(donor)
            cluster.migrate_slot(key_slot(Keys.due_index(shard)), donor, index)
    owners = [cluster.node_of(Keys.due_index(shard)) for shard in range(DUE_SHARDS)]
    assert set(owners) == set(range(cluster.masters)), owners


@pytest.fixture(name="backend", params=["single", "cluster"])
def _backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, Client]]:
    """(REDIS_URL, the test's own client): the worker's Redis, or the cluster's first node
    (the client is redis-py's cluster client, as `connect` builds for `pm-coach`)."""
    if request.param == "single":
        url: str = request.getfixturevalue("redis_url")
        yield url, request.getfixturevalue("rds")
        return
    url = request.getfixturevalue("cluster_url")
    spread_due_shards(request.getfixturevalue("redis_cluster"))
    client = connect(url)
    assert isinstance(client, RedisCluster)
    yield url, client
    client.close()


def test_three_tick_processes_a_month_of_1000_pms(
    settings: Settings, backend: tuple[str, Client], fake: FakeSlack
) -> None:
    """At each of the month's 14 due instants three `pm-coach tick` processes race: every one
    of the ~4,000 nudges goes out exactly once and each team gets exactly one recap a week.
    On the cluster the due shards and the PMs' keys are spread over the three nodes (each
    team's keys, its recap claims among them, on the node its tag hashes to), and REDIS_URL
    names one of them."""
    redis_url, rds = backend
    clock = Clock(START)
    runtime = build_runtime(settings, redis_client=rds, clock=clock)
    coach, store = runtime.deps.coach, Store(rds)
    expected: dict[tuple[str, str], datetime] = {}
    members: dict[str, list[str]] = {TEAM: ["U0ADMIN"], TEAM_B: ["U0ADMIN"]}
    zone_of: dict[str, tuple[str, str]] = {}
    n = 0
    for group in GROUPS:
        for _ in range(group.size):
            user = f"U{n:05d}"
            n += 1
            fake.add_user(user, tz=group.tz)
            coach.tz_cache.put(group.team, user, group.tz)
            store.profiles.enrol(group.team, user, group.tz, clock())
            store.profiles.set_profile(
                group.team, user, **parse_schedule(group.schedule).to_fields()
            )
            coach.schedule_next(group.team, user)
            members[group.team].append(user)
            zone_of[user] = (group.team, group.tz)
            for slot, instant in local_instants(group.tz, group.weekday, group.at):
                expected[(user, slot)] = instant
    assert n == 1000
    for team, channel in RECAP_CHANNELS.items():
        fake.add_channel(channel, members=members[team])
        runtime.recaps.set_channel(team, channel, "U0ADMIN", RECAP_TZ)
    recap_instants = [i for _, i in local_instants(RECAP_TZ, 0, RECAP_AT)]
    instants = sorted(set(expected.values()) | set(recap_instants))
    assert 10 <= len(instants) <= 16, instants

    env = cli_env(fake, redis_url, SLACK_POST_RATE="1000", SLACK_POST_BURST="1000")
    failures = []
    for instant in instants:
        at = instant + timedelta(seconds=30)
        for result in tick_processes(env, at):
            if result.returncode != 0 or "Traceback" in result.stderr:
                failures.append((at.isoformat(), result.returncode, result.stderr[-500:]))
        # The PMs nudged now interact (any click or command): no back-off next week.
        for user, _ in {k for k, when in expected.items() if when == instant}:
            team, tz = zone_of[user]
            store.profiles.enrol(team, user, tz, at)
    assert failures == []

    counts = sent_slots(fake, [u for team in members.values() for u in team if u != "U0ADMIN"])
    duplicates = {k: c for k, c in counts.items() if c > 1}
    missing = sorted(set(expected) - set(counts))
    unexpected = sorted(set(counts) - set(expected))
    assert len(expected) >= 3900
    assert (duplicates, missing[:10], unexpected[:10]) == ({}, [], [])

    weeks = sorted(week_of(i - timedelta(days=7), RECAP_TZ) for i in recap_instants)
    for team, channel in RECAP_CHANNELS.items():
        posts = fake.messages(channel)
        main = [m for m in posts if "thread_ts" not in m]
        assert len(main) == len(weeks), [m.get("text", "")[:60] for m in main]
        states = {week: store.recaps.recap_state(team, week)[0] for week in weeks}
        posted_ts = [s.rsplit(":", 1)[-1] for s in states.values() if s.startswith("posted:")]
        assert sorted(posted_ts) == sorted(m["ts"] for m in main), states
        threads = Counter(m["thread_ts"] for m in posts if "thread_ts" in m)
        assert all(c == 1 for c in threads.values()), threads
