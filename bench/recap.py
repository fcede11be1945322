"""Benchmark 4: the weekly recap at scale, and Redis memory per stored win.

`Recaps.build` for a channel of N PMs with 10 wins each this week, against a plain pipelined
read of the same keys (team users, week counts, pauses, share flags, the PMs' timelines around
the week and as many of the opted-in PMs' wins as the build read, counted at the server) with
the same batch sizes. The channel's member list comes from memory in both (conversations.members
is Slack's cost, not ours)."""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bench.infra import TEAM, RedisProc, ServerCounters, user_id
from bench.populate import (
    FRI_15_BERLIN,
    TZ,
    enrol_due,
    log_wins_pipelined,
    recap_team,
    win_for_log,
)
from bench.report import Figure, verdict
from bench.roundtrips import RECAP_CHANNEL, RECAP_WEEK, MembersStub
from bot.domain.prompts import prompt_of_the_week
from bot.domain.recap import MAX_HIGHLIGHTS, build_recap
from bot.domain.weeks import week_of, week_span_ms
from bot.runtime.logs import get_logger
from bot.scheduled.recaps import Recaps, member_weeks
from bot.store import Keys, Store, connect, week_candidates

BATCH = 500  # RecapRepo.recap_members' batch
REFLECTIONS = [
    "The pricing review needed me most: I framed the question and let the team decide.",
    "I spent the week in delivery meetings; next week I block Tuesday for the roadmap bet.",
    "Saying no to the SSO request early saved two sprints; I should write these down sooner.",
    "Discovery calls changed my mind about onboarding. I shared the synthesis with design.",
]
BOT = "U0FAKEBOT01"


def plain_read(
    rds: redis.Redis, team: str, members: list[str], week: str, wins_read: int
) -> dict[str, float]:
    """The same keys, read with plain pipelines and no domain work: `wins_read` wins of
    opted-in PMs, in the build's batch sizes. Returns how long the member part and the wins
    part took, and how many wins were read."""
    began = time.perf_counter()
    users = rds.smembers(Keys.team_users(team))
    pms = [u for u in members if u in users]
    low, high = week_span_ms(week)
    candidates = []
    for start in range(0, len(pms), BATCH):
        chunk = pms[start : start + BATCH]
        pipe = rds.pipeline(transaction=False)
        for u in chunk:
            pipe.hgetall(Keys.weeks(team, u))
            pipe.smembers(Keys.paused(team, u))
            pipe.hget(Keys.profile(team, u), "share")
            pipe.zrangebyscore(Keys.timeline(team, u), low, f"({high}", withscores=True)
        raw = pipe.execute()
        for i, u in enumerate(chunk):
            if raw[4 * i + 2] == "1":
                candidates.extend((at, u, win) for win, at in raw[4 * i + 3])
    middle = time.perf_counter()
    wanted = [(u, win) for _, u, win in sorted(candidates)][:wins_read]
    wins, start, size = 0, 0, 4 * MAX_HIGHLIGHTS
    while start < len(wanted):
        pipe = rds.pipeline(transaction=False)
        for u, win in wanted[start : start + size]:
            pipe.hget(Keys.wins(team, u), win)
        wins += len(pipe.execute())
        start, size = start + size, 2 * size
    end = time.perf_counter()
    return {"members_s": middle - began, "wins_s": end - middle, "wins": wins}


def wins_read_by_build(recaps: Recaps, url: str, week: str) -> int:
    """How many wins one `Recaps.build` reads: HGETs counted at the server, less the one
    share-flag HGET per member."""
    counters = ServerCounters(url)
    before = counters.snapshot()
    recap = recaps.build(TEAM, week, RECAP_CHANNEL)
    after = counters.snapshot()
    counters.client.close()
    hgets = after.get("hget", 0) - before.get("hget", 0) - counters.overhead.get("hget", 0)
    return hgets - recap.members


def breakdown(recaps: Recaps, stub: MembersStub, week: str) -> dict[str, float]:
    """Recaps.build's steps, timed one by one (the same calls in the same order)."""
    store = recaps.store
    t0 = time.perf_counter()
    in_channel = recaps.members(stub, RECAP_CHANNEL)  # type: ignore[arg-type]
    users = store.teams.team_users(TEAM)
    pms = [u for u in in_channel if u in users]
    t1 = time.perf_counter()
    rows = store.recaps.recap_members(TEAM, pms, week=week)
    t2 = time.perf_counter()
    members = member_weeks(rows, week)
    t3 = time.perf_counter()
    candidates = week_candidates(row for row in rows if row.share == "1")
    wins = store.recaps.first_clarity_wins(TEAM, week, candidates, MAX_HIGHLIGHTS)
    t4 = time.perf_counter()
    built = build_recap(week, members, wins, prompt_of_the_week(week).text)
    t5 = time.perf_counter()
    return {
        "members_and_users_s": t1 - t0,
        "recap_members_s": t2 - t1,
        "counts_from_fields_s": t3 - t2,
        "first_clarity_wins_s": t4 - t3,
        "build_recap_s": t5 - t4,
        "wins_decoded": len(wins),
        "highlights": len(built.highlights),
    }


def timing(url: str, members: int, repeats: int, *, detail: bool = True) -> dict[str, Any]:
    """Build the recap `repeats` times and read plainly as often, alternating; medians. With
    `detail`, a warm-up round first and a timed breakdown of build's steps afterwards."""
    rds = connect(url, socket_timeout=30)
    rds.flushall()
    users = [user_id("UM", i) for i in range(members)]
    started = time.perf_counter()
    written = recap_team(rds, TEAM, users, RECAP_WEEK)
    populate_s = time.perf_counter() - started
    stub = MembersStub([*users, BOT])
    store = Store(connect(url, socket_timeout=30))
    recaps = Recaps(store, lambda team: stub, clock=lambda: datetime.now(UTC), log=get_logger())
    wins_read = wins_read_by_build(recaps, url, RECAP_WEEK)  # also warms up
    if detail:
        plain_read(rds, TEAM, users, RECAP_WEEK, wins_read)
    product, plain = [], []
    for _ in range(repeats):
        began = time.perf_counter()
        recap = recaps.build(TEAM, RECAP_WEEK, RECAP_CHANNEL)
        product.append(time.perf_counter() - began)
        began = time.perf_counter()
        plain_read(rds, TEAM, users, RECAP_WEEK, wins_read)
        plain.append(time.perf_counter() - began)
    assert recap.members == members, (recap.members, members)
    parts = breakdown(recaps, stub, RECAP_WEEK) if detail else {}
    plain_parts = plain_read(rds, TEAM, users, RECAP_WEEK, wins_read) if detail else {}
    rds.close()
    store.redis.close()
    return {
        "members": members,
        "wins": written["wins"],
        "sharing": written["sharing"],
        "highlights": len(recap.highlights),
        "shared_clarity": sum(recap.shared_clarity.values()),
        "wins_read": wins_read,
        "milestones": len(recap.milestones),
        "build_s": statistics.median(product),
        "plain_s": statistics.median(plain),
        "build_runs_s": product,
        "plain_runs_s": plain,
        "populate_s": populate_s,
        "breakdown": parts,
        "plain_breakdown": plain_parts,
    }


def memory(wins: int) -> dict[str, Any]:
    """used_memory before and after logging `wins` wins (100 per PM, over 25 weeks) in a fresh
    redis-server, and MEMORY USAGE of a sample of keys. (A win's id is its idempotency key: no
    key per delivery.)"""
    server = RedisProc().start()
    try:
        rds = connect(server.url, socket_timeout=30)
        rng = random.Random(4)
        per_pm = 100
        pms = [user_id("UW", i) for i in range(max(1, wins // per_pm))]
        batch = [win_for_log(TEAM, u, n, FRI_15_BERLIN, rng) for u in pms for n in range(per_pm)]
        rds.script_load("return 1")  # the script cache exists before the first snapshot
        before = int(rds.info("memory")["used_memory"])
        payload = log_wins_pipelined(rds, batch, FRI_15_BERLIN)
        after = int(rds.info("memory")["used_memory"])
        kinds: dict[str, int] = {}
        sample = pms[: min(len(pms), 20)]
        sampled_wins = per_pm * len(sample)
        for u in sample:
            for kind in ("profile", "wins", "timeline", "recent", "weeks"):
                key = getattr(Keys, kind)(TEAM, u)
                kinds[kind] = kinds.get(kind, 0) + int(rds.memory_usage(key, samples=0) or 0)
        per_kind = {k: v / sampled_wins for k, v in kinds.items()}
        rds.close()
    finally:
        server.stop()
    return {
        "wins": len(batch),
        "pms": len(pms),
        "used_memory_delta": after - before,
        "bytes_per_win": (after - before) / len(batch),
        "json_bytes_per_win": payload / len(batch),
        "memory_usage_per_win_by_key": {k: round(v, 1) for k, v in per_kind.items()},
    }


WINS_PER_WEEK = 4  # a PM who uses PM Coach as intended: a few wins a week
REFLECTIONS_PER_YEAR = 26  # an answer to every other weekly nudge


def memory_year(pms: int) -> dict[str, Any]:
    """used_memory before and after a year of use by `pms` PMs in a fresh redis-server:
    enrolment and schedule (`enrol_due`: profile, week counts, due index, team set), 52 weeks ×
    WINS_PER_WEEK wins logged with `WinRepo.log_win`'s own commands, REFLECTIONS_PER_YEAR
    reflections through `ProfileRepo.add_reflection`, the latest nudge's record and a cycle of
    prompts shown; and MEMORY USAGE of each key kind per PM."""
    server = RedisProc().start()
    try:
        rds = connect(server.url, socket_timeout=30)
        rng = random.Random(5)
        now = FRI_15_BERLIN
        users = [user_id("UY", i) for i in range(pms)]
        rds.script_load("return 1")  # the script cache exists before the first snapshot
        before = int(rds.info("memory")["used_memory"])
        enrol_due(rds, TEAM, users, now)
        wins = [
            win_for_log(TEAM, u, n, now, rng, days=364)
            for u in users
            for n in range(52 * WINS_PER_WEEK)
        ]
        log_wins_pipelined(rds, wins, now)
        store = Store(rds)
        for u in users:
            for k in range(REFLECTIONS_PER_YEAR):
                at = now - timedelta(weeks=2 * k)
                prompt = prompt_of_the_week(week_of(at, TZ))
                reflection = {
                    "id": f"{rng.getrandbits(48):012x}",
                    "at": at.isoformat(),
                    "prompt_id": prompt.id,
                    "prompt": prompt.text,
                    "text": rng.choice(REFLECTIONS),
                }
                store.profiles.add_reflection(TEAM, u, reflection, at)
        pipe = rds.pipeline(transaction=False)
        for u in users:
            prompt = prompt_of_the_week(week_of(now, TZ))
            pipe.hset(
                Keys.nudge(TEAM, u),
                mapping={
                    "channel": "D0" + u,
                    "ts": "1764252000.000100",
                    "prompt_id": prompt.id,
                    "prompt": prompt.text,
                    "slot": "2026-11-27",
                },
            )
            pipe.sadd(Keys.shown(TEAM, u), *(f"p{i}" for i in range(8)))
        pipe.execute()
        after = int(rds.info("memory")["used_memory"])
        kinds: dict[str, int] = {}
        sample = users[: min(len(users), 20)]
        for u in sample:
            for kind in ("profile", "wins", "timeline", "recent", "weeks", "reflections"):
                key = getattr(Keys, kind)(TEAM, u)
                kinds[kind] = kinds.get(kind, 0) + int(rds.memory_usage(key, samples=0) or 0)
        store.close()
        rds.close()
    finally:
        server.stop()
    return {
        "pms": pms,
        "wins_per_pm": 52 * WINS_PER_WEEK,
        "reflections_per_pm": REFLECTIONS_PER_YEAR,
        "used_memory_delta": after - before,
        "bytes_per_pm_year": (after - before) / pms,
        "memory_usage_per_pm_by_key": {k: round(v / len(sample)) for k, v in kinds.items()},
    }


def timing_figure(result: dict[str, Any]) -> Figure:
    ratio = result["build_s"] / result["plain_s"]
    ok = ratio <= 2.0
    parts, plain = result["breakdown"], result["plain_breakdown"]
    where = (
        f"build's steps: recap_members {1000 * parts['recap_members_s']:.0f} ms + "
        f"counts {1000 * parts['counts_from_fields_s']:.0f} ms (plain: "
        f"{1000 * plain['members_s']:.0f} ms); first_clarity_wins "
        f"{1000 * parts['first_clarity_wins_s']:.0f} ms reading {result['wins_read']:,} wins "
        f"(plain: {1000 * plain['wins_s']:.0f} ms); build_recap "
        f"{1000 * parts['build_recap_s']:.0f} ms"
    )
    return Figure(
        "4",
        f"recap build: {result['members']:,} members × 10 wins (Recaps.build)",
        1000 * result["build_s"],
        "ms",
        1000 * result["plain_s"],
        "plain pipelined read",
        "≤ 2× plain read",
        verdict(ok),
        (
            f"median of {len(result['build_runs_s'])}; {result['sharing']:,} PMs share "
            f"{result['shared_clarity']:,} clarity wins; the build reads {result['wins_read']:,} "
            f"wins for the thread's {result['highlights']} highlights; "
            f"{result['milestones']:,} milestones"
        )
        if ok
        else where,
        result,
    )


def memory_figures(result: dict[str, Any]) -> list[Figure]:
    parts = ", ".join(f"{k} {v:.0f}" for k, v in result["memory_usage_per_win_by_key"].items())
    return [
        Figure(
            "4",
            f"Redis memory per win (used_memory Δ, {result['wins']:,} wins logged)",
            result["bytes_per_win"],
            "B",
            result["json_bytes_per_win"],
            "the win's JSON",
            "state it",
            "INFO",
            f"WinRepo.log_win's own commands, captured and replayed 500 wins per pipeline; "
            f"MEMORY USAGE per win by key: {parts}",
            result,
        ),
    ]


def year_figure(result: dict[str, Any]) -> Figure:
    parts = ", ".join(f"{k} {v:,}" for k, v in result["memory_usage_per_pm_by_key"].items())
    return Figure(
        "4",
        f"Redis memory per PM per year (used_memory Δ, {result['pms']:,} PMs)",
        result["bytes_per_pm_year"] / 1024,
        "KiB",
        None,
        "",
        "state it",
        "INFO",
        f"a year each: {result['wins_per_pm']} wins ({WINS_PER_WEEK} a week), "
        f"{result['reflections_per_pm']} reflections, profile, week counts, schedule, latest "
        f"nudge; MEMORY USAGE per PM by key (B): {parts}",
        result,
    )
