"""What the method families share: the handler type and Slack's reading of arguments.

A :data:`Method` takes the :class:`~bot.fakeslack.state.Workspace` (its lock held) and the
call's arguments, and returns the JSON answer or raises ``SlackError``. Also here: boolean and
integer arguments as Slack reads them, and Slack's cursor pagination over ids.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from bot.fakeslack.answers import SlackError
from bot.fakeslack.state import Workspace

JsonDict = dict[str, Any]
Method = Callable[[Workspace, JsonDict], JsonDict]


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def int_arg(args: JsonDict, key: str, default: int) -> int:
    value = args.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SlackError(f"invalid_{key}") from None


def _encode_cursor(key: str) -> str:
    return base64.b64encode(f"user:{key}".encode()).decode()


def page(items: list[str], args: JsonDict, default_limit: int) -> tuple[list[str], str]:
    """Slack cursor pagination over ids: (page, next_cursor or "")."""
    limit = int_arg(args, "limit", default_limit)
    if limit < 0:
        raise SlackError("invalid_limit")
    limit = min(limit, 1000) if limit else len(items) or 1
    start = 0
    cursor = args.get("cursor") or ""
    if cursor:
        try:
            kind, _, key = base64.b64decode(cursor, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise SlackError("invalid_cursor") from None
        if kind != "user" or key not in items:
            raise SlackError("invalid_cursor")
        start = items.index(key)
    found = items[start : start + limit]
    rest = items[start + limit :]
    return found, _encode_cursor(rest[0]) if rest else ""
