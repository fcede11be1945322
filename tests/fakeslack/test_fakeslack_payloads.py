"""What the fake sends an app: signed request bodies whose keys cover Slack's samples, and
which Bolt accepts."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.fakeslack import (
    FakeSlack,
    payloads,
    signed_headers,
)
from tests.fakeslack.support import (
    ANN,
    SAMPLES,
    TEAM,
    modal,
)

# --------------------------------------------------------------------------- signing


def test_signed_headers_match_slack_sdk_verifier() -> None:
    body, ctype = payloads.slash_command(
        "/coach", "hi", team_id=TEAM, user_id=ANN, channel_id="C0PMS", response_url="http://x"
    )
    headers = signed_headers("s3cret", body, content_type=ctype)
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid_request(body, headers)
    assert headers["Content-Type"] == ctype
    assert not verifier.is_valid_request(body + b"x", headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    stale = signed_headers("s3cret", body, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)


# --------------------------------------------------------------------------- payloads


def sample_keys(name: str) -> set[str]:
    if not SAMPLES.exists():
        pytest.skip(f"{SAMPLES} is not available")
    return set(json.loads((SAMPLES / name).read_text()))


# Keys in the (merged) Java SDK samples that Slack sends only to Enterprise Grid installs,
# workflow-step functions, link unfurls or, for is_cleared, view_closed; plus deprecated ones.
NOT_SENT_TO_A_PLAIN_APP = {
    "enterprise_id",
    "enterprise_name",
    "function_data",
    "interactivity",
    "bot_access_token",
    "app_unfurl",
    "authed_users",
    "authed_teams",
}


def assert_covers(
    built: set[str], sample: set[str], *, also_absent: AbstractSet[str] = frozenset()
) -> None:
    missing = sample - built - NOT_SENT_TO_A_PLAIN_APP - also_absent
    assert not missing, f"builder lacks sample keys {sorted(missing)}"


def test_slash_command_keys_cover_the_sample() -> None:
    built = payloads.slash_command_payload(
        "/coach", "hi", team_id=TEAM, user_id=ANN, channel_id="C0PMS", response_url="http://x"
    )
    sample = sample_keys("app-backend/SlashCommandPayload.json")
    assert_covers(set(built), sample)
    assert set(built) <= sample
    assert all(isinstance(v, str) for v in built.values())  # form fields


def test_block_actions_keys_cover_the_sample() -> None:
    action = {"action_id": "win_undo", "value": "42"}
    on_message = payloads.block_actions_payload(
        [action],
        team_id=TEAM,
        user_id=ANN,
        channel_id="C0PMS",
        message={"ts": "1700000000.000100", "text": "hi"},
        response_url="http://x",
    )
    on_view = payloads.block_actions_payload([action], team_id=TEAM, user_id=ANN, view=modal())
    sample = sample_keys("app-backend/BlockActionPayload.json")
    assert_covers(set(on_message) | set(on_view), sample)
    assert set(on_message) <= sample and set(on_view) <= sample
    assert "response_url" not in on_view and on_view["container"]["type"] == "view"
    assert on_message["container"]["type"] == "message"
    assert on_message["actions"][0]["action_ts"] and on_message["actions"][0]["block_id"]
    ephemeral = payloads.block_actions_payload([action], team_id=TEAM, user_id=ANN, channel_id="D1")
    assert ephemeral["container"]["is_ephemeral"] is True and "message" not in ephemeral
    reply = {"ts": "1700000000.000200", "text": "Logged"}
    explicit = payloads.block_actions_payload(
        [action], team_id=TEAM, user_id=ANN, channel_id="C0PMS", message=reply, is_ephemeral=True
    )
    assert explicit["container"]["message_ts"] == reply["ts"] and "message" not in explicit


def test_view_submission_keys_cover_the_sample() -> None:
    values = {"text": {"text": {"type": "plain_text_input", "value": "shipped"}}}
    first = payloads.view_submission_payload(
        modal(), values, team_id=TEAM, user_id=ANN, view_id="V0STABLE"
    )
    second = payloads.view_submission_payload(
        modal(), values, team_id=TEAM, user_id=ANN, view_id="V0STABLE"
    )
    sample = sample_keys("app-backend/ViewSubmissionPayload.json")
    assert_covers(set(first), sample, also_absent={"is_cleared"})
    assert set(first) <= sample | {"response_urls"}
    assert first["view"]["state"]["values"] == values
    assert first["view"]["id"] == second["view"]["id"] == "V0STABLE"
    assert first["trigger_id"] != second["trigger_id"]
    view_sample = set(
        json.loads((SAMPLES / "app-backend/ViewSubmissionPayload.json").read_text())["view"]
    )
    assert view_sample <= set(first["view"])


def test_view_closed_and_event_keys_cover_the_samples() -> None:
    closed = payloads.view_closed_payload(modal(), team_id=TEAM, user_id=ANN)
    assert_covers(set(closed), sample_keys("app-backend/ViewClosedPayload.json"))
    event = payloads.event_callback_payload(
        {"type": "app_home_opened", "user": ANN, "channel": "D1", "tab": "home"}, team_id=TEAM
    )
    for name in ("AppHomeOpenedPayload", "MemberJoinedChannelPayload", "MessagePayload"):
        sample = sample_keys(f"events/{name}.json")
        assert_covers(set(event), sample)
        assert set(event) - sample <= {"context_team_id", "context_enterprise_id"}
    assert event["type"] == "event_callback" and event["event"]["event_ts"]


def test_http_bodies_are_what_bolt_expects(fake: FakeSlack, client: WebClient) -> None:
    """Bolt accepts the builders' bodies, signed, and its respond() reaches the hook."""
    app = App(client=client, signing_secret="s3cret", process_before_response=True)
    seen: dict[str, Any] = {}

    @app.command("/coach")
    def on_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        ack()
        seen["command"] = command
        respond(text="Logged")

    @app.action("win_undo")
    def on_action(ack: Any, body: dict[str, Any]) -> None:
        ack()
        seen["action"] = body

    @app.view("win")
    def on_submit(ack: Any, view: dict[str, Any]) -> None:
        ack()
        seen["view"] = view

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any]) -> None:
        seen["event"] = event

    bodies = [
        payloads.slash_command(
            "/coach",
            "shipped",
            team_id=TEAM,
            user_id=ANN,
            channel_id="C0PMS",
            response_url=fake.response_url("bolt-1"),
        ),
        payloads.block_actions(
            [{"action_id": "win_undo", "value": "1"}],
            team_id=TEAM,
            user_id=ANN,
            channel_id="C0PMS",
            message={"ts": "1700000000.000100", "text": "x"},
            response_url=fake.response_url("bolt-2"),
        ),
        payloads.view_submission(modal(callback_id="win"), {}, team_id=TEAM, user_id=ANN),
        payloads.event_callback({"type": "app_home_opened", "user": ANN}, team_id=TEAM),
    ]
    for body, ctype in bodies:
        headers: dict[str, str | Sequence[str]] = {
            **signed_headers("s3cret", body, content_type=ctype)
        }
        resp = app.dispatch(BoltRequest(body=body.decode(), headers=headers))
        assert resp.status == 200, resp.body
    assert seen["command"]["text"] == "shipped"
    assert seen["action"]["actions"][0]["value"] == "1"
    assert seen["view"]["callback_id"] == "win"
    assert seen["event"]["user"] == ANN
    assert fake.wait_for("response_url")[0].args["text"] == "Logged"

    body, ctype = payloads.url_verification("chal-1")
    headers = {**signed_headers("s3cret", body, content_type=ctype)}
    resp = app.dispatch(BoltRequest(body=body.decode(), headers=headers))
    assert json.loads(resp.body)["challenge"] == "chal-1"
