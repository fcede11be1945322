"""Requests as Slack sends them: signatures, events, URL verification, redelivery."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bot.fakeslack import FakeSlack, payloads
from tests.conftest import TEAM
from tests.driver import SlackDriver, held_until_answered


def _win_body(text: str = "clarity forged win") -> tuple[bytes, str]:
    return payloads.slash_command(
        "/win",
        text,
        team_id=TEAM,
        user_id="U0ALICE",
        channel_id="C0GENERAL",
        response_url="http://127.0.0.1:9/x",
    )


@pytest.mark.parametrize(
    "case",
    ["no_headers", "wrong_secret", "stale", "future", "tampered", "bad_prefix", "empty_sig"],
)
def test_forged_or_stale_requests_get_401(slack: SlackDriver, case: str) -> None:
    """Only requests signed with our secret within 5 minutes are served; nothing is stored."""
    body, content_type = _win_body()
    now = int(time.time())
    if case == "no_headers":
        reply = slack.post(body, content_type, sign=False)
    elif case == "wrong_secret":
        original = slack.secret
        slack.secret = "not-the-secret"
        reply = slack.post(body, content_type)
        slack.secret = original
    elif case == "stale":
        reply = slack.post(body, content_type, timestamp=now - 301)
    elif case == "future":
        reply = slack.post(body, content_type, timestamp=now + 301)
    elif case == "tampered":
        signed = payloads.slash_command(
            "/win",
            "clarity original",
            team_id=TEAM,
            user_id="U0ALICE",
            channel_id="C0GENERAL",
            response_url="http://127.0.0.1:9/x",
        )[0]
        from bot.fakeslack import signed_headers

        headers = signed_headers(slack.secret, signed, now, content_type)
        reply = slack.post(body, content_type, sign=False, headers=headers)
    elif case == "bad_prefix":
        from bot.fakeslack import signed_headers

        headers = signed_headers(slack.secret, body, now, content_type)
        headers["X-Slack-Signature"] = headers["X-Slack-Signature"].replace("v0=", "v1=")
        reply = slack.post(body, content_type, sign=False, headers=headers)
    else:
        reply = slack.post(
            body,
            content_type,
            sign=False,
            headers={"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": ""},
        )
    assert reply.status == 401
    assert slack.store.wins.user_wins(TEAM, "U0ALICE") == []


def test_signed_at_the_edge_of_the_window_is_accepted(slack: SlackDriver) -> None:
    body, content_type = _win_body("clarity edge of window")
    reply = slack.post(body, content_type, timestamp=int(time.time()) - 290)
    assert reply.status == 200
    assert len(slack.store.wins.user_wins(TEAM, "U0ALICE")) == 1


def test_url_verification_echoes_the_challenge(slack: SlackDriver) -> None:
    body, content_type = payloads.url_verification("chal-123")
    reply = slack.post(body, content_type)
    assert reply.status == 200 and json.loads(reply.body)["challenge"] == "chal-123"


def test_home_opened_publishes_the_home(slack: SlackDriver, fake: FakeSlack) -> None:
    reply = slack.event(
        {
            "type": "app_home_opened",
            "user": "U0ALICE",
            "channel": "D0ALICE",
            "tab": "home",
            "event_ts": "1.2",
        }
    )
    assert reply.status == 200
    fake.wait_for("views.publish")
    home = fake.home_view("U0ALICE")
    assert home is not None and home["type"] == "home"
    assert "/win clarity" in json.dumps(home)


def test_event_retries_are_handled_once(slack: SlackDriver, fake: FakeSlack) -> None:
    """An Events API retry (same event_id, X-Slack-Retry-Num) does not run the listener twice."""
    event = {"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "event_ts": "1.2"}
    assert slack.event(event, event_id="Ev0SAME").status == 200
    fake.wait_for("views.publish")
    retry = slack.event(
        event,
        event_id="Ev0SAME",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"},
    )
    assert retry.status == 200  # the driver waited for any after-ack work it started
    assert len(fake.calls_to("views.publish")) == 1


def test_user_change_follows_slack_zone_unless_explicit(slack: SlackDriver) -> None:
    slack.command("/win", "clarity enrol me")
    change = {"type": "user_change", "user": {"id": "U0ALICE", "team_id": TEAM, "tz": "Asia/Tokyo"}}
    assert slack.event(change).status == 200
    deadline = time.monotonic() + 5
    while (
        slack.store.profiles.profile_tz(TEAM, "U0ALICE") != "Asia/Tokyo"
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert slack.store.profiles.profile_tz(TEAM, "U0ALICE") == "Asia/Tokyo"
    slack.store.profiles.set_tz(TEAM, "U0ALICE", "Europe/Lisbon", "explicit")
    slack.event(
        {"type": "user_change", "user": {"id": "U0ALICE", "team_id": TEAM, "tz": "America/Chicago"}}
    )  # the driver waits for the event's after-ack work: nothing more is coming
    assert slack.store.profiles.profile_tz(TEAM, "U0ALICE") == "Europe/Lisbon"
    # A person who never used PM Coach gets no profile from a user_change.
    slack.event(
        {"type": "user_change", "user": {"id": "U0STRANGER", "team_id": TEAM, "tz": "Asia/Tokyo"}}
    )
    assert slack.store.profiles.profile_tz(TEAM, "U0STRANGER") is None


def test_uninstall_is_recorded(slack: SlackDriver) -> None:
    assert slack.event({"type": "app_uninstalled"}).status == 200
    deadline = time.monotonic() + 5
    while not slack.store.teams.is_uninstalled(TEAM) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert slack.store.teams.is_uninstalled(TEAM)


def test_coach_help_and_unknown(slack: SlackDriver) -> None:
    help_reply = slack.command("/coach", "help")
    assert "/win shipped" in help_reply.text
    unknown = slack.command("/coach", "frobnicate <!channel>")
    assert "didn't understand" in unknown.text and "<!channel>" not in json.dumps(unknown.json)


def test_healthz(slack: SlackDriver) -> None:
    reply = slack.get("/healthz")
    assert reply.status == 200 and json.loads(reply.body) == {"ok": True, "redis": "ok"}
    assert slack.get("/nope").status == 404


@pytest.mark.parametrize(
    ("method", "send"),
    [
        ("views.open", lambda s: s.command("/win", "")),  # the form opens after the answer
        # A first win: the welcome DM follows the zone lookup, both after the answer.
        ("chat.postMessage", lambda s: s.command("/win", "shipped First", user="U0NEWPM")),
        ("views.publish", lambda s: s.event({"type": "app_home_opened", "user": "U0ALICE"})),
        ("files.uploadV2", lambda s: s.command("/coach", "export")),
    ],
    ids=["win_form", "welcome_dm", "home", "export"],
)
def test_slack_calls_after_the_ack_never_delay_the_answer(
    slack: SlackDriver, fake: FakeSlack, method: str, send: Any
) -> None:
    """Listeners answer on the request thread; what they do after `ack()` runs on the
    background executor, so a slow Slack API cannot push the answer towards Slack's 3 s."""
    slack.command("/win", "shipped warm-up win")
    fake.add_user("U0NEWPM", tz="Europe/Berlin")
    fake.clear_calls()
    slow = "files.getUploadURLExternal" if method == "files.uploadV2" else method
    with held_until_answered(slack, slow) as seen:
        reply = send(slack)
    assert reply.status == 200
    assert seen == [0]  # answered while Slack still held the call
    # ... and the work still happened (the driver waited for the background work).
    assert fake.calls_to(slow), f"{slow} was never called"


def test_bolt_checks_signatures_itself_unless_told_the_server_did(
    settings: Any, rds: Any, clock: Any
) -> None:
    """`pm-coach run` checks every signature in `wsgi_app` before Bolt parses anything and
    tells `create_app` so (Bolt's second check is skipped); any other way of serving the app
    keeps Bolt's own check."""
    from slack_bolt.request import BoltRequest

    from bot.runtime.app import create_app
    from bot.runtime.compose import build_runtime

    body, content_type = _win_body("clarity forged straight to Bolt")
    headers = {
        "content-type": [content_type],
        "x-slack-request-timestamp": [str(int(time.time()))],
        "x-slack-signature": ["v0=" + "0" * 64],
    }
    runtime = build_runtime(settings, redis_client=rds, clock=clock)
    plain = create_app(settings, runtime.deps)
    assert plain.dispatch(BoltRequest(body=body.decode(), headers=headers)).status == 401
    behind_wsgi = create_app(settings, runtime.deps, verified_upstream=True)
    assert behind_wsgi.dispatch(BoltRequest(body=body.decode(), headers=headers)).status == 200
