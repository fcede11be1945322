"""Wins: log, undo, edit, history and the App Home's snapshot of a PM (`WinRepo`, the store's
`store.wins`). Imports the domain model and the store's own modules only.
"""

from __future__ import annotations

import json
from datetime import datetime

from bot.domain.wins import Lane, Win
from bot.store.codec import dump_json, load_wins, ms, pm_state
from bot.store.keys import RECENT_MAX, UNDONE_TTL_S, Keys, win_keys
from bot.store.lua import DELETE_WIN, EDIT_WIN, LOG_WIN
from bot.store.records import DeleteOutcome, LogOutcome, Snapshot
from bot.store.transport import Repository, evalsha


class WinRepo(Repository):
    """A PM's wins: each written with its week counts in one script, read by time."""

    def log_win(
        self,
        win: Win,
        *,
        tz: str,
        now: datetime,
        draft_id: str | None = None,
        tz_source: str = "slack",
    ) -> LogOutcome:
        """Store `win` once, in one round trip. Its id derives from the Slack delivery that
        carried it (`bot.domain.wins.win_id`), so a redelivery or a second click is a ``duplicate``
        that writes nothing: while the win is stored, and for UNDONE_TTL_S after it was undone.

        `tz` is the zone the caller computed `win.week` with; if the PM's stored zone differs,
        nothing is written and the outcome is ``stale_tz`` with the stored zone, so the caller
        recomputes the week and calls again.
        """
        t, u = win.team_id, win.user_id
        keys = [*win_keys(t, u), Keys.undone(t, u, win.id)]
        if draft_id is not None:
            keys.append(Keys.draft(t, u, draft_id))
        args = [
            win.id,
            dump_json(win.to_json_dict()),
            ms(win.at),
            win.week,
            "s" if win.lane is Lane.SHIPPED else "c",
            tz,
            now.isoformat(),
            RECENT_MAX,
            tz_source,
        ]
        result = self.transport.run_scripts([evalsha(LOG_WIN, keys, *args)])[0]
        status, win_id, weeks, paused, target, stored_tz, enrolled = result
        if status == "stale_tz":
            return LogOutcome(status, "", pm_state([], [], ""), str(stored_tz))
        return LogOutcome(
            str(status),
            str(win_id),
            pm_state(weeks, paused, target),
            str(stored_tz),
            str(enrolled),
        )

    def stored_win(self, win: Win, *, now: datetime) -> tuple[Win, LogOutcome] | None:
        """After a `log_win(win, now=now)` whose answer was lost (OutcomeUnknown): the win
        stored under `win.id` and a ``logged`` outcome (``enrolled`` "new" when that call
        created the profile: its `enrolled_at` is `now`), or None when it is not stored. None
        is no proof that it never will be: a late run may still store it. One round trip."""
        t, u = win.team_id, win.user_id
        profile, wins, _, weeks, paused, _ = win_keys(t, u)
        raw, weeks_flat, paused_members, (target, tz, enrolled_at) = self.transport.check(
            [
                ("HGET", wins, win.id),
                ("HGETALL", weeks),
                ("SMEMBERS", paused),
                ("HMGET", profile, "target", "tz", "enrolled_at"),
            ]
        )
        if raw is None:
            return None
        enrolled = "new" if enrolled_at == now.isoformat() else ""
        outcome = LogOutcome(
            "logged", win.id, pm_state(weeks_flat, paused_members, target), str(tz or ""), enrolled
        )
        return Win.from_json_dict(json.loads(raw)), outcome

    def delete_win(self, team_id: str, user_id: str, win_id: str) -> DeleteOutcome:
        """Remove exactly one win and what it counted for. Idempotent."""
        t, u = team_id, user_id
        keys = [*win_keys(t, u), Keys.undone(t, u, win_id)]
        command = evalsha(DELETE_WIN, keys, win_id, UNDONE_TTL_S)
        result = self.transport.run_scripts([command])[0]
        if result[0] != "deleted":
            return DeleteOutcome(win=None, state=None)
        win = Win.from_json_dict(json.loads(result[1]))
        return DeleteOutcome(win=win, state=pm_state(result[2], result[3], result[4]))

    def edit_win(self, win: Win) -> DeleteOutcome:
        """Replace a win's text, lane, date, link or beneficiary; counts follow. The returned
        `win` is the *old* version (None when the win no longer exists)."""
        t, u = win.team_id, win.user_id
        keys = [
            Keys.wins(t, u),
            Keys.timeline(t, u),
            Keys.weeks(t, u),
            Keys.paused(t, u),
            Keys.profile(t, u),
        ]
        args = [
            win.id,
            dump_json(win.to_json_dict()),
            ms(win.at),
            win.week,
            "s" if win.lane is Lane.SHIPPED else "c",
        ]
        result = self.transport.run_scripts([evalsha(EDIT_WIN, keys, *args)])[0]
        if result[0] != "edited":
            return DeleteOutcome(win=None, state=None)
        old = Win.from_json_dict(json.loads(result[1]))
        return DeleteOutcome(win=old, state=pm_state(result[2], result[3], result[4]))

    def last_logged_id(self, team_id: str, user_id: str) -> str | None:
        """The win the PM logged most recently and still has, among the last RECENT_MAX."""
        last = self.redis.lindex(Keys.recent(team_id, user_id), 0)
        return str(last) if last is not None else None

    def snapshot(self, team_id: str, user_id: str, recent: int = 5) -> Snapshot:
        """Profile, week counts, pauses and the newest wins: at most two round trips."""
        t, u = team_id, user_id
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(Keys.profile(t, u))
        pipe.hgetall(Keys.weeks(t, u))
        pipe.smembers(Keys.paused(t, u))
        pipe.zrevrange(Keys.timeline(t, u), 0, recent - 1)
        pipe.hlen(Keys.wins(t, u))
        pipe.hlen(Keys.prompts(t, u))
        pipe.zrevrange(Keys.reflections(t, u), 0, 2)
        profile, weeks, paused, ids, total, prompts, reflections = pipe.execute()
        wins = load_wins(self.redis.hmget(Keys.wins(t, u), ids)) if ids else []
        profile = {str(k): str(v) for k, v in (profile or {}).items()}
        return Snapshot(
            enrolled=bool(profile),
            profile=profile,
            state=pm_state(weeks, paused, profile.get("target", "")),
            recent=wins,
            total_wins=int(total),
            custom_prompts=int(prompts),
            reflections=[json.loads(r) for r in reflections],
        )

    def get_win(self, team_id: str, user_id: str, win_id: str) -> Win | None:
        raw = self.redis.hget(Keys.wins(team_id, user_id), win_id)
        return Win.from_json_dict(json.loads(str(raw))) if raw else None

    def user_wins(
        self,
        team_id: str,
        user_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[Win]:
        """A PM's wins in time order (when they happened), optionally within [start, end]."""
        low = ms(start) if start else "-inf"
        high = ms(end) if end else "+inf"
        key = Keys.timeline(team_id, user_id)
        start_at = 0 if limit else None
        ids: list[str]
        if newest_first:
            ids = self.redis.zrevrangebyscore(key, high, low, start=start_at, num=limit)  # type: ignore[assignment]
        else:
            ids = self.redis.zrangebyscore(key, low, high, start=start_at, num=limit)  # type: ignore[assignment]
        if not ids:
            return []
        return load_wins(self.redis.hmget(Keys.wins(team_id, user_id), ids))
