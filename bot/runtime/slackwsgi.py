"""The Slack side of HTTP mode: the WSGI app that serves POST /slack/events (signature checked
on the raw bytes before Bolt parses anything) and GET /healthz, and the look at a request's
head that refuses an unsigned one before its body is read. `bot.runtime.server` is the HTTP front
that serves it.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from bot.runtime.logs import get_logger
from bot.runtime.server import WSGIApp

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
# Slack's rule: a request whose timestamp is more than five minutes off is not to be trusted.
SIGNATURE_MAX_AGE_S = 300


def unsigned_early(method: str, path: str, headers: Mapping[str, str]) -> int | None:
    """401 for a POST to /slack/events that cannot be Slack's by its head alone (no signature,
    a timestamp missing, not a number, or more than five minutes off), so an unsigned body
    costs no more than its head: it is never read. The signature itself needs the body and is
    checked by `wsgi_app` once the body is in."""
    if method != "POST" or path != EVENTS_PATH:
        return None
    timestamp = headers.get("x-slack-request-timestamp", "")
    # At most 12 digits (Unix time has 10 for centuries): int() refuses over 4,300 digits.
    if not headers.get("x-slack-signature") or not (
        len(timestamp) <= 12 and timestamp.isascii() and timestamp.isdigit()
    ):
        return 401
    if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE_S:
        return 401
    return None


def _verified(environ: dict[str, Any], verifier: SignatureVerifier) -> tuple[bool, bytes]:
    """Read the body and check Slack's signature on the exact bytes, before anything parses
    them: a forged, stale or malformed request never reaches the app (nor its error handler)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False, b""
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "")
    signature = str(environ.get("HTTP_X_SLACK_SIGNATURE") or "")
    if not timestamp.isascii() or not timestamp.isdigit() or not signature:
        return False, body
    try:
        return verifier.is_valid(body, timestamp, signature), body
    except (ValueError, TypeError):
        return False, body


def wsgi_app(
    app: App, healthy: Callable[[], dict[str, Any]], signing_secret: str | None = None
) -> WSGIApp:
    """Route /healthz to `healthy()` (200 if its "ok" is true, else 503), the rest to Bolt."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    log = get_logger("pm_coach.http")

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in (
            "GET",
            "HEAD",
        ):
            report = healthy()
            body = json.dumps(report).encode()
            status = "200 OK" if report.get("ok") else "503 Service Unavailable"
            start_response(
                status,
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"),
                ],
            )
            return [body]
        if verifier is not None and environ.get("PATH_INFO") == EVENTS_PATH:
            ok, body = _verified(environ, verifier)
            if not ok:
                start_response("401 Unauthorized", [("Content-Type", "text/plain")])
                return [b"invalid request"]
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        try:
            return slack(environ, start_response)
        except Exception:  # a signed body Bolt cannot parse: answer, never crash the worker
            log.exception("request_unparseable")
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"bad request"]

    return application
