"""`/win` traffic on a real 3-master Redis Cluster while the cluster changes under it: slots
move between nodes (`redis-cli --cluster reshard`, and a slot held mid-migration so that
commands are redirected with ASK), and a node is stopped and started again.

The app is the real one behind the real HTTP server, built on `connect(<first node's URL>)` as
`pm-coach run` builds it; several threads send signed `/win`s for PMs whose keys live on every
node. Afterwards every reply is checked against what the nodes hold, read with the fixture's
own plain client of each node (not through the store): a win the PM was told "Logged" is
stored exactly once, a "not saved" win is absent, a "couldn't confirm" one is there at most
once, nothing else is stored, and no reply is "Something went wrong".
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import redis

from bot.fakeslack import FakeSlack
from bot.runtime.settings import Settings
from bot.store import Keys, connect
from tests.conftest import TEAM, Clock, serve_app
from tests.driver import SlackDriver
from tests.redis_cluster import RedisClusterServers, key_slot

THREADS = 4
RESHARD_SLOTS = 100  # per `redis-cli --cluster reshard`: a second or so with traffic running
WAIT_S = 60.0  # a loaded 2-core machine: a deadline for progress, not a timing


@dataclass(frozen=True)
class Reply:
    user: str
    text: str  # the win's text, unique in the test
    kind: str  # logged | not_saved | unconfirmed | other
    sent: float  # time.monotonic() when sent, and when the answer came
    answered: float
    body: str


def kind_of(status: int, text: str) -> str:
    if status != 200 or "Something went wrong" in text:
        return "other"
    if "Logged a *shipped* win" in text:
        return "logged"
    if "*not saved*" in text:
        return "not_saved"
    if "couldn't confirm your win" in text and "/coach history" in text:
        return "unconfirmed"
    return "other"


class Traffic:
    """THREADS threads sending `/win`s, each for its share of `users`, in turn, until
    stopped; every answer is kept as a Reply."""

    def __init__(self, slack: SlackDriver, users: list[str]) -> None:
        # The traffic's own driver: it does not wait for the app's after-ack work after each
        # request (with requests always in flight it may never be idle); `stop` does.
        self.slack = slack
        self.quiet = SlackDriver(
            base_url=slack.base_url,
            secret=slack.secret,
            fake=slack.fake,
            team_id=slack.team_id,
            store=slack.store,
            coach=slack.coach,
        )
        self.replies: list[Reply] = []
        self.errors: list[str] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._numbers = itertools.count()
        self._threads = [
            threading.Thread(target=self._run, args=(users[i::THREADS],), daemon=True)
            for i in range(THREADS)
        ]

    def _run(self, users: list[str]) -> None:
        while not self._stop.is_set():
            for user in users:
                text = f"the {user} change number {next(self._numbers)}"
                sent = time.monotonic()
                try:
                    response = self.quiet.command("/win", f"shipped {text}", user=user)
                except Exception as exc:
                    with self._changed:
                        self.errors.append(f"{user}: {type(exc).__name__}: {exc}")
                        self._changed.notify_all()
                    return
                body = response.text
                reply = Reply(
                    user, text, kind_of(response.status, body), sent, time.monotonic(), body
                )
                with self._changed:
                    self.replies.append(reply)
                    self._changed.notify_all()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> list[Reply]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in self._threads), "a /win never got an answer"
        self.slack.settle()  # the app's after-ack work (welcome DMs) is done
        assert self.errors == []
        return list(self.replies)

    def count(self) -> int:
        with self._changed:
            return len(self.replies)

    def wait_for(self, what: str, done: Callable[[list[Reply]], bool]) -> None:
        """Wait until `done(replies so far)`; fails after WAIT_S, or if a thread died."""
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            while not done(self.replies):
                if self.errors:
                    raise AssertionError(f"traffic stopped: {self.errors}")
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = Counter(r.kind for r in self.replies)
                    raise AssertionError(f"timed out waiting for {what} ({kinds})")
                self._changed.wait(left)


@contextmanager
def traffic(slack: SlackDriver, users: list[str]) -> Iterator[Traffic]:
    running = Traffic(slack, users)
    running.start()
    try:
        yield running
    finally:
        running._stop.set()


def since(replies: list[Reply], start: float, user: str | None = None) -> list[Reply]:
    return [r for r in replies if r.sent >= start and (user is None or r.user == user)]


def stored_texts(cluster: RedisClusterServers, users: list[str]) -> dict[str, Counter[str]]:
    """Each PM's stored win texts, read from the node serving the PM's wins hash."""
    out: dict[str, Counter[str]] = {}
    for user in users:
        key = Keys.wins(TEAM, user)
        client = cluster.client(cluster.node_of(key))
        try:
            out[user] = Counter(json.loads(raw)["text"] for raw in client.hvals(key))
        finally:
            client.close()
    return out


def assert_honest(cluster: RedisClusterServers, replies: list[Reply], users: list[str]) -> None:
    """Every reply agrees with what the cluster holds, and nothing else is stored."""
    stored = stored_texts(cluster, users)
    others = [(r.user, r.body[:200]) for r in replies if r.kind == "other"]
    assert others == []
    wrong = []
    for reply in replies:
        count = stored[reply.user][reply.text]
        allowed = {"logged": (1,), "not_saved": (0,), "unconfirmed": (0, 1)}[reply.kind]
        if count not in allowed:
            wrong.append((reply.kind, reply.user, reply.text, count))
    assert wrong == []
    sent = {(r.user, r.text) for r in replies}
    # A win whose request was cut short by `stop` has no reply: not one of these.
    extra = [(u, t) for u, texts in stored.items() for t in texts if (u, t) not in sent]
    assert len(extra) <= THREADS, extra


def user_on(cluster: RedisClusterServers, slots: set[int], taken: set[str], prefix: str) -> str:
    """A new PM id whose keys (`{T:U}`) hash to one of `slots`."""
    for n in itertools.count():
        user = f"U{prefix}{n:05d}"
        if user not in taken and key_slot(Keys.wins(TEAM, user)) in slots:
            taken.add(user)
            return user
    raise AssertionError("unreachable")


@pytest.fixture(name="cluster_app")
def _cluster_app(
    settings: Settings, fake: FakeSlack, clock: Clock, cluster_url: str
) -> Iterator[SlackDriver]:
    """The app on a client of the cluster's first node, as `pm-coach run` builds it."""
    client = connect(cluster_url)
    try:
        with serve_app(
            settings.model_copy(update={"redis_url": cluster_url}), client, fake, clock
        ) as slack:
            assert slack.store.is_cluster
            yield slack
    finally:
        client.close()


def add_users(fake: FakeSlack, users: list[str]) -> None:
    for user in users:
        fake.add_user(user, name=user.lower(), tz="Europe/Berlin")


# Live resharding -------------------------------------------------------------------------

RESHARDS = [(0, 1), (1, 0), (2, 0), (0, 2)]  # (from, to): every node gives and takes slots


def planned_moves(owners: list[int | None]) -> list[set[int]]:
    """The slots each of RESHARDS moves: `redis-cli --cluster reshard` with one source takes
    that node's lowest-numbered slots."""
    owners = list(owners)
    moves = []
    for source, target in RESHARDS:
        slots = [s for s, owner in enumerate(owners) if owner == source][:RESHARD_SLOTS]
        for slot in slots:
            owners[slot] = target
        moves.append(set(slots))
    return moves


def test_every_logged_win_is_stored_once_while_slots_move(
    redis_cluster: RedisClusterServers, cluster_app: SlackDriver, fake: FakeSlack
) -> None:
    """Four threads send `/win`s for 14 PMs spread over the three nodes while slots move back
    and forth between every pair (each move carrying PMs of the traffic): every "Logged" win
    is stored once, every "not saved" one is absent, and those are rare (≤ 5 %).

    Then one PM's slot is held mid-migration, its keys first on the source, then on the
    target: the source answers ASK and the store follows it with ASKING. Whatever the PM is
    told meanwhile is true (today "not saved": Redis serves a multi-key script in a migrating
    slot only where all its keys exist, and the win's `undone:<id>` key never does, so the
    answer is TRYAGAIN until the store gives up). Once the slot is handed over, the PM's wins
    are logged on the new node, with no restart."""
    owners = redis_cluster.slot_owners()
    moves = planned_moves(owners)
    taken: set[str] = set()
    # Two PMs in the slots of each planned move, two more steady on each node.
    movers = [user_on(redis_cluster, slots, taken, "M") for slots in moves for _ in range(2)]
    moving = set().union(*moves)
    steady = [
        user_on(redis_cluster, {s for s, o in enumerate(owners) if o == i} - moving, taken, "S")
        for i in range(3)
        for _ in range(2)
    ]
    held_user = steady[2]  # on node 1, in no planned move
    held_slot = key_slot(Keys.wins(TEAM, held_user))
    users = movers + steady
    add_users(fake, users)

    with traffic(cluster_app, users) as running:
        running.wait_for("every PM's first win", lambda rs: {r.user for r in rs} == set(users))
        resharding = time.monotonic()
        for k, ((source, target), planned) in enumerate(zip(RESHARDS, moves, strict=True)):
            redirected = refusals(redis_cluster, "MOVED")
            moved = redis_cluster.reshard(RESHARD_SLOTS, source, target)
            assert set(moved) == planned  # the PMs chosen for this move were in it
            done, pms = time.monotonic(), movers[2 * k : 2 * k + 2]
            running.wait_for(
                f"wins of the PMs moved from node {source} to {target}",
                lambda rs, done=done, pms=pms: all(since(rs, done, pm) for pm in pms),
            )
            # Their first win after the move found the app's slot map stale: MOVED.
            assert refusals(redis_cluster, "MOVED") > redirected
        resharded = time.monotonic()

        target = redis_cluster.client(2)
        asking, asked = asking_calls(target), refusals(redis_cluster, "ASK")
        with redis_cluster.migrating(held_slot, 1, 2) as migration:
            for phase in ("migrating", "keys moved: ASK"):
                if phase != "migrating":
                    assert migration.move_keys() >= 5  # every key of the PM: now on the target
                start = time.monotonic()
                running.wait_for(
                    f"the held PM's wins ({phase})",
                    lambda rs, start=start: len(since(rs, start, held_user)) >= 3,
                )
        assert refusals(redis_cluster, "ASK") > asked  # the source said ASK…
        assert asking_calls(target) > asking  # …and the store followed it with ASKING
        target.close()
        assert redis_cluster.node_of(Keys.wins(TEAM, held_user)) == 2
        start = time.monotonic()
        running.wait_for(
            "a win of every PM after the moves",
            lambda rs: {r.user for r in since(rs, start) if r.kind == "logged"} == set(users),
        )
        replies = running.stop()

    assert_honest(redis_cluster, replies, users)
    during = Counter(r.kind for r in replies if resharding <= r.sent and r.answered <= resharded)
    assert during["logged"] > 0
    assert during["not_saved"] + during["unconfirmed"] <= 0.05 * sum(during.values()), during


def refusals(cluster: RedisClusterServers, error: str) -> int:
    """How many `error` replies (MOVED, ASK, TRYAGAIN) the nodes have sent in all."""
    total = 0
    for index in range(cluster.masters):
        client = cluster.client(index)
        try:
            stats = client.info("errorstats").get(f"errorstat_{error}", {})
        finally:
            client.close()
        total += int(stats.get("count", 0))
    return total


def asking_calls(client: redis.Redis) -> int:
    """How many ASKING commands the node has run."""
    return int(client.info("commandstats").get("cmdstat_asking", {}).get("calls", 0))


# A node stopped and started again ----------------------------------------------------------


def test_a_node_stopped_mid_traffic_never_gets_a_false_logged_and_comes_back(
    redis_cluster: RedisClusterServers, cluster_app: SlackDriver, fake: FakeSlack
) -> None:
    """Four threads send `/win`s for two PMs on each node; node 2 is shut down (cleanly: what
    it acknowledged is on disk), long enough for the other nodes to declare the cluster
    failed, and started again. While it is down its PMs are told "not saved" or "couldn't
    confirm", never "Logged", and /healthz answers 503; once it is back every PM's win is
    logged again and /healthz is 200, without restarting the app. Every "Logged" win is
    stored once, every "not saved" one is absent."""
    owners = redis_cluster.slot_owners()
    taken: set[str] = set()
    users = [
        user_on(redis_cluster, {s for s, o in enumerate(owners) if o == i}, taken, "N")
        for i in range(3)
        for _ in range(2)
    ]
    down_users = set(users[4:])  # node 2's
    add_users(fake, users)

    with traffic(cluster_app, users) as running:
        running.wait_for(
            "a win of every PM",
            lambda rs: {r.user for r in rs if r.kind == "logged"} == set(users),
        )
        assert cluster_app.get("/healthz").status == 200
        redis_cluster.stop_node(2, keep_data=True)
        stopped = time.monotonic()
        running.wait_for(
            "answers to the stopped node's PMs",
            lambda rs: all(len(since(rs, stopped, user)) >= 3 for user in down_users),
        )
        health = cluster_app.get("/healthz")
        assert health.status == 503, health.body
        # The other nodes mark node 2 failed after the node timeout: the cluster is down.
        wait_until(
            "the cluster to fail",
            lambda: all(redis_cluster.cluster_state(i) == "fail" for i in (0, 1)),
        )
        failed = time.monotonic()
        health = cluster_app.get("/healthz")  # node 2 unreachable, or the others failed
        assert health.status == 503, health.body
        assert health.json["redis"] in ("unreachable", "cluster_down"), health.body
        running.wait_for(
            "answers while the cluster is down",
            lambda rs: {r.user for r in since(rs, failed)} == set(users),
        )
        restarting = time.monotonic()
        redis_cluster.start_node(2)
        restarted = time.monotonic()
        running.wait_for(
            "a win of every PM logged after the restart",
            lambda rs: {r.user for r in since(rs, restarted) if r.kind == "logged"} == set(users),
        )
        health = cluster_app.get("/healthz")
        assert health.status == 200, health.body
        replies = running.stop()

    assert_honest(redis_cluster, replies, users)
    while_down = [
        r
        for r in replies
        if r.user in down_users and stopped <= r.sent and r.answered <= restarting
    ]
    assert len(while_down) >= 6
    assert Counter(r.kind for r in while_down).keys() <= {"not_saved", "unconfirmed"}


def wait_until(what: str, done: Callable[[], bool]) -> None:
    """Poll `done` until it is true; fails after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
