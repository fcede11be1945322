"""HTTP mode: a WSGI app serving POST /slack/events and GET /healthz on cheroot.

cheroot is a multi-threaded, well-kept WSGI server whose `stop()` lets in-flight requests finish
(up to a timeout): what a clean SIGTERM needs. Bolt's built-in server is single-threaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from cheroot import wsgi
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


def wsgi_app(app: App, healthy: Callable[[], dict[str, Any]]) -> Callable[..., Iterable[bytes]]:
    """Route /healthz to `healthy()` (200 if its "ok" is true, else 503), the rest to Bolt."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)

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
        return slack(environ, start_response)

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
