"""The fake Slack's wire: injected faults (errors, 429, 5xx, delays, the workspace bucket),
Socket Mode with slack_sdk's and Bolt's clients, the HTTP transport's seams, the lifecycle."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.fakeslack import Call, FakeSlack, Journal, payloads
from bot.fakeslack.state import Workspace
from tests.fakeslack.support import (
    ANN,
    TEAM,
    raw_post,
)

# --------------------------------------------------------------------------- faults


def test_fail_answers_the_error_then_recovers(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", "account_inactive")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0PMS", text="x")
    assert exc.value.response["error"] == "account_inactive"
    assert client.chat_postMessage(channel="C0PMS", text="x")["ok"] is True
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [200, 200]
    assert len(fake.messages("C0PMS")) == 1


def test_fail_until_cleared(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("users.info", "user_not_found", times=None)
    for _ in range(3):
        with pytest.raises(SlackApiError):
            client.users_info(user=ANN)
    fake.clear_faults()
    assert client.users_info(user=ANN)["ok"] is True


def test_rate_limit_raises_429_with_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0PMS", text="x")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"
    assert exc.value.response["error"] == "ratelimited"
    assert fake.messages("C0PMS") == []


def test_rate_limit_retry_handler_succeeds_on_retry(fake: FakeSlack) -> None:
    client = WebClient(
        token="xoxb-test",
        base_url=fake.api_base_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake.rate_limit("chat.postMessage", retry_after=1)
    started = time.monotonic()
    assert client.chat_postMessage(channel="C0PMS", text="x")["ok"] is True
    assert time.monotonic() - started >= 1.0  # it honoured Retry-After
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]


def test_server_error(fake: FakeSlack, client: WebClient) -> None:
    fake.server_error("views.publish", status=503)
    with pytest.raises(SlackApiError) as exc:
        client.views_publish(user_id=ANN, view={"type": "home", "blocks": []})
    assert exc.value.response.status_code == 503
    fake.server_error("views.publish", status=500)
    retrying = WebClient(
        token="xoxb-test",
        base_url=fake.api_base_url,
        retry_handlers=[ServerErrorRetryHandler(max_retry_count=1)],
    )
    assert retrying.views_publish(user_id=ANN, view={"type": "home", "blocks": []})["ok"]
    assert [c.status for c in fake.calls_to("views.publish")] == [503, 500, 200]


def test_delay_makes_the_client_time_out_yet_slack_posted(fake: FakeSlack) -> None:
    impatient = WebClient(token="xoxb-test", base_url=fake.api_base_url, timeout=1)
    fake.delay("chat.postMessage", 2.5)
    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel="C0PMS", text="slow")
    # Slack still did it: a blind retry would double-post.
    [call] = fake.wait_for("chat.postMessage", timeout=5)
    assert call.status == 200
    assert len(fake.messages("C0PMS")) == 1


def test_workspace_bucket_limits_post_message(fake: FakeSlack, client: WebClient) -> None:
    fake.workspace_bucket(0.5, burst=3)
    for _ in range(3):
        client.chat_postMessage(channel="C0PMS", text="x")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=ANN, text="x")
    assert exc.value.response.status_code == 429
    assert int(exc.value.response.headers["Retry-After"]) >= 1
    fake.workspace_bucket(None)
    assert client.chat_postMessage(channel="C0PMS", text="x")["ok"]


def test_wait_for_times_out_with_a_useful_message(fake: FakeSlack, client: WebClient) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match=r"chat\.postMessage.*auth\.test"):
        fake.wait_for("chat.postMessage", timeout=0.2)


# --------------------------------------------------------------------------- Socket Mode


def test_apps_connections_open_needs_the_app_token(fake: FakeSlack) -> None:
    web = WebClient(base_url=fake.api_base_url)
    url = web.apps_connections_open(app_token="xapp-test")["url"]
    assert url.startswith(f"ws://127.0.0.1:{fake.port}/link/?ticket=")
    with pytest.raises(SlackApiError) as exc:
        web.apps_connections_open(app_token="xapp-wrong")
    assert exc.value.response["error"] == "invalid_auth"


def test_socket_mode_round_trip_with_the_builtin_client(fake: FakeSlack, client: WebClient) -> None:
    received: list[SocketModeRequest] = []

    def on_request(sm: BaseSocketModeClient, req: SocketModeRequest) -> None:
        received.append(req)
        ack = SocketModeResponse(envelope_id=req.envelope_id, payload={"text": "on it"})
        sm.send_socket_mode_response(ack)

    sm = SocketModeClient(app_token="xapp-test", web_client=client)
    sm.socket_mode_request_listeners.append(on_request)
    try:
        sm.connect()
        assert fake.socket_connected(timeout=5)
        payload = payloads.slash_command_payload(
            "/coach",
            "win shipped :rocket:",
            team_id=TEAM,
            user_id=ANN,
            channel_id="C0PMS",
            response_url=fake.response_url("sm-1"),
        )
        ack = fake.socket_send("slash_commands", payload, envelope_id="env-1")
        assert ack == {"envelope_id": "env-1", "payload": {"text": "on it"}}
        assert received[0].type == "slash_commands"
        assert received[0].payload["text"] == "win shipped :rocket:"

        again = fake.socket_send("slash_commands", payload, envelope_id="env-1", retry_attempt=1)
        assert again["envelope_id"] == "env-1"  # a redelivery is acked again
        assert [r.retry_attempt for r in received] == [0, 1]
        assert len(fake.calls_to("socket_ack")) == 2

        fake.socket_disconnect()  # Slack asks for a reconnect; the client opens a new URL
        fake.wait_for("apps.connections.open", count=2)
        assert fake.socket_connected(timeout=5)
        deadline = time.monotonic() + 5
        while True:  # the old connection may still be the newest for a moment
            try:
                ack = fake.socket_send("events_api", {"type": "event_callback"}, timeout=1)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        assert ack["envelope_id"]
    finally:
        sm.close()


def test_socket_send_without_client_fails_fast(fake: FakeSlack) -> None:
    assert fake.socket_connected(timeout=0.1) is False
    with pytest.raises(AssertionError, match="no Socket Mode client"):
        fake.socket_send("events_api", {}, timeout=0.5)


def test_socket_send_times_out_without_ack(fake: FakeSlack, client: WebClient) -> None:
    sm = SocketModeClient(app_token="xapp-test", web_client=client)  # no listener: no ack
    try:
        sm.connect()
        assert fake.socket_connected()
        with pytest.raises(AssertionError, match="no ack"):
            fake.socket_send("interactive", {"type": "block_actions"}, timeout=0.5)
    finally:
        sm.close()


def test_bolt_socket_mode_handler_acks(fake: FakeSlack, client: WebClient) -> None:
    app = App(client=client, signing_secret="unused")

    @app.command("/coach")
    def on_command(ack: Any) -> None:
        ack(text="Got it")

    handler = SocketModeHandler(app, app_token="xapp-test")
    try:
        handler.connect()  # type: ignore[no-untyped-call]
        assert fake.socket_connected()
        payload = payloads.slash_command_payload(
            "/coach",
            "hi",
            team_id=TEAM,
            user_id=ANN,
            channel_id="C0PMS",
            response_url=fake.response_url("sm-bolt"),
        )
        ack = fake.socket_send("slash_commands", payload)
        assert ack["payload"] == {"text": "Got it"}
    finally:
        handler.close()  # type: ignore[no-untyped-call]


# --------------------------------------------------------------------------- lifecycle


def test_stop_is_idempotent_and_frees_the_port() -> None:
    fake = FakeSlack().start()
    url = fake.api_base_url
    fake.stop()
    fake.stop()
    with pytest.raises(OSError):
        raw_post(url + "auth.test", b"", "application/x-www-form-urlencoded")


# --------------------------------------------------------------------------- extending the fake


def test_methods_can_be_added_and_replaced(fake: FakeSlack, client: WebClient) -> None:
    def team_of(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "team": ws.team_id, "echo": args.get("say")}

    fake.methods["test.team"] = team_of
    assert client.api_call("test.team", params={"say": "hi"})["echo"] == "hi"
    fake.methods["auth.test"] = team_of
    assert client.auth_test()["team"] == TEAM
    assert [c.method for c in fake.calls] == ["test.team", "auth.test"]


def test_a_journal_of_ones_own_sees_every_answered_call() -> None:
    class Seen(Journal):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[tuple[str, int]] = []

        def record(self, call: Call) -> None:
            self.seen.append((call.method, call.status))

    journal = Seen()
    with FakeSlack(journal=journal) as fake:
        web = WebClient(token="xoxb-test", base_url=fake.api_base_url)
        web.auth_test()
        with pytest.raises(SlackApiError):
            web.users_info(user="U0NOBODY")
        assert fake.calls == []  # kept nothing itself
    assert journal.seen == [("auth.test", 200), ("users.info", 200)]


def test_an_http_1_0_fake_closes_each_connection_after_its_answer() -> None:
    for version, closes in (("HTTP/1.1", False), ("HTTP/1.0", True)):
        with FakeSlack(http_version=version) as fake:
            conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
            conn.request("POST", "/api/auth.test", b"", {"Authorization": "Bearer xoxb-test"})
            resp = conn.getresponse()
            assert json.loads(resp.read())["ok"] is True
            assert (resp.version, resp.will_close) == ((10, True) if closes else (11, False))
            conn.close()
