"""The App Home surface: publishing it, its buttons, and the modals it opens."""

from __future__ import annotations

from functools import partial
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.coach import NOT_ENROLLED, Coach
from bot.domain.numbers import is_number
from bot.domain.prompts import MAX_CUSTOM_PROMPTS, library, validate_custom_prompt
from bot.domain.schedule import NudgeSchedule, parse_time
from bot.domain.weeks import canonical_tz
from bot.store import StoreUnavailable
from bot.surfaces import home, nudge_blocks, texts
from bot.surfaces.blocks import win_modal
from handlers.replies import after_ack, coach_of, ids_of, open_form


def home_for(coach: Coach, team_id: str, user_id: str) -> dict[str, Any]:
    """The Home view for a PM (two Redis round trips), or the introduction for a newcomer."""
    ov = coach.overview(team_id, user_id)
    if not ov.snapshot.enrolled:
        return nudge_blocks.home_onboarding()
    return home.home_view(
        streak=ov.standing.streak,
        balance=ov.standing.balance,
        counts=ov.snapshot.state.counts,
        paused=ov.snapshot.state.paused,
        current_week=ov.week,
        recent=ov.snapshot.recent,
        tz=ov.tz,
        schedule=ov.schedule,
        next_nudge=ov.next_nudge,
        paused_now=ov.paused_now,
        sharing=ov.snapshot.profile.get("share") == "1",
        reflections=ov.snapshot.reflections,
    )


def publish_home(client: WebClient, coach: Coach, team_id: str, user_id: str, log: Any) -> None:
    client.views_publish(user_id=user_id, view=home_for(coach, team_id, user_id))
    log.info("home_published")


def home_opened(
    event: dict[str, Any], body: dict[str, Any], client: WebClient, context: Any
) -> None:
    """Show the Home when a PM opens it (the Messages tab needs nothing)."""
    if event.get("tab") not in (None, "home"):
        return
    team_id = str(body.get("team_id") or context.get("team_id") or "")
    user_id = str(event["user"])
    after_ack(
        context, partial(publish_home, client, coach_of(context), team_id, user_id, context["log"])
    )


def start(ack: Ack, body: dict[str, Any], client: WebClient, context: Any) -> None:
    """The onboarding's Get started: enrol (one welcome DM) and show the real Home."""
    ack()

    def work() -> None:
        team_id, user_id = ids_of(body)
        coach = coach_of(context)
        # As enrol(), but the zone is learnt before the schedule and the welcome DM use it.
        coach.finish_enrolment(team_id, user_id, coach.start_enrolment(team_id, user_id))
        publish_home(client, coach, team_id, user_id, context["log"])

    after_ack(context, work)


def open_log_modal(ack: Ack, body: dict[str, Any], client: WebClient, context: Any) -> None:
    ack()
    team_id, user_id = ids_of(body)
    open_form(
        context,
        client,
        body["trigger_id"],
        (team_id, user_id),
        lambda: win_modal(
            coach_of(context).today_or_guess(team_id, user_id), private_metadata="home"
        ),
    )


def open_settings(ack: Ack, body: dict[str, Any], client: WebClient, context: Any) -> None:
    ack()

    def work() -> None:
        team_id, user_id = ids_of(body)
        coach = coach_of(context)
        ov = coach.overview(team_id, user_id)
        profile = ov.snapshot.profile
        future_pauses = sorted(w for w in ov.snapshot.state.paused if w >= ov.week)
        paused_until = (
            coach.pause_ends(future_pauses[-1]).strftime("%a %d %b") if future_pauses else None
        )
        target = ov.snapshot.state.target or coach.default_target
        client.views_open(
            trigger_id=body["trigger_id"],
            view=home.settings_modal(
                target=target,
                tz=ov.tz,
                tz_explicit=profile.get("tz_source") == "explicit",
                sharing=profile.get("share") == "1",
                paused_until=paused_until,
                schedule=ov.schedule,
            ),
        )

    after_ack(context, work, form=True)


def open_prompts(ack: Ack, body: dict[str, Any], client: WebClient, context: Any) -> None:
    ack()

    def work() -> None:
        team_id, user_id = ids_of(body)
        custom = coach_of(context).store.profiles.custom_prompts(team_id, user_id)
        client.views_open(
            trigger_id=body["trigger_id"], view=home.prompts_modal(custom, len(library()))
        )

    after_ack(context, work, form=True)


def remove_prompt(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: Any
) -> None:
    """Remove a prompt from inside the prompts modal and show the modal again."""
    ack()

    def work() -> None:
        team_id, user_id = ids_of(body)
        coach = coach_of(context)
        value = str(action.get("value") or "")
        if is_number(value):
            coach.store.profiles.remove_prompt(team_id, user_id, int(value))
        view = body.get("view") or {}
        custom = coach.store.profiles.custom_prompts(team_id, user_id)
        client.views_update(
            view_id=view.get("id"),
            hash=view.get("hash"),
            view=home.prompts_modal(custom, len(library())),
        )
        publish_home(client, coach, team_id, user_id, context["log"])

    after_ack(context, work)


def _field(values: dict[str, Any], block_id: str) -> dict[str, Any]:
    block = values.get(block_id) if isinstance(values, dict) else None
    field = block.get("value") if isinstance(block, dict) else None
    return field if isinstance(field, dict) else {}


def _selected(values: dict[str, Any], block_id: str) -> str:
    """The value of a select's chosen option, or "" (none chosen, or not in Slack's shape)."""
    option = _field(values, block_id).get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else ""


def settings_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: Any
) -> None:
    """Apply target, time zone, sharing and pause from the settings modal, then refresh Home."""
    team_id, user_id = ids_of(body)
    coach = coach_of(context)
    values = (view.get("state") or {}).get("values") or {}
    target_value = _selected(values, home.FIELD_TARGET)
    tz_value = str(_field(values, home.FIELD_TZ).get("value") or "").strip()
    share_options = _field(values, home.FIELD_SHARE).get("selected_options") or []
    pause_value = _selected(values, home.FIELD_PAUSE) or "0"
    errors: dict[str, str] = {}
    if not is_number(target_value) or not 1 <= int(target_value) <= 100:
        errors[home.FIELD_TARGET] = texts.TARGET_BAD
    if tz_value and canonical_tz(tz_value) is None:
        errors[home.FIELD_TZ] = "Unknown time zone. Try Europe/Berlin or America/New_York."
    if pause_value != "keep" and (not is_number(pause_value) or int(pause_value) > 12):
        errors[home.FIELD_PAUSE] = texts.PAUSE_BAD
    day_options = _field(values, home.FIELD_NUDGE_DAYS).get("selected_options") or []
    days = tuple(
        sorted(
            int(o["value"])
            for o in day_options
            if isinstance(o, dict)
            and is_number(str(o.get("value", "")))
            and 0 <= int(o["value"]) <= 6
        )
    )
    time_value = str(_field(values, home.FIELD_NUDGE_TIME).get("selected_time") or "15:00")
    try:
        at = parse_time(time_value)
    except ValueError:
        errors[home.FIELD_NUDGE_TIME] = texts.NUDGES_BAD
    if errors:
        ack(response_action="errors", errors=errors)
        return
    try:
        if coach.start_enrolment(team_id, user_id, create=False) == NOT_ENROLLED:
            # A form left open across forget-me: it does not enrol them again.
            ack(response_action="errors", errors={home.FIELD_TARGET: texts.HOME_FORGOTTEN})
            return
        coach.set_target(team_id, user_id, int(target_value))
        current_tz = coach.store.profiles.profile(team_id, user_id)
        if tz_value and canonical_tz(tz_value) != current_tz.get("tz"):
            coach.set_timezone(team_id, user_id, tz_value)
        follow_slack = not tz_value and current_tz.get("tz_source") == "explicit"
        coach.set_share(team_id, user_id, bool(share_options))
        if pause_value == "0":
            coach.resume(team_id, user_id)
        elif pause_value != "keep":
            coach.pause(team_id, user_id, int(pause_value))
        coach.set_nudges(team_id, user_id, NudgeSchedule(days=days, at=at, enabled=bool(days)))
    except StoreUnavailable:
        ack(response_action="errors", errors={home.FIELD_TARGET: texts.NOT_SAVED_SHORT})
        return
    ack()

    def work() -> None:
        if follow_slack:  # asks users.info: after the answer (the zone stays if Slack can't say)
            coach.set_timezone_from_slack(team_id, user_id)
        publish_home(client, coach, team_id, user_id, context["log"])

    after_ack(context, work)


def prompts_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: Any
) -> None:
    team_id, user_id = ids_of(body)
    coach = coach_of(context)
    values = (view.get("state") or {}).get("values") or {}
    raw = str(_field(values, home.FIELD_PROMPT).get("value") or "")
    if not raw.strip():
        ack()
        return
    try:
        text = validate_custom_prompt(raw)
    except ValueError as exc:
        ack(
            response_action="errors",
            errors={home.FIELD_PROMPT: texts.PROMPTS_BAD.get(str(exc), texts.PROMPTS_BAD["blank"])},
        )
        return
    try:
        enrolled = coach.start_enrolment(team_id, user_id, create=False)
        if enrolled == NOT_ENROLLED:  # a form left open across forget-me
            ack(response_action="errors", errors={home.FIELD_PROMPT: texts.HOME_FORGOTTEN})
            return
        added = coach.store.profiles.add_prompt(team_id, user_id, text, MAX_CUSTOM_PROMPTS)
    except StoreUnavailable:
        ack(response_action="errors", errors={home.FIELD_PROMPT: texts.NOT_SAVED_SHORT})
        return
    if added is None:
        ack(
            response_action="errors",
            errors={home.FIELD_PROMPT: texts.PROMPTS_FULL.format(limit=MAX_CUSTOM_PROMPTS)},
        )
        return
    ack()

    def work() -> None:
        coach.finish_enrolment(team_id, user_id, enrolled)
        publish_home(client, coach, team_id, user_id, context["log"])

    after_ack(context, work)


def register(app: App) -> None:
    app.event("app_home_opened")(home_opened)
    app.action(nudge_blocks.ACTION_HOME_START)(start)
    app.action(home.ACTION_HOME_LOG)(open_log_modal)
    app.action(home.ACTION_HOME_SETTINGS)(open_settings)
    app.action(home.ACTION_HOME_PROMPTS)(open_prompts)
    app.action(home.ACTION_PROMPT_REMOVE)(remove_prompt)
    app.view(home.VIEW_SETTINGS)(settings_submitted)
    app.view(home.VIEW_PROMPTS)(prompts_submitted)
