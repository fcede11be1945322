"""Logging: structlog for our events, the standard library (Bolt, slack-sdk, APScheduler) routed
through the same renderer. JSON lines when stdout is not a terminal, readable lines when it is.

Every line passes a redactor that removes Slack tokens and the configured secrets, whatever
library produced it (slack-sdk's DEBUG output includes request headers).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

TOKEN_PATTERN = re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+")
REDACTED = "[redacted]"


class Redactor:
    """A structlog processor that scrubs secrets from every string in an event dict."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return TOKEN_PATTERN.sub(REDACTED, text)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._clean(v) for v in value)
        if isinstance(value, BaseException):
            return self.scrub(repr(value))
        return value

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in list(event_dict.items()):
            event_dict[key] = self._clean(value)
        return event_dict


def configure_logging(
    level: str = "INFO",
    fmt: str | None = None,
    secrets: Iterable[str] = (),
    stream: Any = None,
) -> None:
    """Configure structlog and the standard library once, from `main()`."""
    stream = stream if stream is not None else sys.stderr
    if fmt is None:
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
    redactor = Redactor(secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    # Tracebacks are rendered to text first so that the redactor sees them too.
    tail: list[Any] = [structlog.processors.format_exc_info, redactor]

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tail,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Chatty libraries stay at WARNING unless we debug.
    for name in ("apscheduler", "urllib3", "cheroot"):
        logging.getLogger(name).setLevel(level if level == "DEBUG" else "WARNING")


def get_logger(name: str = "pm_coach") -> Any:
    return structlog.stdlib.get_logger(name)
