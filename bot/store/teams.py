"""Teams and processes: a team's PMs, Events API deliveries already handled, uninstalls, and
the heartbeats of running processes (`TeamRepo`, the store's `store.teams`). Imports the
store's own modules only.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from bot.store.codec import ms
from bot.store.keys import EVENT_TTL_S, Keys
from bot.store.transport import Repository


class TeamRepo(Repository):
    """Per-team sets and flags, and the process registry."""

    def team_users(self, team_id: str) -> set[str]:
        return {str(u) for u in self.redis.smembers(Keys.team_users(team_id))}

    def add_team_user(self, team_id: str, user_id: str) -> None:
        """List a newly enrolled PM in their team (kept off /win's steady-state round trip)."""
        self.redis.sadd(Keys.team_users(team_id), user_id)

    def claim_event(self, team_id: str, event_id: str) -> bool:
        """True the first time an Events API delivery is seen; False for a retry.

        The claim holds a token of this call: when the client resends the SET (its first reply
        was late, not lost), the second run finds our own token and the delivery is still the
        first, not a redelivery."""
        token = secrets.token_hex(8)
        key = Keys.event(team_id, event_id)
        current = self.redis.set(key, token, nx=True, get=True, ex=EVENT_TTL_S)
        return current is None or current == token

    def mark_uninstalled(self, team_id: str, now: datetime) -> None:
        """The app was removed from a team (or its tokens revoked): scheduled work stops."""
        self.redis.hset(Keys.team(team_id), "uninstalled_at", now.isoformat())

    def is_uninstalled(self, team_id: str) -> bool:
        return bool(self.redis.hexists(Keys.team(team_id), "uninstalled_at"))

    def uninstalled(self, team_ids: Sequence[str]) -> set[str]:
        pipe = self.redis.pipeline(transaction=False)
        for t in team_ids:
            pipe.hexists(Keys.team(t), "uninstalled_at")
        return {t for t, gone in zip(team_ids, pipe.execute(), strict=True) if gone}

    # Processes --------------------------------------------------------------------------------

    def heartbeat(self, process_id: str, now: datetime, ttl_s: int = 180) -> int:
        """Record that this process is alive; return how many processes are alive."""
        now_ms = ms(now)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(Keys.PROCS, {process_id: now_ms})
        pipe.zremrangebyscore(Keys.PROCS, "-inf", now_ms - ttl_s * 1000)
        pipe.zcard(Keys.PROCS)
        return int(pipe.execute()[-1])

    def live_processes(self, now: datetime, ttl_s: int = 180) -> int:
        return int(self.redis.zcount(Keys.PROCS, ms(now) - ttl_s * 1000, "+inf"))
