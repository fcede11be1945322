"""`pm-coach` as the operator runs it: real processes, real Redis, the fake Slack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.fakeslack import FakeSlack, payloads
from tests.conftest import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, TEAM
from tests.driver import SlackDriver
from tests.redis_cluster import RedisClusterServers
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent


def cli_env(fake: FakeSlack, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SLACK_") and "proxy" not in k.lower()
    }
    env.update(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_BASE_URL": fake.api_base_url,
            "REDIS_URL": redis_url,
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def pm_coach(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Process:
    """A background `pm-coach run` whose output we keep."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.signalled = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for_log(self, event: str, timeout: float = 15) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if f'"{event}"' in line:
                    return json.loads(line)
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no {event} log line; output:\n{''.join(self.lines)}")

    def terminate(self) -> None:
        """One SIGTERM (a second one during interpreter shutdown would hit the default
        handler and kill the process with -15)."""
        if not self.signalled and self.proc.poll() is None:
            self.signalled = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        self.terminate()
        code = self.proc.wait(timeout=20)
        self._reader.join(timeout=5)
        return code


def driver_for(port: int, fake: FakeSlack) -> SlackDriver:
    """A driver for a `pm-coach run` subprocess (its store and coach live in that process)."""
    return SlackDriver(
        base_url=f"http://127.0.0.1:{port}",
        secret=SIGNING_SECRET,
        fake=fake,
        team_id=TEAM,
        store=None,
        coach=None,  # type: ignore[arg-type]
    )


@pytest.fixture(name="running")
def _running(fake: FakeSlack, redis_url: str, rds: object) -> Iterator[tuple[Process, int]]:
    port = free_port()
    process = Process(cli_env(fake, redis_url, PORT=str(port)))
    yield process, port
    process.stop()


def test_run_serves_http_and_stops_cleanly_on_sigterm(
    running: tuple[Process, int], fake: FakeSlack
) -> None:
    """`pm-coach run` serves /slack/events and /healthz; SIGTERM lets an in-flight request
    finish, then the process exits 0."""
    process, port = running
    process.wait_for_log("serving_http")
    driver = driver_for(port, fake)
    assert driver.get("/healthz").status == 200
    assert "Logged" in driver.command("/win", "clarity from a real process").text

    # A new PM's first request waits on a slow users.info; SIGTERM arrives meanwhile.
    fake.delay("users.info", 0.8)
    result: dict[str, object] = {}

    def slow_request() -> None:
        result["reply"] = driver.command("/win", "shipped in flight", user="U0BOB")

    thread = threading.Thread(target=slow_request)
    thread.start()
    fake.wait_for("users.info", count=2)  # alice's first /win above made the first call
    process.terminate()
    thread.join(timeout=10)
    reply = result["reply"]
    assert reply.status == 200 and "Logged" in reply.text  # type: ignore[attr-defined]
    assert process.stop() == 0
    process.wait_for_log("stopped")


def test_logs_never_contain_secrets(running: tuple[Process, int], fake: FakeSlack) -> None:
    """JSON log lines of a real run, with DEBUG on, hold no token or secret value."""
    process, port = running
    process.wait_for_log("serving_http")
    driver = driver_for(port, fake)
    driver.command("/win", "clarity check the logs")
    process.stop()
    output = "".join(process.lines)
    assert "win_logged" in output
    for secret in (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN):
        assert secret not in output


def test_debug_logs_redact_tokens(fake: FakeSlack, redis_url: str, rds: object) -> None:
    port = free_port()
    process = Process(cli_env(fake, redis_url, PORT=str(port), LOG_LEVEL="DEBUG"))
    try:
        process.wait_for_log("serving_http")
        driver = driver_for(port, fake)
        driver.command("/win", "clarity debug run", user="U0BOB")  # triggers users.info
    finally:
        process.stop()
    output = "".join(process.lines)
    assert "users.info" in output  # slack-sdk's DEBUG lines were there…
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output  # …without the token


def test_socket_mode_round_trip(fake: FakeSlack, redis_url: str, rds: object) -> None:
    """With SLACK_APP_TOKEN set, `pm-coach run` connects over Socket Mode; a slash command
    envelope is acked with the confirmation, and a redelivered envelope logs nothing twice."""
    env = cli_env(fake, redis_url, SLACK_APP_TOKEN=APP_TOKEN)
    del env["SLACK_SIGNING_SECRET"]
    process = Process(env)
    try:
        assert fake.socket_connected(timeout=15)
        payload = payloads.slash_command_payload(
            "/win",
            "clarity over the socket",
            team_id=TEAM,
            user_id="U0ALICE",
            channel_id="C0GENERAL",
            response_url=fake.response_url("sock"),
        )
        ack = fake.socket_send("slash_commands", payload, envelope_id="env-1")
        assert "Logged a *clarity* win" in json.dumps(ack.get("payload"))
        again = fake.socket_send("slash_commands", payload, envelope_id="env-1", retry_attempt=1)
        assert "already in your log" in json.dumps(again.get("payload"))
    finally:
        assert process.stop() == 0
    assert fake.calls_to("apps.connections.open")[0].token == APP_TOKEN


def test_check_reports_all_fine(fake: FakeSlack, redis_url: str) -> None:
    result = pm_coach("check", env=cli_env(fake, redis_url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "config: ok" in result.stdout
    assert "redis:  ok" in result.stdout
    assert "slack:  ok" in result.stdout
    assert fake.calls_to("auth.test")


def test_check_fails_when_redis_or_slack_is_not_fine(fake: FakeSlack, redis_url: str) -> None:
    dead_redis = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = pm_coach("check", env=cli_env(fake, dead_redis))
    assert result.returncode == 1
    assert "redis:  FAILED" in result.stdout and "hunter2" not in result.stdout
    fake.fail("auth.test", "invalid_auth")
    result = pm_coach("check", env=cli_env(fake, redis_url))
    assert result.returncode == 1 and "slack:  FAILED (auth.test: invalid_auth)" in result.stdout


def test_check_on_a_cluster_names_its_primaries_and_a_node_that_is_down(
    fake: FakeSlack, redis_cluster: RedisClusterServers, cluster_url: str
) -> None:
    """REDIS_URL names the second node of a 3-master cluster: `check` says ok, naming the
    cluster and its three primaries. With the third node stopped it fails, naming that node
    as unreachable."""
    env = cli_env(fake, redis_cluster.urls[1])
    primaries = [f"127.0.0.1:{port}" for port in redis_cluster.ports]
    result = pm_coach("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = [x for x in result.stdout.splitlines() if x.startswith("redis:")]
    assert line.startswith(f"redis:  ok ({redis_cluster.urls[1]}; cluster of 3 primaries: ")
    assert all(primary in line for primary in primaries), line
    redis_cluster.stop_node(2)
    result = pm_coach("check", env=env)
    assert result.returncode == 1
    [line] = [x for x in result.stdout.splitlines() if x.startswith("redis:")]
    assert line.startswith("redis:  FAILED (") and "cluster of 3 primaries" in line, line
    assert f"{primaries[2]} unreachable" in line, line
    redis_cluster.start_node(2)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN is missing"),
        ({"SLACK_BOT_TOKEN": "not-a-token"}, "SLACK_BOT_TOKEN is invalid"),
        ({"SLACK_SIGNING_SECRET": None}, "SLACK_SIGNING_SECRET is required"),
        ({"PORT": "eighty"}, "PORT is invalid"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT is invalid"),
        ({"SLACK_APP_TOKEN": "xoxb-wrong-kind"}, "SLACK_APP_TOKEN is invalid"),
        ({"REDIS_URL": "notaurl"}, "REDIS_URL is invalid"),
        ({"REDIS_URL": "redis://host:notaport"}, "REDIS_URL is invalid"),
        ({"REDIS_URL": "redis://:s3cret@host:6379/zero"}, "REDIS_URL is invalid"),
    ],
)
def test_bad_settings_stop_with_one_clear_line(
    fake: FakeSlack, redis_url: str, tmp_path: Path, change: dict[str, str | None], named: str
) -> None:
    env = cli_env(fake, redis_url)
    for key, value in change.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = pm_coach("run", env=env, cwd=tmp_path)  # no .env in tmp_path
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "not-a-token" not in result.stderr or "SLACK_BOT_TOKEN" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["check", "tick", "recap --team T0 --dry-run"])
def test_a_bad_redis_url_is_one_line_for_every_command(
    fake: FakeSlack, redis_url: str, tmp_path: Path, command: str
) -> None:
    """Every command that reads the settings names REDIS_URL in one line, no traceback."""
    env = cli_env(fake, "redis://host:notaport")
    result = pm_coach(*command.split(), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "pm-coach: setting REDIS_URL is invalid: has a port that is not a number from 1 to 65535"
    ]


def test_check_calls_the_example_placeholders_failed(
    fake: FakeSlack, redis_url: str, tmp_path: Path
) -> None:
    """`.env.example` copied as it is: the token and secret have a valid shape, and `check`
    says FAILED naming both, instead of "config: ok"; with real values it says ok."""
    env = cli_env(fake, redis_url)
    for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_BASE_URL", "REDIS_URL"):
        del env[key]
    env["PYTHONPATH"] = str(ROOT)
    example = (ROOT / ".env.example").read_text()
    lines = [
        f"SLACK_API_BASE_URL={fake.api_base_url}"
        if line.startswith("SLACK_API_BASE_URL=")
        else f"REDIS_URL={redis_url}"
        if line.startswith("REDIS_URL=")
        else line
        for line in example.splitlines()
    ]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    result = pm_coach("check", env=env, cwd=tmp_path)
    assert result.returncode == 1
    config = [line for line in result.stdout.splitlines() if line.startswith("config:")]
    assert config == [
        "config: FAILED (placeholder value in SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET: "
        "use the real one from Slack)"
    ]
    env.update({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET})
    result = pm_coach("check", env=env, cwd=tmp_path)
    assert "config: ok" in result.stdout


def test_settings_from_dotenv(fake: FakeSlack, redis_url: str, tmp_path: Path) -> None:
    """A .env file in the working directory is read."""
    env = cli_env(fake, redis_url)
    (tmp_path / ".env").write_text(
        f"SLACK_BOT_TOKEN={BOT_TOKEN}\nSLACK_SIGNING_SECRET={SIGNING_SECRET}\n"
        f"SLACK_API_BASE_URL={fake.api_base_url}\nREDIS_URL={redis_url}\n"
    )
    for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_BASE_URL", "REDIS_URL"):
        del env[key]
    env["PYTHONPATH"] = str(ROOT)
    result = pm_coach("check", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_has_no_side_effects() -> None:
    """Importing every module needs no environment, network or Redis."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    code = (
        "import bot.runtime.app, bot.runtime.cli, bot.runtime.compose, bot.store, bot.coach, "
        "bot.surfaces.blocks, bot.runtime.server, bot.scheduled.scheduler, bot.scheduled.jobs, "
        "bot.runtime.settings, bot.runtime.logs, handlers, bot.fakeslack, bot.sandbox"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_run_sends_due_nudges_from_its_own_tick(
    fake: FakeSlack, redis_url: str, rds: object
) -> None:
    """A `pm-coach run` process runs the tick itself (at start, then every minute): a nudge
    that is due goes out without any other help."""
    from datetime import UTC, datetime, timedelta

    import redis as redis_lib

    from bot.store import Store

    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    store = Store(client)
    now = datetime.now(UTC)
    store.profiles.enrol(TEAM, "U0ALICE", "Europe/Berlin", now)
    store.nudges.reschedule(TEAM, "U0ALICE", now - timedelta(minutes=1))
    port = free_port()
    process = Process(cli_env(fake, redis_url, PORT=str(port)))
    try:
        [call] = fake.wait_for("chat.postMessage", timeout=20)
        assert call.args["channel"] == "U0ALICE"
        assert call.args["metadata"]["event_type"] == "pmc_nudge"
    finally:
        assert process.stop() == 0
    assert store.nudges.due_at(TEAM, "U0ALICE") is not None
    assert store.nudges.due_at(TEAM, "U0ALICE") > now  # type: ignore[operator]
