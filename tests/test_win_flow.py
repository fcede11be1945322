"""`/win` end to end: signed requests to the running app, real Redis, the fake Slack."""

from __future__ import annotations

import json
from datetime import date

import redis

from bot.domain.wins import Lane
from bot.fakeslack import FakeSlack
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
from tests.conftest import TEAM, Clock
from tests.driver import SlackDriver, visible_text


def wins_of(slack: SlackDriver, user: str = "U0ALICE") -> list:
    return slack.store.wins.user_wins(TEAM, user)


def test_win_with_lane_is_logged_and_confirmed(slack: SlackDriver) -> None:
    """`/win clarity <text>` stores the text exactly and answers privately with streak,
    balance and an Undo button."""
    reply = slack.command("/win", "clarity Framed the pricing question for the exec review")
    assert reply.status == 200
    assert reply.json["response_type"] == "ephemeral"
    assert "Framed the pricing question for the exec review" in reply.text
    assert "Clarity streak: 1 week" in reply.text
    assert "100% clarity" in reply.text
    [win] = wins_of(slack)
    assert win.lane is Lane.CLARITY
    assert win.text == "Framed the pricing question for the exec review"
    assert win.week == "2026-W48"
    assert reply.json["blocks"][-1]["elements"][0]["value"] == win.id


def test_every_lane_alias_works(slack: SlackDriver) -> None:
    for alias, lane in [
        ("shipped", Lane.SHIPPED),
        ("ship", Lane.SHIPPED),
        ("s", Lane.SHIPPED),
        (":rocket:", Lane.SHIPPED),
        ("🚀", Lane.SHIPPED),
        ("clarity", Lane.CLARITY),
        ("c", Lane.CLARITY),
        (":compass:", Lane.CLARITY),
        ("🧭", Lane.CLARITY),
    ]:
        reply = slack.command("/win", f"{alias} win via {alias}")
        assert reply.status == 200, alias
        stored = {w.text: w.lane for w in wins_of(slack)}
        assert stored[f"win via {alias}"] is lane


def test_balance_and_streak_reflect_history(slack: SlackDriver, clock: Clock) -> None:
    """Two shipped and two clarity wins over two weeks: 50% balance and a 2-week streak."""
    clock.advance(days=-7)
    slack.command("/win", "clarity Aligned design and eng on scope")
    slack.command("/win", "shipped Released 2.3")
    clock.advance(days=7)
    slack.command("/win", "shipped Fixed the login bug")
    reply = slack.command("/win", "clarity Wrote the why for the Q1 bet")
    assert "Clarity streak: 2 weeks" in reply.text
    assert "Balance (4 weeks): 50% clarity · target 50% ✓" in reply.text


def test_undo_removes_exactly_that_win(slack: SlackDriver) -> None:
    slack.command("/win", "shipped Keep me")
    reply = slack.command("/win", "clarity Remove me")
    clicked = slack.click(reply, ACTION_UNDO)
    assert clicked.status == 200
    [posted] = slack.hook_posts(clicked)
    assert posted["replace_original"] is True
    assert "Removed" in visible_text(posted)
    assert [w.text for w in wins_of(slack)] == ["Keep me"]
    # A second click on the same Undo removes nothing more.
    again = slack.click(reply, ACTION_UNDO)
    assert "already removed" in visible_text(slack.hook_posts(again)[0])
    assert [w.text for w in wins_of(slack)] == ["Keep me"]
    weeks = slack.store.redis.hgetall(f"pmc:v1:{{{TEAM}:U0ALICE}}:weeks")
    assert weeks == {"2026-W48:s": "1"}


def test_win_without_lane_asks_and_suggests(slack: SlackDriver) -> None:
    """`/win <text>` asks with two buttons and a suggestion; a click logs it once and replaces
    the question."""
    reply = slack.command("/win", "Aligned sales and eng on why we do the Q3 bet")
    assert reply.status == 200
    assert "Which lane" in reply.text
    assert "Created clarity" in reply.text and "your call" in reply.text
    assert wins_of(slack) == []
    clicked = slack.click(reply, ACTION_PICK_CLARITY)
    [posted] = slack.hook_posts(clicked)
    assert posted["replace_original"] is True
    assert "Logged a *clarity* win" in visible_text(posted)
    # Clicking the other button afterwards does not log a second win.
    other = slack.click(reply, ACTION_PICK_SHIPPED)
    assert "already in your log" in visible_text(slack.hook_posts(other)[0])
    [win] = wins_of(slack)
    assert (win.lane, win.text) == (Lane.CLARITY, "Aligned sales and eng on why we do the Q3 bet")


def test_expired_question_logs_nothing(slack: SlackDriver, rds: redis.Redis) -> None:
    reply = slack.command("/win", "Launched onboarding")
    for key in rds.scan_iter("*:draft:*"):
        rds.delete(key)
    clicked = slack.click(reply, ACTION_PICK_SHIPPED)
    assert "expired" in visible_text(slack.hook_posts(clicked)[0])
    assert wins_of(slack) == []


def _modal_values(
    text: str | None,
    lane: str | None,
    day: str | None,
    link: str | None = None,
    beneficiary: str | None = None,
) -> dict:
    lane_option = {"value": lane} if lane else None
    return {
        FIELD_TEXT: {"value": {"type": "plain_text_input", "value": text}},
        FIELD_LANE: {"value": {"type": "radio_buttons", "selected_option": lane_option}},
        FIELD_DATE: {"value": {"type": "datepicker", "selected_date": day}},
        FIELD_LINK: {"value": {"type": "url_text_input", "value": link}},
        FIELD_BENEFICIARY: {"value": {"type": "plain_text_input", "value": beneficiary}},
    }


def test_win_with_no_text_opens_the_modal(slack: SlackDriver, fake: FakeSlack) -> None:
    """`/win` opens a form defaulting to today in the PM's zone; submitting logs a backdated
    win once even when the form is submitted twice."""
    reply = slack.command("/win", "", trigger_id="trig-modal-1")
    assert reply.status == 200
    [call] = fake.wait_for("views.open")
    assert call.args["trigger_id"] == "trig-modal-1"
    view = call.args["view"]
    date_block = next(b for b in view["blocks"] if b["block_id"] == FIELD_DATE)
    assert date_block["element"]["initial_date"] == "2026-11-25"

    values = _modal_values(
        "Got legal and sales to agree on the new terms",
        "clarity",
        "2026-11-16",
        "https://docs.example.com/terms",
        "Sales EMEA",
    )
    first = slack.submit(view, values, view_id="V0MODAL1")
    assert first.status == 200
    assert first.json["response_action"] == "update"
    assert "Logged a *clarity* win" in visible_text(first.json["view"])
    second = slack.submit(view, values, view_id="V0MODAL1")
    assert "already in your log" in visible_text(second.json["view"])
    [win] = wins_of(slack)
    assert win.week == "2026-W47"  # backdated into last week
    assert win.link == "https://docs.example.com/terms" and win.beneficiary == "Sales EMEA"
    assert slack.store.recaps.team_week_wins(TEAM, "2026-W47") == [win]


def test_undo_inside_the_modal_updates_it(slack: SlackDriver, fake: FakeSlack) -> None:
    slack.command("/win", "")
    opened = fake.wait_for("views.open")[0]
    view_id = opened.response["view"]["id"]
    done = slack.submit(
        opened.args["view"],
        _modal_values("Cut scope of v2", "clarity", "2026-11-25"),
        view_id=view_id,
    )
    # Slack replaces the modal with the view the app answered with (response_action=update).
    result_view = dict(done.json["view"], id=view_id, hash=opened.response["view"]["hash"])
    fake.clear_calls()
    assert slack.click_in_view(result_view, ACTION_UNDO).status == 200
    [update] = fake.wait_for("views.update")
    assert update.args["view_id"] == view_id
    assert "Removed" in visible_text(update.args["view"])
    assert wins_of(slack) == []


def test_modal_errors_are_shown_under_the_field(slack: SlackDriver, fake: FakeSlack) -> None:
    """Blank text, no lane, a future date, a bad link or a broken form store nothing."""
    slack.command("/win", "")
    view = fake.wait_for("views.open")[0].args["view"]
    cases = [
        (_modal_values("  ", "clarity", "2026-11-25"), FIELD_TEXT),
        (_modal_values("x" * 3001, "clarity", "2026-11-25"), FIELD_TEXT),
        (_modal_values("ok", None, "2026-11-25"), FIELD_LANE),
        (_modal_values("ok", "clarity", "2026-11-26"), FIELD_DATE),
        (_modal_values("ok", "clarity", "2024-01-01"), FIELD_DATE),
        (_modal_values("ok", "clarity", "2026-11-25", link="javascript:alert(1)"), FIELD_LINK),
        (_modal_values("ok", "sideways", "2026-11-25"), FIELD_TEXT),
        (_modal_values("ok", "clarity", "not-a-date"), FIELD_TEXT),
        ({}, FIELD_LANE),
        ({"garbage": "yes"}, FIELD_LANE),
    ]
    for values, field in cases:
        reply = slack.submit(view, values)
        assert reply.status == 200, values
        assert reply.json["response_action"] == "errors", values
        assert field in reply.json["errors"], (values, reply.json)
    assert wins_of(slack) == []


def test_bad_input_gets_a_friendly_private_answer(slack: SlackDriver) -> None:
    """Blank text and text over 3,000 characters are refused kindly; nothing is stored."""
    blank = slack.command("/win", "clarity    ")
    assert blank.json["response_type"] == "ephemeral"
    assert "What did you make clear?" in blank.text
    long = slack.command("/win", "shipped " + "x" * 3001)
    assert "3,001 characters" in long.text and "Nothing was saved" in long.text
    long_no_lane = slack.command("/win", "y" * 3001)
    assert "limit is 3,000" in long_no_lane.text
    assert wins_of(slack) == []


def test_text_is_stored_exactly_and_escaped_on_the_way_out(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """Mentions and `&` are kept as typed in Redis and never reach Slack live."""
    hostile = "Told <!channel> & <@U0BOB> about <https://evil.example|this> <!here>"
    reply = slack.command("/win", "shipped " + hostile)
    [win] = wins_of(slack)
    assert win.text == hostile
    body = json.dumps(reply.json)
    for live in ("<!channel>", "<@U0BOB>", "<!here>", "<https://evil"):
        assert live not in body
    assert "&lt;!channel&gt; &amp; &lt;@U0BOB&gt;" in reply.text
    # The same text through the question and the Undo paths.
    question = slack.command("/win", hostile)
    assert "<!channel>" not in json.dumps(question.json)
    undo = slack.click(reply, ACTION_UNDO)
    assert "<!channel>" not in json.dumps(slack.hook_posts(undo)[0])
    for call in fake.calls:
        assert "<!channel>" not in json.dumps(call.args)


def test_redelivered_command_logs_once(slack: SlackDriver) -> None:
    """The same delivery (same trigger_id) twice, as a retry would send it, stores one win."""
    first = slack.command("/win", "clarity Framed the bet", trigger_id="trig-dup")
    second = slack.command("/win", "clarity Framed the bet", trigger_id="trig-dup")
    assert first.status == second.status == 200
    assert "already in your log" in second.text
    assert len(wins_of(slack)) == 1


def test_first_request_reads_the_zone_from_slack(slack: SlackDriver, fake: FakeSlack) -> None:
    """A new PM's zone comes from users.info once; later requests do not ask again."""
    slack.command("/win", "clarity one", user="U0BOB")
    slack.command("/win", "clarity two", user="U0BOB")
    assert [c.args.get("user") for c in fake.calls_to("users.info")] == ["U0BOB"]
    assert slack.store.profiles.profile_tz(TEAM, "U0BOB") == "America/New_York"


def test_week_uses_the_pms_local_zone(slack: SlackDriver, clock: Clock) -> None:
    """Sunday 23:30 UTC is already Monday (next week) in Berlin, still Sunday in New York."""
    from datetime import UTC, datetime

    clock.set(datetime(2026, 11, 29, 23, 30, tzinfo=UTC))
    slack.command("/win", "clarity Berlin", user="U0ALICE")
    slack.command("/win", "clarity New York", user="U0BOB")
    assert wins_of(slack, "U0ALICE")[0].week == "2026-W49"
    assert wins_of(slack, "U0BOB")[0].week == "2026-W48"


def test_zone_changed_by_another_process_is_respected(slack: SlackDriver, clock: Clock) -> None:
    """A stale zone in this process's cache is detected by the store and corrected."""
    from datetime import UTC, datetime

    slack.command("/win", "clarity first")
    # as another process would
    slack.store.profiles.set_tz(TEAM, "U0ALICE", "Asia/Tokyo", "explicit")
    clock.set(datetime(2026, 11, 29, 20, 0, tzinfo=UTC))  # Monday 05:00 in Tokyo
    slack.command("/win", "clarity second")
    second = next(w for w in wins_of(slack) if w.text == "second")
    assert second.week == "2026-W49"
    assert slack.store.recaps.team_week_entries(TEAM, "2026-W48") == [
        ("U0ALICE", wins_of(slack)[0].id)
    ]
    assert slack.store.recaps.team_week_entries(TEAM, "2026-W49") == [("U0ALICE", second.id)]


def test_backdate_default_is_today_in_the_pms_zone(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    from datetime import UTC, datetime

    clock.set(datetime(2026, 11, 25, 23, 30, tzinfo=UTC))  # already the 26th in Berlin
    slack.command("/win", "clarity A first win")  # the zone is learnt after its answer
    slack.command("/win", "")
    view = fake.wait_for("views.open")[0].args["view"]
    date_block = next(b for b in view["blocks"] if b["block_id"] == FIELD_DATE)
    assert date.fromisoformat(date_block["element"]["initial_date"]) == date(2026, 11, 26)


def test_rate_limited_views_open_is_retried_by_slack_sdk(
    slack: SlackDriver, fake: FakeSlack
) -> None:
    """A 429 on views.open waits for Retry-After (slack-sdk's handler) and then opens the form."""
    fake.rate_limit("views.open", retry_after=1)
    slack.command("/win", "")
    calls = fake.wait_for("views.open", count=2, timeout=8)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.9
