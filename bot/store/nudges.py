"""The nudge schedule: the sharded due index and its leases (claim, complete, reschedule), the
send guard of each nudge slot, the record of a sent nudge, and the workspace's shared send
budget (`NudgeRepo`, the store's `store.nudges`; see DESIGN-SCHEDULING.md). Imports the store's
own modules only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.store.codec import from_ms, ms, pm_state, to_dict
from bot.store.keys import DUE_SHARDS, SENT_TTL_S, Keys, due_shard
from bot.store.lua import (
    CLAIM,
    COMPLETE,
    GUARD,
    MARK_SENT,
    MARK_UNKNOWN,
    NUDGE_STATE,
    PENALIZE,
    RELEASE_GUARD,
    RESCHEDULE,
    RESERVE,
)
from bot.store.records import Claim, Completion, NudgeState, SentNudge
from bot.store.transport import Command, Repository, evalsha


class NudgeRepo(Repository):
    """What every process's tick claims and writes for the nudges it sends."""

    # The due index and its leases -------------------------------------------------------------

    def reschedule(self, team_id: str, user_id: str, due: datetime | None) -> None:
        """Make the PM due at `due` (None: no nudges). Safe while their nudge is in flight."""
        shard = due_shard(team_id, user_id)
        keys = [Keys.due_index(shard), Keys.due_leases(shard)]
        value = "off" if due is None else str(ms(due))
        member = f"{team_id}:{user_id}"
        self.transport.run_scripts([evalsha(RESCHEDULE, keys, member, value)])

    def due_at(self, team_id: str, user_id: str) -> datetime | None:
        score = self.redis.zscore(
            Keys.due_index(due_shard(team_id, user_id)), f"{team_id}:{user_id}"
        )
        return None if score is None else from_ms(score)

    def claim_due(
        self, now: datetime, *, lease_s: float, limit: int, token_prefix: str
    ) -> list[Claim]:
        """Claim up to `limit` due PMs across all shards in one round trip."""
        per_shard = max(1, -(-limit // DUE_SHARDS))
        now_ms, lease_ms = ms(now), int(lease_s * 1000)
        commands = [
            evalsha(
                CLAIM,
                [Keys.due_index(shard), Keys.due_leases(shard)],
                now_ms,
                lease_ms,
                per_shard,
                f"{token_prefix}.{shard}",
            )
            for shard in range(DUE_SHARDS)
        ]
        claims: list[Claim] = []
        for flat in self.transport.run_scripts(commands):
            for i in range(0, len(flat), 4):
                team_id, _, user_id = str(flat[i]).partition(":")
                claims.append(
                    Claim(
                        team_id, user_id, from_ms(flat[i + 1]), str(flat[i + 2]), int(flat[i + 3])
                    )
                )
        return claims

    def complete(self, completions: Sequence[Completion]) -> int:
        """Finish claims (fenced by token), batched per shard: one round trip."""
        if not completions:
            return 0
        return sum(int(n) for n in self.transport.run_scripts(_completing(completions)))

    def earliest_due(self) -> datetime | None:
        """The next instant any nudge or recap falls due (the sandbox jumps its clock there)."""
        pipe = self.redis.pipeline(transaction=False)
        for shard in range(DUE_SHARDS):
            pipe.zrange(Keys.due_index(shard), 0, 0, withscores=True)
        pipe.zrange(Keys.RECAPS, 0, 0, withscores=True)
        scores = [float(row[0][1]) for row in pipe.execute() if row]
        return from_ms(min(scores)) if scores else None

    def backlog(self, now: datetime) -> int:
        """How many nudges are due and not yet claimed: a free health metric."""
        pipe = self.redis.pipeline(transaction=False)
        for shard in range(DUE_SHARDS):
            pipe.zcount(Keys.due_index(shard), "-inf", ms(now))
        return sum(int(n) for n in pipe.execute())

    # Deciding and sending a nudge -------------------------------------------------------------

    def nudge_states(self, pairs: Sequence[tuple[str, str]]) -> list[NudgeState]:
        """Profile, week counts, pauses, shown prompts and custom prompts of many PMs: one
        round trip."""
        if not pairs:
            return []
        commands = [
            evalsha(
                NUDGE_STATE,
                [
                    Keys.profile(t, u),
                    Keys.weeks(t, u),
                    Keys.paused(t, u),
                    Keys.shown(t, u),
                    Keys.prompts(t, u),
                ],
            )
            for t, u in pairs
        ]
        states = []
        for profile_flat, weeks, paused, shown, prompts_flat in self.transport.run_scripts(
            commands
        ):
            profile = to_dict(profile_flat)
            prompts = to_dict(prompts_flat)
            states.append(
                NudgeState(
                    profile=profile,
                    state=pm_state(weeks, paused, profile.get("target", "")),
                    shown=frozenset(shown),
                    custom_prompts=sorted((int(k), v) for k, v in prompts.items()),
                )
            )
        return states

    def guard(self, items: Sequence[tuple[str, str, str, str]], ttl_s: float) -> list[str]:
        """Take the send guard of (team, user, slot, token) items: "ok" where this holder may
        send, "forgotten" where the PM has no profile, otherwise the guard's current value
        ("sent:…", "pending:…", "unknown:…")."""
        if not items:
            return []
        ttl_ms = int(ttl_s * 1000)
        commands = [
            evalsha(GUARD, [Keys.sent(t, u, slot), Keys.profile(t, u)], token, ttl_ms)
            for t, u, slot, token in items
        ]
        return [str(v) for v in self.transport.run_scripts(commands)]

    def mark_sent_many(self, accepted: Sequence[SentNudge]) -> None:
        """Slack accepted these nudges: record each, then complete its claim — two round trips
        for the whole batch.

        This is the only window that cannot be closed (Slack has no idempotency key): if the
        process dies between Slack's answer and the records, a nudge may be sent again after
        the lease expires — unless the retry finds it in the DM's history first. No claim is
        ever completed before every record of the batch is written: a claim completed without
        its record would never be retried, and the next occurrence would be planned as if the
        nudge had not been sent. A failure between the two leaves records with their claims
        still leased; the retry after the lease finds the guard saying "sent" and only
        completes.
        """
        if not accepted:
            return
        records = [
            evalsha(
                MARK_SENT,
                [
                    Keys.sent(t, u, sent.slot),
                    Keys.nudge(t, u),
                    Keys.profile(t, u),
                    Keys.shown(t, u),
                ],
                sent.ts,
                sent.channel,
                sent.prompt_id,
                sent.prompt,
                sent.slot,
                sent.now.isoformat(),
                SENT_TTL_S,
                "1" if sent.notice else "0",
                "1" if sent.new_cycle else "0",
            )
            for sent in accepted
            for t, u in [(sent.claim.team_id, sent.claim.user_id)]
        ]
        completions = [
            Completion(s.claim.team_id, s.claim.user_id, s.claim.token, s.next_due)
            for s in accepted
        ]
        self.transport.load_script(MARK_SENT)  # loaded before the window, not after a refusal
        self.transport.run_scripts(records)
        self.transport.run_scripts(_completing(completions))

    def mark_unknown(self, team_id: str, user_id: str, slot: str, token: str) -> None:
        """A post whose outcome is unknown (timeout, connection lost): the next attempt must
        look in the DM's history before posting again."""
        keys = [Keys.sent(team_id, user_id, slot), Keys.profile(team_id, user_id)]
        command = evalsha(MARK_UNKNOWN, keys, f"unknown:{token}", SENT_TTL_S)
        self.transport.run_scripts([command])

    def release_guard(self, team_id: str, user_id: str, slot: str, token: str) -> None:
        """Slack refused the post (5xx, 429 after retries): free the slot for the retry, noting
        that nothing was posted so the retry need not look in the DM's history. Only while
        this holder still holds it: one compare-and-set."""
        key = Keys.sent(team_id, user_id, slot)
        self.transport.run_scripts([evalsha(RELEASE_GUARD, [key], token, SENT_TTL_S)])

    def nudge_record(self, team_id: str, user_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(Keys.nudge(team_id, user_id))
        return {str(k): str(v) for k, v in (raw or {}).items()}

    # The workspace's shared send budget (GCRA) ------------------------------------------------

    def reserve_sends(self, team_id: str, count: int, rate_per_s: float, burst: int) -> list[float]:
        """Reserve `count` send slots in the workspace's shared budget; seconds to wait each."""
        if count <= 0:
            return []
        interval_ms = 1000.0 / rate_per_s
        tolerance = interval_ms * max(burst - 1, 0)
        command = evalsha(RESERVE, [Keys.rate(team_id)], count, interval_ms, tolerance)
        waits = self.transport.run_scripts([command])[0]
        return [float(w) / 1000 for w in waits]

    def penalize_sends(self, team_id: str, seconds: float) -> None:
        """Slack answered 429: every process holds off for `seconds`."""
        key = Keys.rate(team_id)
        self.transport.run_scripts([evalsha(PENALIZE, [key], int(seconds * 1000))])


def _completing(completions: Sequence[Completion]) -> list[Command]:
    """COMPLETE commands for `completions`: one per due-index shard."""
    by_shard: dict[int, list[str]] = {}
    for c in completions:
        if c.retry_at is not None:
            nxt = f"retry:{ms(c.retry_at)}"
        else:
            nxt = "" if c.next_due is None else str(ms(c.next_due))
        by_shard.setdefault(due_shard(c.team_id, c.user_id), []).extend(
            [f"{c.team_id}:{c.user_id}", c.token, nxt]
        )
    return [
        evalsha(COMPLETE, [Keys.due_index(shard), Keys.due_leases(shard)], *args)
        for shard, args in by_shard.items()
    ]
