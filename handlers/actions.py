"""Buttons (block_actions): Undo, and the lane picked for `/win <text>`."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import blocks, texts
from bot.store import StoreUnavailable
from bot.wins import Lane, WinInputError
from handlers.commands import input_error
from handlers.replies import coach_of, ephemeral, replacement


def _ids(body: dict[str, Any]) -> tuple[str, str]:
    team = body.get("team") or {}
    user = body.get("user") or {}
    return str(team.get("id") or user.get("team_id") or ""), str(user.get("id") or "")


def undo(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    context: Any,
    respond: Respond,
    client: WebClient,
) -> None:
    """Remove exactly the win the button was attached to (only the clicking PM's own)."""
    ack()
    team_id, user_id = _ids(body)
    coach = coach_of(context)
    in_view = (body.get("container") or {}).get("type") == "view"
    try:
        undone = coach.undo(team_id, user_id, str(action.get("value") or ""))
    except StoreUnavailable:
        context["log"].error("store_unavailable", surface="undo")
        if in_view:
            return
        respond(text=texts.NOT_DONE, response_type="ephemeral", replace_original=False)
        return
    standing = undone.standing
    reply = blocks.win_undone(
        undone.win, standing.streak if standing else None, standing.balance if standing else None
    )
    if in_view:
        view = body["view"]
        client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=blocks.result_modal(reply[1], title="Win removed"),
        )
    else:
        respond(**replacement(reply))


def _pick(lane: Lane) -> Any:
    def pick(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], context: Any, respond: Respond
    ) -> None:
        """Log the drafted win in the lane the PM clicked and replace the question."""
        ack()
        team_id, user_id = _ids(body)
        coach = coach_of(context)
        try:
            logged = coach.log_draft(team_id, user_id, str(action.get("value") or ""), lane)
        except StoreUnavailable:
            context["log"].error("store_unavailable", surface="lane_pick")
            respond(text=texts.NOT_DONE, response_type="ephemeral", replace_original=False)
            return
        except WinInputError as exc:
            respond(**ephemeral(input_error(exc)))
            return
        if logged is None:
            respond(text=texts.DRAFT_EXPIRED, response_type="ephemeral", replace_original=True)
            return
        standing = logged.standing
        respond(
            **replacement(
                blocks.win_logged(
                    logged.win, standing.streak, standing.balance, duplicate=logged.duplicate
                )
            )
        )

    pick.__name__ = f"pick_{lane.value}"
    return pick


pick_shipped = _pick(Lane.SHIPPED)
pick_clarity = _pick(Lane.CLARITY)


def register(app: App) -> None:
    app.action(blocks.ACTION_UNDO)(undo)
    app.action(blocks.ACTION_PICK_SHIPPED)(pick_shipped)
    app.action(blocks.ACTION_PICK_CLARITY)(pick_clarity)
