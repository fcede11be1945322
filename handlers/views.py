"""Modal submissions: the `/win` form."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.domain.wins import Lane, WinInputError
from bot.store import OutcomeUnknown, StoreUnavailable
from bot.surfaces import blocks, coach_blocks, texts
from handlers.coach_commands import HISTORY_DEFAULT
from handlers.commands import input_error
from handlers.home import publish_home
from handlers.nudges import recorded_nudge, update_nudge
from handlers.replies import after_ack, ids_of

# Which form field an input error belongs to, so Slack shows it under that field.
ERROR_FIELD = {
    "blank": blocks.FIELD_TEXT,
    "too_long": blocks.FIELD_TEXT,
    "bad_form": blocks.FIELD_TEXT,
    "no_lane": blocks.FIELD_LANE,
    "future_date": blocks.FIELD_DATE,
    "date_too_old": blocks.FIELD_DATE,
    "bad_link": blocks.FIELD_LINK,
    "beneficiary_too_long": blocks.FIELD_BENEFICIARY,
}


def _value(values: dict[str, Any], block_id: str) -> dict[str, Any]:
    block = values.get(block_id)
    field = block.get("value") if isinstance(block, dict) else None
    return field if isinstance(field, dict) else {}


def read_win_form(view: dict[str, Any]) -> dict[str, Any]:
    """The form's values, or WinInputError for a malformed or incomplete submission."""
    values = (view.get("state") or {}).get("values")
    if not isinstance(values, dict):
        raise WinInputError("bad_form")
    text = _value(values, blocks.FIELD_TEXT).get("value")
    if not isinstance(text, str | None):
        raise WinInputError("bad_form")
    option = _value(values, blocks.FIELD_LANE).get("selected_option") or {}
    lane_value = option.get("value") if isinstance(option, dict) else None
    if lane_value not in (Lane.SHIPPED.value, Lane.CLARITY.value):
        raise WinInputError("no_lane" if lane_value is None else "bad_form")
    raw_date = _value(values, blocks.FIELD_DATE).get("selected_date")
    try:
        day = date.fromisoformat(raw_date) if raw_date else None
    except (TypeError, ValueError):
        raise WinInputError("bad_form") from None
    link = _value(values, blocks.FIELD_LINK).get("value")
    beneficiary = _value(values, blocks.FIELD_BENEFICIARY).get("value")
    if not isinstance(link, str | None) or not isinstance(beneficiary, str | None):
        raise WinInputError("bad_form")
    return {
        "text": text or "",
        "lane": Lane(lane_value),
        "day": day,
        "link": link,
        "beneficiary": beneficiary,
    }


def refuse(ack: Ack, exc: WinInputError) -> None:
    """Keep the form open with the explanation under the field it is about."""
    message = input_error(exc)[0]
    field = ERROR_FIELD.get(exc.code, blocks.FIELD_TEXT)
    ack(response_action="errors", errors={field: blocks.clip(message, 150)})


def not_saved(ack: Ack, context: Any, surface: str) -> None:
    """Redis is down: keep the form open (nothing typed is lost) and say it was not saved."""
    context["log"].error("store_unavailable", surface=surface)
    ack(response_action="errors", errors={blocks.FIELD_TEXT: texts.NOT_SAVED_SHORT})


def win_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: Any, client: WebClient
) -> None:
    """Validate, log once per view (a double submit has the same view id), show the outcome."""
    coach = context["coach"]
    team_id, user_id = ids_of(body)
    try:
        form = read_win_form(view)
        logged = coach.log_win(
            team_id=team_id,
            user_id=user_id,
            lane=form["lane"],
            text=form["text"],
            source=f"view:{view.get('id')}",
            day=form["day"],
            link=form["link"],
            beneficiary=form["beneficiary"],
        )
    except WinInputError as exc:
        refuse(ack, exc)
        return
    except OutcomeUnknown:  # a resubmit has the same view id: the win is never doubled
        context["log"].error("store_outcome_unknown", surface="win_modal")
        ack(response_action="errors", errors={blocks.FIELD_TEXT: texts.WIN_UNCONFIRMED_SHORT})
        return
    except StoreUnavailable:
        not_saved(ack, context, "win_modal")
        return
    standing = logged.standing
    _, confirmation = blocks.win_logged(
        logged.win,
        standing.streak,
        standing.balance,
        duplicate=logged.duplicate,
        removed=logged.removed,
    )
    ack(response_action="update", view=blocks.result_modal(confirmation))
    origin = _metadata(view)

    def follow_up() -> None:
        coach.finish_enrolment(team_id, user_id, logged.enrolled)
        if origin.get("origin") == "home":
            publish_home(client, coach, team_id, user_id, context["log"])
        elif origin.get("origin") == "nudge":
            nudge = recorded_nudge(coach, team_id, user_id, origin.get("ts", ""))
            update_nudge(client, nudge, texts.NUDGE_DONE_LOGGED, context["log"])

    if logged.enrolled or origin.get("origin") in ("home", "nudge"):
        after_ack(context, follow_up)


def _metadata(view: dict[str, Any]) -> dict[str, str]:
    raw = view.get("private_metadata") or ""
    if raw == "home":
        return {"origin": "home"}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def win_edited(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: Any, client: WebClient
) -> None:
    """Save an edited win; refresh where it was edited from (Home or the history message)."""
    coach = context["coach"]
    team_id, user_id = ids_of(body)
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        metadata = {}
    if not isinstance(metadata, dict) or not metadata.get("win"):
        ack(response_action="errors", errors={blocks.FIELD_TEXT: texts.ERRORS["bad_form"]})
        return
    try:
        form = read_win_form(view)
        edited = coach.edit_win(
            team_id=team_id,
            user_id=user_id,
            win_id_=str(metadata["win"]),
            lane=form["lane"],
            text=form["text"],
            day=form["day"],
            link=form["link"],
            beneficiary=form["beneficiary"],
        )
    except WinInputError as exc:
        refuse(ack, exc)
        return
    except StoreUnavailable:
        not_saved(ack, context, "win_edit")
        return
    if edited is None:
        ack(
            response_action="update",
            view=blocks.result_modal([blocks.section(texts.EDIT_GONE)], title=texts.EDIT_TITLE),
        )
        return
    standing = edited.standing
    _, confirmation = blocks.win_logged(
        edited.win, standing.streak, standing.balance, with_undo=False
    )
    ack(
        response_action="update",
        view=blocks.result_modal(confirmation, title=texts.EDIT_SAVED_TITLE),
    )

    def refresh() -> None:
        if metadata.get("origin") == "home":
            publish_home(client, coach, team_id, user_id, context["log"])
        elif metadata.get("response_url"):
            # Echoed back by the client with the form: call it only if the app may.
            url = str(metadata["response_url"])
            allowed = context.get("response_url_allowed")
            if allowed is None or not allowed(url):
                context["log"].warning("response_url_refused", surface="win_edit")
                return
            wins = coach.history(team_id, user_id, HISTORY_DEFAULT)
            reply = coach_blocks.history(wins, coach.tz_for(team_id, user_id))
            WebhookClient(url).send(
                text=reply[0], blocks=reply[1], replace_original=True, response_type="ephemeral"
            )

    after_ack(context, refresh)


def register(app: App) -> None:
    app.view(blocks.VIEW_WIN)(win_submitted)
    app.view(blocks.VIEW_WIN_EDIT)(win_edited)
