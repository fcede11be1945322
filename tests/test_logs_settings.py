"""Logging format and redaction; settings validation."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import MutableMapping
from datetime import datetime
from pathlib import Path

import pytest
import structlog
import structlog.testing

from bot.runtime.logs import (
    MAX_PENDING_LINES,
    LineSink,
    Redactor,
    configure_logging,
    flush_logs,
    get_logger,
)
from bot.runtime.settings import Settings, describe_error


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    configure_logging("WARNING", "json", [], stream=sys.stderr)  # lines written; no interval
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_json_lines_when_not_a_tty_with_secrets_redacted() -> None:
    stream = io.StringIO()
    configure_logging("INFO", None, ["sekrit-signing-value"], stream=stream)
    get_logger("t").info("win_logged", lane="clarity", note="key sekrit-signing-value here")
    logging.getLogger("slack_sdk").warning("Authorization: Bearer xoxb-123-456-abcdef")
    try:
        raise ValueError("token xapp-1-AAA-bbb leaked")
    except ValueError:
        get_logger("t").exception("boom")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "win_logged" and lines[0]["lane"] == "clarity"
    assert "level" in lines[0] and "timestamp" in lines[0]
    text = stream.getvalue()
    for secret in ("sekrit-signing-value", "xoxb-123-456-abcdef", "xapp-1-AAA-bbb"):
        assert secret not in text
    assert text.count("[redacted]") >= 3


def test_console_lines_on_a_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    configure_logging("INFO", None, [], stream=stream)
    get_logger("t").info("win_logged", lane="shipped")
    line = stream.getvalue()
    assert "win_logged" in line and "lane=shipped" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_a_logger_follows_every_reconfiguration() -> None:
    """`get_logger` hands out loggers at import time, before `main()` configures logging: each
    follows every later `configure_logging` (stream, level, secrets and interval), also after
    it has logged."""
    log = get_logger("early")
    first, second, third = io.StringIO(), io.StringIO(), io.StringIO()
    configure_logging("INFO", "json", ["first-secret"], stream=first)
    for n in range(5):
        log.info("one", n=n, note="first-secret")
    log.debug("hidden")
    configure_logging("WARNING", "json", ["second-secret"], stream=second)
    log.info("dropped at warning")
    log.warning("two", note="second-secret")
    configure_logging("DEBUG", "json", ["third-secret"], stream=third, flush_interval=60)
    log.debug("three", note="third-secret")
    assert third.getvalue() == ""  # waits for the interval
    flush_logs()
    lines = [json.loads(line) for line in first.getvalue().splitlines()]
    assert [line["n"] for line in lines] == list(range(5))
    assert {line["logger"] for line in lines} == {"early"}
    assert "first-secret" not in first.getvalue()
    again = [json.loads(line) for line in second.getvalue().splitlines()]
    assert [line["event"] for line in again] == ["two"] and again[0]["level"] == "warning"
    assert "second-secret" not in second.getvalue()
    assert [json.loads(line)["note"] for line in third.getvalue().splitlines()] == ["[redacted]"]


def test_redactor_scrubs_nested_values() -> None:
    redactor = Redactor(["my-secret-1"])
    event = {"event": "x", "nested": {"a": ["xoxb-1-2-3", "ok my-secret-1"]}}
    cleaned = redactor(None, "info", event)
    assert cleaned == {"event": "x", "nested": {"a": ["[redacted]", "ok [redacted]"]}}


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("token xoxb-1-2-3 here", "xoxb-1-2-3"),
        ("xoxp-9-8-7", "xoxp-9-8-7"),
        ("xapp-1-A-b", "xapp-1-A-b"),
        ("bot:xoxe.xoxp-1-2", "xoxp-1-2"),
        ("ends with my-secret-1", "my-secret-1"),
        ("my-secret-1", "my-secret-1"),
    ],
)
def test_the_redactors_quick_check_never_skips_a_secret(value: str, secret: str) -> None:
    """Events of plain values are checked with one substring search first: anything the
    pattern would find still reaches the pattern, whichever field holds it."""
    redactor = Redactor(["my-secret-1"])
    for key in ("event", "team_id", "note"):
        event = {"event": "x", "team_id": "T1", "n": 3, "ok": True, "none": None, key: value}
        cleaned = redactor(None, "info", dict(event))
        assert "[redacted]" in cleaned[key], (key, cleaned)
        assert secret not in str(cleaned)
    untouched = {"event": "win_logged", "team_id": "T1", "xo": "x o x", "n": 1}
    assert redactor(None, "info", dict(untouched)) == untouched


def _lines(stream: io.StringIO) -> list[str]:
    return [json.loads(line)["event"] for line in stream.getvalue().splitlines()]


def test_a_server_writes_info_lines_together_within_its_interval() -> None:
    """`pm-coach run` (flush_interval): info lines wait and leave together, in order, within
    the interval, by the flusher thread; structlog events and library records stay in the
    order they were logged."""
    stream = io.StringIO()
    configure_logging("INFO", "json", [], stream=stream, flush_interval=0.05)
    log = get_logger("t")
    log.info("first")
    logging.getLogger("slack_bolt").info("from bolt")
    log.info("third", note="xoxb-1-2-3")
    deadline = time.monotonic() + 5
    while len(_lines(stream)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _lines(stream) == ["first", "from bolt", "third"]
    assert "xoxb-1-2-3" not in stream.getvalue()


def test_a_warning_is_written_at_once_after_the_lines_before_it() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", [], stream=stream, flush_interval=60)
    log = get_logger("t")
    log.info("waits")
    log.debug("below the level")
    assert stream.getvalue() == ""  # not yet: the interval is a minute
    logging.getLogger("slack_sdk.web").info("library line waits too")
    assert stream.getvalue() == ""
    log.warning("urgent")
    assert _lines(stream) == ["waits", "library line waits too", "urgent"]
    log.info("after")
    logging.getLogger("apscheduler").error("library error")
    assert _lines(stream)[-2:] == ["after", "library error"]
    log.info("last")
    flush_logs()
    assert _lines(stream)[-1] == "last"


def test_a_server_renders_plain_info_events_later_as_they_were_logged() -> None:
    """Deferred events keep the time they were logged at; an exception on an info line is
    formatted at once (its traceback exists only then, on that thread); values that are not
    plain (a dict, a list) are rendered at once, so changing them later changes nothing."""
    stream = io.StringIO()
    configure_logging("INFO", "json", ["sekrit-value"], stream=stream, flush_interval=60)
    log = get_logger("t")
    before = time.time()
    log.info("plain", n=1, note="has sekrit-value", ok=True, none=None)
    try:
        raise ValueError("boom xoxb-1-2-3")
    except ValueError:
        log.info("handled", exc_info=True)
    data = {"a": 1}
    log.info("with a dict", data=data)
    data["a"] = 2
    assert stream.getvalue() == ""  # nothing written before the interval
    time.sleep(0.3)
    flush_logs()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["plain", "handled", "with a dict"]
    stamp = datetime.fromisoformat(lines[0]["timestamp"].replace("Z", "+00:00")).timestamp()
    assert before - 1 <= stamp <= before + 0.25  # when logged, not when written
    assert lines[0]["note"] == "has [redacted]" and lines[0]["n"] == 1
    assert "ValueError: boom" in lines[1]["exception"] and "xoxb-1-2-3" not in lines[1]["exception"]
    assert lines[2]["data"] == {"a": 1}


def test_a_server_info_line_keeps_its_form() -> None:
    """A server's debug and info lines (queued, rendered by the flusher) read as every other
    line: the event's fields in the order given, then event, logger, level and an ISO time
    stamp in UTC; positional arguments are interpolated; lines below the level are dropped."""
    stream = io.StringIO()
    configure_logging("DEBUG", "json", [], stream=stream, flush_interval=60)
    log = get_logger("pm_coach.t")
    fields = {"team_id": "T1", "n": 3, "share": 0.5, "ok": False, "gone": None, "level": "x"}
    before = time.time()
    log.info("same", **fields)
    log.debug("same", **fields)
    log.info("with %s", "args")
    flush_logs()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    for line, level in zip(lines[:2], ("info", "debug"), strict=True):
        assert list(line) == [*fields, "event", "logger", "timestamp"]
        assert {k: v for k, v in line.items() if k != "timestamp"} == {
            **fields,
            "event": "same",
            "logger": "pm_coach.t",
            "level": level,
        }
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])
        stamp = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
        assert before - 1 <= stamp <= time.time() + 1
    assert lines[2]["event"] == "with args"
    configure_logging("INFO", "json", [], stream=stream, flush_interval=60)
    log.debug("below the level")
    flush_logs()
    assert "below the level" not in stream.getvalue()


def test_a_processor_added_to_the_chain_sees_every_event_a_server_logs() -> None:
    """Our events all pass structlog's processor chain, a server's debug and info lines (which
    the flusher renders later) included: a processor added to it, or structlog's own
    `capture_logs`, sees every one and shapes the line written."""
    stream = io.StringIO()
    configure_logging("DEBUG", "json", [], stream=stream, flush_interval=60)
    log = get_logger("pm_coach.t")
    log.info("assembled before the processor is added")
    seen: list[tuple[str, str]] = []

    def spy(
        logger: object, method_name: str, event_dict: MutableMapping[str, object]
    ) -> MutableMapping[str, object]:
        seen.append((method_name, str(event_dict["event"])))
        event_dict["seen"] = True
        return event_dict

    chain = structlog.get_config()["processors"]  # the list every bound logger holds
    chain.insert(0, spy)
    try:
        log.info("info line", team_id="T1")
        log.debug("debug line")
        get_logger("pm_coach.other").info("from another logger")
        log.warning("warning line")
    finally:
        chain.remove(spy)
    flush_logs()
    assert seen == [
        ("info", "info line"),
        ("debug", "debug line"),
        ("info", "from another logger"),
        ("warning", "warning line"),
    ]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line.get("seen") for line in lines] == [None, True, True, True, True]
    with structlog.testing.capture_logs() as captured:
        log.info("captured", team_id="T1")
    assert [(entry["event"], entry["log_level"]) for entry in captured] == [("captured", "info")]


def test_a_queued_event_that_fails_to_render_costs_only_its_own_line() -> None:
    sink = LineSink()
    sink.stream, sink.interval = io.StringIO(), 60.0

    def render(event: MutableMapping[str, object]) -> str:
        if event["event"] == "bad":
            raise TypeError("cannot")
        return json.dumps(dict(event))

    sink.render = render
    for name in ("before", "bad", "after"):
        sink.event({"event": name})
    sink.line(json.dumps({"event": "urgent"}), urgent=True)
    lines = [json.loads(line) for line in sink.stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [
        "before",
        "log_line_unrenderable",
        "after",
        "urgent",
    ]
    assert lines[1]["lost_event"] == "bad" and lines[1]["error"] == "TypeError"


def test_an_event_with_an_odd_name_that_fails_to_render_still_leaves_a_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", [], stream=stream, flush_interval=60)
    log = get_logger("t")
    log.info("before")
    log.info(10**5000)  # type: ignore[arg-type] # not a str; too long for int -> str
    log.info("after")
    flush_logs()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["before", "log_line_unrenderable", "after"]
    assert lines[1]["lost_event"] == "int"


def test_the_flusher_survives_a_stream_that_fails_once() -> None:
    class Flaky(io.StringIO):
        failed = False

        def write(self, text: str) -> int:
            if not Flaky.failed:
                Flaky.failed = True
                raise MemoryError("transient")
            return super().write(text)

    stream = Flaky()
    configure_logging("INFO", "json", [], stream=stream, flush_interval=0.05)
    log = get_logger("t")
    log.info("lost with the failing write")
    deadline = time.monotonic() + 5
    while not Flaky.failed and time.monotonic() < deadline:
        time.sleep(0.01)
    log.info("written by the same flusher")
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _lines(stream) == ["written by the same flusher"]


def test_a_line_queued_as_the_interval_goes_to_zero_is_written() -> None:
    """Another thread checked the interval just before a reconfiguration set it to 0, and
    queues after: no flusher will come, so the queueing thread writes it."""
    sink = LineSink()
    sink.stream = io.StringIO()
    sink.queue('{"event": "late"}')
    assert sink.stream.getvalue() == '{"event": "late"}\n'


def test_many_waiting_lines_are_written_without_waiting_for_the_interval() -> None:
    """A burst never piles up more than MAX_PENDING_LINES (a sink of its own: the process's
    flusher thread would write at a time of its choosing)."""
    sink = LineSink()
    sink.stream, sink.interval = io.StringIO(), 60.0
    for n in range(MAX_PENDING_LINES - 1):
        sink.line(f"line {n}")
    assert sink.stream.getvalue() == ""
    sink.line("the last that fits")
    written = sink.stream.getvalue().splitlines()
    assert len(written) == MAX_PENDING_LINES and written[-1] == "the last that fits"


def test_reconfiguring_writes_the_waiting_lines_where_they_were_meant_to_go() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", "json", [], stream=first, flush_interval=60)
    get_logger("t").info("meant for the first")
    configure_logging("INFO", "json", [], stream=second)
    get_logger("t").info("meant for the second")
    assert _lines(first) == ["meant for the first"]
    assert _lines(second) == ["meant for the second"]


def test_waiting_lines_are_written_when_the_process_exits() -> None:
    """A server that stops (or crashes with an exception) loses no line that waits."""
    root = Path(__file__).resolve().parent.parent
    code = (
        "import logging, sys\n"
        "from bot.runtime.logs import configure_logging, get_logger\n"
        "configure_logging('INFO', 'json', [], stream=sys.stdout, flush_interval=60)\n"
        "get_logger('t').info('before exit')\n"
        "logging.getLogger('slack_bolt').info('library before exit')\n"
        "raise SystemExit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3, done.stderr
    events = [json.loads(line)["event"] for line in done.stdout.splitlines()]
    assert events == ["before exit", "library before exit"]


def test_a_forked_child_does_not_write_its_parents_waiting_lines() -> None:
    stream_path = Path(tempfile.mkdtemp()) / "log"
    with stream_path.open("a", encoding="utf-8") as stream:
        configure_logging("INFO", "json", [], stream=stream, flush_interval=60)
        get_logger("t").info("parent")
        pid = os.fork()
        if pid == 0:  # the child
            try:
                get_logger("t").info("child")
                flush_logs()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        flush_logs()
    events = [json.loads(line)["event"] for line in stream_path.read_text().splitlines()]
    assert sorted(events) == ["child", "parent"]


def test_settings_defaults_and_secrets() -> None:
    settings = Settings(_env_file=None, slack_bot_token="xoxb-a-b", slack_signing_secret="s3cr3t")  # type: ignore[call-arg]
    assert settings.port == 3000 and settings.redis_url.startswith("redis://")
    assert settings.slack_api_base_url == "https://slack.com/api/"
    assert not settings.socket_mode
    assert "xoxb-a-b" not in repr(settings) and "s3cr3t" not in repr(settings)
    socket = Settings(
        _env_file=None,
        slack_bot_token="xoxb-a",
        slack_app_token="xapp-b",  # type: ignore[call-arg]
        slack_api_base_url="http://127.0.0.1:9/api",
        admin_user_ids="U1, U2",
    )
    assert socket.socket_mode and socket.slack_api_base_url.endswith("/api/")
    assert socket.admin_ids == {"U1", "U2"}


def test_describe_error_names_the_setting() -> None:
    with pytest.raises(Exception) as info:
        Settings(_env_file=None, slack_signing_secret="x", port=0)  # type: ignore[call-arg]
    message = describe_error(info.value)
    assert "SLACK_BOT_TOKEN is missing" in message and "PORT is invalid" in message


def test_every_setting_is_documented() -> None:
    """.env.example and the README's settings table name every setting the process reads."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    example = (root / ".env.example").read_text()
    readme = (root / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"\n{name.upper()}=" in example, name
        assert f"`{name.upper()}`" in readme, name
