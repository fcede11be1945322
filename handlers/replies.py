"""Small helpers shared by listeners: turn (text, blocks) pairs into Slack replies."""

from __future__ import annotations

from typing import Any

from bot.blocks import Reply
from bot.coach import Coach


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
