"""The weekly team recap's state: team settings, the recap schedule and its claims (the main
message and its thread reply), and what a recap reads of a team's PMs and wins (`RecapRepo`,
the store's `store.recaps`; `bot.scheduled.recaps.Recaps` is what posts it). Imports the
domain model and the store's own modules only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.domain.weeks import week_span_ms
from bot.domain.wins import Lane, Win
from bot.store.codec import from_ms, load_wins, ms, to_dict
from bot.store.keys import RECAP_TTL_S, Keys
from bot.store.lua import CLAIM_RECAPS, RELEASE
from bot.store.records import RecapMember, week_candidates
from bot.store.teams import TeamRepo
from bot.store.transport import Client, Command, Repository, Wired, evalsha


class RecapRepo(Repository):
    """A team's recap settings, schedule, claims and reads."""

    def __init__(self, client: Client, transport: Wired, teams: TeamRepo) -> None:
        super().__init__(client, transport)
        self.teams = teams

    # Team settings ----------------------------------------------------------------------------

    def team_settings(self, team_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(Keys.team(team_id))
        return {str(k): str(v) for k, v in (raw or {}).items()}

    def set_team_settings(self, team_id: str, **fields: str) -> None:
        self.redis.hset(Keys.team(team_id), mapping=fields)  # type: ignore[arg-type]

    def clear_team_settings(self, team_id: str, *fields: str) -> None:
        self.redis.hdel(Keys.team(team_id), *fields)

    # The recap schedule -----------------------------------------------------------------------

    def schedule_recap(self, team_id: str, due: datetime | None) -> None:
        if due is None:
            self.redis.zrem(Keys.RECAPS, team_id)
        else:
            self.redis.zadd(Keys.RECAPS, {team_id: ms(due)})

    def recap_due_at(self, team_id: str) -> datetime | None:
        score = self.redis.zscore(Keys.RECAPS, team_id)
        return None if score is None else from_ms(score)

    def claim_due_recaps(self, now: datetime, lease_s: float) -> list[tuple[str, datetime]]:
        """Teams whose recap is due, moved out of sight for the lease: (team, due)."""
        command = evalsha(CLAIM_RECAPS, [Keys.RECAPS], ms(now), int(lease_s * 1000))
        flat = self.transport.run_scripts([command])[0]
        return [(str(flat[i]), from_ms(flat[i + 1])) for i in range(0, len(flat), 2)]

    # A week's claims: the main message, then its thread reply ---------------------------------

    def claim_recap(self, team_id: str, week: str, token: str, lease_s: float) -> str:
        """Take the week's recap: "ok" for this holder, otherwise the claim's current value.

        One SET NX GET: if the client resends it (a reply that came late), the second run
        finds this holder's own value and still answers "ok"."""
        return self._claim(Keys.recap(team_id, week), token, lease_s)

    def release_recap(self, team_id: str, week: str, token: str) -> None:
        """Free the week's recap for a retry, only while this holder still holds it (one
        compare-and-delete: its lease may have ended and another process claimed it)."""
        self._release(Keys.recap(team_id, week), token)

    def claim_recap_thread(self, team_id: str, week: str, token: str, lease_s: float) -> str:
        """Take the thread reply of the week's posted recap: "ok" for this holder, otherwise
        the marker's current value ("pending:<other>", "done", "unknown"). Like
        `claim_recap`: one SET NX GET that a resend still answers "ok" to."""
        return self._claim(Keys.recap_thread(team_id, week), token, lease_s)

    def release_recap_thread(self, team_id: str, week: str, token: str) -> None:
        """Free the thread reply for a retry, only while this holder still holds it."""
        self._release(Keys.recap_thread(team_id, week), token)

    def recap_state(self, team_id: str, week: str) -> tuple[str, str]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(Keys.recap(team_id, week))
        pipe.get(Keys.recap_thread(team_id, week))
        claim, thread = pipe.execute()
        return str(claim or ""), str(thread or "")

    def set_recap_state(self, team_id: str, week: str, value: str) -> None:
        self.redis.set(Keys.recap(team_id, week), value, ex=RECAP_TTL_S)

    def set_recap_thread(self, team_id: str, week: str, value: str) -> None:
        self.redis.set(Keys.recap_thread(team_id, week), value, ex=RECAP_TTL_S)

    def _claim(self, key: str, token: str, lease_s: float) -> str:
        """SET NX GET of `pending:<token>` with a lease: "ok" when this holder has it (a
        resent command finds its own value), otherwise the key's current value."""
        mine = f"pending:{token}"
        current = self.redis.set(key, mine, nx=True, get=True, px=int(lease_s * 1000))
        if current is None or current == mine:
            return "ok"
        return str(current)

    def _release(self, key: str, token: str) -> None:
        """Delete a `pending:<token>` claim only while this holder still holds it."""
        self.transport.run_scripts([evalsha(RELEASE, [key], f"pending:{token}")])

    # What a recap reads -----------------------------------------------------------------------

    def recap_members(
        self, team_id: str, user_ids: Sequence[str], batch: int = 500, *, week: str = ""
    ) -> list[RecapMember]:
        """Week-count fields, paused weeks and share flag of many PMs and, with `week`, the
        wins on their timelines around that week (`week_span_ms`: the week in every zone), as
        (epoch ms, win id) in time order; pipelined in batches: one round trip per `batch`
        PMs."""
        out = []
        span = week_span_ms(week) if week else None
        per = 4 if span else 3
        for start in range(0, len(user_ids), batch):
            chunk = user_ids[start : start + batch]
            commands: list[Command] = []
            for u in chunk:
                commands += [
                    ("HGETALL", Keys.weeks(team_id, u)),
                    ("SMEMBERS", Keys.paused(team_id, u)),
                    ("HGET", Keys.profile(team_id, u), "share"),
                ]
                if span:
                    timeline = Keys.timeline(team_id, u)
                    commands.append(
                        ("ZRANGEBYSCORE", timeline, span[0], f"({span[1]}", "WITHSCORES")
                    )
            raw = self._read(commands)
            for i, u in enumerate(chunk):
                weeks, paused, sharing = raw[per * i], raw[per * i + 1], raw[per * i + 2]
                around = _scored(raw[per * i + 3]) if span else []
                out.append(
                    RecapMember(
                        u, to_dict(weeks), {str(w) for w in paused}, str(sharing or ""), around
                    )
                )
        return out

    def _read(self, commands: Sequence[Command]) -> list[Any]:
        """Raw replies of read-only `commands`, one round trip per node (on a cluster, each
        PM's keys are on one node: the transport routes them without a pipeline's per-command
        bookkeeping). The first error reply is raised."""
        replies = self.transport.exchange(commands)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def first_clarity_wins(
        self, team_id: str, week: str, candidates: Sequence[tuple[int, str, str]], limit: int
    ) -> list[Win]:
        """The earliest `limit` clarity wins logged for `week` among `candidates`: (epoch ms,
        user id, win id) in time order, from `week_candidates`.

        Reads the wins in growing batches (4× `limit`, then doubling) until `limit` are
        found: usually one batch, and a few round trips even when nearly every win is a
        shipped one (or one of a neighbouring week, in some zone)."""
        found: list[Win] = []
        start, size = 0, 4 * limit
        while start < len(candidates) and len(found) < limit:
            batch = candidates[start : start + size]
            reads = [("HGET", Keys.wins(team_id, u), w) for _, u, w in batch]
            for win in load_wins(self._read(reads)):
                if win.lane is Lane.CLARITY and win.week == week:
                    found.append(win)
            start, size = start + size, 2 * size
        return found[:limit]

    def team_week_entries(self, team_id: str, week: str) -> list[tuple[str, str]]:
        """(user id, win id) of every win the team's PMs logged in a local ISO week, in time
        order."""
        return [(w.user_id, w.id) for w in self.team_week_wins(team_id, week)]

    def team_week_wins(self, team_id: str, week: str) -> list[Win]:
        """Every win the team's PMs logged in a local ISO week, in time order (a PM's wins
        around the week, from their timeline; then those stored for that week)."""
        users = sorted(self.teams.team_users(team_id))
        candidates = week_candidates(self.recap_members(team_id, users, week=week))
        if not candidates:
            return []
        reads = [("HGET", Keys.wins(team_id, u), w) for _, u, w in candidates]
        return [w for w in load_wins(self._read(reads)) if w.week == week]


def _scored(reply: Sequence[Any]) -> list[tuple[int, str]]:
    """(score, member) of a raw WITHSCORES reply: [member, score, ...] in RESP2, [[member,
    score], ...] in RESP3."""
    if reply and isinstance(reply[0], list | tuple):
        return [(int(float(score)), str(member)) for member, score in reply]
    return [(int(float(reply[j + 1])), str(reply[j])) for j in range(0, len(reply), 2)]
