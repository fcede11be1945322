"""The DM nudge surface: its four buttons, the reflect modal, and `/reflect`."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks, nudge_blocks, texts
from bot.store import StoreUnavailable
from bot.wins import Lane, WinInputError, has_visible_text
from handlers.replies import after_ack, coach_of, ephemeral, ids_of, open_form


def _nudge_of(body: dict[str, Any], context: Any) -> dict[str, str]:
    """Where the clicked nudge is (channel, ts) and which prompt it asked."""
    container = body.get("container") or {}
    channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
    ts = str(container.get("message_ts") or (body.get("message") or {}).get("ts") or "")
    team_id, user_id = ids_of(body)
    record = coach_of(context).store.nudge_record(team_id, user_id)
    prompt = record.get("prompt", "") if record.get("ts") == ts else ""
    if not prompt:  # an older nudge: its own fallback text carries the prompt
        text = str((body.get("message") or {}).get("text") or "")
        prompt = text.split(": ", 1)[-1] if ": " in text else text
    return {
        "channel": channel,
        "ts": ts,
        "prompt": prompt,
        "prompt_id": record.get("prompt_id", "") if record.get("ts") == ts else "",
    }


def update_nudge(client: WebClient, nudge: dict[str, str], outcome: str, log: Any) -> None:
    """Replace the nudge's buttons with what happened, so stale buttons do not linger."""
    if not nudge.get("channel") or not nudge.get("ts"):
        return
    try:
        client.chat_update(
            channel=nudge["channel"],
            ts=nudge["ts"],
            **nudge_blocks.nudge_answered(nudge.get("prompt", ""), outcome),
        )
    except SlackApiError as exc:
        log.warning("nudge_update_failed", error=exc.response.get("error"))


def log_clarity(
    ack: Ack, body: dict[str, Any], client: WebClient, context: Any, respond: Respond
) -> None:
    ack()
    team_id, user_id = ids_of(body)

    def view() -> dict[str, Any]:
        metadata = json.dumps({"origin": "nudge", **_nudge_of(body, context)})
        today = coach_of(context).today_or_guess(team_id, user_id)
        return blocks.win_modal(today, lane=Lane.CLARITY, private_metadata=metadata)

    open_form(context, client, body["trigger_id"], (team_id, user_id), view, respond)


def reflect_button(
    ack: Ack, body: dict[str, Any], client: WebClient, context: Any, respond: Respond
) -> None:
    ack()

    def view() -> dict[str, Any]:
        nudge = _nudge_of(body, context)
        return nudge_blocks.reflect_modal(nudge["prompt"], json.dumps(nudge))

    open_form(context, client, body["trigger_id"], ids_of(body), view, respond)


def snooze(
    ack: Ack, body: dict[str, Any], client: WebClient, context: Any, respond: Respond
) -> None:
    ack()

    def work() -> None:
        team_id, user_id = ids_of(body)
        coach = coach_of(context)
        until = coach.snooze(team_id, user_id)
        when = nudge_blocks.snoozed_until(until, coach.tz_for(team_id, user_id))
        update_nudge(
            client,
            _nudge_of(body, context),
            texts.NUDGE_DONE_SNOOZED.format(when=when),
            context["log"],
        )

    after_ack(context, work, respond)


def skip(ack: Ack, body: dict[str, Any], client: WebClient, context: Any, respond: Respond) -> None:
    ack()

    def work() -> None:
        team_id, user_id = ids_of(body)
        coach_of(context).skip_week(team_id, user_id)
        update_nudge(client, _nudge_of(body, context), texts.NUDGE_DONE_SKIPPED, context["log"])

    after_ack(context, work, respond)


def reflect_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: Any
) -> None:
    """Store the answer privately; the nudge it answered loses its buttons."""
    team_id, user_id = ids_of(body)
    try:
        nudge = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        nudge = {}
    if not isinstance(nudge, dict):
        nudge = {}
    values = (view.get("state") or {}).get("values") or {}
    answer = ((values.get(nudge_blocks.FIELD_ANSWER) or {}).get("value") or {}).get("value")
    coach = coach_of(context)
    try:
        enrolled = coach.reflect(
            team_id,
            user_id,
            str(answer or ""),
            str(nudge.get("prompt_id") or ""),
            str(nudge.get("prompt") or ""),
        )
    except WinInputError as exc:
        message = texts.REFLECT_BLANK if exc.code == "reflect_blank" else texts.REFLECT_TOO_LONG
        ack(response_action="errors", errors={nudge_blocks.FIELD_ANSWER: message})
        return
    except StoreUnavailable:
        context["log"].error("store_unavailable", surface="reflect_modal")
        ack(response_action="errors", errors={nudge_blocks.FIELD_ANSWER: texts.NOT_SAVED_SHORT})
        return
    ack()

    def work() -> None:
        coach.finish_enrolment(team_id, user_id, enrolled)
        update_nudge(
            client,
            {k: str(v) for k, v in nudge.items()},
            texts.NUDGE_DONE_REFLECTED,
            context["log"],
        )

    after_ack(context, work)


def reflect_command(
    ack: Ack, command: dict[str, Any], client: WebClient, context: Any, respond: Respond
) -> None:
    """`/reflect [text]`: answer the latest prompt (a form when there is no text)."""
    coach = coach_of(context)
    team_id, user_id = command["team_id"], command["user_id"]
    text = command.get("text") or ""
    try:
        prompt_id, prompt = coach.latest_prompt(team_id, user_id)
        if not has_visible_text(text):  # nothing to save: open the form instead
            ack()
            metadata = json.dumps({"prompt_id": prompt_id, "prompt": prompt})
            view = nudge_blocks.reflect_modal(prompt, metadata)
            after_ack(
                context,
                partial(client.views_open, trigger_id=command["trigger_id"], view=view),
                respond,
                form=True,
            )
            return
        enrolled = coach.reflect(team_id, user_id, text, prompt_id, prompt)
    except WinInputError:  # too long: nothing saved, the text comes back to copy
        note = f"{texts.REFLECT_TOO_LONG} {texts.REFLECT_TOO_LONG_BACK}"
        ack(**ephemeral(blocks.text_back(note, text)))
        return
    except StoreUnavailable:
        context["log"].error("store_unavailable", surface="/reflect")
        ack(**ephemeral(blocks.not_saved(text, texts.REFLECTION_NOT_SAVED)))
        return
    ack(
        **ephemeral(
            (
                texts.REFLECT_SAVED,
                [blocks.section(texts.REFLECT_SAVED), blocks.context(f"_{blocks.escape(prompt)}_")],
            )
        )
    )
    if enrolled:
        after_ack(context, partial(coach.finish_enrolment, team_id, user_id, enrolled))


def register(app: App) -> None:
    app.action(nudge_blocks.ACTION_NUDGE_LOG)(log_clarity)
    app.action(nudge_blocks.ACTION_NUDGE_REFLECT)(reflect_button)
    app.action(nudge_blocks.ACTION_NUDGE_SNOOZE)(snooze)
    app.action(nudge_blocks.ACTION_NUDGE_SKIP)(skip)
    app.view(nudge_blocks.VIEW_REFLECT)(reflect_submitted)
    app.command("/reflect")(reflect_command)
