"""Logging: structlog for our events, the standard library (Bolt, slack-sdk, APScheduler) routed
through the same renderer, onto stderr: JSON lines when stderr is not a terminal, readable lines
when it is.

Every line passes a redactor that removes Slack tokens, the configured secrets and the paths
of URLs (a response_url, an incoming webhook, a file upload URL: whoever holds one may use it),
whatever produced it. The standard library's records (Bolt, slack-sdk, APScheduler) are
written as their level, logger and first words only (`LibraryLines`): at DEBUG Bolt writes every
body it answers with and slack-sdk every request and response body, which hold what PMs type.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, cast

import structlog

_PLAIN = (str, int, float, bool, type(None))  # values an event may hold as they are
TOKEN_PATTERN = re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+")
REDACTED = "[redacted]"
# A URL's path and query (plain, JSON-escaped `https:\/\/…` or form-encoded `https%3A%2F%2F…`):
# the host is kept, the rest may be a capability (response_url, hooks.slack.com, upload URLs).
URL_PATTERN = re.compile(
    r"(?P<host>\b(?i:https?):\\?/\\?/[^/\\\s\"'<>]+)\\?/[^\s\"'<>]+"
    r"|(?P<encoded>\b(?i:https?%3A%2F%2F)[^%\s&\"'<>]+)(?i:%2F)[^\s&\"'<>]+"
)


def _replacement(match: re.Match[str]) -> str:
    """A secret or token: gone. A URL: its scheme and host, the rest gone."""
    host = match.group("host") or match.group("encoded")
    return f"{host}/{REDACTED}" if host else REDACTED


class Redactor:
    """A structlog processor that scrubs secrets from every string in an event dict."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        # One pattern, searched in C: the configured secrets (longest first), then anything
        # shaped like a Slack token.
        self._pattern = re.compile(
            "|".join([*(re.escape(s) for s in known), TOKEN_PATTERN.pattern, URL_PATTERN.pattern])
        )
        # Text the pattern can match contains one of these (a substring search is far cheaper
        # than the pattern's).
        self._needles = (*known, "xox", "xapp-", "http", "HTTP")

    def scrub(self, text: str) -> str:
        return self._pattern.sub(_replacement, text) if self._pattern.search(text) else text

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
        # Most events hold only plain values: one search over all their text at once.
        texts = []
        for value in event_dict.values():
            kind = type(value)
            if kind is str:
                texts.append(value)
            elif kind not in _PLAIN:
                break
        else:
            text = "\x00".join(texts)
            if not any(needle in text for needle in self._needles):
                return event_dict
        search = self._pattern.search
        for key, value in event_dict.items():
            if type(value) is str:
                if search(value):
                    event_dict[key] = self.scrub(value)
            elif value is not None and type(value) not in (int, float, bool):
                event_dict[key] = self._clean(value)
        return event_dict


class LineSink:
    """Where every line is written: our structlog events and the standard library's records
    (Bolt, slack-sdk, APScheduler) alike, in the order they were logged, whole lines only. The
    process has one, repointed by `configure_logging`, so loggers bound before a
    reconfiguration follow it (as they would through the standard library); a test may build
    its own to drive the batching on its own terms.

    With `interval` 0 each line is rendered, written and flushed at once. A server
    (`pm-coach run`) sets it, and works like the standard library's QueueHandler and
    QueueListener: a debug or info event of plain values is queued as it was logged (level
    and timestamp set), and a flusher thread renders what waits (redactor, JSON) and writes it
    in one write, at most `interval` seconds later, so the thread answering Slack does
    neither. A warning or worse, or an event carrying an exception, a stack or other objects,
    is rendered at once and written after everything queued before it. Whatever waits is
    written at exit, before a fork, and when `flush_logs()` is called.
    """

    def __init__(self) -> None:
        self.stream: Any = sys.stderr
        self.lock = threading.RLock()  # held while writing: whole lines, in order
        self.interval = 0.0
        # How a queued event becomes a line (set by `configure_logging`).
        self.render: Callable[[MutableMapping[str, Any]], str] = lambda event: _JSON.encode(event)
        # Appended to and drained without the lock (deque operations are atomic), so a thread
        # that logs never waits for the flusher's rendering.
        self._pending: deque[str | MutableMapping[str, Any]] = deque()
        self._pid = os.getpid()  # this process (a fork updates it: no system call per line)
        self._flusher_pid = 0  # the process whose flusher thread runs (none after a fork)
        self._wake = threading.Event()  # set when `interval` changes

    def line(self, text: str, urgent: bool = False) -> None:
        """A rendered line: a standard-library record, or an event rendered at once."""
        if urgent or self.interval <= 0:
            with self.lock:
                self._write(text)
            return
        self.queue(text)

    def event(self, event_dict: MutableMapping[str, Any]) -> None:
        """A debug or info event to render later (see `_defer`)."""
        if self.interval <= 0:
            with self.lock:
                self._write(self.render(event_dict))
            return
        self.queue(event_dict)

    def queue(self, item: str | MutableMapping[str, Any]) -> None:
        """A rendered line or an event to render, left for the flusher thread; written at once
        when too many wait or when no flusher is to come (interval 0)."""
        self._pending.append(item)
        # Interval 0 meanwhile (a reconfiguration between our check and the append): no
        # flusher would ever write it.
        if len(self._pending) >= MAX_PENDING_LINES or self.interval <= 0:
            self.flush()
        elif self._flusher_pid != self._pid:
            with self.lock:
                if self._flusher_pid != self._pid:  # one flusher, however many threads ask
                    self._start_flusher()

    def flush(self) -> None:
        with self.lock:
            self._write(None)

    def _write(self, last: str | None) -> None:
        """Write what is queued, then `last`; the caller holds the lock."""
        lines = []
        pending, render = self._pending, self.render
        while True:
            try:
                item = pending.popleft()
            except IndexError:
                break
            if type(item) is str:
                lines.append(item)
                continue
            try:
                lines.append(render(item))  # type: ignore[arg-type]
            except Exception as exc:  # one line lost, never the lines after it
                lines.append(_unrenderable(item, exc))  # type: ignore[arg-type]
        if last is not None:
            lines.append(last)
        if lines:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()

    def _after_fork(self) -> None:
        """In a forked child: the parent's waiting lines are the parent's to write, and its
        lock may have been held by a thread that does not exist here."""
        self.lock = threading.RLock()
        self._pending = deque()
        self._pid = os.getpid()
        self._flusher_pid = 0
        self._wake = threading.Event()

    def _start_flusher(self) -> None:
        self._flusher_pid = self._pid
        threading.Thread(target=self._flush_every_interval, name="log-flush", daemon=True).start()

    def _flush_every_interval(self) -> None:
        pid = self._pid
        while self._flusher_pid == pid:
            # Without an interval there is nothing to do until `configure_logging` sets one.
            if self._wake.wait(self.interval if self.interval > 0 else None):
                self._wake.clear()
                continue  # reconfigured (which wrote what waited): wait with the new interval
            # A broken or failing stream costs that batch, never the thread.
            with contextlib.suppress(Exception):
                self.flush()

    # structlog calls the method named after the level: with the event to render later (see
    # `_defer`), or with the rendered line.
    def msg(self, message: str | MutableMapping[str, Any]) -> None:
        if type(message) is str:
            self.line(message)
        else:
            self.event(message)  # type: ignore[arg-type]

    def urgent(self, message: str) -> None:
        self.line(message, urgent=True)

    debug = info = log = msg
    warning = warn = error = critical = exception = fatal = urgent


def _unrenderable(event_dict: MutableMapping[str, Any], exc: Exception) -> str:
    """What is written instead of a queued event that failed to render."""
    event = event_dict.get("event")
    lost = event[:100] if isinstance(event, str) else type(event).__name__
    fields = {"event": "log_line_unrenderable", "level": "error", "lost_event": lost}
    return _JSON.encode({**fields, "error": type(exc).__name__})


class LibraryLines(logging.Filter):
    """What a library's record may say: its level, its logger, and its message without the
    values in it. A message built with arguments (`log.info("job %s", job)`) keeps its
    template; one built beforehand (Bolt's `f"Responding with status: {status} body: {body}"`,
    slack-sdk's `f"Sending a request - url: {url}, body_params: {params}"`) keeps its first
    words, up to the first character that starts a value. An allow-list rather than a list of
    lines to hide, so a line a new library version adds cannot carry a PM's words or a
    response_url into the logs. Two values that cannot hold either are kept: the Web API method
    a request went to, and a response's status."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = library_message(record.msg, bool(record.args))
        record.args = None
        return True


# A message's first words: letters, digits, spaces and a little punctuation, nothing that
# starts a value (":", "=", quotes, brackets, "/", "@", "<"…). At most this many characters.
_FIRST_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9 .,'_-]{0,59}")
_API_METHOD = re.compile(r"\burl: \S*?/api/([a-z]+(?:\.[A-Za-z]+)+)(?:[,?\s]|$)")
_STATUS = re.compile(r"\bstatus: ([1-5][0-9][0-9])\b")


def library_message(message: object, templated: bool) -> str:
    """The part of a library's log message that may be written (see `LibraryLines`)."""
    text = message if isinstance(message, str) else ""
    if templated:
        return text
    head = _FIRST_WORDS.match(text)
    words = (head.group(0).rstrip(" .,-") if head else "") or "(a library line)"
    method, status = _API_METHOD.search(text), _STATUS.search(text)
    kept = [f"method={method.group(1)}"] if method else []
    kept += [f"status={status.group(1)}"] if status else []
    return f"{words} ({', '.join(kept)})" if kept else words


class _Handler(logging.Handler):
    """The standard library's records, formatted like our events, into the same sink."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _SINK.line(self.format(record), urgent=record.levelno >= logging.WARNING)
        except Exception:
            self.handleError(record)


_SINK = LineSink()
MAX_PENDING_LINES = 1000  # written at once when this many wait (a burst between two flushes)
SERVER_FLUSH_S = 0.1  # `pm-coach run`: info lines leave at most this long after being logged
atexit.register(_SINK.flush)
os.register_at_fork(before=_SINK.flush, after_in_child=_SINK._after_fork)
# Our events' processor chain and level: shared by every bound logger and changed in place by
# `configure_logging`, so a logger assembled once (structlog caches it on first use) follows
# every reconfiguration, as the sink does.
_PROCESSORS: list[Any] = []
_THRESHOLD = [logging.INFO]
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


def _json_default(value: Any) -> Any:
    """What structlog's JSONRenderer does with a value JSON cannot hold."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


# One encoder for every line (json.dumps with a `default` builds a new one per call).
_JSON = json.JSONEncoder(default=_json_default)


def _render_json(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> str:
    """structlog's JSONRenderer, with a reused encoder."""
    return _JSON.encode(event_dict)


def _defer(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The end of our events' chain: a debug or info event of plain values goes to the sink as
    it is, to be rendered by the flusher thread (`LineSink`); anything else is rendered now."""
    if method_name in _DEFERRABLE and _SINK.interval > 0 and _renders_later(event_dict):
        return (event_dict,), {}
    return _SINK.render(event_dict)


def _renders_later(event_dict: MutableMapping[str, Any]) -> bool:
    """An event the flusher may render later: plain values only (changing a dict or list
    after logging must not change the line) and no exception or stack, which exist only now,
    on this thread."""
    for value in event_dict.values():
        if type(value) not in _PLAIN:
            return False
    return "exc_info" not in event_dict and "stack_info" not in event_dict


_DEFERRABLE = frozenset({"debug", "info", "msg", "log"})


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
    *,
    flush_interval: float = 0.0,
) -> None:
    """Configure structlog and the standard library once, from `main()`.

    Every event of ours goes through structlog's processor chain (no standard-library record
    per line); libraries' records (Bolt, slack-sdk, APScheduler) go through the standard
    library with the same processors, renderer and redactor, to the same stream.
    `flush_interval` (seconds): how long debug and info lines may wait to be written together
    (0: each at once; see `LineSink`).
    """
    stream = stream if stream is not None else sys.stderr
    if fmt is None:
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
    redactor = Redactor(secrets)
    renderer: Any = _render_json if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    tail: list[Any] = [structlog.processors.format_exc_info, redactor, renderer]
    stack = structlog.processors.StackInfoRenderer()

    def render(event_dict: MutableMapping[str, Any]) -> str:
        for processor in (stack, *tail):
            event_dict = processor(None, "info", event_dict)
        return cast(str, event_dict)

    _THRESHOLD[0] = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    _PROCESSORS[:] = [_level_and_name, stamp, _defer]
    with _SINK.lock:
        _SINK.flush()  # lines logged before go where they were meant to, rendered as they were
        _SINK.stream = stream
        _SINK.render = render
        _SINK.interval = flush_interval
    _SINK.flush()  # a line queued by another thread meanwhile
    _SINK._wake.set()
    structlog.configure(
        processors=_PROCESSORS,
        logger_factory=lambda *_args: _SINK,
        # Levels are filtered by `_level_and_name`, so a reconfiguration reaches bound loggers.
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        # A lazy logger not cached assembles a new bound logger on every call, which costs as
        # much as rendering the line; a cached one holds only what `configure_logging` changes
        # in place (the chain, the level, the sink).
        cache_logger_on_first_use=True,
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
    handler = _Handler()
    handler.addFilter(LibraryLines())
    handler.setFormatter(formatter)
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


def flush_logs() -> None:
    """Write every line still waiting (see `configure_logging`'s `flush_interval`)."""
    _SINK.flush()


def get_logger(name: str = "pm_coach") -> Any:
    """A structlog logger whose lines carry `"logger": name`; it follows `configure_logging`
    whenever that runs (before or after this call)."""
    return structlog.get_logger(logger_name=name)
