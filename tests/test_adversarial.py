"""Adversarial pass over `/win`, `/coach` and the App Home: hostile text, odd spellings, forged
values, double clicks, newcomers, two teams, and Redis down — through the real app and the fake
Slack. Known bugs stay here as strict xfails so they flip to a failure once fixed."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from bot.domain.wins import Lane
from bot.fakeslack import FakeSlack, payloads, validate_blocks, validate_view
from bot.runtime.settings import Settings
from bot.store import connect
from bot.surfaces import texts
from bot.surfaces.blocks import (
    ACTION_PICK_CLARITY,
    ACTION_PICK_SHIPPED,
    ACTION_UNDO,
    FIELD_BENEFICIARY,
    FIELD_DATE,
    FIELD_LANE,
    FIELD_LINK,
    FIELD_TEXT,
)
from bot.surfaces.coach_blocks import ACTION_FORGET, ACTION_HISTORY_MENU
from bot.surfaces.home import (
    ACTION_HOME_LOG,
    ACTION_HOME_PROMPTS,
    ACTION_HOME_SETTINGS,
    ACTION_PROMPT_REMOVE,
)
from tests.conftest import TEAM, Clock, serve_app
from tests.driver import Response, SlackDriver, told, visible_text
from tests.redis_server import free_port

TEAM_B = "T0TEAMB"
# A special mention, channel or user link that Slack would render live.
LIVE = re.compile(r"<[!@#]")

HOSTILE = [
    "<!channel> please read",
    "<!here> & <!everyone> &amp; &lt;",
    "Told <@U0BOB> in <#C0GENERAL|general> about <https://x.example|y>",
    "ctrl \x01\x07\x1b[31mred\x7f and nul \x00 end",
    "rtl \u202eevil\u202c and \u200f marks \u200e",
    "zwj 👩\u200d👩\u200d👧\u200d👦 family 🏳️\u200d🌈 flag 👍🏽",
    "lua ]] .. redis.call('FLUSHALL') -- [[",
    '{"text": "json", "lane": "shipped", "id": "x"} \\u0000',
    "*bold* _it_ ~s~ `code` ```block``` > quote\n> more",
    "tab\tseparated\ttext",
    "multi\nline\n\ntext",
    "{text} {0} %s %(x)s {{}}",
]


# Helpers -------------------------------------------------------------------------------------


def wins_of(slack: SlackDriver, user: str = "U0ALICE", team: str = TEAM) -> list[Any]:
    return slack.store.wins.user_wins(team, user)


def live_mentions(obj: Any) -> list[str]:
    """Strings that Slack would render as a live mention or link (input values are inert)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in ("initial_value", "private_metadata"):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str) and LIVE.search(node):
            found.append(node[:120])

    walk(obj)
    return found


def failed_calls(fake: FakeSlack, allow: tuple[str, ...] = ()) -> list[tuple[str, int, Any]]:
    return [
        (c.method, c.status, c.response)
        for c in fake.calls
        if c.method not in allow and (c.status >= 400 or c.response.get("ok") is False)
    ]


def settle(seconds: float = 0.3) -> None:
    """Let listeners that already acked finish their follow-up calls."""
    time.sleep(seconds)


def assert_clean(fake: FakeSlack, *replies: Response, allow: tuple[str, ...] = ()) -> None:
    """No 5xx, valid Block Kit in every reply, no failed Slack call, no live mention anywhere."""
    settle()
    for reply in replies:
        assert reply.status == 200, (reply.status, reply.body[:300])
        body = reply.json
        if "blocks" in body:
            assert validate_blocks(body["blocks"]) == [], body
        if isinstance(body.get("view"), dict):
            assert validate_view(body["view"]) == [], body
        assert live_mentions(body) == [], body
    for call in fake.calls_to("response_url"):
        if "blocks" in call.args:
            assert validate_blocks(call.args["blocks"]) == [], call.args
    assert failed_calls(fake, allow) == []
    for call in fake.calls:
        assert live_mentions(call.args) == [], (call.method, call.args)


def form(
    text: Any,
    lane: Any = "clarity",
    day: Any = "2026-11-25",
    link: Any = None,
    beneficiary: Any = None,
) -> dict[str, Any]:
    option = {"value": lane} if lane is not None else None
    return {
        FIELD_TEXT: {"value": {"type": "plain_text_input", "value": text}},
        FIELD_LANE: {"value": {"type": "radio_buttons", "selected_option": option}},
        FIELD_DATE: {"value": {"type": "datepicker", "selected_date": day}},
        FIELD_LINK: {"value": {"type": "url_text_input", "value": link}},
        FIELD_BENEFICIARY: {"value": {"type": "plain_text_input", "value": beneficiary}},
    }


def open_win_modal(slack: SlackDriver, fake: FakeSlack, user: str = "U0ALICE") -> dict[str, Any]:
    before = len(fake.calls_to("views.open"))
    assert slack.command("/win", "", user=user).status == 200
    return fake.wait_for("views.open", count=before + 1)[-1].args["view"]


def log_via_modal(slack: SlackDriver, fake: FakeSlack, values: dict[str, Any]) -> Response:
    return slack.submit(open_win_modal(slack, fake), values)


def overflow(
    slack: SlackDriver,
    value: str,
    *,
    user: str = "U0ALICE",
    view: dict[str, Any] | None = None,
) -> Response:
    """Pick an option of a win's overflow menu (in a message, or in the Home when `view`)."""
    action = {
        "type": "overflow",
        "action_id": ACTION_HISTORY_MENU,
        "block_id": "b",
        "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": value},
        "action_ts": "1.1",
    }
    if view is not None:
        body, content_type = payloads.block_actions(
            [action], team_id=slack.team_id, user_id=user, view=view
        )
        return slack.post(body, content_type)
    hook = f"menu-{time.monotonic_ns()}"
    url = slack.fake.response_url(hook)
    body, content_type = payloads.block_actions(
        [action],
        team_id=slack.team_id,
        user_id=user,
        response_url=url,
        channel_id="C0GENERAL",
        is_ephemeral=True,
    )
    response = slack.post(body, content_type)
    response.response_url, response.hook = url, hook
    return response


def button_message(action_id: str, value: str) -> dict[str, Any]:
    """An ephemeral message with one button carrying a (possibly forged) value."""
    return {
        "text": "x",
        "blocks": [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": action_id,
                        "value": value,
                        "text": {"type": "plain_text", "text": "x"},
                    }
                ],
            }
        ],
    }


def open_home(slack: SlackDriver, fake: FakeSlack, user: str = "U0ALICE") -> dict[str, Any]:
    before = len(fake.calls_to("views.publish"))
    event = {"type": "app_home_opened", "user": user, "tab": "home", "event_ts": "1.1"}
    assert slack.event(event).status == 200
    return fake.wait_for("views.publish", count=before + 1)[-1].args["view"]


def user_keys(rds: redis.Redis, user: str, team: str = TEAM) -> list[str]:
    return [str(k) for k in rds.scan_iter(f"*{{{team}:{user}}}*")]


def other_team(slack: SlackDriver, team_id: str = TEAM_B) -> SlackDriver:
    """The same running app, driven as Slack does for a second workspace."""
    return SlackDriver(
        base_url=slack.base_url,
        secret=slack.secret,
        fake=slack.fake,
        team_id=team_id,
        store=slack.store,
        coach=slack.coach,
        settle=slack.settle,  # the same app's executors: wait for its after-ack work too
    )


@pytest.fixture(name="down")
def _down(settings: Settings, fake: FakeSlack, clock: Clock) -> Iterator[SlackDriver]:
    """The app with Redis unreachable (nothing listens on its port)."""
    client = connect(f"redis://127.0.0.1:{free_port()}/0")
    with serve_app(settings, client, fake, clock) as driver:
        yield driver


# /win: hostile text --------------------------------------------------------------------------


def test_hostile_texts_are_stored_exactly_and_escaped_with_a_lane(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """Every hostile text with a lane is stored byte for byte and comes back inert."""
    replies = []
    for text in HOSTILE:
        reply = slack.command("/win", "shipped " + text)
        assert "Logged a *shipped* win" in reply.text, (text, reply.json)
        replies.append(reply)
    assert sorted(w.text for w in wins_of(slack)) == sorted(HOSTILE)
    assert "&lt;!channel&gt; please read" in replies[0].text
    assert "&lt;!here&gt; &amp; &lt;!everyone&gt; &amp;amp; &amp;lt;" in replies[1].text
    assert_clean(fake, *replies)


def test_hostile_texts_through_the_lane_question(slack: SlackDriver, fake: FakeSlack) -> None:
    """Without a lane the question quotes the text inertly, and the click stores it exactly."""
    replies = []
    for text in HOSTILE:
        question = slack.command("/win", text)
        assert "Which lane" in question.text, text
        click = slack.click(question, ACTION_PICK_CLARITY)
        [posted] = slack.hook_posts(click)
        assert "Logged a *clarity* win" in visible_text(posted), text
        replies += [question, click]
    assert sorted(w.text for w in wins_of(slack)) == sorted(HOSTILE)
    assert {w.lane for w in wins_of(slack)} == {Lane.CLARITY}
    assert_clean(fake, *replies)


def test_hostile_texts_through_the_modal_history_home_and_export(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """Modal text and beneficiary are kept exactly; history, Home and export stay inert."""
    for i, text in enumerate(HOSTILE[:6]):
        done = log_via_modal(
            slack,
            fake,
            form(
                text,
                "clarity" if i % 2 else "shipped",
                link="https://x.example/a?b=1&c=<2>"[: 23 if i % 2 else 26],
                beneficiary="<!here> & <@U0BOB>",
            ),
        )
        assert done.json.get("response_action") == "update", done.json
    stored = wins_of(slack)
    assert sorted(w.text for w in stored) == sorted(HOSTILE[:6])
    assert {w.beneficiary for w in stored} == {"<!here> & <@U0BOB>"}
    history = slack.command("/coach", "history 20")
    assert "&lt;!here&gt; &amp; &lt;@U0BOB&gt;" in history.text
    home = open_home(slack, fake)
    assert len(home["blocks"]) <= 100
    export = slack.command("/coach", "export")
    assert "in our DM: 6 wins" in slack.hook_posts(export)[0]["text"]
    content = fake.files("U0ALICE")[-1]["content"].decode()
    assert "<!channel> please read" in content
    assert_clean(fake, history, export)


def test_text_of_3000_ampersands_is_stored_and_every_surface_fits(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """A 3,000-character text of `&` (15,000 once escaped) is stored and renders within limits."""
    text = "&" * 3000
    reply = slack.command("/win", "clarity " + text)
    assert "Logged a *clarity* win" in reply.text
    question = slack.command("/win", text)
    assert "Which lane" in question.text
    [win] = wins_of(slack)
    assert win.text == text
    history = slack.command("/coach", "history")
    undo = slack.command("/coach", "undo")
    assert "Removed" in undo.text
    slack.command("/win", "shipped " + text)
    home = open_home(slack, fake)
    assert validate_view(home) == []
    assert_clean(fake, reply, question, history, undo)


def test_confirmation_of_an_ampersand_text_quotes_some_of_it(slack: SlackDriver) -> None:
    """The confirmation of a long `&` text shows at least part of what was logged."""
    reply = slack.command("/win", "clarity " + "&" * 3000)
    headline = reply.json["blocks"][0]["text"]["text"]
    assert "&amp;" in headline, headline


def test_limits_just_under_and_just_over(slack: SlackDriver, fake: FakeSlack) -> None:
    """3,000 characters (also of emoji) are accepted; 3,001 are refused everywhere, unsaved."""
    at_limit = slack.command("/win", "shipped " + "x" * 3000)
    emoji = "👩\u200d👩\u200d👧\u200d👦" * 428 + "👍👍👍👍"  # 3,000 code points
    emoji_reply = slack.command("/win", "clarity " + emoji)
    assert "Logged" in at_limit.text and "Logged" in emoji_reply.text
    assert sorted(len(w.text) for w in wins_of(slack)) == [3000, 3000]
    over = "y" * 3001
    refusals = [
        slack.command("/win", "clarity " + over),
        slack.command("/win", over),
        slack.command("/win", "c " + "&" * 3001),
    ]
    for refused in refusals:
        assert "limit is 3,000" in refused.text and "Logged" not in refused.text
    modal = log_via_modal(slack, fake, form(over))
    assert modal.json["response_action"] == "errors" and FIELD_TEXT in modal.json["errors"]
    beneficiary = log_via_modal(slack, fake, form("ok", beneficiary="b" * 201))
    assert FIELD_BENEFICIARY in beneficiary.json["errors"]
    link = log_via_modal(slack, fake, form("ok", link="https://x.example/" + "a" * 1990))
    assert FIELD_LINK in link.json["errors"]
    assert len(wins_of(slack)) == 2
    assert not list(slack.store.redis.scan_iter("*:draft:*"))
    assert_clean(fake, at_limit, emoji_reply, *refusals, modal, beneficiary, link)


def test_blank_newline_and_tab_only_texts(slack: SlackDriver, fake: FakeSlack) -> None:
    """Whitespace-only text never becomes a win: with a lane it is refused, without one the
    form opens."""
    for raw in ("clarity \n\n", "shipped\t\t", "c \r\n \t"):
        reply = slack.command("/win", raw)
        assert "Add a few words after the lane" in reply.text, raw
    opened = slack.command("/win", "\n\n\t ")
    assert opened.status == 200
    fake.wait_for("views.open")
    modal = slack.submit(fake.calls_to("views.open")[0].args["view"], form("\n\t \n"))
    assert modal.json["response_action"] == "errors"
    assert wins_of(slack) == []
    assert_clean(fake, opened)


def test_invisible_only_text_is_refused(slack: SlackDriver) -> None:
    """Text made only of zero-width and direction marks is as blank as spaces: never logged."""
    reply = slack.command("/win", "clarity \u200b\u200d\u2060\ufeff\u200f")
    assert "Logged" not in reply.text
    assert wins_of(slack) == []


def test_odd_lane_spellings(slack: SlackDriver) -> None:
    """Case, a trailing colon and a tab separator pick the lane; look-alikes do not."""
    for raw, lane, text in [
        ("CLARITY: Framed it", Lane.CLARITY, "Framed it"),
        ("Shipped:\tLaunched it", Lane.SHIPPED, "Launched it"),
        ("S\nFixed it", Lane.SHIPPED, "Fixed it"),
        (":COMPASS: Aligned", Lane.CLARITY, "Aligned"),
    ]:
        assert "Logged" in slack.command("/win", raw).text, raw
        assert (lane, text) in {(w.lane, w.text) for w in wins_of(slack)}
    for raw in ("shipping it", "clarityx", "::rocket:: go", "c: "):
        reply = slack.command("/win", raw)
        assert "Logged" not in reply.text, raw
    assert len(wins_of(slack)) == 4


# /win: clicks, double clicks, forged values ---------------------------------------------------


def test_concurrent_double_click_on_both_lanes_logs_once(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """Clicking both lane buttons at the same instant logs exactly one win."""
    question = slack.command("/win", "Aligned design and eng on scope")
    with ThreadPoolExecutor(max_workers=4) as pool:
        clicks = list(
            pool.map(
                lambda a: slack.click(question, a),
                [
                    ACTION_PICK_CLARITY,
                    ACTION_PICK_SHIPPED,
                    ACTION_PICK_CLARITY,
                    ACTION_PICK_SHIPPED,
                ],
            )
        )
    texts = [visible_text(slack.hook_posts(c)[0]) for c in clicks]
    assert len(wins_of(slack)) == 1
    assert sum("already in your log" not in t for t in texts) == 1, texts
    assert all("Logged" in t for t in texts)
    weeks = slack.store.redis.hgetall(f"pmc:v1:{{{TEAM}:U0ALICE}}:weeks")
    assert sum(int(v) for v in weeks.values()) == 1
    assert len(slack.store.recaps.team_week_entries(TEAM, "2026-W48")) == 1
    assert_clean(fake, question, *clicks)


def test_concurrent_double_undo_removes_once(slack: SlackDriver, fake: FakeSlack) -> None:
    """Two simultaneous Undo clicks remove the win once and leave counts consistent."""
    slack.command("/win", "shipped Keep me")
    reply = slack.command("/win", "clarity Drop me")
    with ThreadPoolExecutor(max_workers=3) as pool:
        clicks = list(pool.map(lambda _: slack.click(reply, ACTION_UNDO), range(3)))
    texts = [visible_text(slack.hook_posts(c)[0]) for c in clicks]
    assert sum("Removed" in t for t in texts) == 1, texts
    assert [w.text for w in wins_of(slack)] == ["Keep me"]
    assert slack.store.redis.hgetall(f"pmc:v1:{{{TEAM}:U0ALICE}}:weeks") == {"2026-W48:s": "1"}
    assert_clean(fake, *clicks)


def test_concurrent_double_submit_of_the_modal_logs_once(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """The same modal submitted three times at once stores one win."""
    view = open_win_modal(slack, fake)
    values = form("Cut the v2 scope", "clarity")
    with ThreadPoolExecutor(max_workers=3) as pool:
        replies = list(pool.map(lambda _: slack.submit(view, values, view_id="V0SAME"), range(3)))
    assert len(wins_of(slack)) == 1
    assert all(r.json["response_action"] == "update" for r in replies)
    assert_clean(fake, *replies)


def test_undo_with_someone_elses_win_id_removes_nothing(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """Bob clicking an Undo that carries Alice's win id leaves Alice's win alone."""
    alice = slack.command("/win", "clarity Alice's win")
    [win] = wins_of(slack)
    forged = slack.click(button_message(ACTION_UNDO, win.id), ACTION_UNDO, user="U0BOB")
    assert "already removed" in visible_text(slack.hook_posts(forged)[0])
    assert [w.text for w in wins_of(slack)] == ["Alice's win"]
    assert user_keys(rds, "U0BOB") == []
    assert_clean(fake, alice, forged)


@pytest.mark.parametrize(
    "value",
    ["", "*", "../wins", "{T0TEAM:U0ALICE}", "x" * 2000, "0" * 16, "\u202e\x00"],
)
def test_forged_undo_and_lane_values_change_nothing(
    slack: SlackDriver, fake: FakeSlack, value: str
) -> None:
    """Garbage in a button value is answered calmly and neither deletes nor logs anything."""
    slack.command("/win", "clarity Stay")
    undo = slack.click(button_message(ACTION_UNDO, value), ACTION_UNDO)
    assert "already removed" in visible_text(slack.hook_posts(undo)[0])
    pick = slack.click(button_message(ACTION_PICK_SHIPPED, value), ACTION_PICK_SHIPPED)
    assert "expired" in visible_text(slack.hook_posts(pick)[0])
    assert [w.text for w in wins_of(slack)] == ["Stay"]
    assert_clean(fake, undo, pick)


def test_someone_elses_lane_question_logs_nothing(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """A lane click by another user on Alice's question neither logs for Bob nor for Alice."""
    question = slack.command("/win", "Framed the pricing problem")
    click = slack.click(question, ACTION_PICK_CLARITY, user="U0BOB")
    assert "expired" in visible_text(slack.hook_posts(click)[0])
    assert wins_of(slack) == [] and wins_of(slack, "U0BOB") == []
    assert user_keys(rds, "U0BOB") == []
    # Alice's own click still works afterwards.
    mine = slack.click(question, ACTION_PICK_CLARITY)
    assert "Logged" in visible_text(slack.hook_posts(mine)[0])
    assert_clean(fake, question, click, mine)


def test_redelivery_after_undo_never_claims_logged(slack: SlackDriver) -> None:
    """A redelivered `/win` whose win was undone meanwhile must not tell the PM it is logged."""
    first = slack.command("/win", "clarity Framed it", trigger_id="trig-redo")
    undo = slack.click(first, ACTION_UNDO)
    assert "Removed" in visible_text(slack.hook_posts(undo)[0])
    again = slack.command("/win", "clarity Framed it", trigger_id="trig-redo")
    assert wins_of(slack) == []
    assert "Logged" not in again.text, again.text
    assert slack.store.recaps.team_week_entries(TEAM, "2026-W48") == []


def test_malformed_modal_submissions_store_nothing(slack: SlackDriver, fake: FakeSlack) -> None:
    """Wrong types and impossible values in a submission are errors under a field, never a 5xx."""
    view = open_win_modal(slack, fake)
    cases = [
        form(123),
        form(["a", "b"]),
        form({"text": "x"}),
        form("ok", lane=["clarity"]),
        form("ok", lane="CLARITY"),
        form("ok", day="2026-13-45"),
        form("ok", day=20261125),
        form("ok", link="https://x.example/<!channel>"),
        form("ok", link="https://x.example/a|b"),
        form("ok", link=["https://x.example"]),
        form("ok", link="ftp://x.example/file"),
        form("ok", beneficiary=5),
        {FIELD_TEXT: {"value": None}, FIELD_LANE: {"value": {"selected_option": "clarity"}}},
    ]
    replies = []
    for values in cases:
        reply = slack.submit(view, values)
        assert reply.status == 200, values
        assert reply.json.get("response_action") == "errors", (values, reply.json)
        assert all(len(m) <= 150 for m in reply.json["errors"].values())
        replies.append(reply)
    assert wins_of(slack) == []
    assert_clean(fake, *replies)


def test_submission_with_non_dict_state_blocks_is_an_error(slack: SlackDriver) -> None:
    """A submission whose state blocks are not objects is refused as a broken form, not a 500."""
    view = {"type": "modal", "callback_id": "win_modal", "blocks": []}
    reply = slack.submit(view, {FIELD_TEXT: "not a dict", FIELD_LANE: [1, 2]})
    assert reply.status == 200
    assert reply.json.get("response_action") == "errors"


# /coach: odd spellings and hostile arguments -------------------------------------------------


def test_odd_coach_spellings_are_understood(slack: SlackDriver, fake: FakeSlack) -> None:
    """Case and extra spaces do not matter; out-of-range values are refused with nothing saved."""
    slack.command("/win", "clarity Framed the bet")
    cases = [
        ("HISTORY 5", "Your latest 1 win"),
        ("  stats  ", "Where you stand"),
        ("Stats", "Where you stand"),
        ("target 40 %", "now *40%*"),
        ("TARGET  35%", "now *35%*"),
        ("pause 0w", "from 1 to 12"),
        ("pause 13 weeks", "from 1 to 12"),
        ("pause -1", "from 1 to 12"),
        ("Share ON", "may now appear"),
        ("share  off ", "stay private"),
        ("timezone  Asia/Tokyo ", "now *Asia/Tokyo*"),
        ("TZ AUTO", "Following your Slack time zone again"),
        ("Prompts", "built-in prompts"),
        ("HELP", "/coach stats"),
        ("?", "/coach stats"),
        ("Forget-Me", "cannot be undone"),
        ("history 0", "from 1 to 20"),
        ("history 21", "from 1 to 20"),
        ("history -1", "from 1 to 20"),
        ("history 5 please", "from 1 to 20"),
    ]
    replies = []
    for raw, expected in cases:
        reply = slack.command("/coach", raw)
        assert expected in told(fake, reply), (raw, told(fake, reply))  # tz auto: a follow-up
        replies.append(reply)
    profile = slack.store.profiles.profile(TEAM, "U0ALICE")
    assert profile["target"] == "35" and profile["share"] == "0"
    assert profile["tz"] == "Europe/Berlin" and profile["tz_source"] == "slack"
    assert slack.store.redis.smembers(f"pmc:v1:{{{TEAM}:U0ALICE}}:paused") == set()
    assert_clean(fake, *replies)


def test_export_odd_ranges(slack: SlackDriver, fake: FakeSlack) -> None:
    """Export accepts loose spellings and refuses impossible ranges without echoing input."""
    slack.command("/win", "clarity Framed the bet")
    good = [
        ("export LAST Quarter", "Q3 2026"),
        ("export   this   YEAR ", "2026"),
        ("export 2026-11-01 .. 2026-11-25", "2026-11-01 to 2026-11-25"),
        ("export 2026-11-01 TO 2026-11-30", "2026-11-01 to 2026-11-30"),
    ]
    replies = []
    for raw, label in good:
        reply = slack.command("/coach", raw)
        assert f"brag document for {label}" in reply.text, (raw, reply.text)
        slack.hook_posts(reply)
        replies.append(reply)
    bad = [
        ("export 2026-02-30..2026-03-01", "Try `/coach export`"),
        ("export 2026-11-25..2026-11-01", "before its start"),
        ("export 2027-01-01..2027-02-01", "in the future"),
        ("export <!channel>", "Try `/coach export`"),
        ("export " + "&" * 3000, "Try `/coach export`"),
        ("export next month", "Try `/coach export`"),
    ]
    for raw, expected in bad:
        reply = slack.command("/coach", raw)
        assert expected in reply.text, (raw, reply.text)
        replies.append(reply)
    assert len(fake.files("U0ALICE")) == len(good)
    assert_clean(fake, *replies)


def test_export_of_the_earliest_dates_is_answered(slack: SlackDriver) -> None:
    """`/coach export 0001-01-01..0001-01-31` gets an answer, not a server error."""
    reply = slack.command("/coach", "export 0001-01-01..0001-01-31")
    assert reply.status == 200
    assert reply.text


def test_superscript_digits_in_counts_are_refused_kindly(slack: SlackDriver) -> None:
    """`/coach history ²` and `/coach prompts remove ²` are refused with a hint, not a 500."""
    history = slack.command("/coach", "history ²")
    remove = slack.command("/coach", "prompts remove ²")
    assert history.status == 200 and "from 1 to 20" in history.text
    assert remove.status == 200 and "by its number" in remove.text


def test_overlong_timezone_is_refused_kindly(slack: SlackDriver) -> None:
    """A zone name with a 300-character part is refused as unknown, not answered with a 500."""
    slack.command("/win", "shipped Set up")  # settings are a PM's: a win enrols first
    reply = slack.command("/coach", "timezone Europe/" + "A" * 300)
    assert reply.status == 200
    assert "don't know the time zone" in reply.text
    assert slack.store.profiles.profile_tz(TEAM, "U0ALICE") == "Europe/Berlin"


def test_lowercase_utc_is_accepted(slack: SlackDriver) -> None:
    """`/coach timezone utc` sets UTC, as `UTC` does."""
    slack.command("/win", "shipped Set up")  # settings are a PM's: a win enrols first
    reply = slack.command("/coach", "timezone utc")
    assert "now *UTC*" in reply.text, reply.text
    assert slack.store.profiles.profile_tz(TEAM, "U0ALICE") == "UTC"


def test_coach_accepts_any_whitespace_separator(slack: SlackDriver) -> None:
    """`/coach history<TAB>5`, like `/win`, treats any whitespace as the separator."""
    slack.command("/win", "clarity One")
    assert "Your latest 1 win" in slack.command("/coach", "history\t5").text
    assert "Added prompt 1" in slack.command("/coach", "prompts add\nWho did I unblock?").text


def test_unknown_subcommand_echo_is_escaped_and_bounded(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """Whatever follows `/coach` is echoed escaped and clipped, never live, always valid."""
    replies = [slack.command("/coach", text) for text in [*HOSTILE, "&" * 3000, "\x00"]]
    for reply in replies:
        assert "I didn't understand" in reply.text
    assert "&lt;!channel&gt;" in replies[0].text
    assert_clean(fake, *replies)


def test_hostile_prompts_fill_up_and_stay_inert(slack: SlackDriver, fake: FakeSlack) -> None:
    """Twenty 280-character `<!here>&` prompts list and show in the modal within limits; the
    21st and a 281st character are refused."""
    prompt = ("<!here>&" * 35)[:280]
    slack.command("/win", "shipped Set up")  # prompts are a PM's settings: a win enrols first
    for i in range(20):
        assert f"Added prompt {i + 1}" in slack.command("/coach", f"prompts add {prompt}").text
    full = slack.command("/coach", f"prompts add {prompt}")
    assert "already have 20" in full.text
    long = slack.command("/coach", "prompts add " + "p" * 281)
    assert "under 280" in long.text
    listing = slack.command("/coach", "prompts")
    assert len(slack.store.profiles.custom_prompts(TEAM, "U0ALICE")) == 20
    assert {t for _, t in slack.store.profiles.custom_prompts(TEAM, "U0ALICE")} == {prompt}
    home = open_home(slack, fake)
    slack.click_in_view(home, ACTION_HOME_PROMPTS)
    modal = fake.wait_for("views.open")[-1]
    assert modal.response["ok"] is True
    removed = slack.command("/coach", "prompts remove 999999999999999999999999")
    assert "no prompt number" in removed.text
    assert_clean(fake, full, long, listing, removed)


# History, edit and delete --------------------------------------------------------------------


def test_edit_and_delete_races(slack: SlackDriver, fake: FakeSlack) -> None:
    """Editing a win deleted meanwhile says it is gone and resurrects nothing; deleting twice
    says so; Edit on a deleted win opens nothing."""
    slack.command("/win", "shipped Doomed")
    [win] = wins_of(slack)
    history = slack.command("/coach", "history")
    edit = overflow(slack, f"edit:{win.id}")
    assert edit.status == 200
    opened = fake.wait_for("views.open")[-1]
    first = overflow(slack, f"delete:{win.id}")
    second = overflow(slack, f"delete:{win.id}")
    assert "Deleted: Doomed" in visible_text(slack.hook_posts(first)[0])
    assert "already removed" in visible_text(slack.hook_posts(second)[0])
    saved = slack.submit(opened.args["view"], form("Doomed, reworded", "clarity"))
    assert saved.json["response_action"] == "update"
    assert "no longer exists" in visible_text(saved.json["view"])
    assert wins_of(slack) == []
    assert slack.store.redis.hgetall(f"pmc:v1:{{{TEAM}:U0ALICE}}:weeks") == {}
    assert slack.store.recaps.team_week_entries(TEAM, "2026-W48") == []
    opens = len(fake.calls_to("views.open"))
    assert overflow(slack, f"edit:{win.id}").status == 200
    settle()
    assert len(fake.calls_to("views.open")) == opens
    assert_clean(fake, history, edit, first, second, saved)


@pytest.mark.parametrize(
    "metadata",
    ["", "not json", "[]", '"str"', "null", '{"win": 5}', '{"win": {"id": 1}}', '{"win": ""}'],
)
def test_forged_edit_metadata_changes_nothing(
    slack: SlackDriver, fake: FakeSlack, metadata: str
) -> None:
    """An edit form with broken or foreign private_metadata edits no win and never 5xx."""
    slack.command("/win", "clarity Untouched")
    view = {
        "type": "modal",
        "callback_id": "win_edit",
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Edit win"},
        "blocks": [],
    }
    reply = slack.submit(view, form("Hijacked", "shipped"))
    assert reply.status == 200
    assert reply.json.get("response_action") in ("errors", "update"), reply.json
    assert "Hijacked" not in json.dumps(reply.json)
    assert [(w.text, w.lane) for w in wins_of(slack)] == [("Untouched", Lane.CLARITY)]
    assert_clean(fake, reply)


def test_edit_of_someone_elses_win_via_metadata_is_refused(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """Bob submitting an edit form whose metadata names Alice's win changes nothing of Alice's."""
    slack.command("/win", "clarity Alice's")
    [win] = wins_of(slack)
    view = {
        "type": "modal",
        "callback_id": "win_edit",
        "private_metadata": json.dumps({"win": win.id, "origin": "home", "response_url": ""}),
        "title": {"type": "plain_text", "text": "Edit win"},
        "blocks": [],
    }
    reply = slack.submit(view, form("Bob was here", "shipped"), user="U0BOB")
    assert "no longer exists" in visible_text(reply.json["view"])
    assert [w.text for w in wins_of(slack)] == ["Alice's"]
    assert wins_of(slack, "U0BOB") == []
    overflow(slack, f"delete:{win.id}", user="U0BOB")
    overflow(slack, f"edit:{win.id}", user="U0BOB")
    settle()
    assert [w.text for w in wins_of(slack)] == ["Alice's"]
    assert fake.calls_to("views.open") == []
    assert_clean(fake, reply)


def test_long_history_of_hostile_wins_fits_every_surface(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    """Sixty long escape-heavy wins over many weeks: history 20, Home, stats all within limits."""
    chunk = "<!channel> & <@U0BOB> — " * 120
    start = clock()
    for i in range(60):
        clock.advance(hours=-30)
        lane = "clarity" if i % 3 else "shipped"
        reply = slack.command("/win", f"{lane} {i} {chunk}"[:3000])
        assert "Logged" in reply.text
    clock.set(start)
    history = slack.command("/coach", "history 20")
    assert "Your latest 20 wins" in history.text
    assert len(history.json["blocks"]) <= 50
    stats = slack.command("/coach", "stats")
    assert "60 wins logged in all" in stats.text
    export = slack.command("/coach", "export this year")
    assert "60 wins" in slack.hook_posts(export)[0]["text"]
    home = open_home(slack, fake)
    assert len(home["blocks"]) <= 100
    delete_id = wins_of(slack)[-1].id
    deleted = overflow(slack, f"delete:{delete_id}")
    assert "Deleted" in visible_text(slack.hook_posts(deleted)[0])
    assert_clean(fake, history, stats, export, deleted)


def test_a_long_link_full_of_ampersands_does_not_break_home_or_history(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """A valid 1,999-character link with many `&` still leaves Home and history renderable."""
    link = ("https://x.example/?" + "a&" * 990)[:1999]
    done = log_via_modal(slack, fake, form("Shipped the tracking fix", "shipped", link=link))
    assert done.json["response_action"] == "update"
    assert wins_of(slack)[0].link == link
    history = slack.command("/coach", "history")
    open_home(slack, fake)
    problems = validate_blocks(history.json["blocks"]) + failed_calls(fake)
    assert problems == []


def test_editing_a_hostile_max_length_win_round_trips(slack: SlackDriver, fake: FakeSlack) -> None:
    """The edit form of a 3,000-character hostile win opens valid and saving it unchanged keeps
    text, week and counts; bad edits are refused and change nothing."""
    text = ("<!channel> & " * 300)[:3000]
    log_via_modal(slack, fake, form(text, "clarity", day="2026-11-18", beneficiary="&" * 200))
    [win] = wins_of(slack)
    history = slack.command("/coach", "history")
    overflow(slack, f"edit:{win.id}")
    opened = fake.wait_for("views.open", count=2)[-1]
    assert opened.response["ok"] is True, opened.response
    view = opened.args["view"]
    assert view["blocks"][0]["element"]["initial_value"] == text
    same = form(text, "clarity", day="2026-11-18", beneficiary="&" * 200)
    refused = [
        slack.submit(view, dict(same, **{FIELD_TEXT: form(text + "x")[FIELD_TEXT]})),
        slack.submit(view, dict(same, **{FIELD_DATE: form("x", day="2026-11-26")[FIELD_DATE]})),
        slack.submit(view, dict(same, **{FIELD_DATE: form("x", day="2025-01-01")[FIELD_DATE]})),
        slack.submit(view, dict(same, **{FIELD_LANE: form("x", lane=None)[FIELD_LANE]})),
    ]
    for reply in refused:
        assert reply.json["response_action"] == "errors", reply.json
    saved = slack.submit(view, same)
    assert saved.json["response_action"] == "update"
    [after] = wins_of(slack)
    assert (after.text, after.week, after.lane, after.at) == (text, "2026-W47", win.lane, win.at)
    assert after.beneficiary == "&" * 200
    weeks = slack.store.redis.hgetall(f"pmc:v1:{{{TEAM}:U0ALICE}}:weeks")
    assert weeks == {"2026-W47:c": "1"}
    assert_clean(fake, history, *refused, saved)


def test_a_transient_users_info_failure_does_not_pin_the_zone(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """If Slack's users.info fails once on a PM's first win, a later win uses their real zone."""
    fake.fail("users.info", "internal_error", times=1)
    assert "Logged" in slack.command("/win", "clarity First, Slack hiccuped").text
    slack.coach.tz_cache.drop(TEAM, "U0ALICE")  # as a restarted or second process would
    assert "Logged" in slack.command("/win", "clarity Second, Slack fine").text
    assert slack.store.profiles.profile_tz(TEAM, "U0ALICE") == "Europe/Berlin"


# Newcomers and forget-me ---------------------------------------------------------------------


def test_clicks_from_a_user_who_never_used_the_app_write_nothing(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """Stray or forged clicks and a Home visit from a newcomer answer calmly and write nothing."""
    clicks = [
        slack.click(button_message(ACTION_UNDO, "abcd"), ACTION_UNDO, user="U0BOB"),
        slack.click(button_message(ACTION_PICK_CLARITY, "abcd"), ACTION_PICK_CLARITY, user="U0BOB"),
        overflow(slack, "delete:abcd", user="U0BOB"),
        overflow(slack, "edit:abcd", user="U0BOB"),
        overflow(slack, "dance:abcd", user="U0BOB"),
    ]
    assert "already removed" in visible_text(slack.hook_posts(clicks[0])[0])
    assert "expired" in visible_text(slack.hook_posts(clicks[1])[0])
    assert "already removed" in visible_text(slack.hook_posts(clicks[2])[0])
    home = open_home(slack, fake, user="U0BOB")
    assert "Welcome to PM Coach" in visible_text(home)
    settle()
    assert user_keys(rds, "U0BOB") == []
    assert "U0BOB" not in slack.store.teams.team_users(TEAM)
    assert fake.calls_to("views.open") == []
    assert_clean(fake, *clicks)


def test_commands_from_a_user_who_never_used_the_app(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """Every /coach subcommand answers a newcomer sensibly and stores nothing about them: the
    read-only ones answer, settings say kindly they were not saved until a first win."""
    expected = {
        "stats": "0 wins logged in all",
        "history": "No wins yet",
        "undo": "nothing to undo",
        "prompts": "no prompts of your own",
        "resume": "weren't paused",
        # Not enrolled, so Slack is never asked: the zone stays a guess, and says so.
        "timezone": texts.TZ_SOURCE_GUESS,
        "nudges": texts.NUDGES_NOT_YET,
        "help": "/coach stats",
        "": "/coach stats",
    }
    for change in (
        "target 40",
        "timezone Asia/Tokyo",
        "timezone auto",
        "nudges fri 10:00",
        "nudges off",
        "pause 2w",
        "share on",
        "prompts add Who did I unblock?",
    ):
        expected[change] = texts.SETTING_BEFORE_FIRST_WIN
    replies = []
    for sub, text in expected.items():
        reply = slack.command("/coach", sub, user="U0BOB")
        assert text in reply.text, (sub, reply.text)
        replies.append(reply)
    slack.settle()
    assert wins_of(slack, "U0BOB") == []
    assert user_keys(rds, "U0BOB") == []
    assert "U0BOB" not in slack.store.teams.team_users(TEAM)
    assert fake.messages("U0BOB") == []  # no welcome DM: a command never enrols
    assert_clean(fake, *replies)


def test_forget_me_by_a_newcomer_and_twice(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """Confirming forget-me with no data, or twice in a row, succeeds and leaves nothing."""
    ask = slack.command("/coach", "forget-me", user="U0BOB")
    first = slack.click(ask, ACTION_FORGET, user="U0BOB")
    second = slack.click(ask, ACTION_FORGET, user="U0BOB")
    for click in (first, second):
        assert "deleted" in visible_text(slack.hook_posts(click)[0])
    fake.wait_for("views.publish", count=2)
    assert user_keys(rds, "U0BOB") == []
    assert_clean(fake, ask, first, second)


def test_forget_me_then_win_again_starts_fresh(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """After forget-me, old buttons do nothing, and the next /win starts a clean profile."""
    old_win = slack.command("/win", "clarity Before")
    old_question = slack.command("/win", "A pending draft")
    slack.command("/coach", "timezone Asia/Tokyo")
    slack.command("/coach", "target 80")
    ask = slack.command("/coach", "forget-me")
    slack.hook_posts(slack.click(ask, ACTION_FORGET))
    assert user_keys(rds, "U0ALICE") == []
    undo = slack.click(old_win, ACTION_UNDO)
    assert "already removed" in visible_text(slack.hook_posts(undo)[0])
    pick = slack.click(old_question, ACTION_PICK_SHIPPED)
    assert "expired" in visible_text(slack.hook_posts(pick)[0])
    assert wins_of(slack) == []
    again = slack.command("/win", "clarity After")
    assert "Clarity streak: 1 week" in again.text and "target 50%" in again.text
    assert [w.text for w in wins_of(slack)] == ["After"]
    profile = slack.store.profiles.profile(TEAM, "U0ALICE")
    assert (profile["tz"], profile["tz_source"]) == ("Europe/Berlin", "slack")
    assert "target" not in profile
    assert "1 win logged in all" in slack.command("/coach", "stats").text
    assert_clean(fake, old_win, old_question, undo, pick, again)


# Tenant isolation ----------------------------------------------------------------------------


def test_two_teams_never_see_or_change_each_other(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """The same user id in team B reads and changes nothing of team A, on every surface."""
    b = other_team(slack)
    slack.command("/win", "clarity A's clarity")
    slack.command("/win", "shipped Bob in A", user="U0BOB")
    a_reply = slack.command("/win", "shipped A's shipped")
    a_ids = {w.id for w in wins_of(slack)}
    slack.command("/coach", "target 70")
    slack.command("/coach", "prompts add A's prompt")

    b_home = open_home(b, fake)
    assert "Welcome to PM Coach" in visible_text(b_home)
    assert "A's" not in json.dumps(b_home)
    assert "No wins yet" in b.command("/coach", "history").text
    assert "0 wins logged in all" in b.command("/coach", "stats").text
    assert "nothing to undo" in b.command("/coach", "undo").text
    assert "no prompts of your own" in b.command("/coach", "prompts").text
    assert "no prompt number 1" in b.command("/coach", "prompts remove 1").text
    b_undo = b.click(a_reply, ACTION_UNDO)
    assert "already removed" in visible_text(b.hook_posts(b_undo)[0])
    for win_id in a_ids:
        overflow(b, f"delete:{win_id}")
        overflow(b, f"edit:{win_id}")
    export = b.command("/coach", "export this year")
    assert "0 wins" in b.hook_posts(export)[0]["text"]
    assert "A's" not in fake.files("U0ALICE")[-1]["content"].decode()
    assert "A's" not in json.dumps(open_home(b, fake))
    b.command("/win", "clarity B's own")
    b.command("/coach", "target 20")
    b.command("/coach", "pause 2w")
    b.command("/coach", "share on")
    ask = b.command("/coach", "forget-me")
    b.hook_posts(b.click(ask, ACTION_FORGET))
    settle()

    assert {w.id for w in wins_of(slack)} == a_ids
    assert [w.text for w in wins_of(slack, "U0BOB")] == ["Bob in A"]
    profile = slack.store.profiles.profile(TEAM, "U0ALICE")
    assert profile["target"] == "70" and profile.get("share") is None
    assert slack.store.profiles.custom_prompts(TEAM, "U0ALICE") == [(1, "A's prompt")]
    assert rds.smembers(f"pmc:v1:{{{TEAM}:U0ALICE}}:paused") == set()
    assert slack.store.teams.team_users(TEAM) == {"U0ALICE", "U0BOB"}
    assert len(slack.store.recaps.team_week_entries(TEAM, "2026-W48")) == 3
    assert user_keys(rds, "U0ALICE", TEAM_B) == []
    assert slack.store.teams.team_users(TEAM_B) == set()
    assert "A's clarity" in visible_text(open_home(slack, fake))
    assert_clean(fake, b_undo, export)


def test_team_b_win_lands_only_in_team_b(slack: SlackDriver, rds: redis.Redis) -> None:
    """A win logged from team B is counted in B's indexes only."""
    b = other_team(slack)
    assert "Logged" in b.command("/win", "clarity Only in B").text
    assert wins_of(slack) == []
    assert [w.text for w in wins_of(slack, team=TEAM_B)] == ["Only in B"]
    assert slack.store.teams.team_users(TEAM) == set()
    assert slack.store.teams.team_users(TEAM_B) == {"U0ALICE"}
    assert slack.store.recaps.team_week_entries(TEAM, "2026-W48") == []
    for key in rds.scan_iter("pmc:v1:*"):
        assert f"{{{TEAM}:" not in str(key) and f"{{{TEAM}}}" not in str(key), key
        if rds.type(key) == "zset":
            assert not any(str(m).startswith(f"{TEAM}:") for m in rds.zrange(key, 0, -1)), key


# App Home ------------------------------------------------------------------------------------


def test_home_event_redelivery_and_other_tabs(slack: SlackDriver, fake: FakeSlack) -> None:
    """A redelivered app_home_opened publishes once; the Messages tab publishes nothing."""
    slack.command("/win", "clarity Seen")
    event = {"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "event_ts": "1.1"}
    assert slack.event(event, event_id="Ev0SAME").status == 200
    assert slack.event(event, event_id="Ev0SAME").status == 200
    messages = dict(event, tab="messages")
    assert slack.event(messages).status == 200
    settle()
    assert len(fake.calls_to("views.publish")) == 1
    assert_clean(fake)


def test_home_buttons_for_a_newcomer(slack: SlackDriver, fake: FakeSlack) -> None:
    """A newcomer's Home buttons open valid modals with defaults and break nothing."""
    intro = open_home(slack, fake, user="U0BOB")
    home = dict(intro, blocks=[])
    for action in (ACTION_HOME_SETTINGS, ACTION_HOME_PROMPTS, ACTION_HOME_LOG):
        view = dict(
            home,
            blocks=[
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": action,
                            "value": "x",
                            "text": {"type": "plain_text", "text": "x"},
                        }
                    ],
                }
            ],
        )
        assert slack.click_in_view(view, action, user="U0BOB").status == 200
    opened = fake.wait_for("views.open", count=3)
    kinds = {c.args["view"]["callback_id"] for c in opened}
    assert kinds == {"settings_modal", "prompts_modal", "win_modal"}
    settings = next(c for c in opened if c.args["view"]["callback_id"] == "settings_modal")
    target = next(b for b in settings.args["view"]["blocks"] if b["block_id"] == "target")
    assert target["element"]["initial_option"]["value"] == "50"
    assert_clean(fake)


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("target", {"target": "0"}),
        ("target", {"target": "101"}),
        ("target", {"target": "abc"}),
        ("target", {"target": ""}),
        ("tz", {"tz": "<!channel>"}),
        ("tz", {"tz": "Mars/Olympus"}),
        ("tz", {"tz": "utc/../UTC"}),
        ("pause", {"pause": "13"}),
        ("pause", {"pause": "-1"}),
        ("pause", {"pause": "keep!"}),
    ],
)
def test_forged_settings_values_are_refused_with_nothing_saved(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis, field: str, values: dict[str, str]
) -> None:
    """Out-of-range or forged settings values keep the modal open and store nothing."""
    merged = {"target": "30", "tz": "", "pause": "0"} | values
    state = {
        "target": {
            "value": {"type": "static_select", "selected_option": {"value": merged["target"]}}
        },
        "tz": {"value": {"type": "plain_text_input", "value": merged["tz"]}},
        "share": {"value": {"type": "checkboxes", "selected_options": [{"value": "share"}]}},
        "pause": {
            "value": {"type": "static_select", "selected_option": {"value": merged["pause"]}}
        },
    }
    view = {"type": "modal", "callback_id": "settings_modal", "blocks": []}
    reply = slack.submit(view, state, user="U0BOB")
    assert reply.status == 200
    assert reply.json["response_action"] == "errors" and field in reply.json["errors"]
    assert user_keys(rds, "U0BOB") == []
    assert_clean(fake, reply)


def test_superscript_digits_in_home_values_are_refused(slack: SlackDriver, fake: FakeSlack) -> None:
    """A '²' in the settings target, pause, or a prompt's Remove value never yields a 500."""
    state = {
        "target": {"value": {"type": "static_select", "selected_option": {"value": "²"}}},
        "pause": {"value": {"type": "static_select", "selected_option": {"value": "²"}}},
    }
    view = {"type": "modal", "callback_id": "settings_modal", "blocks": []}
    reply = slack.submit(view, state)
    assert reply.status == 200 and reply.json["response_action"] == "errors"
    modal = {
        "type": "modal",
        "callback_id": "prompts_modal",
        "blocks": [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACTION_PROMPT_REMOVE,
                        "value": "²",
                        "text": {"type": "plain_text", "text": "x"},
                    }
                ],
            }
        ],
    }
    assert slack.click_in_view(modal, ACTION_PROMPT_REMOVE).status == 200
    settle()
    assert fake.calls_to("views.update")


def test_prompts_modal_forged_and_hostile_submissions(slack: SlackDriver, fake: FakeSlack) -> None:
    """The prompts modal refuses over-long text, ignores blanks and escapes what it shows."""
    view = {"type": "modal", "callback_id": "prompts_modal", "blocks": []}

    def submit(value: Any) -> Response:
        state = {"prompt": {"value": {"type": "plain_text_input", "value": value}}}
        return slack.submit(view, state)

    slack.command("/win", "shipped Set up")  # prompts are a PM's settings: a win enrols first
    assert submit("   \n").json == {} or "errors" not in submit("   \n").json
    assert "prompt" in submit("q" * 281).json["errors"]
    assert submit("<!channel> & what did I decide?").status == 200
    assert slack.store.profiles.custom_prompts(TEAM, "U0ALICE") == [
        (1, "<!channel> & what did I decide?")
    ]
    home = open_home(slack, fake)
    slack.click_in_view(home, ACTION_HOME_PROMPTS)
    opened = fake.wait_for("views.open")[-1]
    assert "&lt;!channel&gt; &amp; what" in visible_text(opened.args["view"])
    live = dict(
        opened.args["view"], id=opened.response["view"]["id"], hash=opened.response["view"]["hash"]
    )
    live["blocks"] = [
        b if b.get("block_id") != "prompt:1" else dict(b, accessory=dict(b["accessory"], value="7"))
        for b in live["blocks"]
    ]
    assert slack.click_in_view(live, ACTION_PROMPT_REMOVE).status == 200
    fake.wait_for("views.update")
    # forged number: nothing removed
    assert len(slack.store.profiles.custom_prompts(TEAM, "U0ALICE")) == 1
    assert_clean(fake)


# Redis down ----------------------------------------------------------------------------------


def test_redis_down_win_surfaces_never_claim_saved(down: SlackDriver, fake: FakeSlack) -> None:
    """With Redis down every /win path says plainly it did not save, hands text back, no 5xx."""
    text = "<!channel> & the Q3 bet " + "&" * 2000
    with_lane = down.command("/win", "clarity " + text)
    assert "*not saved*" in with_lane.text and "Logged" not in with_lane.text
    assert "&lt;!channel&gt; &amp; the Q3 bet" in with_lane.text
    no_lane = down.command("/win", "Framed the bet")
    assert "*not saved*" in no_lane.text and "Which lane" not in no_lane.text
    blank = down.command("/win", "clarity   ")
    assert "Add a few words" in blank.text
    down.command("/win", "")
    view = fake.wait_for("views.open")[0].args["view"]
    submitted = down.submit(view, form("Cut scope", "clarity"))
    assert submitted.json["response_action"] == "errors"
    assert "Not saved" in submitted.json["errors"][FIELD_TEXT]
    undo = down.click(button_message(ACTION_UNDO, "abc"), ACTION_UNDO)
    assert "did *not* go through" in visible_text(down.hook_posts(undo)[0])
    pick = down.click(button_message(ACTION_PICK_CLARITY, "abc"), ACTION_PICK_CLARITY)
    assert "did *not* go through" in visible_text(down.hook_posts(pick)[0])
    edit_view = {
        "type": "modal",
        "callback_id": "win_edit",
        "private_metadata": '{"win": "abc"}',
        "blocks": [],
    }
    edited = down.submit(edit_view, form("Cut scope", "clarity"))
    assert "Not saved" in edited.json["errors"][FIELD_TEXT]
    for reply in (with_lane, no_lane, blank, submitted, undo, pick, edited):
        assert "Logged" not in json.dumps(reply.json)
    assert_clean(fake, with_lane, no_lane, blank, submitted, undo, pick, edited)


def test_redis_down_coach_subcommands_never_5xx(down: SlackDriver, fake: FakeSlack) -> None:
    """Every /coach subcommand with Redis down answers 200 and never claims a change."""
    claims = (
        "now *",
        "Paused until",
        "Welcome back",
        "may now appear",
        "stay private",
        "Added prompt",
        "Removed",
        "brag document",
        "Following your Slack",
    )
    replies = []
    for sub in (
        "stats",
        "history 5",
        "undo",
        "export last quarter",
        "target 40%",
        "timezone Asia/Tokyo",
        "timezone auto",
        "timezone",
        "pause 2w",
        "resume",
        "share on",
        "share off",
        "prompts",
        "prompts add Who did I unblock?",
        "prompts remove 1",
    ):
        reply = down.command("/coach", sub)
        assert "did *not* go through" in reply.text, (sub, reply.text)
        assert not any(claim in reply.text for claim in claims), (sub, reply.text)
        replies.append(reply)
    for sub in ("help", "forget-me", "dance"):
        replies.append(down.command("/coach", sub))
    ask = replies[-2]
    # Failures after the ack are handled in the listener (after_ack), so Bolt keeps the ack.
    confirm = down.click(ask, ACTION_FORGET)
    assert confirm.status == 200
    answer = visible_text(down.hook_posts(confirm)[0])
    assert "deleted" not in answer.lower() and "did *not* go through" in answer
    assert fake.files("U0ALICE") == []
    assert_clean(fake, *replies)


def test_redis_down_home_surfaces(down: SlackDriver, fake: FakeSlack) -> None:
    """With Redis down the Home event, settings save and history delete answer without a 5xx
    and publish nothing misleading."""
    event = {"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "event_ts": "1.1"}
    assert down.event(event).status == 200
    state = {
        "target": {"value": {"type": "static_select", "selected_option": {"value": "30"}}},
        "pause": {"value": {"type": "static_select", "selected_option": {"value": "0"}}},
    }
    settings = down.submit({"type": "modal", "callback_id": "settings_modal", "blocks": []}, state)
    assert settings.status == 200 and settings.json["response_action"] == "errors"
    # The HTTP status of this click is racy in Bolt (ack, then an error: see the report).
    deleted = overflow(down, "delete:abc")
    assert "did *not* go through" in visible_text(down.hook_posts(deleted)[0])
    settle()
    for call in fake.calls_to("views.publish"):
        assert "Welcome" not in visible_text(call.args["view"])
    assert_clean(fake, settings)


def test_redis_down_home_log_button_still_opens_the_form(
    down: SlackDriver, fake: FakeSlack
) -> None:
    """Like `/win`, the Home's Log button opens the form while Redis is down (saving says no)."""
    home = {
        "type": "home",
        "blocks": [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACTION_HOME_LOG,
                        "value": "log",
                        "text": {"type": "plain_text", "text": "Log"},
                    }
                ],
            }
        ],
    }
    assert down.click_in_view(home, ACTION_HOME_LOG).status == 200
    fake.wait_for("views.open", timeout=2)


def test_redis_down_prompts_modal_submit_says_not_saved(down: SlackDriver) -> None:
    """Adding a prompt from the Home with Redis down keeps the modal open with "not saved"."""
    view = {"type": "modal", "callback_id": "prompts_modal", "blocks": []}
    state = {"prompt": {"value": {"type": "plain_text_input", "value": "Who did I unblock?"}}}
    reply = down.submit(view, state)
    assert reply.status == 200
    assert reply.json.get("response_action") == "errors"
