"""Reflection nudges end to end: enrolment, the DM and its buttons, /reflect, schedules,
back-off, inactive PMs — through signed requests, the real tick, real Redis, the fake Slack."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bot.fakeslack import FakeSlack, payloads
from bot.surfaces import texts
from bot.surfaces.nudge_blocks import (
    ACTION_HOME_START,
    ACTION_NUDGE_LOG,
    ACTION_NUDGE_REFLECT,
    ACTION_NUDGE_SKIP,
    ACTION_NUDGE_SNOOZE,
)
from tests.conftest import TEAM, Clock
from tests.driver import Response, SlackDriver, find_action, visible_text

FRI_15_BERLIN = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def dms(fake: FakeSlack, user: str = "U0ALICE") -> list[dict[str, Any]]:
    return fake.messages(user)


def nudges(fake: FakeSlack, user: str = "U0ALICE") -> list[dict[str, Any]]:
    return [m for m in dms(fake, user) if (m.get("metadata") or {}).get("event_type")]


def enrol(slack: SlackDriver, user: str = "U0ALICE") -> None:
    assert "Logged" in slack.command("/win", "shipped Released the beta", user=user).text
    slack.fake.wait_for("chat.postMessage")


def tick(slack: SlackDriver, at: datetime) -> Any:
    return slack.ticker.tick(at)


def click_dm(
    slack: SlackDriver, message: dict[str, Any], action_id: str, user: str = "U0ALICE"
) -> Response:
    """Click a button on a DM from the app, as Slack sends it (message container); the
    response's `hook` names its response_url for `slack.hook_posts`."""
    element = find_action(message["blocks"], action_id)
    hook = f"dm-{secrets.token_hex(6)}"
    action = {
        "type": "button",
        "action_id": action_id,
        "block_id": "nudge_actions",
        "value": element["value"],
        "action_ts": "1.2",
    }
    body, content_type = payloads.block_actions(
        [action],
        team_id=TEAM,
        user_id=user,
        channel_id=message["channel"],
        message={k: v for k, v in message.items() if k != "channel"},
        response_url=slack.fake.response_url(hook),
    )
    response = slack.post(body, content_type)
    response.hook = hook
    return response


def test_first_use_enrols_with_one_welcome_dm(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    """The first command enrols the PM: one welcome DM saying what, when, how to change or stop
    it; the first nudge is due Friday 15:00 in their Slack zone."""
    enrol(slack)
    slack.command("/win", "clarity Second win")
    slack.command("/coach", "stats")
    [welcome] = dms(fake)
    text = visible_text(welcome)
    assert "every Fri at 15:00 (Europe/Berlin)" in text
    assert "/coach nudges mon,thu 09:30" in text and "/coach nudges off" in text
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == FRI_15_BERLIN


def test_the_welcome_is_never_posted_twice(slack: SlackDriver, fake: FakeSlack) -> None:
    """A 503 on the welcome DM is not repeated (Slack may have posted it): one attempt, the
    win is still logged and the PM enrolled. A 429 (not accepted) is retried: one welcome."""
    fake.add_user("U0BOB")
    fake.add_user("U0CAROL")
    fake.server_error("chat.postMessage", status=503)
    assert "Logged" in slack.command("/win", "shipped Released the beta", user="U0BOB").text
    assert len(fake.calls_to("chat.postMessage")) == 1 and dms(fake, "U0BOB") == []
    assert slack.store.nudges.due_at(TEAM, "U0BOB") is not None
    fake.rate_limit("chat.postMessage", retry_after=1)
    assert "Logged" in slack.command("/win", "shipped Released it", user="U0CAROL").text
    assert len(fake.calls_to("chat.postMessage")) == 3 and len(dms(fake, "U0CAROL")) == 1


def test_opening_the_home_does_not_enrol(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """The Home shows onboarding with a start button; only the button enrols."""
    slack.event({"type": "app_home_opened", "user": "U0BOB", "tab": "home", "event_ts": "1.1"})
    fake.wait_for("views.publish")
    home = fake.home_view("U0BOB")
    assert home is not None and "Get started" in visible_text(home)
    assert not list(rds.scan_iter("*U0BOB*")) and dms(fake, "U0BOB") == []
    slack.click_in_view(home, ACTION_HOME_START, user="U0BOB")
    fake.wait_for("views.publish", count=2)
    assert "Your PM Coach" in visible_text(fake.home_view("U0BOB"))
    assert len(dms(fake, "U0BOB")) == 1
    assert slack.store.nudges.due_at(TEAM, "U0BOB") == datetime(2026, 11, 27, 20, 0, tzinfo=UTC)


def test_the_nudge_dm(slack: SlackDriver, fake: FakeSlack) -> None:
    """At Friday 15:00 local: one DM with a prompt, the week so far and four buttons; ticking
    the same instant again sends nothing more."""
    enrol(slack)
    slack.command("/win", "shipped Fixed the importer")
    assert tick(slack, FRI_15_BERLIN - timedelta(minutes=1)).sent == []
    report = tick(slack, FRI_15_BERLIN + timedelta(seconds=20))
    assert len(report.sent) == 1
    assert tick(slack, FRI_15_BERLIN + timedelta(seconds=20)).sent == []
    [nudge] = nudges(fake)
    text = visible_text(nudge)
    assert "This week so far: 2 🚀 shipped, 0 🧭 clarity" in text
    for label in ("Log a clarity win", "Reflect", "Snooze 1 day", "Skip this week"):
        assert label in text
    record = slack.store.nudges.nudge_record(TEAM, "U0ALICE")
    assert record["ts"] == nudge["ts"] and record["prompt"] in text
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == FRI_15_BERLIN + timedelta(days=7)


def test_reflect_button_stores_privately_and_updates_the_nudge(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    enrol(slack)
    tick(slack, FRI_15_BERLIN)
    [nudge] = nudges(fake)
    assert click_dm(slack, nudge, ACTION_NUDGE_REFLECT).status == 200
    opened = fake.wait_for("views.open")[-1]
    view = opened.args["view"]
    assert view["callback_id"] == "reflect_modal"
    prompt = slack.store.nudges.nudge_record(TEAM, "U0ALICE")["prompt"]
    assert prompt in visible_text(view)
    empty = slack.submit(view, {"answer": {"value": {"type": "plain_text_input", "value": " "}}})
    assert empty.json["response_action"] == "errors"
    answer = "I let <!channel> decide & it went fine"
    done = slack.submit(view, {"answer": {"value": {"type": "plain_text_input", "value": answer}}})
    assert done.status == 200
    fake.wait_for("chat.update")
    [stored] = slack.store.profiles.reflections(TEAM, "U0ALICE")
    assert stored["text"] == answer and stored["prompt"] == prompt
    [updated] = nudges(fake)
    assert "Reflection saved privately" in visible_text(updated)
    assert not [b for b in updated["blocks"] if b["type"] == "actions"]
    # Reflections are private: history shows them to their author only, escaped.
    history = slack.command("/coach", "history")
    assert "I let &lt;!channel&gt; decide &amp; it went fine" in history.text
    assert "<!channel>" not in json.dumps([c.args for c in fake.calls])


def test_log_a_clarity_win_from_the_nudge(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    enrol(slack)
    tick(slack, FRI_15_BERLIN)
    clock.set(FRI_15_BERLIN + timedelta(minutes=5))
    [nudge] = nudges(fake)
    click_dm(slack, nudge, ACTION_NUDGE_LOG)
    view = fake.wait_for("views.open")[-1].args["view"]
    lane_block = next(b for b in view["blocks"] if b["block_id"] == "lane")
    assert lane_block["element"]["initial_option"]["value"] == "clarity"
    slack.submit(
        view,
        {
            "text": {"value": {"type": "plain_text_input", "value": "Framed Q1 for the team"}},
            "lane": {"value": {"type": "radio_buttons", "selected_option": {"value": "clarity"}}},
            "date": {"value": {"type": "datepicker", "selected_date": "2026-11-27"}},
        },
    )
    fake.wait_for("chat.update")
    assert "Clarity win logged" in visible_text(nudges(fake)[0])
    assert "Framed Q1 for the team" in [w.text for w in slack.store.wins.user_wins(TEAM, "U0ALICE")]


def test_snooze_sends_again_a_day_later_once(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    enrol(slack)
    tick(slack, FRI_15_BERLIN)
    clock.set(FRI_15_BERLIN + timedelta(minutes=10))
    click_dm(slack, nudges(fake)[0], ACTION_NUDGE_SNOOZE)
    fake.wait_for("chat.update")
    assert "Snoozed" in visible_text(nudges(fake)[0])
    due = slack.store.nudges.due_at(TEAM, "U0ALICE")
    assert due == FRI_15_BERLIN + timedelta(days=1, minutes=10)
    assert len(tick(slack, due).sent) == 1
    assert len(nudges(fake)) == 2
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == FRI_15_BERLIN + timedelta(days=7)


def test_skip_this_week(slack: SlackDriver, fake: FakeSlack, clock: Clock) -> None:
    """Skip on this week's nudge says so on the nudge and moves the next one to the next
    scheduled day after this week (a PM enrols with a win: /coach settings never enrol)."""
    enrol(slack)
    assert "Mon, Fri at 15:00" in slack.command("/coach", "nudges mon,fri 15:00").text
    tick(slack, datetime(2026, 11, 27, 14, 0, tzinfo=UTC))  # Friday W48
    clock.set(datetime(2026, 11, 27, 14, 5, tzinfo=UTC))
    click_dm(slack, nudges(fake)[0], ACTION_NUDGE_SKIP)
    fake.wait_for("chat.update")
    assert "Skipping this week" in visible_text(nudges(fake)[0])
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def test_reflect_command_with_text_and_form(slack: SlackDriver, fake: FakeSlack) -> None:
    enrol(slack)
    tick(slack, FRI_15_BERLIN)
    prompt = slack.store.nudges.nudge_record(TEAM, "U0ALICE")["prompt"]
    reply = slack.command("/reflect", "I kept the roadmap review short")
    assert "Saved privately" in reply.text and prompt[:40] in reply.text
    slack.command("/reflect", "")
    view = fake.wait_for("views.open")[-1].args["view"]
    assert view["callback_id"] == "reflect_modal" and prompt in visible_text(view)
    assert len(slack.store.profiles.reflections(TEAM, "U0ALICE")) == 1
    too_long = slack.command("/reflect", "x" * 3001)
    assert "3,000" in too_long.text and len(slack.store.profiles.reflections(TEAM, "U0ALICE")) == 1
    # Invisible characters only: nothing is saved, the form opens as for an empty command.
    fake.clear_calls()
    invisible = slack.command("/reflect", "\u200b\u200f")
    assert invisible.status == 200 and "Saved" not in invisible.text
    assert fake.wait_for("views.open")[-1].args["view"]["callback_id"] == "reflect_modal"
    assert len(slack.store.profiles.reflections(TEAM, "U0ALICE")) == 1


def test_export_includes_reflections_only_when_asked(slack: SlackDriver, fake: FakeSlack) -> None:
    enrol(slack)
    slack.command("/reflect", "A private thought")
    slack.hook_posts(slack.command("/coach", "export"))
    assert "A private thought" not in fake.files("U0ALICE")[-1]["content"].decode()
    slack.hook_posts(slack.command("/coach", "export this month with reflections"))
    assert "A private thought" in fake.files("U0ALICE")[-1]["content"].decode()


def test_coach_nudges_schedule_and_off(slack: SlackDriver, fake: FakeSlack) -> None:
    enrol(slack)  # a win enrols a PM: /coach settings never do
    reply = slack.command("/coach", "nudges mon,thu 09:30")
    assert "Mon, Thu at 09:30 (Europe/Berlin)" in reply.text
    assert "Next one: Thu 26 Nov, 09:30" in reply.text
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
    assert "Tell me the days" in slack.command("/coach", "nudges someday").text
    assert "off" in slack.command("/coach", "nudges off").text
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") is None
    assert tick(slack, datetime(2026, 11, 26, 8, 30, tzinfo=UTC)).sent == []
    assert "Mon, Thu at 09:30" in slack.command("/coach", "nudges on").text
    assert "Mon, Thu at 09:30" in slack.command("/coach", "nudges").text


def test_zone_change_moves_the_schedule(slack: SlackDriver) -> None:
    enrol(slack)
    slack.command("/coach", "timezone America/New_York")
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    slack.event(
        {"type": "user_change", "user": {"id": "U0BOB", "team_id": TEAM, "tz": "Asia/Tokyo"}}
    )


def test_three_ignored_nudges_back_off_and_interaction_restores(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """Ignored three times: the next week is skipped, the one after says so once; any
    interaction brings the weekly rhythm back."""
    enrol(slack)
    for week in range(3):
        assert len(tick(slack, FRI_15_BERLIN + timedelta(weeks=week)).sent) == 1
    assert tick(slack, FRI_15_BERLIN + timedelta(weeks=3)).sent == []  # backed off
    assert len(tick(slack, FRI_15_BERLIN + timedelta(weeks=4)).sent) == 1
    notice = nudges(fake)[-1]
    assert "every other week" in visible_text(notice)
    assert tick(slack, FRI_15_BERLIN + timedelta(weeks=5)).sent == []
    assert len(tick(slack, FRI_15_BERLIN + timedelta(weeks=6)).sent) == 1
    assert "every other week" not in visible_text(nudges(fake)[-1])  # said once
    slack.command("/win", "clarity Back in the game")
    assert len(tick(slack, FRI_15_BERLIN + timedelta(weeks=7)).sent) == 1
    assert len(tick(slack, FRI_15_BERLIN + timedelta(weeks=8)).sent) == 1


def test_paused_pm_gets_nothing(slack: SlackDriver, fake: FakeSlack) -> None:
    enrol(slack)
    slack.command("/coach", "pause 2w")
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == FRI_15_BERLIN + timedelta(weeks=2)
    assert tick(slack, FRI_15_BERLIN).sent == []
    assert len(nudges(fake)) == 0


def test_pm_who_left_is_marked_inactive_and_not_retried(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    enrol(slack)
    fake.fail("chat.postMessage", "user_not_found", times=None)
    report = tick(slack, FRI_15_BERLIN)
    assert [reason for _, reason in report.dropped] == ["inactive:user_not_found"]
    assert slack.store.profiles.profile(TEAM, "U0ALICE")["inactive"] == "1"
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") is None
    fake.clear_faults()
    assert tick(slack, FRI_15_BERLIN + timedelta(weeks=1)).sent == []
    # Coming back (any interaction) restores the schedule.
    clock.set(FRI_15_BERLIN + timedelta(days=1))
    slack.command("/win", "clarity I'm back")
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == FRI_15_BERLIN + timedelta(weeks=1)


def test_uninstalled_team_gets_nothing(slack: SlackDriver, fake: FakeSlack) -> None:
    enrol(slack)
    slack.store.teams.mark_uninstalled(TEAM, FRI_15_BERLIN)
    report = tick(slack, FRI_15_BERLIN)
    assert report.sent == [] and [r for _, r in report.dropped] == ["team_uninstalled"]
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") is None


def test_forget_me_removes_the_schedule(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    enrol(slack)
    tick(slack, FRI_15_BERLIN)
    slack.command("/reflect", "mine")
    ask = slack.command("/coach", "forget-me")
    slack.hook_posts(slack.click(ask, "forget_confirm"))
    for key in rds.scan_iter("*"):
        kind = rds.type(key)
        members = (
            list(rds.zrange(key, 0, -1))
            if kind == "zset"
            else list(rds.hkeys(key))
            if kind == "hash"
            else []
        )
        assert "U0ALICE" not in key and not any("U0ALICE" in m for m in members), key
    assert tick(slack, FRI_15_BERLIN + timedelta(weeks=1)).sent == []


def test_nudge_schedule_from_the_home_settings(slack: SlackDriver, fake: FakeSlack) -> None:
    """The settings modal on the Home sets nudge days and time; no days switches them off."""
    from bot.surfaces.home import ACTION_HOME_SETTINGS

    enrol(slack)
    slack.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "event_ts": "1"})
    fake.wait_for("views.publish")
    slack.click_in_view(fake.home_view("U0ALICE") or {}, ACTION_HOME_SETTINGS)
    view = fake.wait_for("views.open")[-1].args["view"]
    days_block = next(b for b in view["blocks"] if b["block_id"] == "nudge_days")
    assert [o["value"] for o in days_block["element"]["initial_options"]] == ["4"]
    base = {
        "target": {"value": {"type": "static_select", "selected_option": {"value": "50"}}},
        "pause": {"value": {"type": "static_select", "selected_option": {"value": "0"}}},
        "nudge_days": {
            "value": {"type": "checkboxes", "selected_options": [{"value": "0"}, {"value": "3"}]}
        },
        "nudge_time": {"value": {"type": "timepicker", "selected_time": "09:30"}},
    }
    assert "errors" not in slack.submit(view, base).json
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
    off = dict(base, nudge_days={"value": {"type": "checkboxes", "selected_options": []}})
    assert "errors" not in slack.submit(view, off).json
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") is None
    assert "Reflection nudges:* off" in visible_text(fake.home_view("U0ALICE"))


def test_home_shows_reflections_to_their_author(slack: SlackDriver, fake: FakeSlack) -> None:
    enrol(slack)
    slack.command("/reflect", "Letting the team own the roadmap review felt right")
    slack.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "event_ts": "1"})
    fake.wait_for("views.publish")
    assert "Letting the team own the roadmap review" in visible_text(fake.home_view("U0ALICE"))


def test_slack_zone_change_reschedules(slack: SlackDriver) -> None:
    """A user_change with a new zone moves the next nudge to 15:00 on the new wall clock."""
    enrol(slack)
    slack.event(
        {
            "type": "user_change",
            "user": {"id": "U0ALICE", "team_id": TEAM, "tz": "America/New_York"},
        }
    )
    import time

    deadline = time.monotonic() + 5
    while (
        slack.store.nudges.due_at(TEAM, "U0ALICE") != datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") == datetime(2026, 11, 27, 20, 0, tzinfo=UTC)


def test_old_nudges_after_forget_me_enrol_nobody(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """After forget-me, an old nudge's Snooze, Skip and Reflect, `/reflect` (with text or
    without) and a reflection form left open answer privately that PM Coach isn't set up:
    nothing stored, no welcome DM. Its Log a clarity win opens the form, and the win submitted
    there is an explicit start: enrolled, one welcome."""
    from tests.test_coach import mentions, welcomes

    enrol(slack, "U0BOB")
    tick(slack, datetime(2026, 11, 27, 20, 0, tzinfo=UTC))  # Friday 15:00 in New York
    [nudge] = nudges(fake, "U0BOB")
    click_dm(slack, nudge, ACTION_NUDGE_REFLECT, user="U0BOB")
    reflect_form = fake.wait_for("views.open")[-1].args["view"]
    ask = slack.command("/coach", "forget-me", user="U0BOB")
    slack.hook_posts(slack.click(ask, "forget_confirm", user="U0BOB"))
    assert mentions(rds, "U0BOB") == [] and welcomes(fake, "U0BOB") == 1
    opened = len(fake.calls_to("views.open"))

    for action in (ACTION_NUDGE_SNOOZE, ACTION_NUDGE_SKIP, ACTION_NUDGE_REFLECT):
        [said] = slack.hook_posts(click_dm(slack, nudge, action, user="U0BOB"))
        assert said["text"] == texts.NOT_SET_UP and said["response_type"] == "ephemeral", action
    mine = "A thought worth keeping"
    reply = slack.command("/reflect", mine, user="U0BOB")
    assert texts.NOT_SET_UP in reply.text and mine in reply.text  # given back to copy
    assert texts.NOT_SET_UP in slack.command("/reflect", "", user="U0BOB").text
    answer = {"answer": {"value": {"type": "plain_text_input", "value": mine}}}
    refused = slack.submit(reflect_form, answer, user="U0BOB").json
    assert refused == {"response_action": "errors", "errors": {"answer": texts.NOT_SET_UP}}
    assert len(fake.calls_to("views.open")) == opened  # no form for a reflection
    assert mentions(rds, "U0BOB") == [] and welcomes(fake, "U0BOB") == 1

    click_dm(slack, nudge, ACTION_NUDGE_LOG, user="U0BOB")
    win_form = fake.wait_for("views.open", count=opened + 1)[-1].args["view"]
    assert mentions(rds, "U0BOB") == []  # opening the form is not a start
    slack.submit(
        win_form,
        {
            "text": {"value": {"type": "plain_text_input", "value": "Framed Q1 again"}},
            "lane": {"value": {"type": "radio_buttons", "selected_option": {"value": "clarity"}}},
        },
        user="U0BOB",
    )
    assert [w.text for w in slack.store.wins.user_wins(TEAM, "U0BOB")] == ["Framed Q1 again"]
    assert slack.store.profiles.profile(TEAM, "U0BOB") and welcomes(fake, "U0BOB") == 2
