"""How the fake answers: a transport-neutral :class:`Reply`, and :class:`SlackError`.

A Web API method handler raises ``SlackError("channel_not_found")`` and the endpoint turns it
into Slack's HTTP 200 ``{"ok": false, "error": ...}``; injected faults and the hook and upload
endpoints build a :class:`Reply` directly. Imports nothing of the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]


class SlackError(Exception):
    """Raised inside a method handler: answered as {"ok": false, "error": ..., **extra}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def invalid_arguments(messages: list[str]) -> SlackError:
    """Slack's schema error: ``invalid_arguments`` with ``[ERROR] ...`` messages."""
    return SlackError(
        "invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]}
    )


@dataclass
class Reply:
    """One answer: status, JSON body and extra headers, or a plain-text body."""

    status: int
    body: JsonDict
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None  # a non-JSON body (upload URL answers)
