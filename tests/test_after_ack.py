"""Adversarial pass over the after-ack hand-off (handlers.replies.after_ack, the background
executor, process_before_response): slow Slack on the request thread, failures after the ack,
ordering against Slack's 3 s trigger_id, shutdown, and replies that claim more than happened.

Everything goes through signed HTTP requests to the real app. The tests below "Found by this
pass" each failed before their fix."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from bot.fakeslack import FakeSlack, payloads
from bot.runtime.app import create_app
from bot.runtime.compose import build_runtime
from bot.runtime.logs import configure_logging
from bot.runtime.settings import Settings
from bot.store import connect
from bot.surfaces import texts
from bot.surfaces.blocks import ACTION_PICK_CLARITY
from bot.surfaces.coach_blocks import ACTION_FORGET
from bot.surfaces.nudge_blocks import ACTION_NUDGE_SNOOZE
from tests.conftest import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM,
    Clock,
    TrackedExecutor,
    serve_app,
    start_http,
)
from tests.driver import (
    Response,
    SlackDriver,
    held_until_answered,
    hook_texts,
    unsettled,
)
from tests.redis_server import free_port

NEW = "U0NEWPM"
# Slack's trigger_id lifetime; the fake enforces it only when told to.
TRIGGER_TTL = 3.0


# Helpers -------------------------------------------------------------------------------------


@pytest.fixture(name="log_lines")
def _log_lines() -> Iterator[io.StringIO]:
    """Our structlog events (JSON lines) for this test, logged as conftest sets up logging."""
    stream = io.StringIO()
    secrets = [BOT_TOKEN, SIGNING_SECRET, APP_TOKEN]
    configure_logging("INFO", "json", secrets, stream=stream)
    yield stream
    configure_logging("INFO", "json", secrets)


def events(stream: io.StringIO) -> list[dict[str, Any]]:
    found = []
    for line in stream.getvalue().splitlines():
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return found


@pytest.fixture(name="down")
def _down(settings: Settings, fake: FakeSlack, clock: Clock) -> Iterator[SlackDriver]:
    """The app with Redis unreachable (nothing listens on its port)."""
    client = connect(f"redis://127.0.0.1:{free_port()}/0")
    with serve_app(settings, client, fake, clock) as driver:
        yield driver


@contextmanager
def serve_with(
    settings: Settings,
    rds: redis.Redis,
    fake: FakeSlack,
    clock: Clock,
    executor: TrackedExecutor,
) -> Iterator[tuple[SlackDriver, Any]]:
    """Like conftest.serve_app, but the test owns the executor and the server's stop()."""
    runtime = build_runtime(settings, redis_client=rds, clock=clock)
    app = create_app(settings, runtime.deps, background=executor, verified_upstream=True)
    server, thread = start_http(app, runtime.store)
    driver = SlackDriver(
        base_url=f"http://127.0.0.1:{server.bind_addr[1]}",
        secret=SIGNING_SECRET,
        fake=fake,
        team_id=TEAM,
        store=runtime.store,
        coach=runtime.deps.coach,
    )
    try:
        yield driver, server
    finally:
        server.stop()
        thread.join(timeout=5)
        executor.shutdown(wait=True)


def nudge_click(slack: SlackDriver, action_id: str, user: str = "U0ALICE") -> Response:
    """A click on a nudge DM's button (a normal message: Slack sends a response_url)."""
    message = {
        "type": "message",
        "text": "Weekly reflection: What did you unblock?",
        "ts": "1764252000.000100",
        "blocks": [
            {
                "type": "actions",
                "block_id": "nudge_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": action_id,
                        "value": "x",
                        "text": {"type": "plain_text", "text": "x"},
                    }
                ],
            }
        ],
    }
    hook = "nudge-hook"
    action = {"type": "button", "action_id": action_id, "block_id": "nudge_actions", "value": "x"}
    body, content_type = payloads.block_actions(
        [action],
        team_id=slack.team_id,
        user_id=user,
        channel_id=slack.fake.dm_channel(user),
        message=message,
        response_url=slack.fake.response_url(hook),
    )
    reply = slack.post(body, content_type)
    reply.hook = hook
    return reply


# What holds ----------------------------------------------------------------------------------


def test_a_failed_form_open_after_the_ack_is_told_privately_and_logged(
    slack: SlackDriver, fake: FakeSlack, log_lines: io.StringIO
) -> None:
    """`/win` answers at once; when views.open then fails, the PM is told through the
    response_url and the failure is logged with its traceback; Slack never sees a 5xx."""
    fake.fail("views.open", "invalid_arguments")
    reply = slack.command("/win", "")
    assert reply.status == 200 and reply.body == b""
    assert hook_texts(fake, reply) == [texts.GENERIC_ERROR]
    failed = [e for e in events(log_lines) if e.get("event") == "listener_failed_after_ack"]
    assert len(failed) == 1 and failed[0]["error"] == "SlackApiError"
    assert "Traceback" in str(failed[0].get("exception"))


def test_an_unexpected_error_in_the_export_never_claims_it_was_sent(
    slack: SlackDriver, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any exception inside after-ack work is caught by the guard: the PM hears it did not
    work, never "is in our DM", and the answer Slack got stays a 200."""
    slack.command("/win", "shipped A win to export")

    def broken(user_id: str, export: Any) -> None:
        raise KeyError("channel")

    monkeypatch.setattr(slack.coach, "send_export", broken)
    reply = slack.command("/coach", "export")
    assert reply.status == 200 and "Putting together" in reply.text
    said = hook_texts(fake, reply)
    assert said == [texts.GENERIC_ERROR]
    assert fake.files("U0ALICE") == []


def test_a_subcommand_failing_after_enrolment_says_not_done_once(
    slack: SlackDriver, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/coach target 40` from a PM who had left (marked inactive, nothing due), Redis failing
    on the target write: the answer says it did not go through (once, 200), the deferred
    finish of the re-enrolment still runs (nudges scheduled again), and nothing is posted to
    the PM beyond the welcome of their first win."""
    fake.add_user(NEW, tz="Europe/Berlin")
    assert "Logged" in slack.command("/win", "shipped First", user=NEW).text  # a win enrols
    assert len(fake.messages(NEW)) == 1  # the welcome, once the zone is learnt
    slack.store.profiles.mark_inactive(TEAM, NEW)
    slack.store.nudges.reschedule(TEAM, NEW, None)

    def down(*_args: Any, **_kwargs: Any) -> None:
        raise redis.exceptions.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(slack.store.profiles, "set_profile", down)
    reply = slack.command("/coach", "target 40", user=NEW)
    assert reply.status == 200
    assert "did *not* go through" in reply.text and "40%" not in reply.text
    assert hook_texts(fake, reply) == []
    assert len(fake.messages(NEW)) == 1
    assert slack.store.nudges.due_at(TEAM, NEW) is not None
    assert "inactive" not in slack.store.profiles.profile(TEAM, NEW)


def test_acknowledged_work_finishes_at_shutdown_and_late_work_runs_inline(
    settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """As `pm-coach run` stops: the server stops, then the executor shuts down waiting; every
    form acknowledged before that opens. A request that still arrives once the executor is
    shut down (an in-flight request outliving stop()) does its work inline, not lost."""
    executor = TrackedExecutor(max_workers=2, thread_name_prefix="after-ack-test")
    with serve_with(settings, rds, fake, clock, executor) as (driver, server):
        # Both workers held: every form acknowledged meanwhile waits in the queue (a delay
        # on views.open only made that likely, and a loaded machine could drain it first).
        held = threading.Event()
        for _ in range(2):
            executor.submit(held.wait, 30)
        replies: list[Response] = []
        lock = threading.Lock()

        def send() -> None:
            answer = driver.command("/win", "")
            with lock:
                replies.append(answer)

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert [r.status for r in replies] == [200] * 8
        assert fake.calls_to("views.open") == []  # all still queued when we shut down
        held.set()
        executor.shutdown(wait=True)
        assert len(fake.calls_to("views.open")) == 8
        assert all(c.response.get("ok") for c in fake.calls_to("views.open"))
        late = driver.command("/win", "")
        assert late.status == 200
        assert len(fake.calls_to("views.open")) == 9
        server.stop()


# Found by this pass ---------------------------------------------------------------------------


def test_reflect_form_failure_is_told_like_the_win_form(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    assert "Logged" in slack.command("/win", "shipped First").text  # /reflect never enrols
    fake.fail("views.open", "expired_trigger_id")
    reply = slack.command("/reflect", "")
    assert reply.status == 200 and reply.body == b""
    assert hook_texts(fake, reply) == [texts.GENERIC_ERROR]


def test_forget_me_is_confirmed_even_if_the_home_cannot_be_reset(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    slack.command("/win", "shipped Something to forget")
    ask = slack.command("/coach", "forget-me")
    fake.fail("views.publish", "not_enabled")
    confirm = slack.click(ask, ACTION_FORGET)
    assert confirm.status == 200
    assert slack.store.wins.user_wins(TEAM, "U0ALICE") == []  # it really is gone
    said = hook_texts(fake, confirm)
    assert not any("nothing was changed" in s for s in said), said
    assert any("deleted" in s for s in said), said


def test_a_new_pms_form_opens_before_the_welcome_dm(slack: SlackDriver, fake: FakeSlack) -> None:
    fake.add_user(NEW, tz="Europe/Berlin")
    fake.trigger_ttl = TRIGGER_TTL
    fake.delay("chat.postMessage", TRIGGER_TTL + 0.3)
    reply = slack.command("/win", "", user=NEW)
    assert reply.status == 200
    [opened] = fake.calls_to("views.open")
    assert opened.response.get("ok"), opened.response
    assert len(fake.messages(NEW)) == 1  # and the welcome still arrives


def test_reflect_with_text_as_first_use_enrols_nobody(slack: SlackDriver, fake: FakeSlack) -> None:
    """Only a win enrols: a newcomer's first /reflect is not saved, its text comes back, and
    no welcome DM is sent (issue 15, item 19)."""
    fake.add_user(NEW, tz="Europe/Berlin")
    reply = slack.command("/reflect", "I unblocked the data team", user=NEW)
    assert texts.NOT_SET_UP in reply.text and "I unblocked the data team" in reply.text
    assert fake.messages(NEW) == [] and slack.store.profiles.profile(TEAM, NEW) == {}


def test_recap_here_does_not_wait_for_slack(slack: SlackDriver, fake: FakeSlack) -> None:
    fake.add_channel("C0TEAM", members=["U0ADMIN"])
    with held_until_answered(slack, "conversations.info") as seen:
        reply = slack.command("/coach", "recap here", user="U0ADMIN", channel="C0TEAM")
    assert reply.status == 200 and "C0TEAM" in json.dumps(slack.store.recaps.team_settings(TEAM))
    assert seen == [0] and fake.calls_to("conversations.info")  # asked after answering


@pytest.mark.parametrize("surface", ["coach_target", "lane_pick"])
def test_a_failed_enrolment_follow_up_never_contradicts_a_saved_change(
    slack: SlackDriver, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, surface: str
) -> None:
    fake.add_user(NEW, tz="Europe/Berlin")
    if surface == "coach_target":
        # A command never enrols: it re-enrols a PM who had left (after their first win).
        assert "Logged" in slack.command("/win", "shipped First", user=NEW).text
        slack.store.profiles.mark_inactive(TEAM, NEW)

    def down(*_args: Any, **_kwargs: Any) -> None:
        raise redis.exceptions.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(slack.store.teams, "add_team_user", down)
    if surface == "coach_target":
        reply = slack.command("/coach", "target 40", user=NEW)
        assert "40%" in reply.text
        assert slack.store.profiles.profile(TEAM, NEW).get("target") == "40"
    else:
        ask = slack.command("/win", "Framed the Q3 bet", user=NEW)
        reply = slack.click(ask, ACTION_PICK_CLARITY, user=NEW)
        assert "Logged" in hook_texts(fake, reply)[0]
        assert len(slack.store.wins.user_wins(TEAM, NEW)) == 1
    said = hook_texts(fake, reply)
    assert not any("did *not* go through" in s for s in said), said


def test_forms_open_while_other_after_ack_work_is_slow(slack: SlackDriver, fake: FakeSlack) -> None:
    fake.trigger_ttl = TRIGGER_TTL
    slack.command("/win", "shipped warm-up win")
    fake.clear_calls()
    burst = unsettled(slack)
    fake.delay("views.publish", TRIGGER_TTL + 0.5, times=8)  # the test executor has 8 workers
    for i in range(8):
        home = {"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}
        assert burst.event(home, event_id=f"Ev0HOME{i}").status == 200
    reply = burst.command("/win", "")
    assert reply.status == 200
    slack.settle()
    [opened] = fake.calls_to("views.open")
    assert opened.response.get("ok"), opened.response


def test_nudge_button_with_redis_down_tells_the_pm(down: SlackDriver, fake: FakeSlack) -> None:
    reply = nudge_click(down, ACTION_NUDGE_SNOOZE)
    assert reply.status == 200
    assert hook_texts(fake, reply) == [texts.NOT_DONE]


@contextmanager
def redis_full(rds: redis.Redis, redis_url: str) -> Iterator[None]:
    """Redis at its memory limit with `noeviction`: every write is refused with OOM."""
    if redis_url.startswith("fakeredis://"):
        pytest.skip("needs a real redis-server (CONFIG SET maxmemory)")
    old = str(rds.config_get("maxmemory")["maxmemory"])
    old_policy = str(rds.config_get("maxmemory-policy")["maxmemory-policy"])
    rds.config_set("maxmemory-policy", "noeviction")
    rds.config_set("maxmemory", "1")
    try:
        yield
    finally:
        rds.config_set("maxmemory", old)
        rds.config_set("maxmemory-policy", old_policy)


def test_a_redis_error_reply_is_not_a_500(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis, redis_url: str
) -> None:
    """A listener failing with a Redis error other than a lost connection (here OOM on a plain
    write; READONLY after a failover is the same): the PM is told privately, once, that it did
    not go through; Slack gets 200."""
    slack.command("/win", "shipped warm-up win")
    with redis_full(rds, redis_url):
        reply = slack.command("/coach", "share on")
    assert reply.status == 200, reply.status
    # A refusal counts as the store being unavailable: said in the answer itself.
    assert texts.NOT_DONE in reply.text and reply.json["response_type"] == "ephemeral"
    assert hook_texts(fake, reply) == []  # nothing after contradicts (or repeats) it
    assert slack.store.profiles.profile(TEAM, "U0ALICE").get("share") != "1"


def test_a_win_stored_under_redis_oom_is_never_called_unchanged(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis, redis_url: str
) -> None:
    slack.command("/win", "shipped warm-up win")  # an enrolled PM
    with redis_full(rds, redis_url):
        reply = slack.command("/win", "clarity Framed the bet")
    stored = [w for w in slack.store.wins.user_wins(TEAM, "U0ALICE") if w.text == "Framed the bet"]
    said = [*hook_texts(fake, reply), reply.text]
    if stored:  # the script ran before the refused index write: the PM hears "logged"
        assert "Logged" in reply.text and not any("nothing was changed" in s for s in said), said
    else:  # an atomic write refused as a whole: then saying so is right
        assert texts.GENERIC_ERROR in said or any("*not" in s for s in said), said
