"""Slack being slow must not make PMs wait (issue 15, items 5 and 6).

* Nothing on the answer path waits for a Web API call: a PM whose zone is unknown is answered
  with a guess (UTC), and the zone is learnt after the answer, asked of Slack at most once per
  ZONE_RETRY_S, never on every `/win`; the wins logged under the guess then count in their real
  local week, and the welcome DM names the real zone.
* `/coach recap here|off|<time>` (the admin check) and `/coach timezone auto` (Slack's zone)
  ask users.info after the answer and tell the outcome through the response_url.
* Every form open starts at once however slow Slack is with the others, and one that could not
  start while its trigger_id was fresh is not attempted: the PM is told to click again.

The tests hold the fake's answer (`FakeSlack.hold`) and assert what happened while it was held:
no timing thresholds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from bot.coach import enrolment as coach_module
from bot.fakeslack import FakeSlack
from bot.runtime.app import create_app
from bot.runtime.compose import build_runtime
from bot.runtime.settings import Settings
from bot.surfaces import texts
from handlers import replies
from tests.conftest import SIGNING_SECRET, TEAM, Clock, TrackedExecutor, settle_all, start_http
from tests.driver import Response, SlackDriver, hook_texts, unsettled

NEW = "U0NEWPM"


# Item 5: the zone is learnt after the answer ---------------------------------------------------


def test_a_first_win_is_answered_while_users_info_is_held(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    """A new PM's `/win` is answered while Slack still sits on users.info; the win counts in
    the guessed (UTC) week meanwhile, then in the PM's local week once the zone is learnt, and
    the welcome DM, sent after that, names the real zone."""
    # users.info slow but inside any client timeout: only not asking it can answer in time.
    slack.coach.profile_client = slack.coach.slack
    fake.add_user(NEW, tz="Asia/Tokyo")
    clock.set(datetime(2026, 11, 29, 20, 0, tzinfo=UTC))  # Sun 20:00 UTC = Mon 05:00 Tokyo
    gate = fake.hold("users.info")
    try:
        reply = unsettled(slack).command("/win", "clarity Framed the pricing bet", user=NEW)
        assert reply.status == 200 and "Logged" in reply.text
        assert fake.calls_to("users.info") == []  # not answered: the answer did not wait for it
        [win] = slack.store.wins.user_wins(TEAM, NEW)
        assert win.week == "2026-W48"  # the guess until the zone is known
        assert slack.store.profiles.profile_zone(TEAM, NEW) == ("UTC", "fallback")
        assert fake.messages(NEW) == []  # the welcome waits for the zone
    finally:
        gate.set()
    slack.settle()
    assert slack.store.profiles.profile_zone(TEAM, NEW) == ("Asia/Tokyo", "slack")
    [win] = slack.store.wins.user_wins(TEAM, NEW)
    assert win.week == "2026-W49"  # Monday in Tokyo: the week it was logged in, locally
    weeks = slack.store.redis.hgetall(f"pmc:v1:{{{TEAM}:{NEW}}}:weeks")
    assert weeks == {"2026-W49:c": "1"}
    [welcome] = fake.messages(NEW)
    assert "Asia/Tokyo" in welcome["text"]
    assert slack.store.nudges.due_at(TEAM, NEW) is not None
    assert len(fake.arrivals("users.info")) == 1
    # Later wins use the learnt zone with no further question to Slack.
    assert "Logged" in slack.command("/win", "shipped The launch", user=NEW).text
    assert [w.week for w in slack.store.wins.user_wins(TEAM, NEW)] == ["2026-W49", "2026-W49"]
    assert len(fake.arrivals("users.info")) == 1


def test_a_backdated_win_keeps_the_day_the_pm_picked_when_the_zone_is_learnt(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    """Only wins placed by the clock move to the learnt zone's week; a date the PM picked
    stays theirs."""
    fake.add_user(NEW, tz="Asia/Tokyo")
    clock.set(datetime(2026, 11, 29, 20, 0, tzinfo=UTC))
    gate = fake.hold("users.info")
    try:
        unsettled(slack).command("/win", "clarity Framed the bet", user=NEW)
        backdated = slack.coach.log_win(
            team_id=TEAM,
            user_id=NEW,
            lane=slack.coach.store.wins.user_wins(TEAM, NEW)[0].lane,
            text="Saturday's call",
            source="test:backdated",
            day=datetime(2026, 11, 28, tzinfo=UTC).date(),
        )
        assert backdated.win.week == "2026-W48"
        fake.wait_arrivals("users.info", 1)
    finally:
        gate.set()
    slack.settle()
    weeks = {w.text: w.week for w in slack.store.wins.user_wins(TEAM, NEW)}
    assert weeks == {"Framed the bet": "2026-W49", "Saturday's call": "2026-W48"}


def test_a_user_change_event_places_wins_logged_under_the_guess_too(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    """Slack could not say the new PM's zone; a `user_change` event then tells it: the win
    logged under the guess moves to its local week, as when the zone is learnt by asking."""
    fake.add_user(NEW, tz="Asia/Tokyo")
    clock.set(datetime(2026, 11, 29, 20, 0, tzinfo=UTC))  # Sun 20:00 UTC = Mon 05:00 Tokyo
    fake.fail("users.info", "internal_error", times=None)
    assert "Logged" in slack.command("/win", "clarity Framed the bet", user=NEW).text
    assert [w.week for w in slack.store.wins.user_wins(TEAM, NEW)] == ["2026-W48"]
    user = {"id": NEW, "team_id": TEAM, "tz": "Asia/Tokyo"}
    assert slack.event({"type": "user_change", "user": user}).status == 200
    assert slack.store.profiles.profile_zone(TEAM, NEW) == ("Asia/Tokyo", "slack")
    assert [w.week for w in slack.store.wins.user_wins(TEAM, NEW)] == ["2026-W49"]
    assert slack.store.redis.hgetall(f"pmc:v1:{{{TEAM}:{NEW}}}:weeks") == {"2026-W49:c": "1"}


def test_an_unknown_zone_is_not_asked_of_slack_on_every_win(
    slack: SlackDriver, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While Slack cannot say, wins are logged with the guess and users.info is asked once per
    ZONE_RETRY_S, not once per `/win`; after that window it is asked again."""
    fake.add_user(NEW, tz="America/New_York")
    fake.fail("users.info", "internal_error", times=None)
    for i in range(4):
        assert "Logged" in slack.command("/win", f"clarity Win {i}", user=NEW).text
    assert len(fake.calls_to("users.info")) == 1
    assert slack.store.profiles.profile_zone(TEAM, NEW) == ("UTC", "fallback")
    fake.clear_faults()
    monkeypatch.setattr(coach_module, "ZONE_RETRY_S", 0.0)  # the window has passed
    assert "Logged" in slack.command("/win", "clarity Win 4", user=NEW).text
    assert len(fake.calls_to("users.info")) == 2
    assert slack.store.profiles.profile_zone(TEAM, NEW) == ("America/New_York", "slack")


def test_the_zone_shown_says_when_it_is_a_guess(
    slack: SlackDriver, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/coach timezone` never claims a guess came from Slack; showing it asks Slack after the
    answer (once the retry window allows), and the next look shows Slack's zone."""
    fake.add_user(NEW, tz="Asia/Tokyo")
    fake.fail("users.info", "internal_error", times=1)
    slack.command("/win", "clarity First", user=NEW)
    assert "*UTC* (a guess" in slack.command("/coach", "timezone", user=NEW).text
    monkeypatch.setattr(coach_module, "ZONE_RETRY_S", 0.0)
    assert "*UTC* (a guess" in slack.command("/coach", "timezone", user=NEW).text
    assert "*Asia/Tokyo* (from Slack)" in slack.command("/coach", "timezone", user=NEW).text


def test_a_new_pms_form_opens_without_waiting_for_users_info(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """The form of a PM whose zone is unknown opens while users.info is held (its default
    date is today by the guess); the zone is learnt afterwards."""
    slack.coach.profile_client = slack.coach.slack
    fake.add_user(NEW, tz="Europe/Berlin")
    gate = fake.hold("users.info")
    try:
        reply = unsettled(slack).command("/win", "", user=NEW)
        assert reply.status == 200
        [opened] = fake.wait_for("views.open")
        assert opened.response.get("ok"), opened.response
        assert fake.calls_to("users.info") == []
    finally:
        gate.set()
    slack.settle()
    assert slack.store.profiles.profile_zone(TEAM, NEW) == ("Europe/Berlin", "slack")


RECAP_CHANNEL = "C0RECAPS"


@pytest.mark.parametrize(
    ("user", "follow_up"),
    [("U0ADMIN", "will be posted here"), ("U0ALICE", "Only Slack workspace admins")],
)
def test_recap_settings_are_answered_while_users_info_is_held(
    slack: SlackDriver, fake: FakeSlack, user: str, follow_up: str
) -> None:
    """`/coach recap here` from someone not in ADMIN_USER_IDS is answered while Slack sits on
    users.info (the admin check), saying only that it is checking; once Slack answers, an
    admin's recap is set and told, a non-admin is refused and nothing is stored."""
    fake.add_channel(RECAP_CHANNEL, members=["U0ADMIN", "U0ALICE"])
    gate = fake.hold("users.info")
    try:
        reply = unsettled(slack).command("/coach", "recap here", user=user, channel=RECAP_CHANNEL)
        assert reply.status == 200 and texts.RECAP_CHECKING_ADMIN in reply.text
        assert follow_up not in reply.text
        assert fake.calls_to("users.info") == []  # not answered: the answer did not wait for it
        assert slack.store.recaps.team_settings(TEAM).get("recap_channel") is None
    finally:
        gate.set()
    slack.settle()
    told = hook_texts(fake, reply)
    assert follow_up in told[0], told
    stored = slack.store.recaps.team_settings(TEAM).get("recap_channel")
    assert stored == (RECAP_CHANNEL if user == "U0ADMIN" else None)
    assert len(fake.calls_to("users.info")) == 1


def test_timezone_auto_is_answered_while_users_info_is_held(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """`/coach timezone auto` is answered while Slack sits on users.info, without naming a
    zone; once Slack answers, the PM follows Slack's zone again and is told which."""
    assert "Logged" in slack.command("/win", "clarity Framed the bet").text
    assert "now *Asia/Tokyo*" in slack.command("/coach", "timezone Asia/Tokyo").text
    asked = len(fake.calls_to("users.info"))  # the first win's, learning the zone
    gate = fake.hold("users.info")
    try:
        reply = unsettled(slack).command("/coach", "timezone auto")
        assert reply.status == 200 and texts.TZ_AUTO_ASKING in reply.text
        assert "Europe/Berlin" not in reply.text and "Asia/Tokyo" not in reply.text
        assert len(fake.calls_to("users.info")) == asked  # the answer did not wait for it
        assert slack.store.profiles.profile_zone(TEAM, "U0ALICE") == ("Asia/Tokyo", "explicit")
    finally:
        gate.set()
    slack.settle()
    [told] = hook_texts(fake, reply)
    assert texts.TZ_AUTO.format(tz="Europe/Berlin") in told
    assert slack.store.profiles.profile_zone(TEAM, "U0ALICE") == ("Europe/Berlin", "slack")


def test_timezone_auto_keeps_the_zone_when_slack_cannot_say(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """users.info failing after `/coach timezone auto`: the PM keeps the zone they had (not
    UTC) and is told so."""
    assert "Logged" in slack.command("/win", "clarity Framed the bet").text
    assert "now *Asia/Tokyo*" in slack.command("/coach", "timezone Asia/Tokyo").text
    fake.fail("users.info", "user_not_found", times=None)
    reply = slack.command("/coach", "timezone auto")
    assert texts.TZ_AUTO_ASKING in reply.text
    [told] = hook_texts(fake, reply)
    assert texts.TZ_AUTO_FAILED.format(tz="Asia/Tokyo") in told
    assert slack.store.profiles.profile_zone(TEAM, "U0ALICE") == ("Asia/Tokyo", "explicit")


def test_clearing_the_zone_in_the_home_settings_does_not_wait_for_slack(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """Emptying the zone field of the Home's settings form (follow Slack's zone again) is
    answered while Slack sits on users.info; the zone follows Slack's once it answers."""
    from bot.surfaces import home
    from tests.test_home import open_home

    assert "Logged" in slack.command("/win", "clarity Framed the bet").text
    assert "now *Asia/Tokyo*" in slack.command("/coach", "timezone Asia/Tokyo").text
    opened = slack.click_in_view(open_home(slack, fake), home.ACTION_HOME_SETTINGS)
    assert opened.status == 200
    view = fake.wait_for("views.open")[-1].args["view"]
    values = {
        "target": {"value": {"type": "static_select", "selected_option": {"value": "50"}}},
        "tz": {"value": {"type": "plain_text_input", "value": ""}},
        "pause": {"value": {"type": "static_select", "selected_option": {"value": "0"}}},
    }
    asked = len(fake.calls_to("users.info"))
    gate = fake.hold("users.info")
    try:
        reply = unsettled(slack).submit(view, values)
        assert reply.status == 200 and "errors" not in (reply.json if reply.body else {})
        assert len(fake.calls_to("users.info")) == asked  # the answer did not wait for it
        assert slack.store.profiles.profile_zone(TEAM, "U0ALICE") == ("Asia/Tokyo", "explicit")
    finally:
        gate.set()
    slack.settle()
    assert slack.store.profiles.profile_zone(TEAM, "U0ALICE") == ("Europe/Berlin", "slack")


# Item 6: forms open at once, or not at all -----------------------------------------------------


def test_every_form_open_starts_while_the_others_are_held(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """Twelve PMs click at once while Slack sits on views.open: all twelve opens reach Slack
    before any is answered (a 4-thread pool started 4, and the rest after their trigger died)."""
    count = 12
    burst = unsettled(slack)
    gate = fake.hold("views.open")
    replies_: list[Response] = []
    lock = threading.Lock()

    def click() -> None:
        answer = burst.command("/win", "")
        with lock:
            replies_.append(answer)

    threads = [threading.Thread(target=click) for _ in range(count)]
    try:
        for thread in threads:
            thread.start()
        fake.wait_arrivals("views.open", count)
        assert fake.calls_to("views.open") == []  # none answered yet
    finally:
        gate.set()
        for thread in threads:
            thread.join(timeout=10)
    slack.settle()
    assert [r.status for r in replies_] == [200] * count
    opened = fake.calls_to("views.open")
    assert len(opened) == count and all(c.response.get("ok") for c in opened)


class _Clock:
    """A monotonic clock the test moves (`create_app(monotonic=...)`: a form's wait)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def one_form_thread(
    settings: Settings,
    rds: redis.Redis,
    fake: FakeSlack,
    clock: Clock,
    monotonic: Callable[[], float],
) -> Iterator[SlackDriver]:
    """The app with a single thread to open forms: a second click waits for the first;
    `monotonic` measures how long a form waited."""
    runtime = build_runtime(settings, redis_client=rds, clock=clock)
    background = TrackedExecutor(max_workers=4, thread_name_prefix="after-ack")
    forms = TrackedExecutor(max_workers=1, thread_name_prefix="forms")
    app = create_app(
        settings,
        runtime.deps,
        background=background,
        forms=forms,
        verified_upstream=True,
        monotonic=monotonic,
    )
    server, thread = start_http(app, runtime.store)
    try:
        yield SlackDriver(
            base_url=f"http://127.0.0.1:{server.bind_addr[1]}",
            secret=SIGNING_SECRET,
            fake=fake,
            team_id=TEAM,
            store=runtime.store,
            coach=runtime.deps.coach,
            settle=lambda: settle_all(forms, background),
        )
    finally:
        server.stop()
        thread.join(timeout=5)
        forms.shutdown(wait=True)
        background.shutdown(wait=True)


def test_a_form_that_could_not_start_in_time_is_not_opened_and_the_pm_is_told(
    settings: Settings,
    rds: redis.Redis,
    fake: FakeSlack,
    clock: Clock,
) -> None:
    """A click whose open waited past TRIGGER_BUDGET_S (its trigger_id about dead) is not
    sent to Slack; the PM hears privately that they should click again. The open before it,
    started in time, goes through."""
    ticking = _Clock()
    with one_form_thread(settings, rds, fake, clock, ticking) as slack:
        slack.command("/win", "clarity Warm-up")  # an enrolled PM: the forms do only views.open
        driver = unsettled(slack)
        gate = fake.hold("views.open")
        try:
            first = driver.command("/win", "")
            fake.wait_arrivals("views.open", 1)  # the only form thread is busy with it
            second = driver.command("/win", "")  # queued behind it
            ticking.now += replies.TRIGGER_BUDGET_S + 0.5
        finally:
            gate.set()
        slack.settle()
        assert first.status == second.status == 200
        assert len(fake.arrivals("views.open")) == 1
        [opened] = fake.calls_to("views.open")
        assert opened.response.get("ok"), opened.response
        assert hook_texts(fake, second) == [texts.FORM_TOO_LATE]
        assert hook_texts(fake, first) == []


def test_the_forms_pool_of_pm_coach_run_starts_each_open_at_once() -> None:
    """`pm-coach run` hands forms to `form_executor()`: as many opens run at once as the bound
    allows, each on its own thread."""
    from bot.runtime.compose import FORM_THREADS, form_executor

    pool = form_executor()
    started = threading.Barrier(16 + 1)
    release = threading.Event()

    def open_one() -> Any:
        started.wait(timeout=10)  # every one of the 16 is running before any finishes
        release.wait(timeout=10)

    try:
        futures = [pool.submit(open_one) for _ in range(16)]
        started.wait(timeout=10)
    finally:
        release.set()
    for future in futures:
        future.result(timeout=10)
    pool.shutdown(wait=True)
    assert FORM_THREADS >= 16
