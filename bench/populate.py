"""Fast, pipelined population of Redis with the keys the product writes (bot/store.py layout).

Nothing here is measured; it only prepares state. Key names come from `bot.store.Keys`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bot.domain.weeks import shift_week, week_of
from bot.domain.wins import Lane, Win, win_id
from bot.store import Keys, due_shard
from bot.store.lua import LOG_WIN
from bot.store.transport import Transport
from bot.store.wins import WinRepo

# Friday 27 Nov 2026, 15:00 in Berlin: every benchmark PM's default nudge time.
FRI_15_BERLIN = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
TZ = "Europe/Berlin"
CHUNK = 500

TEXTS = [
    "Framed the pricing question for the exec review",
    "Aligned sales and eng on the Q3 bet",
    "Launched the new onboarding flow to 10% of signups",
    "Wrote the one-pager on why we are not building SSO yet",
    "Unblocked the data team on the churn definition",
    "Shipped the CSV export fix customers asked for",
    "Decided to sunset the legacy dashboard, with a migration plan",
    "Ran the discovery interviews and shared the synthesis",
]


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def enrol_due(
    rds: redis.Redis, team: str, users: Sequence[str], due: datetime, seed: int = 1
) -> None:
    """PMs as `Coach.enrol` + `schedule_next` leave them (profile, team set, due index), all due
    at `due`, each with some history in their week counts."""
    rng = random.Random(seed)
    due_ms = int(due.timestamp() * 1000)
    enrolled_at = (due - timedelta(days=60)).isoformat()
    this_week = week_of(due, TZ)
    for chunk in chunks(users):
        pipe = rds.pipeline(transaction=False)
        for u in chunk:
            pipe.hset(
                Keys.profile(team, u),
                mapping={"tz": TZ, "tz_source": "slack", "enrolled_at": enrolled_at},
            )
            weeks = {}
            for back in range(4):
                week = shift_week(this_week, -back)
                weeks[f"{week}:s"] = rng.randint(0, 4)
                weeks[f"{week}:c"] = rng.randint(0, 3)
            pipe.hset(Keys.weeks(team, u), mapping=weeks)
            pipe.zadd(Keys.due_index(due_shard(team, u)), {f"{team}:{u}": due_ms})
        pipe.sadd(Keys.team_users(team), *chunk)
        pipe.execute()


def recap_team(
    rds: redis.Redis,
    team: str,
    users: Sequence[str],
    week: str,
    *,
    wins_each: int = 10,
    share: float = 0.2,
    seed: int = 2,
) -> dict[str, int]:
    """A team whose PMs each logged `wins_each` wins in `week` and some in the weeks before:
    the keys the recap reads (week counts, pauses, share flags, timelines, wins),
    written with pipelined HSET/SADD/ZADD. Returns what was written."""
    rng = random.Random(seed)
    monday = datetime.fromisocalendar(int(week[:4]), int(week[6:]), 1).replace(tzinfo=UTC)
    written = {"members": 0, "sharing": 0, "wins": 0, "paused": 0}
    past_weeks = [shift_week(week, -back) for back in range(1, 12)]
    paused_weeks = [shift_week(week, -back) for back in range(2, 9)]
    for chunk in chunks(users):
        pipe = rds.pipeline(transaction=False)
        for u in chunk:
            sharing = rng.random() < share
            profile = {"tz": TZ, "tz_source": "slack", "enrolled_at": "2026-01-05T09:00:00+00:00"}
            if sharing:
                profile["share"] = "1"
                written["sharing"] += 1
            pipe.hset(Keys.profile(team, u), mapping=profile)
            weeks: dict[str, int] = {}
            clarity = rng.randint(2, wins_each)
            weeks[f"{week}:c"] = clarity
            weeks[f"{week}:s"] = wins_each - clarity
            for past in past_weeks:
                weeks[f"{past}:c"] = rng.randint(0, 4)
                weeks[f"{past}:s"] = rng.randint(0, 5)
            pipe.hset(Keys.weeks(team, u), mapping=weeks)
            if rng.random() < 0.05:
                pipe.sadd(Keys.paused(team, u), rng.choice(paused_weeks))
                written["paused"] += 1
            wins: dict[str, str] = {}
            timeline: dict[str, float] = {}
            for n in range(wins_each):
                at = monday + timedelta(hours=9 + n * 11, minutes=rng.randint(0, 59))
                lane = Lane.CLARITY if n < clarity else Lane.SHIPPED
                win = Win(
                    id=win_id(team, u, f"bench:{n}"),
                    team_id=team,
                    user_id=u,
                    lane=lane,
                    text=rng.choice(TEXTS),
                    at=at,
                    week=week,
                    logged_at=at,
                )
                wins[win.id] = json.dumps(win.to_json_dict(), ensure_ascii=False)
                timeline[win.id] = int(at.timestamp() * 1000)
            pipe.hset(Keys.wins(team, u), mapping=wins)
            pipe.zadd(Keys.timeline(team, u), timeline)
            written["wins"] += wins_each
            written["members"] += 1
        pipe.sadd(Keys.team_users(team), *chunk)
        pipe.execute()
    return written


def win_for_log(
    team: str, user: str, n: int, now: datetime, rng: random.Random, *, days: int = 175
) -> Win:
    """The n-th win a PM logged, spread over the `days` (25 weeks) before `now`."""
    at = now - timedelta(days=rng.randint(0, days), minutes=rng.randint(0, 600))
    link = "https://docs.example.com/d/" + f"{rng.getrandbits(40):010x}" if n % 5 == 0 else None
    return Win(
        id=win_id(team, user, f"command:{n}"),
        team_id=team,
        user_id=user,
        lane=Lane.CLARITY if rng.random() < 0.5 else Lane.SHIPPED,
        text=rng.choice(TEXTS),
        at=at,
        week=week_of(at, TZ),
        logged_at=at,
        link=link,
    )


class _Recorder(Transport):
    """A transport that sends nothing: it records the commands `WinRepo.log_win` would send in
    its one round trip and answers as Redis would for a newly logged win."""

    def __init__(self) -> None:
        super().__init__(None)  # type: ignore[arg-type]
        self.commands: list[tuple[Any, ...]] = []

    def exchange(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        self.commands = list(commands)
        return [["logged", "", [], [], "", TZ, ""]] + [0] * (len(commands) - 1)


def log_wins_pipelined(rds: redis.Redis, wins: Sequence[Win], now: datetime) -> int:
    """Log `wins` with exactly the commands `WinRepo.log_win` issues — each call's pipeline is
    captured (it is not sent) and replayed into pipelines of CHUNK wins, instead of one round
    trip per win. Returns the bytes of win JSON stored."""
    rds.script_load(LOG_WIN)
    recorder = _Recorder()
    wins_repo = WinRepo(rds, recorder)
    payload = 0
    for start in range(0, len(wins), CHUNK):
        pipe = rds.pipeline(transaction=False)
        for win in wins[start : start + CHUNK]:
            wins_repo.log_win(win, tz=TZ, now=now)
            for command in recorder.commands:
                pipe.execute_command(*command)
            payload += len(json.dumps(win.to_json_dict(), ensure_ascii=False).encode())
        pipe.execute()
    return payload
