"""App factory: builds the Bolt app from settings and dependencies. No I/O happens here."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.coach import Coach
from bot.runtime import wellformed
from bot.runtime.ids import response_url_allowed
from bot.runtime.logs import get_logger
from bot.runtime.settings import Settings
from bot.runtime.slackhttp import KeepAliveWebClient
from bot.store import StoreUnavailable
from bot.surfaces import texts
from handlers import register_all


@dataclass
class Deps:
    """What the app needs from the outside world, built by the composition root (or a test)."""

    coach: Coach
    client: WebClient
    log: Any
    recaps: Any = None  # bot.scheduled.recaps.Recaps
    admin_ids: frozenset[str] = frozenset()


def web_client(settings: Settings, *, timeout: float = 10.0, retries: bool = True) -> WebClient:
    """A Web API client pointed at SLACK_API_BASE_URL.

    With `retries`, 429s wait for Retry-After and connection errors are retried once, by
    slack-sdk's own handlers. The profile client used on the request path has no retries and a
    short timeout so an answer always fits in Slack's 3 s.
    """
    # 5xx are retried too: these calls (views.*, users.info, conversations.*) are safe to
    # repeat. Posts use post_client() or nudge_client(), which never repeat a post blindly.
    handlers = (
        [
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ]
        if retries
        else []
    )
    return KeepAliveWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_base_url,
        timeout=int(timeout) if timeout >= 1 else 1,
        retry_handlers=handlers,
        logger=logging.getLogger("slack_sdk.web"),
    )


def post_client(settings: Settings, *, timeout: float = 10.0) -> WebClient:
    """The client for posts a PM sees on the request side (welcome DM, export file): a 429 is
    retried after Retry-After (Slack did not accept it); a server or connection error is not,
    since Slack may have posted. A PM sees one welcome, never two."""
    return KeepAliveWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_base_url,
        timeout=int(timeout),
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)],
        logger=logging.getLogger("slack_sdk.web"),
    )


def nudge_client(
    settings: Settings, on_rate_limited: Callable[[float], None], *, timeout: float = 10.0
) -> WebClient:
    """The client scheduled posts use: a 429 (never accepted by Slack) is retried by
    slack-sdk's handler after Retry-After, pushing the shared budget back first; connection
    errors are NOT retried, since the post may have reached Slack."""
    from bot.scheduled.ticker import SharedRateLimitHandler

    return KeepAliveWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_base_url,
        timeout=int(timeout),
        retry_handlers=[SharedRateLimitHandler(on_rate_limited)],
        logger=logging.getLogger("slack_sdk.web"),
    )


class _RefusedRespond:
    """Stands in for Bolt's `respond` when the payload's response_url is not one the app may
    call: nothing is sent (a client must not choose where the app POSTs a PM's data)."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.response_url = None

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.log.warning("response_url_not_called")


class _WellFormed(Middleware):
    """Runs before anything reads or stores a request: a signed body whose shape or ids are
    not what Slack sends gets a 400 and nothing else (no Redis, no Web API call), in HTTP and
    Socket Mode alike. A response_url outside Slack's hooks (or the origin of
    SLACK_API_BASE_URL, for the fake Slack) is never called: `respond` becomes a no-op."""

    def __init__(self, log: Any, api_base_url: str) -> None:
        self.log = log
        self.api_base_url = api_base_url

    def allowed(self, url: object) -> bool:
        return response_url_allowed(url, self.api_base_url)

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        problem = wellformed.problem(req.body)
        if problem is not None:
            self.log.warning("request_malformed", problem=problem)
            return BoltResponse(status=400, body="")
        context = req.context
        context["response_url_allowed"] = self.allowed  # for URLs read back from a form
        url = context.get("response_url")
        if url is not None and not self.allowed(url):
            self.log.warning("response_url_refused", team_id=context.team_id)
            context["response_url"] = None
            context["respond"] = _RefusedRespond(self.log)
        next()
        return None


class _Attach(Middleware):
    """The one global middleware: puts our dependencies into Bolt's context, and answers an
    Events API retry or Socket Mode redelivery of an event already handled without running it
    again. A `Middleware` subclass, not a function: Bolt builds no injected arguments for it
    (which costs a function middleware a noticeable share of a /win request)."""

    def __init__(
        self,
        deps: Deps,
        background: Executor | None,
        forms: Executor | None,
        monotonic: Callable[[], float],
    ) -> None:
        self.deps = deps
        self.later = background.submit if background is not None else None
        forms = forms if forms is not None else background
        self.later_form = forms.submit if forms is not None else None
        self.monotonic = monotonic

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        context, deps = req.context, self.deps
        # Listeners call Slack through our client (kept-alive connections, our retry handlers)
        # rather than the plain copy Bolt makes for every request.
        context["client"] = deps.client
        context["coach"] = deps.coach
        context["recaps"] = deps.recaps
        context["admin_ids"] = deps.admin_ids
        context["later"] = self.later  # handlers.replies.after_ack: work after Slack's answer
        context["later_form"] = self.later_form  # ... and views.open on a 3-second trigger_id
        context["monotonic"] = self.monotonic  # ... which measures how old that trigger_id is
        # Bolt's thread pool does not copy contextvars: pass a bound logger through context.
        log = deps.log.bind(team_id=context.team_id, user_id=context.user_id)
        context["log"] = log
        body = req.body
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            team_id = str(body.get("team_id") or context.team_id or "")
            try:
                first = deps.coach.store.teams.claim_event(team_id, str(event_id))
            except StoreUnavailable:
                first = True  # Events we handle are idempotent; better twice than never.
            if not first:
                log.info("event_redelivery_skipped", event_id=event_id)
                return BoltResponse(status=200, body="")
        next()
        return None


def _error_handler(
    error: Exception, body: dict[str, Any], respond: Any, context: Any
) -> BoltResponse | None:
    """A listener raised before answering. Where there is a response_url the PM is told
    privately and Slack gets an empty 200 (a 500 would add Slack's own error on top); other
    requests keep Bolt's 500 (Events API retries them; a form shows Slack's error)."""
    log = context.get("log") or get_logger()
    log.error("listener_failed", error=type(error).__name__, exc_info=error)
    if context.get("response_url"):
        message = texts.NOT_DONE if isinstance(error, StoreUnavailable) else texts.GENERIC_ERROR
        try:
            respond(text=message, response_type="ephemeral", replace_original=False)
        except Exception:
            log.warning("error_reply_failed")
            return None
        return BoltResponse(status=200, body="")
    return None


def create_app(
    settings: Settings,
    deps: Deps,
    *,
    background: Executor | None = None,
    forms: Executor | None = None,
    verified_upstream: bool = False,
    monotonic: Callable[[], float] = time.monotonic,
) -> App:
    """The Bolt app with every listener registered. Never reads the environment.

    Listeners run with `process_before_response=True`: on the request thread, and Slack's
    answer leaves as soon as the listener returns (Bolt's default mode would poll for `ack()`
    every 10 ms from a thread pool). Whatever a listener does after `ack()` goes through
    `handlers.replies.after_ack` to `background` (run at once when it is None: sandbox,
    scripts). Opening a form (a trigger_id expires 3 s after the click) goes to `forms` instead
    (default: `background`), so it never queues behind slow work such as Home publishes or
    uploads. Whoever owns the executors shuts them down after the server: acknowledged work
    finishes before the process exits. `monotonic` is the clock a form's wait is measured by
    (a form that could not start within `handlers.replies.TRIGGER_BUDGET_S` is not attempted);
    a test passes one it moves.

    `verified_upstream`: every HTTP request reaches Bolt through `bot.runtime.slackwsgi.wsgi_app`
    with the signing secret, which has already checked Slack's signature on the raw bytes; Bolt's
    own second check is then skipped. Leave it False for any other way of serving the app.
    """
    signing_secret = (
        settings.slack_signing_secret.get_secret_value()
        if settings.slack_signing_secret is not None
        # Socket Mode needs no signing secret; a random one makes forged HTTP requests fail.
        else secrets.token_hex(32)
    )
    app = App(
        client=deps.client,
        signing_secret=signing_secret,
        token_verification_enabled=False,
        process_before_response=True,
        request_verification_enabled=not verified_upstream,
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("slack_bolt"),
        listener_executor=background,
        # Before Bolt's own authorization middleware, which already reads the body.
        before_authorize=_WellFormed(deps.log, settings.slack_api_base_url),
    )
    app.use(_Attach(deps, background, forms, monotonic))
    app.error(_error_handler)
    register_all(app)
    return app
