"""The App Home: content, limits, round trips, and the settings changed from it."""

from __future__ import annotations

import json
from typing import Any

import redis

from bot.fakeslack import FakeSlack
from bot.runtime.settings import Settings
from bot.surfaces.home import (
    ACTION_HOME_LOG,
    ACTION_HOME_PROMPTS,
    ACTION_HOME_SETTINGS,
    ACTION_PROMPT_REMOVE,
)
from tests.conftest import TEAM, Clock, serve_app
from tests.driver import SlackDriver, visible_text
from tests.test_store import CountingConnection, counting_client


def open_home(slack: SlackDriver, fake: FakeSlack, user: str = "U0ALICE") -> dict[str, Any]:
    before = len(fake.calls_to("views.publish"))
    assert (
        slack.event(
            {"type": "app_home_opened", "user": user, "tab": "home", "event_ts": "1.1"}
        ).status
        == 200
    )
    fake.wait_for("views.publish", count=before + 1)
    home = fake.home_view(user)
    assert home is not None
    return home


def home_text(fake: FakeSlack, user: str = "U0ALICE") -> str:
    return visible_text(fake.home_view(user))


def test_home_shows_where_the_pm_stands(slack: SlackDriver, fake: FakeSlack, clock: Clock) -> None:
    clock.advance(days=-7)
    slack.command("/win", "clarity Framed the <!here> pricing & bet")
    clock.advance(days=7)
    for i in range(6):
        clock.advance(minutes=1)
        slack.command("/win", f"shipped Release {i}")
    home = open_home(slack, fake)
    text = visible_text(home)
    assert len(home["blocks"]) <= 100
    assert "Balance (4 weeks):* 14% clarity · target 50%" in text
    assert "Clarity streak:* 1 week · longest 1" in text
    assert "Last 12 weeks" in text and "Nov 16" in text and "this week" in text
    assert "Release 5" in text and "Release 1" in text and "Release 0" not in text  # last five
    assert "Next reflection nudge:* Fri 27 Nov, 15:00 (Europe/Berlin)" in text
    for label in ("Log a win", "Settings", "My prompts", "Delete my data"):
        assert label in text
    assert "<!here>" not in json.dumps(home)


def test_newcomer_sees_an_introduction_and_is_not_enrolled(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    text = visible_text(open_home(slack, fake, user="U0BOB"))
    assert "Welcome to PM Coach" in text
    assert not [k for k in rds.scan_iter("*U0BOB*")]


def test_rendering_the_home_costs_at_most_two_round_trips(
    settings: Settings, redis_url: str, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    client = counting_client(redis_url)
    with serve_app(settings, client, fake, clock) as slack:
        for i in range(8):
            slack.command("/win", f"clarity Win {i}")
        CountingConnection.sends = 0
        slack.coach.overview(TEAM, "U0ALICE")
        assert CountingConnection.sends <= 2
        # And through the real event (plus one for the event_id dedupe claim).
        CountingConnection.sends = 0
        open_home(slack, fake)
        assert CountingConnection.sends <= 3


def test_win_does_not_publish_the_home(slack: SlackDriver, fake: FakeSlack) -> None:
    slack.command("/win", "clarity Quiet")
    assert fake.calls_to("views.publish") == []


def _home_click(slack: SlackDriver, fake: FakeSlack, action_id: str) -> None:
    home = fake.home_view("U0ALICE") or open_home(slack, fake)
    assert slack.click_in_view(home, action_id).status == 200


def test_settings_modal_changes_settings_and_refreshes_home(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    slack.command("/win", "clarity Start")
    open_home(slack, fake)
    _home_click(slack, fake, ACTION_HOME_SETTINGS)
    opened = fake.wait_for("views.open")[-1]
    view = opened.args["view"]
    assert view["callback_id"] == "settings_modal"
    publishes = len(fake.calls_to("views.publish"))
    values = {
        "target": {"value": {"type": "static_select", "selected_option": {"value": "30"}}},
        "tz": {"value": {"type": "plain_text_input", "value": "America/New_York"}},
        "share": {"value": {"type": "checkboxes", "selected_options": [{"value": "share"}]}},
        "pause": {"value": {"type": "static_select", "selected_option": {"value": "2"}}},
    }
    reply = slack.submit(view, values, view_id=opened.response["view"]["id"])
    assert reply.status == 200 and "errors" not in reply.json
    fake.wait_for("views.publish", count=publishes + 1)
    profile = slack.store.profiles.profile(TEAM, "U0ALICE")
    assert (profile["target"], profile["tz"], profile["tz_source"], profile["share"]) == (
        "30",
        "America/New_York",
        "explicit",
        "1",
    )
    text = home_text(fake)
    assert "target 30%" in text and "America/New_York" in text and "paused this week" in text
    # Re-opened while paused: keeping the pause is the default; "Not paused" resumes.
    _home_click(slack, fake, ACTION_HOME_SETTINGS)
    reopened = fake.wait_for("views.open", count=2)[-1].args["view"]
    pause_block = next(b for b in reopened["blocks"] if b["block_id"] == "pause")
    assert pause_block["element"]["initial_option"]["value"] == "keep"
    resume = dict(
        values, pause={"value": {"type": "static_select", "selected_option": {"value": "0"}}}
    )
    assert "errors" not in slack.submit(reopened, resume).json
    assert slack.store.redis.smembers(f"pmc:v1:{{{TEAM}:U0ALICE}}:paused") == set()
    bad = dict(values, tz={"value": {"type": "plain_text_input", "value": "Nowhere/Land"}})
    errors = slack.submit(view, bad).json
    assert errors["response_action"] == "errors" and "tz" in errors["errors"]


def test_prompts_modal_adds_and_removes(slack: SlackDriver, fake: FakeSlack) -> None:
    slack.command("/win", "clarity Start")
    open_home(slack, fake)
    _home_click(slack, fake, ACTION_HOME_PROMPTS)
    opened = fake.wait_for("views.open")[-1]
    view = opened.args["view"]
    added = slack.submit(
        view, {"prompt": {"value": {"type": "plain_text_input", "value": "Who did I unblock?"}}}
    )
    assert added.status == 200
    assert slack.store.profiles.custom_prompts(TEAM, "U0ALICE") == [(1, "Who did I unblock?")]
    # Re-open and remove it with its button; the modal and the Home are refreshed.
    _home_click(slack, fake, ACTION_HOME_PROMPTS)
    opened = fake.wait_for("views.open", count=2)[-1]
    live = dict(
        opened.args["view"], id=opened.response["view"]["id"], hash=opened.response["view"]["hash"]
    )
    assert slack.click_in_view(live, ACTION_PROMPT_REMOVE).status == 200
    update = fake.wait_for("views.update")[-1]
    assert "Who did I unblock?" not in visible_text(update.args["view"])
    assert slack.store.profiles.custom_prompts(TEAM, "U0ALICE") == []


def test_log_a_win_from_home_refreshes_it(slack: SlackDriver, fake: FakeSlack) -> None:
    slack.command("/win", "clarity Start")
    open_home(slack, fake)
    _home_click(slack, fake, ACTION_HOME_LOG)
    opened = fake.wait_for("views.open")[-1]
    assert opened.args["view"]["private_metadata"] == "home"
    publishes = len(fake.calls_to("views.publish"))
    slack.submit(
        opened.args["view"],
        {
            "text": {"value": {"type": "plain_text_input", "value": "From the Home"}},
            "lane": {"value": {"type": "radio_buttons", "selected_option": {"value": "clarity"}}},
            "date": {"value": {"type": "datepicker", "selected_date": "2026-11-25"}},
        },
    )
    fake.wait_for("views.publish", count=publishes + 1)
    assert "From the Home" in home_text(fake)


def test_delete_from_home_refreshes_it(slack: SlackDriver, fake: FakeSlack) -> None:
    from bot.fakeslack import payloads

    slack.command("/win", "clarity Keep")
    slack.command("/win", "shipped Drop me")
    home = open_home(slack, fake)
    drop = next(w for w in slack.store.wins.user_wins(TEAM, "U0ALICE") if w.text == "Drop me")
    action = {
        "type": "overflow",
        "action_id": "history_menu",
        "block_id": f"home:{drop.id}",
        "selected_option": {
            "text": {"type": "plain_text", "text": "Delete"},
            "value": f"delete:{drop.id}",
        },
        "action_ts": "1.1",
    }
    publishes = len(fake.calls_to("views.publish"))
    body, content_type = payloads.block_actions(
        [action], team_id=TEAM, user_id="U0ALICE", view=home
    )
    assert slack.post(body, content_type).status == 200
    fake.wait_for("views.publish", count=publishes + 1)
    assert "Drop me" not in home_text(fake) and "Keep" in home_text(fake)


def test_forget_from_home(slack: SlackDriver, fake: FakeSlack, rds: redis.Redis) -> None:
    slack.command("/win", "clarity Mine")
    open_home(slack, fake)
    publishes = len(fake.calls_to("views.publish"))
    _home_click(slack, fake, "forget_confirm")
    fake.wait_for("views.publish", count=publishes + 1)
    assert "has been deleted" in home_text(fake)
    assert not [k for k in rds.scan_iter("*U0ALICE*")]
