"""Profiles and a PM's own settings: zone, enrolment, pauses, custom prompts, reflections,
drafts, the scheduler's profile changes and forget-me (`ProfileRepo`, the store's
`store.profiles`). Imports the store's own modules only.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.store.codec import ms
from bot.store.keys import DRAFT_TTL_S, Keys, due_shard
from bot.store.lua import (
    ADD_PROMPT,
    ENROL,
    FORGET_SETTER,
    REMOVE_PROMPT,
    RESUME,
    SET_TZ,
    UPDATE_PROFILE,
)
from bot.store.transport import Repository, evalsha


class ProfileRepo(Repository):
    """A PM's profile hash and what hangs off it under their hash tag."""

    # Zone and enrolment -----------------------------------------------------------------------

    def profile_zone(self, team_id: str, user_id: str) -> tuple[str | None, str | None]:
        """(tz, tz_source) of a PM's profile; (None, None) when unknown."""
        tz, source = self.redis.hmget(Keys.profile(team_id, user_id), ["tz", "tz_source"])
        return (str(tz) if tz else None), (str(source) if source else None)

    def profile_tz(self, team_id: str, user_id: str) -> str | None:
        value = self.redis.hget(Keys.profile(team_id, user_id), "tz")
        return str(value) if value else None

    def set_tz(
        self, team_id: str, user_id: str, tz: str, source: str, *, force: bool = False
    ) -> bool:
        """Record a PM's zone; Slack's zone never overrides an explicit choice unless `force`
        (the PM asked to follow Slack again). True if set."""
        key = Keys.profile(team_id, user_id)
        flag = "1" if force else "0"
        result = self.transport.run_scripts([evalsha(SET_TZ, [key], tz, source, flag)])
        return bool(result[0])

    def enrol(
        self, team_id: str, user_id: str, tz: str, now: datetime, tz_source: str = "slack"
    ) -> str:
        """Create the PM's profile if missing and list them in the team; an enrolled PM's
        interaction ends a back-off. Returns "new", "reactivated" or ""."""
        key = Keys.profile(team_id, user_id)
        commands = [
            evalsha(ENROL, [key], tz, now.isoformat(), tz_source),
            ("SADD", Keys.team_users(team_id), user_id),
        ]
        result = int(self.transport.run_scripts(commands)[0])
        return {1: "new", 2: "reactivated"}.get(result, "")

    # The profile hash -------------------------------------------------------------------------

    def profile(self, team_id: str, user_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(Keys.profile(team_id, user_id))
        return {str(k): str(v) for k, v in (raw or {}).items()}

    def set_profile(self, team_id: str, user_id: str, **fields: str) -> None:
        self.redis.hset(Keys.profile(team_id, user_id), mapping=fields)  # type: ignore[arg-type]

    def clear_profile(self, team_id: str, user_id: str, *fields: str) -> None:
        self.redis.hdel(Keys.profile(team_id, user_id), *fields)

    def update_profiles(
        self, changes: Sequence[tuple[str, str, Mapping[str, str], Sequence[str]]]
    ) -> None:
        """(team, user, fields to set, fields to delete) for many PMs: one round trip. A PM
        whose profile is gone (forget-me) gets none back."""
        commands = [
            evalsha(
                UPDATE_PROFILE,
                [Keys.profile(t, u)],
                len(sets),
                *[part for item in sets.items() for part in item],
                *deletes,
            )
            for t, u, sets, deletes in changes
            if sets or deletes
        ]
        if commands:
            self.transport.run_scripts(commands)

    def mark_inactive(self, team_id: str, user_id: str) -> None:
        """The PM left the workspace: no more nudges until they interact again."""
        self.update_profiles([(team_id, user_id, {"inactive": "1"}, ())])

    # Pauses (vacation) ------------------------------------------------------------------------

    def snapshot_paused(self, team_id: str, user_id: str) -> set[str]:
        return {str(w) for w in self.redis.smembers(Keys.paused(team_id, user_id))}

    def pause(self, team_id: str, user_id: str, weeks: Sequence[str]) -> None:
        self.redis.sadd(Keys.paused(team_id, user_id), *weeks)

    def resume(self, team_id: str, user_id: str, from_week: str) -> int:
        """Un-pause `from_week` and every later week; past pauses stay (they were real)."""
        key = Keys.paused(team_id, user_id)
        result = self.transport.run_scripts([evalsha(RESUME, [key], from_week)])
        return int(result[0])

    # Custom prompts ---------------------------------------------------------------------------

    def custom_prompts(self, team_id: str, user_id: str) -> list[tuple[int, str]]:
        """(number, text) of a PM's own prompts, oldest first."""
        raw = self.redis.hgetall(Keys.prompts(team_id, user_id))
        items = [(int(k), str(v)) for k, v in (raw or {}).items()]
        return sorted(items)

    def add_prompt(self, team_id: str, user_id: str, text: str, limit: int) -> int | None:
        """The new prompt's number, or None when the PM already has `limit` prompts."""
        keys = [Keys.prompts(team_id, user_id), Keys.profile(team_id, user_id)]
        result = self.transport.run_scripts([evalsha(ADD_PROMPT, keys, text, limit)])
        number = int(result[0])
        return None if number < 0 else number

    def remove_prompt(self, team_id: str, user_id: str, number: int) -> bool:
        """True if the prompt was there. One script, never resent (a resend would say False)."""
        keys = [Keys.prompts(team_id, user_id), Keys.shown(team_id, user_id)]
        command = evalsha(REMOVE_PROMPT, keys, str(number))
        return bool(self.transport.run_scripts([command])[0])

    # Reflections ------------------------------------------------------------------------------

    def add_reflection(
        self, team_id: str, user_id: str, reflection: Mapping[str, Any], at: datetime
    ) -> None:
        """Store a reflection (never sent twice: a lost answer is OutcomeUnknown, and
        `has_reflection` tells whether it was stored)."""
        member = _reflection_member(reflection)
        key = Keys.reflections(team_id, user_id)
        reply = self.transport.exchange([("ZADD", key, ms(at), member)])[0]
        if isinstance(reply, Exception):
            raise reply

    def has_reflection(self, team_id: str, user_id: str, reflection: Mapping[str, Any]) -> bool:
        """Whether `reflection` (as given to `add_reflection`) is stored: a `Transport.check`."""
        member = _reflection_member(reflection)
        key = Keys.reflections(team_id, user_id)
        return self.transport.check([("ZSCORE", key, member)])[0] is not None

    def reflections(
        self,
        team_id: str,
        user_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        key = Keys.reflections(team_id, user_id)
        low = ms(start) if start else "-inf"
        high = ms(end) if end else "+inf"
        start_at = 0 if limit else None
        if newest_first:
            raws = self.redis.zrevrangebyscore(key, high, low, start=start_at, num=limit)
        else:
            raws = self.redis.zrangebyscore(key, low, high, start=start_at, num=limit)
        return [json.loads(str(r)) for r in raws]

    # Drafts (a win waiting for its lane) ------------------------------------------------------

    def save_draft(self, team_id: str, user_id: str, draft: Mapping[str, Any]) -> str:
        draft_id = secrets.token_hex(8)
        self.redis.set(
            Keys.draft(team_id, user_id, draft_id),
            json.dumps(draft, ensure_ascii=False),
            ex=DRAFT_TTL_S,
        )
        return draft_id

    def get_draft(self, team_id: str, user_id: str, draft_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(Keys.draft(team_id, user_id, draft_id))
        return json.loads(str(raw)) if raw else None

    # Forget me --------------------------------------------------------------------------------

    def forget(self, team_id: str, user_id: str) -> int:
        """Delete every key about a PM and their entries in team indexes (the team's PMs, the
        due index and its lease, the recap's "set by"). Returns the PM's keys deleted.

        Nothing about the PM remains, whatever else is running: the profile goes first, and
        every write the scheduler makes for a PM (send guard, nudge record, `ignored`, shown
        prompts) is a script that writes nothing when there is no profile; the lease goes with
        the index entry, so an in-flight nudge's completion (fenced by its lease) writes no
        next due time. Only the PM re-enrols themselves (a `/win`, a reflection, a setting).
        The SCAN pattern escapes glob characters: user `U*` is not every user.
        """
        t, u = team_id, user_id
        deleted = int(self.redis.unlink(Keys.profile(t, u)))
        pipe = self.redis.pipeline(transaction=False)
        pipe.srem(Keys.team_users(t), u)
        shard = due_shard(t, u)
        pipe.zrem(Keys.due_index(shard), f"{t}:{u}")
        pipe.hdel(Keys.due_leases(shard), f"{t}:{u}")
        pipe.execute()
        self.transport.run_scripts([evalsha(FORGET_SETTER, [Keys.team(t)], u)])
        batch: list[str] = []
        for key in self.redis.scan_iter(match=Keys.user_pattern(t, u), count=500):
            batch.append(str(key))
            if len(batch) >= 200:
                deleted += int(self.redis.unlink(*batch))
                batch = []
        if batch:
            deleted += int(self.redis.unlink(*batch))
        return deleted


def _reflection_member(reflection: Mapping[str, Any]) -> str:
    return json.dumps(dict(reflection), ensure_ascii=False, sort_keys=True)
