"""Benchmark 2: Redis round trips per operation, counted at the client (every send of a command
or a whole pipeline, `tests.test_store.CountingConnection`) and at the server (INFO deltas:
socket reads and commands, the latter including commands run inside Lua scripts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.infra import (
    TEAM,
    FakeControl,
    RedisProc,
    ServerCounters,
    counting_client,
    settings_for,
    user_id,
)
from bench.populate import FRI_15_BERLIN, enrol_due, recap_team
from bench.report import Figure, verdict
from bot.domain.wins import Lane
from bot.runtime.app import nudge_client
from bot.runtime.compose import build_runtime
from bot.runtime.logs import get_logger
from bot.scheduled.recaps import Recaps
from bot.scheduled.ticker import Ticker
from bot.store import Store, connect
from bot.store.lua import CLAIM, COMPLETE, GUARD, LOG_WIN, MARK_SENT, RESERVE
from handlers.home import home_for
from tests.test_store import CountingConnection

RECAP_WEEK = "2026-W47"
RECAP_CHANNEL = "C0RECAP"


@dataclass
class Sizes:
    wins: int
    homes: int
    nudges: int
    members: int


FULL = Sizes(wins=200, homes=100, nudges=1000, members=5000)
QUICK = Sizes(wins=50, homes=30, nudges=200, members=500)


class MembersStub:
    """conversations.members from memory (pages of up to 1,000, as Slack pages them), so a
    recap's Redis traffic is measured without Slack in the way."""

    def __init__(self, members: list[str]) -> None:
        self.members = members

    def conversations_members(
        self, *, channel: str, limit: int = 1000, cursor: str | None = None
    ) -> dict[str, Any]:
        start = int(cursor or 0)
        page = self.members[start : start + limit]
        rest = start + limit < len(self.members)
        return {
            "members": page,
            "response_metadata": {"next_cursor": str(start + limit) if rest else ""},
        }


class Counter:
    def __init__(self, url: str) -> None:
        self.server = ServerCounters(url)
        self.before: dict[str, int] = {}

    def __enter__(self) -> Counter:
        CountingConnection.sends = 0
        self.before = self.server.snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sends = CountingConnection.sends
        self.delta = self.server.delta(self.before)

    def per(self, n: int) -> dict[str, Any]:
        top = {k: v / n for k, v in self.delta.items() if k not in ("reads", "commands")}
        return {
            "client_round_trips": self.sends / n,
            "server_reads": self.delta.get("reads", 0) / n,
            "server_commands": self.delta.get("commands", 0) / n,
            "by_command": {k: round(v, 3) for k, v in sorted(top.items())},
        }


def load_scripts(url: str) -> None:
    """Scripts are cached by the server after their first use: count the steady state."""
    rds = connect(url)
    for script in (LOG_WIN, CLAIM, COMPLETE, GUARD, MARK_SENT, RESERVE):
        rds.script_load(script)
    rds.close()


def run(fake: FakeControl, sizes: Sizes) -> dict[str, Any]:
    redis = RedisProc().start()
    out: dict[str, Any] = {}
    try:
        url = redis.url
        settings = settings_for(fake.api_base_url, url, rate=10_000, burst=1000)
        load_scripts(url)
        rds = counting_client(url)
        pm = user_id("UR", 0)
        fake.add_users("UR", 1)
        runtime = build_runtime(settings, redis_client=rds)
        coach = runtime.deps.coach

        # Logging a win: the request path's Coach.log_win, a PM already known to this process.
        first = coach.log_win(
            team_id=TEAM, user_id=pm, lane=Lane.CLARITY, text="Warm-up win", source="warm"
        )
        coach.finish_enrolment(TEAM, pm, first.enrolled)
        with Counter(url) as count:
            for i in range(sizes.wins):
                coach.log_win(
                    team_id=TEAM,
                    user_id=pm,
                    lane=Lane.CLARITY if i % 2 else Lane.SHIPPED,
                    text=f"Framed the pricing question #{i}",
                    source=f"command:bench-{i}",
                )
        out["log_win"] = {"n": sizes.wins, **count.per(sizes.wins)}

        # Rendering the Home (what app_home_opened publishes), for a PM with history.
        home_for(coach, TEAM, pm)
        with Counter(url) as count:
            for _ in range(sizes.homes):
                home_for(coach, TEAM, pm)
        out["home"] = {"n": sizes.homes, **count.per(sizes.homes)}

        # Nudges: a batch of due PMs through Ticker.tick.
        users = [user_id("UN", i) for i in range(sizes.nudges)]
        fake.add_users("UN", sizes.nudges)
        enrol_due(rds, TEAM, users, FRI_15_BERLIN)
        ticker = Ticker(
            Store(rds),
            lambda team, on_429: nudge_client(settings, on_429),
            default_target=50,
            rate_per_s=10_000,
            burst=1000,
            log=get_logger("bench"),
        )
        ticker.client(TEAM)
        with Counter(url) as count:
            report = ticker.tick(FRI_15_BERLIN + timedelta(seconds=5), budget_s=300)
        sent = max(1, len(report.sent))
        out["nudge"] = {"n": len(report.sent), "due": sizes.nudges, **count.per(sent)}

        # One recap of a channel of `members` PMs with 10 wins each this week.
        members = [user_id("UM", i) for i in range(sizes.members)]
        written = recap_team(rds, TEAM, members, RECAP_WEEK)
        stub = MembersStub([*members, "U0FAKEBOT01"])
        recaps = Recaps(
            Store(rds), lambda team: stub, clock=lambda: datetime.now(UTC), log=get_logger()
        )
        recaps.build(TEAM, RECAP_WEEK, RECAP_CHANNEL)
        with Counter(url) as count:
            recap = recaps.build(TEAM, RECAP_WEEK, RECAP_CHANNEL)
        out["recap"] = {
            "members": sizes.members,
            "recap_members": recap.members,
            "highlights": len(recap.highlights),
            **written,
            **count.per(1),
        }
        rds.close()
    finally:
        redis.stop()
    return out


def figures(out: dict[str, Any]) -> list[Figure]:
    figs = []
    members = out["recap"]["members"]
    recap_goal = members / 500 + 5
    rows = [
        ("log_win", "Redis round trips: logging a win (Coach.log_win)", 1.0, "≤ 1"),
        ("home", "Redis round trips: rendering the App Home", 2.0, "≤ 2"),
        (
            "nudge",
            f"Redis round trips per nudge, {out['nudge']['n']:,} through Ticker.tick",
            2.0,
            "≤ 2",
        ),
        (
            "recap",
            f"Redis round trips: one recap, {members:,} members (Recaps.build)",
            recap_goal,
            f"≤ {recap_goal:g} (members/500+5)",
        ),
    ]
    for key, what, goal, goal_text in rows:
        data = out[key]
        ok = data["client_round_trips"] <= goal + 1e-9
        cmds = ", ".join(f"{k} {v:g}" for k, v in data["by_command"].items())
        figs.append(
            Figure(
                "2",
                what,
                data["client_round_trips"],
                "rt",
                data["server_reads"],
                "server socket reads",
                goal_text,
                verdict(ok),
                f"server per op: {data['server_commands']:g} commands incl. inside Lua ({cmds})",
                data,
            )
        )
    return figs
