"""Shared helpers for the reliability suites: a JSON log capture through the product's own
logging set-up, Redis key snapshots, a live-mention scanner, and a second team's driver."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import structlog

from bot.runtime.logs import configure_logging
from tests.conftest import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET
from tests.driver import SlackDriver

TEAM_B = "T0OTHER"
# Special mentions Slack renders live ("@channel", "@here", "@everyone", a user group).
BROADCASTS = ("<!channel", "<!here", "<!everyone", "<!subteam")
# Fields a Slack client never renders as mrkdwn: what the PM typed into an input (shown back
# verbatim for editing) and the app's own hidden state.
INERT_KEYS = frozenset({"initial_value", "private_metadata"})


def settle(seconds: float = 0.3) -> None:
    """Let listeners that already acked finish their follow-up Web API calls."""
    time.sleep(seconds)


def live_mentions(obj: Any, typed_ids: Iterable[str] = ()) -> list[str]:
    """Every rendered string that holds a live broadcast, or a live `<@id` for an id the PM
    typed. Input values and private_metadata are inert and skipped (see INERT_KEYS)."""
    patterns = [*BROADCASTS, *(f"<@{uid}" for uid in typed_ids)]
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in INERT_KEYS:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str):
            lowered = node.lower()
            if any(p.lower() in lowered for p in patterns):
                found.append(node[:160])

    walk(obj)
    return found


@dataclass
class LogCapture:
    """Every log line the process wrote (structlog events and stdlib libraries alike), as the
    production JSON renderer with its redactor produced them."""

    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.text.splitlines():
            try:
                out.append(json.loads(raw))
            except json.JSONDecodeError:
                out.append({"event": raw, "_unparsed": True})
        return out

    def events(self, *names: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") in names]

    def errors(self) -> list[dict[str, Any]]:
        """Lines that mean a listener blew up: our error handler's events, and Bolt's own
        ERROR lines (an exception that reached Bolt). slack-sdk's ERROR lines about a request
        that failed ("timed out", "Connection refused") are Slack trouble, not ours."""
        return [
            line
            for line in self.lines()
            if line.get("event") in ("listener_failed", "listener_failed_after_ack")
            or (
                line.get("level") == "error"
                and str(line.get("logger", "")).startswith("slack_bolt")
            )
        ]


@contextmanager
def capture_json_logs(
    level: str = "INFO", secrets: Iterable[str] | None = None
) -> Iterator[LogCapture]:
    """Route all logging through `bot.runtime.logs.configure_logging` (JSON + redactor) into a
    buffer, then put the previous logging set-up back."""
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    chatty = {n: logging.getLogger(n).level for n in ("apscheduler", "urllib3", "cheroot")}
    old = structlog.get_config()
    stream = io.StringIO()
    configure_logging(
        level, "json", list(secrets) if secrets is not None else SECRETS, stream=stream
    )
    try:
        yield LogCapture(stream)
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, value in chatty.items():
            logging.getLogger(name).setLevel(value)
        structlog.configure(**old)


SECRETS = [BOT_TOKEN, SIGNING_SECRET, APP_TOKEN]


@pytest.fixture(name="logs")
def _logs() -> Iterator[LogCapture]:
    """The JSON log stream of this test (INFO and up)."""
    with capture_json_logs() as capture:
        yield capture


def other_team(slack: SlackDriver, team_id: str = TEAM_B) -> SlackDriver:
    """The same running app, driven as Slack does for a second workspace."""
    return SlackDriver(
        base_url=slack.base_url,
        secret=slack.secret,
        fake=slack.fake,
        team_id=team_id,
        store=slack.store,
        coach=slack.coach,
        ticker=slack.ticker,
        recaps=slack.recaps,
        settle=slack.settle,  # the same app's executors: wait for its after-ack work too
    )
