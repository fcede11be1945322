"""Buttons (block_actions): Undo, and the lane picked for `/win <text>`."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.weeks import local_date
from bot.domain.wins import Lane, WinInputError
from bot.store import OutcomeUnknown, StoreUnavailable
from bot.surfaces import blocks, coach_blocks, home, texts
from handlers.coach_commands import HISTORY_DEFAULT
from handlers.commands import input_error
from handlers.home import publish_home
from handlers.replies import after_ack, coach_of, ephemeral, ids_of, replacement


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

    def work() -> None:
        team_id, user_id = ids_of(body)
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
            undone.win,
            standing.streak if standing else None,
            standing.balance if standing else None,
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

    after_ack(context, work, respond)


def _pick(lane: Lane) -> Any:
    def pick(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], context: Any, respond: Respond
    ) -> None:
        """Log the drafted win in the lane the PM clicked and replace the question."""
        ack()

        def work() -> None:
            team_id, user_id = ids_of(body)
            coach = coach_of(context)
            try:
                logged = coach.log_draft(team_id, user_id, str(action.get("value") or ""), lane)
            except OutcomeUnknown:  # a second click has the same draft: never logged twice
                context["log"].error("store_outcome_unknown", surface="lane_pick")
                respond(
                    text=texts.WIN_UNCONFIRMED_CLICK,
                    response_type="ephemeral",
                    replace_original=False,
                )
                return
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
                        logged.win,
                        standing.streak,
                        standing.balance,
                        duplicate=logged.duplicate,
                        removed=logged.removed,
                    )
                )
            )
            coach.finish_enrolment(team_id, user_id, logged.enrolled)

        after_ack(context, work, respond)

    pick.__name__ = f"pick_{lane.value}"
    return pick


pick_shipped = _pick(Lane.SHIPPED)
pick_clarity = _pick(Lane.CLARITY)


def history_menu(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    context: Any,
    respond: Respond,
    client: WebClient,
) -> None:
    """Edit or delete a win from `/coach history` or from the Home's recent wins."""
    ack()
    choice, _, win_id_ = str((action.get("selected_option") or {}).get("value") or "").partition(
        ":"
    )

    def work() -> None:
        team_id, user_id = ids_of(body)
        coach = coach_of(context)
        in_view = (body.get("container") or {}).get("type") == "view"
        if choice == "edit":
            win = coach.store.wins.get_win(team_id, user_id, win_id_)
            if win is None:
                return
            tz = coach.tz_for(team_id, user_id)
            metadata = {
                "win": win.id,
                "origin": "home" if in_view else "message",
                "response_url": context.get("response_url") or "",  # checked by the middleware
            }
            client.views_open(
                trigger_id=body["trigger_id"],
                view=blocks.win_modal(
                    coach.today(team_id, user_id),
                    text=win.text,
                    lane=win.lane,
                    day=local_date(win.at, tz),
                    link=win.link,
                    beneficiary=win.beneficiary,
                    callback_id=blocks.VIEW_WIN_EDIT,
                    title=texts.EDIT_TITLE,
                    submit=texts.EDIT_SUBMIT,
                    private_metadata=json.dumps(metadata),
                ),
            )
            return
        if choice != "delete":
            return
        undone = coach.undo(team_id, user_id, win_id_)
        if in_view:
            publish_home(client, coach, team_id, user_id, context["log"])
            return
        note = (
            texts.HISTORY_DELETED.format(text=blocks.quoted_win(undone.win.text, 300))
            if undone.win
            else texts.WIN_ALREADY_UNDONE
        )
        wins = coach.history(team_id, user_id, HISTORY_DEFAULT)
        respond(
            **replacement(coach_blocks.history(wins, coach.tz_for(team_id, user_id), note=note))
        )

    after_ack(context, work, respond, form=choice == "edit")


def forget_confirmed(
    ack: Ack, body: dict[str, Any], context: Any, respond: Respond, client: WebClient
) -> None:
    """Delete everything about the PM (they confirmed in Slack's dialog). Writes nothing after."""
    ack()

    def work() -> None:
        team_id, user_id = ids_of(body)
        coach = coach_of(context)
        coach.forget(team_id, user_id)
        # Everything is deleted: say so first; a Home that cannot be reset must not make it
        # sound as if nothing changed.
        if (body.get("container") or {}).get("type") != "view":
            respond(**replacement(coach_blocks.simple(texts.FORGOTTEN)))
        try:
            client.views_publish(user_id=user_id, view=home.forgotten_home())
        except (SlackApiError, SlackClientError, OSError) as exc:
            context["log"].warning("forgotten_home_not_published", error=type(exc).__name__)

    after_ack(context, work, respond)


def register(app: App) -> None:
    app.action(blocks.ACTION_UNDO)(undo)
    app.action(blocks.ACTION_PICK_SHIPPED)(pick_shipped)
    app.action(blocks.ACTION_PICK_CLARITY)(pick_clarity)
    app.action(coach_blocks.ACTION_HISTORY_MENU)(history_menu)
    app.action(coach_blocks.ACTION_FORGET)(forget_confirmed)
