"""Slash commands: /win, /coach, /reflect."""

from __future__ import annotations

from functools import partial
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.domain.wins import WinInputError, parse_win_command
from bot.store import OutcomeUnknown, StoreUnavailable
from bot.surfaces import blocks, coach_blocks, texts
from bot.surfaces.texts import BLANK_WITH_LANE_EXAMPLES
from handlers.coach_commands import Ctx, dispatch
from handlers.replies import after_ack, coach_of, ephemeral, open_form


def input_error(exc: WinInputError) -> blocks.Reply:
    if exc.code == "blank_with_lane":
        verb, example = BLANK_WITH_LANE_EXAMPLES[exc.detail]
        return blocks.error(exc.code, verb=verb, lane=exc.detail, example=example)
    if exc.code == "too_long":
        return blocks.error(exc.code, length=int(exc.detail or 0))
    return blocks.error(exc.code)


def refused(exc: WinInputError, raw: str) -> blocks.Reply:
    """Why `/win` saved nothing; a text refused as too long comes back whole to copy."""
    reply = input_error(exc)
    if exc.code == "too_long":
        return blocks.text_back(f"{reply[0]} {texts.WIN_TOO_LONG_BACK}", raw)
    return reply


def win(
    ack: Ack, command: dict[str, Any], context: Any, client: WebClient, respond: Respond
) -> None:
    """`/win [lane] [text]`: log, ask for the lane, or open the form."""
    coach = coach_of(context)
    team_id, user_id = command["team_id"], command["user_id"]
    raw = command.get("text") or ""
    try:
        parsed = parse_win_command(raw)
    except WinInputError as exc:
        ack(**ephemeral(refused(exc, raw)))
        return
    try:
        if not parsed.text:
            ack()
            open_form(
                context,
                client,
                command["trigger_id"],
                (team_id, user_id),
                lambda: blocks.win_modal(coach.today_or_guess(team_id, user_id)),
                respond,
                enrol=True,  # `/win` is the explicit start, even before the form is sent
            )
            return
        if parsed.lane is None:
            draft_id, suggestion = coach.draft(team_id, user_id, parsed.text)
            ack(**ephemeral(blocks.lane_question(parsed.text, suggestion, draft_id)))
            return
        logged = coach.log_win(
            team_id=team_id,
            user_id=user_id,
            lane=parsed.lane,
            text=parsed.text,
            source=f"command:{command.get('trigger_id') or ''}",
        )
    except WinInputError as exc:
        ack(**ephemeral(refused(exc, raw)))
        return
    except OutcomeUnknown:  # sent, answer lost, not found since: it may be stored
        context["log"].error("store_outcome_unknown", surface="/win")
        ack(**ephemeral(blocks.text_back(texts.WIN_UNCONFIRMED, raw)))
        return
    except StoreUnavailable:
        context["log"].error("store_unavailable", surface="/win")
        ack(**ephemeral(blocks.not_saved(raw)))  # what the PM typed, lane word and all
        return
    ack(
        **ephemeral(
            blocks.win_logged(
                logged.win,
                logged.standing.streak,
                logged.standing.balance,
                duplicate=logged.duplicate,
                removed=logged.removed,
            )
        )
    )
    # After the answer: a new PM's schedule and welcome, and learning a zone that was only a
    # guess (never asked of Slack while it waits for this answer).
    if logged.enrolled or not coach.knows_zone(team_id, user_id):
        after_ack(context, partial(coach.finish_enrolment, team_id, user_id, logged.enrolled))


def coach_command(
    ack: Ack, command: dict[str, Any], context: Any, client: WebClient, respond: Respond
) -> None:
    """`/coach [subcommand]`: stats, history, export, settings, prompts, forget-me, help."""
    ctx = Ctx(
        ack=ack,
        respond=respond,
        client=client,
        coach=coach_of(context),
        team_id=command["team_id"],
        user_id=command["user_id"],
        log=context["log"],
        channel_id=str(command.get("channel_id") or ""),
        recaps=context.get("recaps"),
        admin_ids=context.get("admin_ids") or frozenset(),
        context=context,
    )
    try:
        dispatch(command.get("text") or "", ctx)
    except StoreUnavailable:
        context["log"].error("store_unavailable", surface="/coach")
        ack(**ephemeral(coach_blocks.simple(texts.NOT_DONE)))


def register(app: App) -> None:
    app.command("/win")(win)
    app.command("/coach")(coach_command)
