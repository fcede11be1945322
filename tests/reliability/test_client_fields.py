"""Fields a Slack client echoes back are the client's to edit: `private_metadata`, button
values, the clicked message's ts and channel, and the `response_url`.

* A form or button never makes the app `chat.update` a message other than the nudge the store
  recorded for that PM (item 12).
* The app POSTs only to Slack's hooks or to the origin of SLACK_API_BASE_URL (item 13).
* A form's metadata holds ids, not text: a custom prompt of 280 emoji still opens every form and
  its reflection keeps the whole prompt (item 15).
* A too-long `/reflect` is answered from its length before Redis is read, within Block Kit's
  limits (item 16).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from bot.domain.prompts import library
from bot.domain.wins import MAX_TEXT
from bot.fakeslack import FakeSlack, payloads
from bot.fakeslack.blockkit import validate_blocks
from bot.runtime.settings import Settings
from bot.store import Keys
from bot.surfaces import texts
from bot.surfaces.coach_blocks import ACTION_HISTORY_MENU
from bot.surfaces.home import FIELD_PROMPT, VIEW_PROMPTS, prompts_modal
from bot.surfaces.nudge_blocks import ACTION_NUDGE_LOG, ACTION_NUDGE_REFLECT, ACTION_NUDGE_SNOOZE
from tests.conftest import BOT_TOKEN, TEAM, Clock, serve_app
from tests.driver import Response, SlackDriver, visible_text
from tests.redis_server import free_port
from tests.reliability.conftest import LogCapture
from tests.test_coach import choose
from tests.test_nudges import FRI_15_BERLIN, click_dm, enrol, nudges
from tests.test_nudges import tick as run_tick

ME = "U0ALICE"
EMOJI_PROMPT = "🚀" * 280  # the longest custom prompt: 3,360 characters once JSON-escaped


def answer(text: str) -> dict[str, Any]:
    return {"answer": {"value": {"type": "plain_text_input", "value": text}}}


def win_values(text: str) -> dict[str, Any]:
    return {
        "text": {"value": {"type": "plain_text_input", "value": text}},
        "lane": {"value": {"type": "radio_buttons", "selected_option": {"value": "clarity"}}},
        "date": {"value": {"type": "datepicker", "selected_date": None}},
    }


def with_metadata(view: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """The view as a client that edited its private_metadata would submit it."""
    return {**view, "private_metadata": json.dumps(metadata)}


def nudged(slack: SlackDriver, fake: FakeSlack) -> tuple[dict[str, Any], dict[str, Any]]:
    """An enrolled PM with one nudge: (the welcome DM, the nudge), both posted by the app."""
    enrol(slack)
    run_tick(slack, FRI_15_BERLIN)
    [nudge] = nudges(fake)
    welcome = next(m for m in fake.messages(ME) if m["ts"] != nudge["ts"])
    return welcome, nudge


def opened_view(fake: FakeSlack, count: int) -> dict[str, Any]:
    """The view of the `count`-th views.open, which Slack accepted."""
    call = fake.wait_for("views.open", count=count)[count - 1]
    assert call.response.get("ok"), call.response
    return dict(call.args["view"])


# Item 12: the app updates only the message it recorded ------------------------------------


def test_a_reflect_form_naming_another_message_updates_only_the_recorded_nudge(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """Metadata naming the welcome DM (any bot message) updates nothing; metadata naming the
    nudge's ts in another channel updates the nudge where it really is."""
    welcome, nudge = nudged(slack, fake)
    click_dm(slack, nudge, ACTION_NUDGE_REFLECT)
    view = opened_view(fake, 1)
    fake.clear_calls()
    elsewhere = {"channel": welcome["channel"], "ts": welcome["ts"], "prompt": "x"}
    assert slack.submit(with_metadata(view, elsewhere), answer("First")).status == 200
    assert fake.calls_to("chat.update") == []  # the driver waited for the work after the ack
    assert len(slack.store.profiles.reflections(TEAM, ME)) == 1
    redirected = {"channel": "C0GENERAL", "ts": nudge["ts"]}
    assert slack.submit(with_metadata(view, redirected), answer("Second")).status == 200
    [update] = fake.calls_to("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (nudge["channel"], nudge["ts"])
    assert [m["text"] for m in fake.messages(ME) if m["ts"] == welcome["ts"]] == [welcome["text"]]


def test_a_win_form_naming_another_message_updates_nothing(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """The nudge's win form, its metadata pointed at the welcome DM: the win is logged, and no
    message is updated."""
    welcome, nudge = nudged(slack, fake)
    click_dm(slack, nudge, ACTION_NUDGE_LOG)
    view = opened_view(fake, 1)
    fake.clear_calls()
    forged = {"origin": "nudge", "channel": welcome["channel"], "ts": welcome["ts"]}
    assert slack.submit(with_metadata(view, forged), win_values("Framed Q1")).status == 200
    assert "Framed Q1" in [w.text for w in slack.store.wins.user_wins(TEAM, ME)]
    assert fake.calls_to("chat.update") == []


def test_a_button_click_naming_another_message_updates_nothing(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """Snooze on a payload whose message ts is the welcome DM's: snoozed, nothing updated."""
    welcome, nudge = nudged(slack, fake)
    fake.clear_calls()
    assert click_dm(slack, {**nudge, "ts": welcome["ts"]}, ACTION_NUDGE_SNOOZE).status == 200
    assert slack.store.profiles.profile(TEAM, ME).get("snooze_at")
    assert fake.calls_to("chat.update") == []


# Item 13: response_url only on Slack's hooks (or the fake's origin) -------------------------


@pytest.fixture(name="elsewhere")
def _elsewhere() -> Iterator[FakeSlack]:
    """Another loopback server, standing in for an internal service a client might name."""
    with FakeSlack(team_id=TEAM, bot_token=BOT_TOKEN) as other:
        yield other


def test_an_edited_forms_response_url_elsewhere_is_never_called(
    slack: SlackDriver, fake: FakeSlack, elsewhere: FakeSlack, logs: LogCapture
) -> None:
    """Editing a win from /coach history: a response_url in the form's metadata pointing at
    another server gets no POST (the PM's history stays here); the genuine one does."""
    slack.command("/win", "clarity Thing 1")
    reply = slack.command("/coach", "history")
    win = slack.store.wins.user_wins(TEAM, ME)[0]
    choose(slack, reply, ACTION_HISTORY_MENU, f"edit:{win.id}")
    view = opened_view(fake, 1)
    genuine = json.loads(view["private_metadata"])
    target = elsewhere.response_url("internal-admin")
    forged = with_metadata(view, {**genuine, "response_url": target})
    assert slack.submit(forged, win_values("Thing 1, edited")).status == 200
    assert slack.store.wins.get_win(TEAM, ME, win.id).text == "Thing 1, edited"  # type: ignore[union-attr]
    assert elsewhere.calls == []
    assert logs.events("response_url_refused") and target not in logs.text
    # Control: the genuine metadata refreshes the history message through the fake's hook.
    hooked = len(fake.calls_to("response_url"))
    assert slack.submit(view, win_values("Thing 1, again")).status == 200
    assert len(fake.calls_to("response_url")) == hooked + 1


@pytest.mark.parametrize(
    "where",
    [
        "elsewhere",  # another loopback port (http://127.0.0.1:<p>/internal/admin)
        "api",  # the API origin, but its Web API: <SLACK_API_BASE_URL>chat.postMessage
        "https://hooks.slack.com.attacker.invalid/x",
        "http://hooks.slack.com/commands/x",
    ],
)
def test_a_commands_response_url_elsewhere_is_never_called(
    slack: SlackDriver, fake: FakeSlack, elsewhere: FakeSlack, logs: LogCapture, where: str
) -> None:
    """`/coach export` answers through the response_url after the upload: with a url outside
    Slack's hooks and the API origin's non-API paths, the export still arrives, nothing is
    POSTed (nor sent as a Web API call)."""
    slack.command("/win", "clarity Framed the bet")
    url = {
        "elsewhere": elsewhere.response_url("internal-admin"),
        "api": f"{fake.api_base_url}chat.postMessage",
    }.get(where, where)
    body, content_type = payloads.slash_command(
        "/coach",
        "export",
        team_id=TEAM,
        user_id=ME,
        channel_id="C0GENERAL",
        response_url=url,
    )
    fake.clear_calls()
    assert slack.post(body, content_type).status == 200
    fake.wait_for("files.completeUploadExternal")
    assert elsewhere.calls == [] and fake.calls_to("response_url") == []
    assert fake.calls_to("chat.postMessage") == []
    assert logs.events("response_url_refused") and url not in logs.text


# Item 15: a 280-emoji custom prompt through every form ------------------------------------


def add_emoji_prompt(slack: SlackDriver, rds: redis.Redis) -> None:
    """Add the prompt through the Home's prompts form, and let every built-in prompt count as
    shown this cycle, so the next nudge asks the PM's own prompt."""
    enrol(slack)
    form = prompts_modal([], len(library()))
    values = {FIELD_PROMPT: {"value": {"type": "plain_text_input", "value": EMOJI_PROMPT}}}
    assert slack.submit(form, values).status == 200
    assert form["callback_id"] == VIEW_PROMPTS
    assert slack.store.profiles.custom_prompts(TEAM, ME) == [(1, EMOJI_PROMPT)]
    rds.sadd(Keys.shown(TEAM, ME), *(p.id for p in library()))


def test_a_280_emoji_prompt_opens_every_form_and_is_kept_whole(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """The nudge's Reflect and Log buttons and `/reflect` all open their forms (Slack accepts
    the metadata), and both reflections keep the whole prompt."""
    add_emoji_prompt(slack, rds)
    run_tick(slack, FRI_15_BERLIN)
    [nudge] = nudges(fake)
    assert slack.store.nudges.nudge_record(TEAM, ME)["prompt"] == EMOJI_PROMPT
    click_dm(slack, nudge, ACTION_NUDGE_REFLECT)
    reflect = opened_view(fake, 1)
    assert EMOJI_PROMPT in visible_text(reflect)
    assert slack.submit(reflect, answer("From the button")).status == 200
    fake.wait_for("chat.update")
    click_dm(slack, nudge, ACTION_NUDGE_LOG)
    opened_view(fake, 2)
    assert slack.command("/reflect", "").status == 200
    command_form = opened_view(fake, 3)
    assert slack.submit(command_form, answer("From the command")).status == 200
    saved = {r["text"]: r["prompt"] for r in slack.store.profiles.reflections(TEAM, ME)}
    assert saved == {"From the button": EMOJI_PROMPT, "From the command": EMOJI_PROMPT}


# Item 16: a too-long /reflect, Redis down --------------------------------------------------


@pytest.fixture(name="down")
def _down(settings: Settings, fake: FakeSlack, clock: Clock) -> Iterator[SlackDriver]:
    """The app with Redis unreachable (nothing listens on its port)."""
    from bot.store import connect

    client = connect(f"redis://127.0.0.1:{free_port()}/0")
    with serve_app(settings, client, fake, clock) as driver:
        yield driver


def blocks_ok(reply: Response) -> list[str]:
    return validate_blocks(reply.json.get("blocks"))


@pytest.mark.parametrize("size", [MAX_TEXT + 1, 40_000])
def test_a_too_long_reflection_is_answered_by_its_length_with_redis_down(
    down: SlackDriver, logs: LogCapture, size: int
) -> None:
    """Too long is said before Redis is asked (no store_unavailable), and the text that comes
    back fits Slack's 50 blocks and section limits."""
    reply = down.command("/reflect", "x" * size)
    assert reply.status == 200
    assert texts.REFLECT_TOO_LONG in reply.text
    assert blocks_ok(reply) == []
    assert logs.events("store_unavailable") == []


def test_a_long_reflection_not_saved_with_redis_down_fits_block_kit(down: SlackDriver) -> None:
    """Within the length limit, Redis down: the not-saved reply hands the text back in valid
    blocks."""
    reply = down.command("/reflect", "&<>" * (MAX_TEXT // 3))
    assert reply.status == 200 and texts.REFLECTION_NOT_SAVED.split("\n")[0][:20] in reply.text
    assert blocks_ok(reply) == []
