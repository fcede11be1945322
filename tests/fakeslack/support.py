"""What the fake Slack's own tests share: the sample workspace, Block Kit snippets, the Java
SDK's sample answers, and a POST that bypasses slack_sdk."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.fakeslack import FakeSlack

SAMPLES = Path("/work/shared/slack/java-slack-sdk-json-logs")
TEAM = "T0TEAM"
ANN = "U0ANN"


@contextmanager
def sample_fake() -> Iterator[FakeSlack]:
    """A started fake: Ann (an admin, in Berlin) and #pms with Ann and the bot in it."""
    with FakeSlack(team_id=TEAM, bot_token="xoxb-test", app_token="xapp-test") as f:
        f.add_user(ANN, name="Ann Lee", tz="Europe/Berlin", is_admin=True)
        f.add_channel("C0PMS", name="pms", members=[ANN])
        yield f


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(title: str = "Log a win", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "blocks": [section("hello")],
        **extra,
    }


def api_sample(name: str) -> dict[str, Any] | None:
    """The Java SDK's sample answer of a Web API method, when the samples are around."""
    path = SAMPLES / "api" / f"{name}.json"
    return dict(json.loads(path.read_text())) if path.exists() else None


def data_keys(resp: Any) -> set[str]:
    return set(resp.data)


def raw_post(url: str, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
    """POST without slack_sdk, to see what the fake answers on the wire."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request("POST", parts.path, body, {"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()
