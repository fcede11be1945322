"""Secrets never reach a log line or an exception message.

Known token and secret values are used for representative traffic — commands, clicks, a modal,
the Home, a tick, a recap, Slack errors, a Redis outage, forged requests — in process with the
JSON log stream captured at DEBUG (`bot.runtime.logs.configure_logging(..., stream=...)`: the
level at which slack-sdk writes request headers), and in real `pm-coach run` processes at DEBUG
(HTTP and Socket Mode) whose whole output is kept.
"""

from __future__ import annotations

import json
import secrets
import time
import traceback
from datetime import UTC, datetime, timedelta

import redis

from bot.fakeslack import FakeSlack, payloads
from bot.runtime.app import nudge_client, web_client
from bot.runtime.settings import Settings
from bot.store import connect
from bot.surfaces.blocks import ACTION_PICK_CLARITY, ACTION_UNDO
from tests.conftest import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, TEAM, Clock, serve_app
from tests.driver import SlackDriver
from tests.redis_server import RedisServer, free_port
from tests.reliability.conftest import SECRETS, capture_json_logs, settle
from tests.test_cli import Process, cli_env, pm_coach
from tests.test_ticker import enrol_pm

MON_9_LONDON = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
FRI_15_BERLIN = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def leaks(text: str, values: list[str]) -> list[str]:
    return [v[:8] + "…" for v in values if v in text]


def exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)


# An admin pastes secrets into Slack (it happens): at DEBUG, slack-sdk would log the bodies the
# app sends — the lane question's answer via response_url, a nudge carrying a custom prompt.
PASTED = f"Rotated the bot token {BOT_TOKEN} and the secret {SIGNING_SECRET}"


def traffic(slack: SlackDriver, fake: FakeSlack) -> None:
    """Commands, clicks, a modal, the Home, Slack errors and forged requests."""
    fake.add_channel("C0SECRETS", members=["U0ALICE", "U0ADMIN"])
    pasted = slack.command("/win", PASTED, user="U0ADMIN")
    slack.hook_posts(slack.click(pasted, ACTION_PICK_CLARITY, user="U0ADMIN"))
    slack.command("/coach", f"prompts add {PASTED}?", user="U0ALICE")
    reply = slack.command("/win", "clarity Framed the bet")
    slack.click(reply, ACTION_UNDO)
    question = slack.command("/win", "Aligned sales and eng", user="U0BOB")
    slack.click(question, ACTION_PICK_CLARITY, user="U0BOB")
    slack.command("/win", "", trigger_id="trig-secrets")
    view = fake.wait_for("views.open")[-1].args["view"]
    values = {
        "text": {"value": {"type": "plain_text_input", "value": "From the form"}},
        "lane": {"value": {"type": "radio_buttons", "selected_option": {"value": "shipped"}}},
    }
    slack.submit(view, values)
    for sub in ("stats", "history", "export", "prompts add Who did I unblock?", "share on"):
        slack.command("/coach", sub)
    slack.command("/coach", "recap here", user="U0ADMIN", channel="C0SECRETS")
    slack.command("/reflect", "A private thought")
    slack.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "event_ts": "1.1"})
    # Slack errors on the request path and after the ack.
    fake.fail("users.info", "invalid_auth", times=1)
    fake.add_user("U0NEW", tz="Asia/Tokyo")
    slack.command("/win", "clarity A newcomer's first win", user="U0NEW")
    fake.server_error("views.publish", times=1)
    slack.event({"type": "app_home_opened", "user": "U0BOB", "tab": "home", "event_ts": "1.2"})
    fake.fail("files.getUploadURLExternal", "not_authed", times=1)
    slack.command("/coach", "export")
    # Forged: a wrong signature, and a junk timestamp (an exception inside Bolt).
    body, content_type = payloads.slash_command(
        "/win",
        "clarity forged",
        team_id=TEAM,
        user_id="U0ALICE",
        channel_id="C0GENERAL",
        response_url=fake.response_url("forged"),
    )
    slack.post(body, content_type, headers={"X-Slack-Signature": "v0=" + "0" * 64})
    slack.post(body, content_type, sign=False, headers={"X-Slack-Request-Timestamp": "junk"})
    settle(0.5)


def test_in_process_traffic_logs_no_secret(
    settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """At DEBUG, every log line of commands, clicks, a modal, the Home, a tick, a recap, Slack
    errors, a Redis outage and forged requests is free of the bot token, the app token and the
    signing secret — and so is every exception those paths raise."""
    exceptions: list[str] = []
    with capture_json_logs("DEBUG") as logs:
        with serve_app(settings, rds, fake, clock) as slack:
            traffic(slack, fake)
            enrol_pm(settings, rds, clock, "U0ALICE", "Europe/Berlin")
            fake.rate_limit("chat.postMessage", retry_after=1, times=1)
            slack.ticker.tick(FRI_15_BERLIN)
            fake.server_error("chat.postMessage", times=1)
            slack.recaps.run_due(MON_9_LONDON)
            slack.recaps.run_due(MON_9_LONDON + timedelta(minutes=6))
            for client in (web_client(settings), nudge_client(settings, lambda s: None)):
                fake.fail("auth.test", "invalid_auth", times=1)
                try:
                    client.auth_test()
                except Exception as exc:
                    exceptions.append(exception_text(exc))
        # Redis unreachable: the request paths say "not saved"; the tick raises.
        dead = connect(f"redis://:{secrets.token_hex(8)}@127.0.0.1:{free_port()}/0")
        with serve_app(settings, dead, fake, clock) as down:
            down.command("/win", "clarity while Redis is down")
            down.command("/coach", "stats")
            down.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
            try:
                down.ticker.tick(FRI_15_BERLIN)
            except Exception as exc:
                exceptions.append(exception_text(exc))
            settle(0.5)
    text = logs.text
    assert leaks(text, SECRETS) == []
    assert leaks("\n".join(exceptions), SECRETS) == []
    # The capture really saw the traffic, including slack-sdk's request lines at DEBUG.
    assert "win_logged" in text and "store_unavailable" in text and "listener_failed" in text
    assert "Sending a request" in text and "chat.postMessage" in text
    # What the admin pasted is not logged at all (tests/reliability/test_log_privacy.py).
    assert "Rotated the bot token" not in text
    assert len(exceptions) == 3


def _driver(port: int, fake: FakeSlack) -> SlackDriver:
    return SlackDriver(
        base_url=f"http://127.0.0.1:{port}",
        secret=SIGNING_SECRET,
        fake=fake,
        team_id=TEAM,
        store=None,  # type: ignore[arg-type]
        coach=None,  # type: ignore[arg-type]
    )


def test_a_debug_pm_coach_run_logs_no_secret(fake: FakeSlack, redis_server: RedisServer) -> None:
    """A real `pm-coach run` at DEBUG serving commands, the Home, a forged request, a Slack
    error and then a Redis outage writes neither token, nor the signing secret, nor the Redis
    password anywhere in its output; neither does `pm-coach check` or `pm-coach tick`."""
    password = "redis-" + secrets.token_hex(12)
    redis.Redis(port=redis_server.port).config_set("requirepass", password)
    url = f"redis://:{password}@127.0.0.1:{redis_server.port}/0"
    port = free_port()
    process = Process(cli_env(fake, url, PORT=str(port), LOG_LEVEL="DEBUG"))
    try:
        process.wait_for_log("serving_http")
        driver = _driver(port, fake)
        assert "Logged" in driver.command("/win", "clarity From a real process").text
        pasted = driver.command("/win", PASTED, user="U0ADMIN")
        driver.hook_posts(driver.click(pasted, ACTION_PICK_CLARITY, user="U0ADMIN"))
        driver.command("/coach", "export")
        driver.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
        fake.fail("users.info", "invalid_auth", times=1)
        driver.command("/win", "clarity Bob's first", user="U0BOB")
        driver.post(
            b"text=forged",
            "application/x-www-form-urlencoded",
            headers={"X-Slack-Signature": "v0=" + "0" * 64},
        )
        driver.post(
            b"text=forged",
            "application/x-www-form-urlencoded",
            sign=False,
            headers={"X-Slack-Request-Timestamp": "junk", "X-Slack-Signature": "v0=1"},
        )
        redis_server.stop()
        assert "not saved" in driver.command("/win", "clarity Redis is gone").text
        assert driver.get("/healthz").status == 503
        time.sleep(0.3)
    finally:
        assert process.stop() == 0
    output = "".join(process.lines)
    values = [*SECRETS, password]
    assert leaks(output, values) == []
    assert "Sending a request" in output  # slack-sdk's DEBUG lines were written
    assert "Rotated the bot token" not in output  # …reduced to their first words
    assert "store_unavailable" in output
    check = pm_coach("check", env=cli_env(fake, url))
    tick = pm_coach("tick", "--at", "2026-11-27T15:00:30+01:00", env=cli_env(fake, url))
    assert check.returncode == 1 and tick.returncode == 1  # Redis is down for both
    assert leaks(check.stdout + check.stderr + tick.stdout + tick.stderr, values) == []


def test_a_debug_socket_mode_run_logs_no_secret(
    fake: FakeSlack, redis_url: str, rds: redis.Redis
) -> None:
    """`pm-coach run` in Socket Mode at DEBUG (the app-level token opens the connection, the
    bot token answers, a PM pastes secrets into a win) keeps every secret out of its output."""
    env = cli_env(fake, redis_url, SLACK_APP_TOKEN=APP_TOKEN, LOG_LEVEL="DEBUG")
    del env["SLACK_SIGNING_SECRET"]
    process = Process(env)
    try:
        assert fake.socket_connected(timeout=15)
        payload = payloads.slash_command_payload(
            "/win",
            "clarity over the socket",
            team_id=TEAM,
            user_id="U0ALICE",
            channel_id="C0GENERAL",
            response_url=fake.response_url("sock"),
        )
        ack = fake.socket_send("slash_commands", payload, envelope_id="env-secrets")
        assert "Logged" in json.dumps(ack.get("payload"))
        pasted = dict(payload, text=f"clarity {BOT_TOKEN} {APP_TOKEN}", trigger_id="trig-pasted")
        fake.socket_send("slash_commands", pasted, envelope_id="env-pasted")
    finally:
        assert process.stop() == 0
    output = "".join(process.lines)
    # This process has no signing secret (Socket Mode), so it has only the two tokens to keep.
    assert leaks(output, [BOT_TOKEN, APP_TOKEN]) == []
    assert "apps.connections.open" in output
    assert "clarity over the socket" not in output  # what PMs type is never logged
