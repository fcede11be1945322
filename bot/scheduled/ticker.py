"""The tick: claim due nudges from Redis, decide, pace, send, record — safely from any number
of processes at once (see DESIGN-SCHEDULING.md).

Exactly once: a claim holds a lease; a per-(team, user, local day) send guard stops a second
post; completion is fenced by the lease token. The one window that cannot be closed — Slack
accepted the post and the process died before recording it — is at most `FLUSH_S` wide (the
batch's accepted posts are recorded together every `FLUSH_S`), and a retry after
a lost answer or a lease taken over first looks for the nudge in the DM's history instead of
posting blindly. `chat.postMessage` is never retried on a connection error.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.domain.nudges import Plan, plan_nudge
from bot.domain.prompts import custom_prompt, pick_prompt
from bot.domain.streaks import WeekCount, balance
from bot.domain.weeks import week_of
from bot.store import Claim, Completion, NudgeState, SentNudge, Store, StoreUnavailable
from bot.surfaces.nudge_blocks import METADATA_EVENT, nudge_message

LEASE_S = 300.0
BATCH = 100
FLUSH_S = 0.2  # accepted posts are recorded (batched) at least this often
MAX_ATTEMPTS = 6
# Slack errors after which a PM gets no more nudges (until they interact again).
PERMANENT_FOR_USER = {
    "user_not_found",
    "account_inactive",
    "user_disabled",
    "cannot_dm_bot",
    "channel_not_found",
    "is_archived",
    "not_in_channel",
}


class SharedRateLimitHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler (waits for Retry-After, then retries: a 429 was not accepted),
    which first pushes the workspace's shared send budget back so every process holds off."""

    def __init__(self, on_rate_limited: Callable[[float], None], max_retry_count: int = 2) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.on_rate_limited = on_rate_limited

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is not None:
            header = response.headers.get("retry-after") or response.headers.get("Retry-After")
            value = header[0] if isinstance(header, list) else header
            with contextlib.suppress(ValueError, *StoreUnavailable):
                self.on_rate_limited(float(value or 1))
        super().prepare_for_next_attempt(
            state=state, request=request, response=response, error=error
        )


@dataclass
class TickReport:
    sent: list[tuple[Claim, str]] = field(default_factory=list)  # (claim, prompt)
    skipped: list[tuple[Claim, str]] = field(default_factory=list)  # (claim, reason)
    dropped: list[tuple[Claim, str]] = field(default_factory=list)
    retried: list[tuple[Claim, str]] = field(default_factory=list)
    deferred: list[tuple[Claim, str]] = field(default_factory=list)  # another holder has it
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, claim: Claim, detail: str) -> None:
        with self._lock:
            getattr(self, kind).append((claim, detail))

    def lines(self) -> list[str]:
        out = []
        for kind in ("sent", "skipped", "dropped", "retried", "deferred"):
            for claim, detail in getattr(self, kind):
                out.append(
                    f"{kind:8} {claim.team_id}:{claim.user_id} "
                    f"due {claim.occurrence.isoformat()} — {detail}"
                )
        out.append(
            f"summary: {len(self.sent)} sent, {len(self.skipped)} skipped, "
            f"{len(self.dropped)} dropped, {len(self.retried)} to retry, "
            f"{len(self.deferred)} deferred"
        )
        return out


class Ticker:
    def __init__(
        self,
        store: Store,
        client_for: Callable[[str, Callable[[float], None]], WebClient],
        *,
        default_target: int,
        rate_per_s: float,
        burst: int,
        log: Any,
        lease_s: float = LEASE_S,
        batch: int = BATCH,
        workers: int = 8,
        process_id: str | None = None,
    ) -> None:
        self.store = store
        self._client_for = client_for
        self._clients: dict[str, WebClient] = {}
        self.default_target = default_target
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.log = log
        self.lease_s = lease_s
        # Never claim more than the shared budget can send within half a lease.
        self.batch = max(1, min(batch, int(rate_per_s * lease_s / 2)))
        self.workers = workers
        self.process_id = process_id or uuid.uuid4().hex[:8]
        self._round = 0

    def client(self, team_id: str) -> WebClient:
        if team_id not in self._clients:
            self._clients[team_id] = self._client_for(
                team_id, lambda seconds: self.store.nudges.penalize_sends(team_id, seconds)
            )
        return self._clients[team_id]

    def clients(self) -> list[WebClient]:
        """The Web API clients made so far (one per team)."""
        return list(self._clients.values())

    # The tick ---------------------------------------------------------------------------------

    def tick(self, now: datetime, *, budget_s: float = 50.0) -> TickReport:
        """Run everything due at `now`, batch by batch, for at most about `budget_s` seconds."""
        report = TickReport()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="nudge") as pool:
            while time.monotonic() - started < budget_s:
                self._round += 1
                claims = self.store.nudges.claim_due(
                    now,
                    lease_s=self.lease_s,
                    limit=self.batch,
                    token_prefix=f"{self.process_id}.{self._round}",
                )
                if not claims:
                    break
                self._batch(claims, now, pool, report)
        if report.sent or report.retried:
            self.log.info(
                "tick",
                sent=len(report.sent),
                skipped=len(report.skipped),
                dropped=len(report.dropped),
                retried=len(report.retried),
            )
        return report

    def _batch(
        self, claims: list[Claim], now: datetime, pool: ThreadPoolExecutor, report: TickReport
    ) -> None:
        states = self.store.nudges.nudge_states([(c.team_id, c.user_id) for c in claims])
        gone = self.store.teams.uninstalled(sorted({c.team_id for c in claims}))
        completions: list[Completion] = []
        profile_changes = []
        to_send: list[tuple[Claim, Plan, NudgeState]] = []
        for claim, state in zip(claims, states, strict=True):
            plan = plan_nudge(
                occurrence=claim.occurrence,
                now=now,
                profile=state.profile,
                paused=state.state.paused,
                team_active=claim.team_id not in gone,
            )
            if plan.profile_updates or plan.profile_deletes:
                profile_changes.append(
                    (claim.team_id, claim.user_id, plan.profile_updates, plan.profile_deletes)
                )
            if plan.action == "send" and claim.attempt > MAX_ATTEMPTS:
                plan = Plan("skip", "gave_up", plan.slot, plan.week, plan.next_due)
            if plan.action == "send":
                to_send.append((claim, plan, state))
                continue
            completions.append(Completion(claim.team_id, claim.user_id, claim.token, plan.next_due))
            report.add("dropped" if plan.action == "drop" else "skipped", claim, plan.reason)
        self.store.profiles.update_profiles(profile_changes)

        guards = self.store.nudges.guard(
            [(c.team_id, c.user_id, p.slot, c.token) for c, p, _ in to_send], self.lease_s
        )
        ready: list[tuple[Claim, Plan, NudgeState, bool]] = []
        for (claim, plan, state), guard in zip(to_send, guards, strict=True):
            if guard == "ok-refused":
                ready.append((claim, plan, state, False))
            elif guard == "ok":
                # A claim taken over after a lease ran out: the earlier holder may have posted
                # and died before recording it. Look in the DM's history before posting.
                ready.append((claim, plan, state, claim.attempt > 1))
            elif guard.startswith("sent:"):
                completions.append(
                    Completion(claim.team_id, claim.user_id, claim.token, plan.next_due)
                )
                report.add("skipped", claim, "already_sent")
            elif guard.startswith("unknown:"):
                ready.append((claim, plan, state, True))  # a lost answer: look before posting
            else:  # pending by another holder whose lease just ran out: let it finish
                report.add("deferred", claim, "in_flight_elsewhere")
        self.store.nudges.complete(completions)

        by_team: dict[str, list[tuple[Claim, Plan, NudgeState, bool]]] = {}
        for item in ready:
            by_team.setdefault(item[0].team_id, []).append(item)
        pending: set[Future[SentNudge | None]] = set()
        for team_id, items in by_team.items():
            waits = self.store.nudges.reserve_sends(
                team_id, len(items), self.rate_per_s, self.burst
            )
            start = time.monotonic()
            for item, delay in zip(items, waits, strict=True):
                pending.add(pool.submit(self._deliver, *item, now, start + delay, report))
        # Record accepted posts together: one batch per FLUSH_S instead of a round trip
        # per nudge (the guard says "pending" for them meanwhile, so nothing posts twice).
        while pending:
            done, pending = wait(pending, timeout=FLUSH_S)
            accepted = [r for r in (f.result() for f in done) if r is not None]
            if accepted:
                self._record(accepted, report)

    # One nudge --------------------------------------------------------------------------------

    def _deliver(
        self,
        claim: Claim,
        plan: Plan,
        state: NudgeState,
        verify: bool,
        now: datetime,
        not_before: float,
        report: TickReport,
    ) -> SentNudge | None:
        """Post one nudge; what Slack accepted is returned for `_record`."""
        try:
            return self._deliver_unsafe(claim, plan, state, verify, now, not_before, report)
        except StoreUnavailable:
            # Redis went away mid-flight: the lease expires and another tick takes over.
            self.log.warning(
                "nudge_store_unavailable", team_id=claim.team_id, user_id=claim.user_id
            )
            report.add("retried", claim, "redis_unavailable")
            return None

    def _deliver_unsafe(
        self,
        claim: Claim,
        plan: Plan,
        state: NudgeState,
        verify: bool,
        now: datetime,
        not_before: float,
        report: TickReport,
    ) -> SentNudge | None:
        client = self.client(claim.team_id)
        tz = state.profile.get("tz") or "UTC"
        counts = state.state.counts
        target = (state.state.target or self.default_target) / 100
        window = balance(counts, plan.week, round(target * 100)).window
        custom = [custom_prompt(n, text) for n, text in state.custom_prompts]
        pick = pick_prompt(
            window=window,
            target=target,
            shown=state.shown,
            custom=custom,
            seed=f"{claim.team_id}:{claim.user_id}:{plan.slot}",
        )
        if verify:
            found = self._find_sent(client, claim, plan)
            if found is None:
                self._retry(claim, now, report, "history_unreachable")
                return None
            if isinstance(found, tuple):
                return self._accepted(claim, plan, pick, found, now)
        week_now = counts.get(week_of(now, tz), WeekCount())
        message = nudge_message(
            pick.prompt.text, week_now, slot=plan.slot, user_id=claim.user_id, notice=plan.notice
        )
        delay = not_before - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            response = client.chat_postMessage(channel=claim.user_id, **message)
        except SlackApiError as exc:
            self._refused(claim, plan, exc, now, report)
            return None
        except (SlackClientError, OSError) as exc:
            # The post may have reached Slack: never repost blindly. Mark it unknown; the retry
            # looks in the DM's history first.
            self.store.nudges.mark_unknown(claim.team_id, claim.user_id, plan.slot, claim.token)
            self.log.warning(
                "nudge_outcome_unknown",
                team_id=claim.team_id,
                user_id=claim.user_id,
                error=type(exc).__name__,
            )
            self._retry(claim, now, report, f"unknown:{type(exc).__name__}")
            return None
        return self._accepted(
            claim, plan, pick, (str(response["ts"]), str(response["channel"])), now
        )

    @staticmethod
    def _accepted(
        claim: Claim, plan: Plan, pick: Any, found: tuple[str, str], now: datetime
    ) -> SentNudge:
        ts, channel = found
        return SentNudge(
            claim,
            slot=plan.slot,
            ts=ts,
            channel=channel,
            prompt_id=pick.prompt.id,
            prompt=pick.prompt.text,
            now=now,
            notice=plan.notice,
            next_due=plan.next_due,
            new_cycle=pick.new_cycle,
        )

    def _record(self, accepted: list[SentNudge], report: TickReport) -> None:
        """Record posts Slack accepted, then complete their claims (`NudgeRepo.mark_sent_many`)."""
        try:
            self.store.nudges.mark_sent_many(accepted)
        except StoreUnavailable:
            # Their guards stay "pending" until the lease ends; the retry then looks in each
            # DM's history before posting, so nothing is sent twice.
            for sent in accepted:
                self.log.warning(
                    "nudge_store_unavailable",
                    team_id=sent.claim.team_id,
                    user_id=sent.claim.user_id,
                )
                report.add("retried", sent.claim, "redis_unavailable")
            return
        for sent in accepted:
            report.add("sent", sent.claim, sent.prompt)

    def _find_sent(
        self, client: WebClient, claim: Claim, plan: Plan
    ) -> tuple[str, str] | bool | None:
        """After a lost answer: (ts, channel) if the nudge is in the DM, False if it is not,
        None if Slack could not be asked."""
        try:
            channel = client.conversations_open(users=claim.user_id)["channel"]["id"]
            oldest = claim.occurrence - timedelta(hours=1)
            history = client.conversations_history(
                channel=channel,
                oldest=f"{oldest.timestamp():.6f}",
                include_all_metadata=True,
                limit=100,
            )
        except (SlackApiError, SlackClientError, OSError):
            return None
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT and payload.get("slot") == plan.slot:
                return str(message["ts"]), str(channel)
        return False

    def _refused(
        self, claim: Claim, plan: Plan, exc: SlackApiError, now: datetime, report: TickReport
    ) -> None:
        error = str(exc.response.get("error") or "")
        status = int(getattr(exc.response, "status_code", 200) or 200)
        if error in PERMANENT_FOR_USER:
            self.store.profiles.mark_inactive(claim.team_id, claim.user_id)
            self.store.nudges.complete(
                [Completion(claim.team_id, claim.user_id, claim.token, None)]
            )
            self.log.warning(
                "nudge_user_gone", team_id=claim.team_id, user_id=claim.user_id, error=error
            )
            report.add("dropped", claim, f"inactive:{error}")
            return
        # 5xx, 429 after slack-sdk's retries, or a transient error: Slack did not take it.
        self.store.nudges.release_guard(claim.team_id, claim.user_id, plan.slot, claim.token)
        self.log.warning(
            "nudge_refused", team_id=claim.team_id, user_id=claim.user_id, error=error or status
        )
        # Rate limited: go again at once, behind a fresh slot of the shared budget; a server
        # error backs off.
        rate_limited = status == 429 or error == "ratelimited"
        self._retry(claim, now, report, f"slack:{error or status}", soon=rate_limited)

    def _retry(
        self, claim: Claim, now: datetime, report: TickReport, reason: str, soon: bool = False
    ) -> None:
        backoff = timedelta(0) if soon else timedelta(minutes=min(2**claim.attempt, 30))
        self.store.nudges.complete(
            [Completion(claim.team_id, claim.user_id, claim.token, None, retry_at=now + backoff)]
        )
        report.add("retried", claim, reason)
