"""`make sandbox`: the real app in a terminal — a scripted session through the README's
command, and the sandbox's own commands in process."""

from __future__ import annotations

import io
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fakeredis
import pytest
import redis

from bot.sandbox.session import Sandbox
from bot.store import Store

ROOT = Path(__file__).resolve().parent.parent
WED_NOON = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
REAL_TEAM, REAL_PM = "T0REALWS", "U0REALPM"

SESSION = """\
/win clarity Wrote the pricing one-pager
/win Aligned sales and eng on the Q3 bet
2
/coach stats
:home
:advance to fri 15:00
2
:set 1 I let the squad run the review
:submit
:advance 1w
:channel
"""


@pytest.fixture(name="box")
def _box() -> Sandbox:
    out = io.StringIO()
    sandbox = Sandbox(
        redis_client=fakeredis.FakeRedis(decode_responses=True),
        out=out,
        now=WED_NOON,
        store_label="fakeredis",
    )
    sandbox.setup()
    yield sandbox
    sandbox.close()


def transcript(box: Sandbox) -> str:
    out = box.out
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def test_scripted_session_through_make_sandbox() -> None:
    """A newcomer's session run as the README says (`make sandbox`, lines on stdin): wins,
    streak and balance, a nudge answered, and the weekly recap, with exit code 0."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        ["make", "-s", "sandbox"],
        input=SESSION,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "PM Coach sandbox" in out and "Nothing leaves this machine" in out
    assert "Logged a clarity win: Wrote the pricing one-pager" in out
    assert "It reads like Created clarity" in out
    assert "Clarity streak: 1 week" in out and "Last 12 weeks" in out
    assert "App Home" in out and "Next reflection nudge" in out
    assert "DM from PM Coach" in out and "This week so far" in out
    assert "Reflection saved privately" in out
    assert "Team recap — week of" in out


def test_failed_lines_make_a_non_zero_exit(tmp_path: Path) -> None:
    script = tmp_path / "bad.txt"
    script.write_text("/win clarity fine\n:no-such-command\n99\n")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pm-coach"), "sandbox", "--script", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "unknown sandbox command :no-such-command" in result.stdout
    assert "there is no [99] on screen" in result.stdout


def test_modal_fields_errors_and_options(box: Sandbox) -> None:
    """Form fields are filled by number; Slack's field errors are shown under the field."""
    box.handle("/win")
    box.handle(":set 1 ")
    box.handle(":set 2 b")
    box.handle(":submit")
    assert "A win needs a few words" in transcript(box)
    box.handle(":set 1 Got legal to agree")
    box.handle(":submit")
    assert "Logged a clarity win: Got legal to agree" in transcript(box)
    assert box.failed == 0
    box.handle(":set 2 z")  # the form now shows the outcome: no field 2 any more
    assert box.failed == 1 and "is not a field of the open form" in transcript(box)


def test_switching_people_and_time(box: Sandbox) -> None:
    box.handle(":as bob")
    assert "You are now @bob (America/New_York)" in transcript(box)
    box.handle("/win shipped Released the beta")
    box.handle(":advance to fri 15:00")
    out = transcript(box)
    assert "DM from PM Coach · Fri 27 Nov 2026, 15:00 (America/New_York)" in out
    box.handle(":as nobody")
    assert box.failed == 1


def test_demo_history_makes_the_home_meaningful() -> None:
    out = io.StringIO()
    box = Sandbox(
        redis_client=fakeredis.FakeRedis(decode_responses=True),
        out=out,
        now=WED_NOON,
        store_label="fakeredis",
    )
    try:
        box.setup(demo=True)
        box.handle(":home")
        box.handle("/coach export last quarter")
    finally:
        box.close()
    text = out.getvalue()
    assert "■" in text  # the chart has bars
    assert "longest" in text and "Recent wins" in text
    assert "pm-coach-brag-2026-Q3.md" in text and "# Brag document — Q3 2026" in text
    assert box.failed == 0


def _snapshot(client: redis.Redis) -> dict[bytes, tuple[bytes | None, int]]:
    """Every key's serialized value and expiry: equal snapshots mean nothing was touched."""
    return {key: (client.dump(key), client.pttl(key)) for key in client.scan_iter("*")}


def test_the_sandbox_never_touches_the_redis_at_redis_url(
    redis_url: str, rds: redis.Redis, tmp_path: Path
) -> None:
    """With REDIS_URL naming a Redis that holds a real workspace (a PM, a nudge overdue), a
    scripted sandbox session that moves its clock a week on leaves every key of that Redis
    byte-identical, says once that REDIS_URL is ignored, and shows nothing of that team."""
    store = Store(rds)
    now = datetime.now(UTC)
    store.profiles.enrol(REAL_TEAM, REAL_PM, "Europe/Berlin", now - timedelta(days=30))
    store.teams.add_team_user(REAL_TEAM, REAL_PM)
    # due: any tick would send
    store.nudges.reschedule(REAL_TEAM, REAL_PM, now - timedelta(hours=1))
    raw = redis.Redis.from_url(redis_url)
    before = _snapshot(raw)
    assert before and store.nudges.due_at(REAL_TEAM, REAL_PM) is not None
    script = tmp_path / "week.txt"
    script.write_text("/win clarity Sandbox only\n:advance 1d\n:advance 1w\n/coach stats\n")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["REDIS_URL"] = redis_url
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pm-coach"), "sandbox", "--script", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    after = _snapshot(raw)
    raw.close()
    assert after == before
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Logged a clarity win: Sandbox only" in result.stdout
    assert result.stderr.count("REDIS_URL is set and ignored") == 1
    assert REAL_TEAM not in result.stdout and REAL_PM not in result.stdout
