"""Logging: structlog for our events, the standard library (Bolt, slack-sdk, APScheduler) routed
through the same renderer. JSON lines when stdout is not a terminal, readable lines when it is.

Every line passes a redactor that removes Slack tokens and the configured secrets, whatever
library produced it (slack-sdk's DEBUG output includes request headers).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

TOKEN_PATTERN = re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+")
REDACTED = "[redacted]"


class Redactor:
    """A structlog processor that scrubs secrets from every string in an event dict."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        # One pattern, searched in C: the configured secrets (longest first), then anything
        # shaped like a Slack token.
        self._pattern = re.compile(
            "|".join([*(re.escape(s) for s in known), TOKEN_PATTERN.pattern])
        )

    def scrub(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern.search(text) else text

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
        search = self._pattern.search
        for key, value in event_dict.items():
            if type(value) is str:
                if search(value):
                    event_dict[key] = self.scrub(value)
            elif value is not None and type(value) not in (int, float, bool):
                event_dict[key] = self._clean(value)
        return event_dict


class _Sink:
    """Where our own structlog events are written: the configured stream, under the same lock
    as the standard library's handler, so lines from both never interleave. One instance per
    process, repointed by `configure_logging`, so loggers bound before a reconfiguration follow
    it (as they would through the standard library)."""

    def __init__(self) -> None:
        self.stream: Any = sys.stderr
        self.lock = threading.RLock()

    def msg(self, message: str) -> None:
        with self.lock:
            self.stream.write(message + "\n")
            self.stream.flush()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


_SINK = _Sink()
# Shared by every bound logger and changed in place by `configure_logging` (see _Sink).
_PROCESSORS: list[Any] = []
_THRESHOLD = [logging.INFO]
_GENERATION = [0]  # how many times `configure_logging` has run
_LEVEL_NAMES = {"warn": "warning", "exception": "error"}
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def _level_and_name(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Drop events below the configured level; name the logger and the level of the rest (as
    structlog's add_log_level: "warn" reads "warning", "exception" reads "error")."""
    if _LEVELS.get(method_name, logging.INFO) < _THRESHOLD[0]:
        raise structlog.DropEvent
    name = event_dict.pop("logger_name", None)
    if name is not None:
        event_dict["logger"] = name
    event_dict["level"] = _LEVEL_NAMES.get(method_name, method_name)
    return event_dict


def configure_logging(
    level: str = "INFO",
    fmt: str | None = None,
    secrets: Iterable[str] = (),
    stream: Any = None,
) -> None:
    """Configure structlog and the standard library once, from `main()`.

    Our events go through structlog's own fast path (no standard-library record per line);
    libraries' records (Bolt, slack-sdk, APScheduler) go through the standard library with the
    same processors, renderer and redactor, to the same stream.
    """
    stream = stream if stream is not None else sys.stderr
    if fmt is None:
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
    redactor = Redactor(secrets)
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    tail: list[Any] = [structlog.processors.format_exc_info, redactor, renderer]

    _THRESHOLD[0] = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    _PROCESSORS[:] = [_level_and_name, stamp, structlog.processors.StackInfoRenderer(), *tail]
    _SINK.stream = stream
    _GENERATION[0] += 1
    structlog.configure(
        processors=_PROCESSORS,
        logger_factory=lambda *_args: _SINK,
        # Levels are filtered by `_at_level`, so a reconfiguration reaches bound loggers too.
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            stamp,
            structlog.stdlib.ExtraAdder(),
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.lock = _SINK.lock  # one lock for both paths: whole lines, never interleaved
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("apscheduler", "urllib3", "cheroot"):
        logging.getLogger(name).setLevel(level if level == "DEBUG" else "WARNING")
    # Bolt and slack-sdk format their DEBUG messages (slack-sdk: every request and response
    # body) whenever their logger's *own* level allows them, and NOTSET does.
    logging.getLogger("slack_bolt").setLevel(level)
    logging.getLogger("slack_sdk.web").setLevel(level)


def get_logger(name: str = "pm_coach") -> Any:
    """A structlog logger whose lines carry `"logger": name`; it follows `configure_logging`
    whenever that runs (before or after this call)."""
    return _Logger(name)


class _Logger:
    """structlog's lazy proxy, assembled once per `configure_logging` instead of on every
    call: a lazy proxy not cached by structlog assembles a new bound logger each time, which
    costs as much as rendering the line. Before `configure_logging` first runs it stays lazy."""

    __slots__ = ("_bound", "_generation", "_proxy")

    def __init__(self, name: str) -> None:
        self._proxy = structlog.get_logger(logger_name=name)
        self._bound: Any = None
        self._generation = 0

    def _logger(self) -> Any:
        generation = _GENERATION[0]
        if self._generation != generation or not generation:
            bound = self._proxy.bind()
            if not generation:
                return bound
            self._bound, self._generation = bound, generation
        return self._bound

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger(), name)
