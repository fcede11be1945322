"""Logging format and redaction; settings validation."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from structlog._config import BoundLoggerLazyProxy

from bot.logs import Redactor, configure_logging, get_logger
from bot.settings import Settings, describe_error


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_json_lines_when_not_a_tty_with_secrets_redacted() -> None:
    stream = io.StringIO()
    configure_logging("INFO", None, ["sekrit-signing-value"], stream=stream)
    get_logger("t").info("win_logged", lane="clarity", note="key sekrit-signing-value here")
    logging.getLogger("slack_sdk").warning("Authorization: Bearer xoxb-123-456-abcdef")
    try:
        raise ValueError("token xapp-1-AAA-bbb leaked")
    except ValueError:
        get_logger("t").exception("boom")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "win_logged" and lines[0]["lane"] == "clarity"
    assert "level" in lines[0] and "timestamp" in lines[0]
    text = stream.getvalue()
    for secret in ("sekrit-signing-value", "xoxb-123-456-abcdef", "xapp-1-AAA-bbb"):
        assert secret not in text
    assert text.count("[redacted]") >= 3


def test_console_lines_on_a_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    configure_logging("INFO", None, [], stream=stream)
    get_logger("t").info("win_logged", lane="shipped")
    line = stream.getvalue()
    assert "win_logged" in line and "lane=shipped" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_a_logger_follows_every_reconfiguration_and_is_assembled_once_per_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`get_logger` hands out loggers at import time, before `main()` configures logging: each
    follows every later `configure_logging` (stream, level, secrets), and between two of them
    it is assembled once, not on every call (which cost as much as rendering a line)."""
    log = get_logger("early")
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", "json", ["first-secret"], stream=first)
    assembled = []
    real_bind = BoundLoggerLazyProxy.bind

    def counting_bind(self: BoundLoggerLazyProxy, **values: object) -> object:
        assembled.append(1)
        return real_bind(self, **values)

    monkeypatch.setattr(BoundLoggerLazyProxy, "bind", counting_bind)
    for n in range(5):
        log.info("one", n=n, note="first-secret")
    log.debug("hidden")
    assert len(assembled) == 1
    configure_logging("WARNING", "json", ["second-secret"], stream=second)
    log.info("dropped at warning")
    log.warning("two", note="second-secret")
    assert len(assembled) == 2
    lines = [json.loads(line) for line in first.getvalue().splitlines()]
    assert [line["n"] for line in lines] == list(range(5))
    assert {line["logger"] for line in lines} == {"early"}
    assert "first-secret" not in first.getvalue()
    again = [json.loads(line) for line in second.getvalue().splitlines()]
    assert [line["event"] for line in again] == ["two"] and again[0]["level"] == "warning"
    assert "second-secret" not in second.getvalue()


def test_redactor_scrubs_nested_values() -> None:
    redactor = Redactor(["my-secret-1"])
    event = {"event": "x", "nested": {"a": ["xoxb-1-2-3", "ok my-secret-1"]}}
    cleaned = redactor(None, "info", event)
    assert cleaned == {"event": "x", "nested": {"a": ["[redacted]", "ok [redacted]"]}}


def test_settings_defaults_and_secrets() -> None:
    settings = Settings(_env_file=None, slack_bot_token="xoxb-a-b", slack_signing_secret="s3cr3t")  # type: ignore[call-arg]
    assert settings.port == 3000 and settings.redis_url.startswith("redis://")
    assert settings.slack_api_base_url == "https://slack.com/api/"
    assert not settings.socket_mode
    assert "xoxb-a-b" not in repr(settings) and "s3cr3t" not in repr(settings)
    socket = Settings(
        _env_file=None,
        slack_bot_token="xoxb-a",
        slack_app_token="xapp-b",  # type: ignore[call-arg]
        slack_api_base_url="http://127.0.0.1:9/api",
        admin_user_ids="U1, U2",
    )
    assert socket.socket_mode and socket.slack_api_base_url.endswith("/api/")
    assert socket.admin_ids == {"U1", "U2"}


def test_describe_error_names_the_setting() -> None:
    with pytest.raises(Exception) as info:
        Settings(_env_file=None, slack_signing_secret="x", port=0)  # type: ignore[call-arg]
    message = describe_error(info.value)
    assert "SLACK_BOT_TOKEN is missing" in message and "PORT is invalid" in message


def test_every_setting_is_documented() -> None:
    """.env.example and the README's settings table name every setting the process reads."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    example = (root / ".env.example").read_text()
    readme = (root / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"\n{name.upper()}=" in example, name
        assert f"`{name.upper()}`" in readme, name
