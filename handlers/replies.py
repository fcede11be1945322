"""Small helpers shared by listeners: turn (text, blocks) pairs into Slack replies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from bot import texts
from bot.blocks import Reply
from bot.coach import Coach
from bot.store import StoreUnavailable


def coach_of(context: Any) -> Coach:
    coach: Coach = context["coach"]
    return coach


def ephemeral(reply: Reply) -> dict[str, Any]:
    text, blocks = reply
    return {"text": text, "blocks": blocks, "response_type": "ephemeral"}


def replacement(reply: Reply) -> dict[str, Any]:
    text, blocks = reply
    return {"text": text, "blocks": blocks, "replace_original": True, "response_type": "ephemeral"}


def ids_of(body: dict[str, Any]) -> tuple[str, str]:
    """(team id, user id) of an interactive payload (block_actions, view_submission)."""
    team = body.get("team") or {}
    user = body.get("user") or {}
    return str(team.get("id") or user.get("team_id") or ""), str(user.get("id") or "")


@contextmanager
def after_ack(context: Any, respond: Any = None) -> Iterator[None]:
    """Guard the work a listener does after `ack()`.

    Bolt (1.30) loses the already-sent acknowledgement when a listener raises shortly after
    acking, and Slack then sees a failed request. So failures after the ack are handled here:
    logged with their traceback, and the PM is told (privately) when there is a response_url.
    """
    try:
        yield
    except Exception as exc:
        log = context.get("log") if hasattr(context, "get") else None
        message = texts.NOT_DONE if isinstance(exc, StoreUnavailable) else texts.GENERIC_ERROR
        if log is not None:
            log.error("listener_failed_after_ack", error=type(exc).__name__, exc_info=exc)
        if respond is not None:
            with suppress(Exception):
                respond(text=message, response_type="ephemeral", replace_original=False)
