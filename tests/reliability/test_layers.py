"""Defence in depth, one layer at a time: each test switches one layer of a duplicate-send
defence off and shows that the other layer alone still holds.

- Nudges: the lease on the due index (a claimed PM is out of sight for the lease) and the
  per-day send guard (`pending:<token>` → `sent:<ts>`).
- Recaps: the lease on the recaps index and the per-team, per-week claim key.
- Privacy of the recap: the sharing filter where the recap picks its highlight candidates
  (`Recaps.build`) and the one where it builds the recap (`bot.domain.recap.build_recap`).

A layer is switched off by replacing one of our own functions (never Redis, never Slack's
wire). "In flight" is made exact rather than timed: one process's first `chat.postMessage`
is held at its client until the test lets it go (`HeldPost`), so the other process runs
while the first has claimed and guarded but not yet posted.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from slack_sdk import WebClient

from bot.domain import recap as recap_domain
from bot.domain.prompts import prompt_of_the_week
from bot.domain.wins import Lane, Win
from bot.fakeslack import FakeSlack
from bot.runtime.app import nudge_client
from bot.runtime.compose import Runtime, build_runtime
from bot.runtime.logs import get_logger
from bot.runtime.settings import Settings
from bot.scheduled.recaps import Recaps, member_weeks
from bot.scheduled.ticker import Ticker
from bot.store import Keys, NudgeRepo, RecapRepo, Store, connect, week_candidates
from bot.surfaces import recap as recap_surface
from tests.conftest import TEAM, Clock
from tests.driver import visible_text
from tests.test_ticker import FRI_15_BERLIN, enrol_pm, sent_slots

CHANNEL = "C0LAYERS"
MON_9 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 09:00 London: the recap of W48
WEEK = "2026-W48"
WAIT_S = 30.0  # generous: only ever reached when something is broken


class HeldPost:
    """Holds the first `chat.postMessage` of the clients it wraps until `release()`: the
    process has claimed (and, for a nudge, taken the send guard) but Slack has nothing yet."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._held = False

    def wrap(self, client: WebClient) -> WebClient:
        post = client.chat_postMessage

        def held_post(**kwargs: Any) -> Any:
            with self._lock:
                first, self._held = not self._held, True
            if first:
                self.reached.set()
                if not self._release.wait(WAIT_S):
                    raise AssertionError("the held post was never released")
            return post(**kwargs)

        client.chat_postMessage = held_post  # type: ignore[method-assign]
        return client

    def wait_reached(self) -> None:
        assert self.reached.wait(WAIT_S), "the first process never got to its post"

    def release(self) -> None:
        self._release.set()


@contextmanager
def in_thread(work: Callable[[], Any], held: HeldPost) -> Iterator[dict[str, Any]]:
    """Run `work` in a thread (another process); on exit, release its held post (also when
    the block failed), join it and re-raise its error. The yielded dict holds its result
    under "result" once the block has ended."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = work()
        except BaseException as exc:  # handed to the test thread
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        held.release()
        thread.join(WAIT_S)
        assert not thread.is_alive(), "the first process never finished"
        if "error" in out:
            raise out["error"]


def ticker(settings: Settings, redis_url: str, held: HeldPost | None = None) -> Ticker:
    """A process's ticker, with its own Redis connection."""

    def client_for(team_id: str, on_429: Callable[[float], None]) -> WebClient:
        client = nudge_client(settings, on_429)
        return held.wrap(client) if held else client

    return Ticker(
        Store(connect(redis_url)),
        client_for,
        default_target=50,
        rate_per_s=500,
        burst=500,
        log=get_logger("test"),
    )


def recaps(
    settings: Settings, redis_url: str, clock: Clock, held: HeldPost | None = None
) -> Recaps:
    """A process's recap duty, with its own Redis connection and Slack client."""
    client = nudge_client(settings, lambda seconds: None)
    client = held.wrap(client) if held else client
    return Recaps(
        Store(connect(redis_url)),
        lambda team_id: client,
        clock=clock,
        log=get_logger("test"),
        rate_per_s=500,
        burst=500,
    )


# Nudges: lease vs send guard ------------------------------------------------------------------


def test_the_lease_alone_stops_a_second_process_sending_the_same_nudge(
    settings: Settings,
    redis_url: str,
    rds: redis.Redis,
    fake: FakeSlack,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Send guard switched off (it always says "ok"): while process A's nudge is in flight,
    process B ticking at the same instant claims nothing, because A's claim moved the PM out
    of the due index for the lease. Guards: the CLAIM script's move of the score to the
    lease's end (without it B claims the PM again and posts a second nudge)."""
    monkeypatch.setattr(NudgeRepo, "guard", lambda self, items, ttl_s: ["ok"] * len(items))
    enrol_pm(settings, rds, clock, "U0ALICE", "Europe/Berlin")
    held = HeldPost()
    a, b = ticker(settings, redis_url, held), ticker(settings, redis_url)
    with in_thread(lambda: a.tick(FRI_15_BERLIN), held) as first:
        held.wait_reached()
        second = b.tick(FRI_15_BERLIN)
    assert (second.sent, second.deferred, second.skipped) == ([], [], [])
    assert len(first["result"].sent) == 1
    assert sent_slots(fake, ["U0ALICE"]) == {("U0ALICE", "2026-11-27"): 1}
    assert Store(rds).nudges.due_at(TEAM, "U0ALICE") == FRI_15_BERLIN + timedelta(weeks=1)


def test_the_send_guard_alone_stops_a_second_send_after_the_lease_ran_out(
    settings: Settings, redis_url: str, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """Process A's lease has run out while its nudge is still in flight: process B claims the
    PM again (attempt 2) and only the send guard ("pending" under A's token) stops B, which
    leaves it to A. Guards: the GUARD script (switched off, B finds nothing in the DM's
    history yet and posts a second nudge)."""
    enrol_pm(settings, rds, clock, "U0ALICE", "Europe/Berlin")
    held = HeldPost()
    a, b = ticker(settings, redis_url, held), ticker(settings, redis_url)
    with in_thread(lambda: a.tick(FRI_15_BERLIN), held) as first:
        held.wait_reached()
        later = FRI_15_BERLIN + timedelta(seconds=a.lease_s + 60)  # A's lease is over
        second = b.tick(later)
    assert [(c.attempt, why) for c, why in second.deferred] == [(2, "in_flight_elsewhere")]
    assert second.sent == []
    assert len(first["result"].sent) == 1
    # B's lease runs out in turn; the next claim finds the guard saying "sent" and completes.
    third = b.tick(later + timedelta(seconds=b.lease_s + 60))
    assert [why for _, why in third.skipped] == ["already_sent"] and third.sent == []
    assert sent_slots(fake, ["U0ALICE"]) == {("U0ALICE", "2026-11-27"): 1}
    assert Store(rds).nudges.due_at(TEAM, "U0ALICE") == FRI_15_BERLIN + timedelta(weeks=1)


# Recaps: recaps index vs recap claim ----------------------------------------------------------


def _recap_team(settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock) -> None:
    """A recap channel with one sharing PM (a clarity win in W48), due Monday 09:00 London."""
    runtime = build_runtime(settings, redis_client=rds, clock=clock)
    store = runtime.store
    at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    store.profiles.enrol(TEAM, "U0ALICE", "Europe/London", at, "explicit")
    store.profiles.set_profile(TEAM, "U0ALICE", share="1")
    win = Win("w1", TEAM, "U0ALICE", Lane.CLARITY, "Framed the pricing bet", at, WEEK, at)
    assert store.wins.log_win(win, tz="Europe/London", now=at).status == "logged"
    fake.add_channel(CHANNEL, members=["U0ALICE"])
    runtime.recaps.set_channel(TEAM, CHANNEL, "U0ADMIN", "Europe/London")
    assert store.recaps.recap_due_at(TEAM) == MON_9


def _posts(fake: FakeSlack) -> tuple[int, int]:
    """(top-level messages, thread replies) in the recap channel."""
    messages = fake.messages(CHANNEL)
    return (
        len([m for m in messages if "thread_ts" not in m]),
        len([m for m in messages if "thread_ts" in m]),
    )


def test_the_recaps_index_alone_stops_a_second_recap(
    settings: Settings,
    redis_url: str,
    rds: redis.Redis,
    fake: FakeSlack,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recap claim switched off (it always says "ok"): while process A posts the recap,
    process B's tick at the same instant finds no recap due, because A's claim of the recaps
    index moved the team out of sight for the lease. Guards: CLAIM_RECAPS's move of the score
    (without it B posts the recap a second time)."""
    monkeypatch.setattr(RecapRepo, "claim_recap", lambda self, *args: "ok")
    _recap_team(settings, rds, fake, clock)
    held = HeldPost()
    a, b = recaps(settings, redis_url, clock, held), recaps(settings, redis_url, clock)
    now = MON_9 + timedelta(seconds=30)
    with in_thread(lambda: a.run_due(now), held) as first:
        held.wait_reached()
        assert b.run_due(now) == []
    assert [o.status for o in first["result"]] == ["posted"]
    assert _posts(fake) == (1, 1)
    assert Store(rds).recaps.recap_due_at(TEAM) == MON_9 + timedelta(weeks=1)


def test_the_recap_claim_alone_stops_a_second_recap(
    settings: Settings,
    redis_url: str,
    rds: redis.Redis,
    fake: FakeSlack,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recaps index switched off (it hands every due team to every process and hides
    nothing): process B runs while A posts and is held by A's claim ("pending"); a later
    run finds the claim saying "posted" and posts nothing. Guards: the claim key's SET NX
    (without it B posts the recap a second time)."""

    def unleased(self: RecapRepo, now: datetime, lease_s: float) -> list[tuple[str, datetime]]:
        due = self.redis.zrangebyscore(Keys.RECAPS, "-inf", now.timestamp() * 1000, withscores=True)
        return [(str(team), datetime.fromtimestamp(ms / 1000, tz=UTC)) for team, ms in due]

    monkeypatch.setattr(RecapRepo, "claim_due_recaps", unleased)
    _recap_team(settings, rds, fake, clock)
    held = HeldPost()
    a, b = recaps(settings, redis_url, clock, held), recaps(settings, redis_url, clock)
    now = MON_9 + timedelta(seconds=30)
    with in_thread(lambda: a.run_due(now), held) as first:
        held.wait_reached()
        assert [o.status for o in b.run_due(now)] == ["held:pending"]
    assert [o.status for o in first["result"]] == ["posted"]
    assert _posts(fake) == (1, 1)
    assert b.post(TEAM, WEEK).status == "already_posted"
    assert _posts(fake) == (1, 1)


# The recap's two sharing filters ---------------------------------------------------------------

PRIVATE_TITLE = "Bob's private strategy memo"


def _sharer_and_private_pm(settings: Settings, rds: redis.Redis, clock: Clock) -> Runtime:
    """Alice shares, Bob does not; both logged a clarity win in W48."""
    runtime = build_runtime(settings, redis_client=rds, clock=clock)
    store = runtime.store
    at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    for user, share, text in (
        ("U0ALICE", "1", "Aligned sales on the Q1 bet"),
        ("U0BOB", "0", PRIVATE_TITLE),
    ):
        store.profiles.enrol(TEAM, user, "Europe/London", at, "explicit")
        store.profiles.set_profile(TEAM, user, share=share)
        win = Win(f"{user}-1", TEAM, user, Lane.CLARITY, text, at, WEEK, at)
        assert store.wins.log_win(win, tz="Europe/London", now=at).status == "logged"
    return runtime


def test_the_candidate_filter_alone_keeps_a_private_pms_win_out(
    settings: Settings,
    rds: redis.Redis,
    fake: FakeSlack,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`build_recap`'s sharing filters switched off (every member is treated as sharing):
    the recap posted to the channel still holds no title of the PM who does not share,
    because `Recaps.build` only reads the wins of sharing PMs as highlight candidates.
    Guards: the `row.share == "1"` filter of candidates in `Recaps.build`."""
    original = recap_domain.build_recap

    def everyone_shares(week: str, members: Any, wins: Any, prompt: str) -> Any:
        members = [dataclasses.replace(m, sharing=True) for m in members]
        return original(week, members, wins, prompt)

    monkeypatch.setattr(recap_domain, "build_recap", everyone_shares)
    runtime = _sharer_and_private_pm(settings, rds, clock)
    fake.add_channel(CHANNEL, members=["U0ALICE", "U0BOB"])
    runtime.recaps.set_channel(TEAM, CHANNEL, "U0ADMIN", "Europe/London")
    assert [o.status for o in runtime.recaps.run_due(MON_9)] == ["posted"]
    posted = json.dumps(fake.messages(CHANNEL))
    assert "Aligned sales on the Q1 bet" in posted  # the thread was posted, with highlights
    assert PRIVATE_TITLE not in posted


def test_the_build_filter_alone_keeps_a_private_pms_win_out(
    settings: Settings, rds: redis.Redis, clock: Clock
) -> None:
    """The candidate filter switched off (every PM's wins are read as candidates, as if
    `Recaps.build` did not look at the share flag): `build_recap` still leaves the win of the
    PM who does not share out of the highlights and the thread. Guards: the
    `w.user_id in sharing` filter of `build_recap`."""
    store = _sharer_and_private_pm(settings, rds, clock).store
    rows = store.recaps.recap_members(TEAM, ["U0ALICE", "U0BOB"], week=WEEK)
    wins = store.recaps.first_clarity_wins(TEAM, WEEK, week_candidates(rows), 30)
    assert PRIVATE_TITLE in [w.text for w in wins]  # the filter below is all that is left
    recap = recap_domain.build_recap(
        WEEK, member_weeks(rows, WEEK), wins, prompt_of_the_week(WEEK).text
    )
    assert [w.text for w in recap.highlights] == ["Aligned sales on the Q1 bet"]
    reply = recap_surface.thread_reply(recap)
    assert reply is not None and PRIVATE_TITLE not in visible_text(reply)
    assert PRIVATE_TITLE not in visible_text(recap_surface.main_message(recap))


def test_two_processes_finishing_a_posted_recap_post_one_thread_reply(
    settings: Settings, redis_url: str, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """The main message is posted (the claim says "posted"), its thread reply is not yet:
    two processes finishing it (a tick's retry and `pm-coach recap`, or a tick whose index
    lease ran out) post one reply. Guards: the thread reply's claim (`SET NX` before the
    reply; without it both post it)."""
    _recap_team(settings, rds, fake, clock)
    Store(rds).recaps.set_recap_state(TEAM, WEEK, f"posted:{CHANNEL}:1795999999.000100")
    held = HeldPost()
    a, b = recaps(settings, redis_url, clock, held), recaps(settings, redis_url, clock)
    with in_thread(lambda: a.post(TEAM, WEEK), held) as first:
        held.wait_reached()
        assert b.post(TEAM, WEEK).status == "held:pending"
    assert first["result"].status == "thread_posted"
    assert _posts(fake) == (0, 1)
    assert b.post(TEAM, WEEK).status == "already_posted"
    assert _posts(fake) == (0, 1)
