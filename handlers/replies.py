"""Small helpers shared by listeners: turn (text, blocks) pairs into Slack replies."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any

from bot.coach import NOT_ENROLLED, Coach
from bot.store import StoreUnavailable
from bot.surfaces import texts
from bot.surfaces.blocks import Reply

# A trigger_id lives 3 s from the click. A form whose work has not started this long after
# the request arrived is not attempted (Slack would refuse it, or the form would open just
# as the PM gives up): the PM is told privately to click again.
TRIGGER_BUDGET_S = 2.5


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


def after_ack(
    context: Any, work: Callable[[], object], respond: Any = None, *, form: bool = False
) -> None:
    """Run `work` once Slack has its answer.

    The app runs listeners with `process_before_response=True`: Slack's HTTP answer leaves when
    the listener returns. So whatever a listener does after `ack()` that talks to Slack or may be
    slow (views.open, respond, the Home, the welcome DM, the export) is handed to the app's
    background executor (`context["later"]`), or run at once when the app has none (sandbox,
    scripts). Failures are logged with their traceback, and the PM is told (privately) when
    there is a response_url: Slack already has its answer, so nothing else would tell them.

    `form`: the work opens a form with the request's trigger_id (valid for 3 s): it goes to a
    pool of its own, so slow work cannot make the trigger expire while it waits, and it is
    dropped, with a word to the PM, if it could not start within TRIGGER_BUDGET_S. Its age is
    measured by `context["monotonic"]` (`create_app(monotonic=...)`), else `time.monotonic`.
    """
    job = partial(_guarded, context, work, respond)
    has_get = hasattr(context, "get")
    if form:
        clock = (context.get("monotonic") if has_get else None) or time.monotonic
        job = partial(_while_fresh, context, job, respond, clock, clock())
    later = context.get("later_form" if form else "later") if has_get else None
    if later is None:
        job()
        return
    try:
        later(job)
    except RuntimeError:  # the executor is shutting down (SIGTERM): finish the work here
        job()


def _while_fresh(
    context: Any,
    job: Callable[[], None],
    respond: Any,
    clock: Callable[[], float],
    handed_at: float,
) -> None:
    """Run a form's `job` only while its trigger_id can still open a form."""
    waited = clock() - handed_at
    if waited <= TRIGGER_BUDGET_S:
        job()
        return
    log = context.get("log") if hasattr(context, "get") else None
    if log is not None:
        log.warning("form_too_late", waited_s=round(waited, 2))
    if respond is not None:
        with suppress(Exception):
            respond(text=texts.FORM_TOO_LATE, response_type="ephemeral", replace_original=False)


def _guarded(context: Any, work: Callable[[], object], respond: Any) -> None:
    try:
        work()
    except Exception as exc:
        log = context.get("log") if hasattr(context, "get") else None
        message = texts.NOT_DONE if isinstance(exc, StoreUnavailable) else texts.GENERIC_ERROR
        if log is not None:
            log.error("listener_failed_after_ack", error=type(exc).__name__, exc_info=exc)
        if respond is not None:
            with suppress(Exception):
                respond(text=message, response_type="ephemeral", replace_original=False)


def open_form(
    context: Any,
    client: Any,
    trigger_id: str,
    ids: tuple[str, str],
    view: Callable[[], dict[str, Any]],
    respond: Any = None,
    *,
    enrol: bool = False,
    enrolled_only: str = "",
) -> None:
    """After the ack, on the forms pool: open the form `view()` builds on the request's
    trigger_id (valid for 3 s), then (on the background pool, so it never holds the form up)
    finish a new PM's enrolment (the welcome DM), end a back-off, learn a guessed zone.

    Only `enrol` (`/win`, the explicit start) enrols a PM without a profile when the form
    opens; otherwise (a button on an older message, e.g. after forget-me) what is submitted
    does (a win) or says the PM must start with a win. With `enrolled_only` (a text), a PM
    without a profile gets that text privately instead of the form."""
    coach = coach_of(context)
    team_id, user_id = ids

    def work() -> None:
        enrolled = ""
        with suppress(*StoreUnavailable):  # the form opens even then
            enrolled = coach.start_enrolment(team_id, user_id, create=enrol)
        missing = enrolled == NOT_ENROLLED
        if missing and enrolled_only:
            if respond is not None:
                respond(text=enrolled_only, response_type="ephemeral", replace_original=False)
            return
        client.views_open(trigger_id=trigger_id, view=view())
        if missing:  # no profile to end a back-off in or keep a zone in
            return
        if enrolled or not coach.knows_zone(team_id, user_id):  # welcome; learn a guessed zone
            after_ack(context, partial(coach.finish_enrolment, team_id, user_id, enrolled))

    after_ack(context, work, respond, form=True)
