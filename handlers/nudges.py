"""The DM nudge surface: its four buttons, the reflect modal, and `/reflect`."""

from __future__ import annotations

import html
import json
from functools import partial
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.coach import Coach, NotEnrolled
from bot.domain.numbers import is_number
from bot.domain.prompts import library
from bot.domain.wins import MAX_TEXT, Lane, WinInputError, has_visible_text
from bot.store import OutcomeUnknown, StoreUnavailable
from bot.surfaces import blocks, nudge_blocks, texts
from handlers.replies import after_ack, coach_of, ephemeral, ids_of, open_form


def recorded_nudge(coach: Coach, team_id: str, user_id: str, ts: str) -> dict[str, str]:
    """The PM's latest nudge as the store recorded it (channel, ts, prompt, prompt id) when
    `ts` names it, else {}. A payload's ts or channel only ever selects: what the app updates
    is what it posted (private_metadata and message fields are the client's to edit)."""
    record = coach.store.nudges.nudge_record(team_id, user_id)
    if not ts or record.get("ts") != ts or not record.get("channel"):
        return {}
    return {k: record.get(k, "") for k in ("channel", "ts", "prompt", "prompt_id")}


def _nudge_of(body: dict[str, Any], context: Any) -> dict[str, str]:
    """The clicked nudge: the recorded one (see `recorded_nudge`), or for an older nudge no
    place to update and the prompt its own fallback text shows."""
    container = body.get("container") or {}
    ts = str(container.get("message_ts") or (body.get("message") or {}).get("ts") or "")
    team_id, user_id = ids_of(body)
    coach = coach_of(context)
    nudge = recorded_nudge(coach, team_id, user_id, ts)
    if nudge:
        return nudge
    text = html.unescape(str((body.get("message") or {}).get("text") or ""))
    prompt = text.split(": ", 1)[-1] if ": " in text else text
    return {"channel": "", "ts": "", "prompt": prompt, "prompt_id": _prompt_id(prompt)}


def _prompt_id(text: str) -> str:
    """The id of the built-in prompt with this text, or ""."""
    return next((p.id for p in library() if p.text == text), "")


def _prompt_text(coach: Coach, team_id: str, user_id: str, prompt_id: str) -> str:
    """The text of a prompt id carried by a form: the latest nudge's, a built-in one, or one
    of the PM's own (`custom:<n>`); "" when it names none of them."""
    if not prompt_id:
        return ""
    record = coach.store.nudges.nudge_record(team_id, user_id)
    if record.get("prompt_id") == prompt_id and record.get("prompt"):
        return record["prompt"]
    built_in = next((p.text for p in library() if p.id == prompt_id), None)
    if built_in is not None:
        return built_in
    kind, _, number = prompt_id.partition(":")
    if kind == "custom" and is_number(number):
        mine = dict(coach.store.profiles.custom_prompts(team_id, user_id))
        return mine.get(int(number), "")
    return ""


def form_metadata(**ids: str) -> str:
    """private_metadata of a form: a few short ids, never text (Slack allows 3,000 characters;
    a prompt's emoji alone can take more once JSON-escaped)."""
    return json.dumps({k: v for k, v in ids.items() if v}, separators=(",", ":"))


def read_metadata(view: dict[str, Any]) -> dict[str, str]:
    """The ids `form_metadata` put in a view, each a string; {} for anything else."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str)}


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
    """Open the win form in the clarity lane. For a PM without a profile (an old nudge after
    forget-me) it opens too: submitting a win is an explicit start, like `/win`."""
    ack()
    team_id, user_id = ids_of(body)

    def view() -> dict[str, Any]:
        metadata = form_metadata(origin="nudge", ts=_nudge_of(body, context)["ts"])
        today = coach_of(context).today_or_guess(team_id, user_id)
        return blocks.win_modal(today, lane=Lane.CLARITY, private_metadata=metadata)

    open_form(context, client, body["trigger_id"], (team_id, user_id), view, respond)


def reflect_button(
    ack: Ack, body: dict[str, Any], client: WebClient, context: Any, respond: Respond
) -> None:
    ack()

    def view() -> dict[str, Any]:
        nudge = _nudge_of(body, context)
        metadata = form_metadata(ts=nudge["ts"], prompt_id=nudge["prompt_id"])
        return nudge_blocks.reflect_modal(nudge["prompt"], metadata)

    open_form(
        context,
        client,
        body["trigger_id"],
        ids_of(body),
        view,
        respond,
        enrolled_only=texts.NOT_SET_UP,
    )


def _not_set_up(respond: Respond) -> None:
    """A nudge's button from a PM without a profile: nothing written, said privately."""
    respond(text=texts.NOT_SET_UP, response_type="ephemeral", replace_original=False)


def snooze(
    ack: Ack, body: dict[str, Any], client: WebClient, context: Any, respond: Respond
) -> None:
    ack()

    def work() -> None:
        team_id, user_id = ids_of(body)
        coach = coach_of(context)
        try:
            until = coach.snooze(team_id, user_id)
        except NotEnrolled:
            _not_set_up(respond)
            return
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
        try:
            coach_of(context).skip_week(team_id, user_id)
        except NotEnrolled:
            _not_set_up(respond)
            return
        update_nudge(client, _nudge_of(body, context), texts.NUDGE_DONE_SKIPPED, context["log"])

    after_ack(context, work, respond)


def reflect_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: Any
) -> None:
    """Store the answer privately; the nudge it answered loses its buttons."""
    team_id, user_id = ids_of(body)
    metadata = read_metadata(view)
    values = (view.get("state") or {}).get("values") or {}
    block = values.get(nudge_blocks.FIELD_ANSWER) if isinstance(values, dict) else None
    field = block.get("value") if isinstance(block, dict) else None
    answer = field.get("value") if isinstance(field, dict) else None
    coach = coach_of(context)
    prompt_id = metadata.get("prompt_id", "")
    try:
        nudge = recorded_nudge(coach, team_id, user_id, metadata.get("ts", ""))
        prompt = nudge.get("prompt") or _prompt_text(coach, team_id, user_id, prompt_id)
        enrolled = coach.reflect(
            team_id,
            user_id,
            answer if isinstance(answer, str) else "",
            nudge.get("prompt_id", prompt_id) if prompt else "",
            prompt,
        )
    except WinInputError as exc:
        message = texts.REFLECT_BLANK if exc.code == "reflect_blank" else texts.REFLECT_TOO_LONG
        ack(response_action="errors", errors={nudge_blocks.FIELD_ANSWER: message})
        return
    except NotEnrolled:  # a form left open across forget-me
        ack(response_action="errors", errors={nudge_blocks.FIELD_ANSWER: texts.NOT_SET_UP})
        return
    except OutcomeUnknown:  # sent, answer lost, not found since: it may be stored
        context["log"].error("store_outcome_unknown", surface="reflect_modal")
        errors = {nudge_blocks.FIELD_ANSWER: texts.REFLECTION_UNCONFIRMED_SHORT}
        ack(response_action="errors", errors=errors)
        return
    except StoreUnavailable:
        context["log"].error("store_unavailable", surface="reflect_modal")
        ack(response_action="errors", errors={nudge_blocks.FIELD_ANSWER: texts.NOT_SAVED_SHORT})
        return
    ack()

    def work() -> None:
        coach.finish_enrolment(team_id, user_id, enrolled)
        update_nudge(client, nudge, texts.NUDGE_DONE_REFLECTED, context["log"])

    after_ack(context, work)


def _too_long(ack: Ack, text: str) -> None:
    """Nothing saved: the text comes back to copy."""
    note = f"{texts.REFLECT_TOO_LONG} {texts.REFLECT_TOO_LONG_BACK}"
    ack(**ephemeral(blocks.text_back(note, text)))


def reflect_command(
    ack: Ack, command: dict[str, Any], client: WebClient, context: Any, respond: Respond
) -> None:
    """`/reflect [text]`: answer the latest prompt (a form when there is no text)."""
    coach = coach_of(context)
    team_id, user_id = command["team_id"], command["user_id"]
    text = command.get("text") or ""
    if len(text) > MAX_TEXT:  # before Redis: the answer must not depend on it being up
        _too_long(ack, text)
        return
    try:
        if not has_visible_text(text) and not coach.is_enrolled(team_id, user_id):
            ack(**ephemeral((texts.NOT_SET_UP, [blocks.section(texts.NOT_SET_UP)])))
            return
        prompt_id, prompt = coach.latest_prompt(team_id, user_id)
        if not has_visible_text(text):  # nothing to save: open the form instead
            ack()
            view = nudge_blocks.reflect_modal(prompt, form_metadata(prompt_id=prompt_id))
            after_ack(
                context,
                partial(client.views_open, trigger_id=command["trigger_id"], view=view),
                respond,
                form=True,
            )
            return
        enrolled = coach.reflect(team_id, user_id, text, prompt_id, prompt)
    except WinInputError:
        _too_long(ack, text)
        return
    except NotEnrolled:  # nothing saved: the text comes back to copy
        ack(**ephemeral(blocks.text_back(texts.NOT_SET_UP, text)))
        return
    except OutcomeUnknown:  # sent, answer lost, not found since: it may be stored
        context["log"].error("store_outcome_unknown", surface="/reflect")
        ack(**ephemeral(blocks.text_back(texts.REFLECTION_UNCONFIRMED, text)))
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
