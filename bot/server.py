"""HTTP mode: a WSGI app serving POST /slack/events and GET /healthz on cheroot.

cheroot is a multi-threaded, well-kept WSGI server whose `stop()` lets in-flight requests finish
(up to a timeout): what a clean SIGTERM needs. Bolt's built-in server is single-threaded.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from cheroot import wsgi
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from bot.logs import get_logger

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


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
) -> Callable[..., Iterable[bytes]]:
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


def make_server(
    application: Callable[..., Iterable[bytes]],
    host: str,
    port: int,
    *,
    threads: int = 16,
    shutdown_timeout: int = 10,
    poll_interval: float = 0.5,
) -> wsgi.Server:
    """A cheroot server; `poll_interval` bounds how long `stop()` waits for its accept loop."""
    server = wsgi.Server(
        (host, port),
        application,
        numthreads=threads,
        shutdown_timeout=shutdown_timeout,
        server_name="pm-coach",
        # cheroot's default backlog (5) drops connections in a burst; Slack would see timeouts.
        request_queue_size=1024,
    )
    server.expiration_interval = poll_interval
    return server
