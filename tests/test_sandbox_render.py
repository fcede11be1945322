"""The sandbox renderer: Slack messages, modals and the App Home as numbered terminal text."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.recap import MemberWeek, build_recap
from bot.domain.schedule import NudgeSchedule
from bot.domain.streaks import Balance, Streak, WeekCount
from bot.domain.wins import Lane, LaneSuggestion, Win
from bot.sandbox.render import (
    Numbering,
    display_width,
    element_options,
    mrkdwn_to_text,
    option_letter,
    render_blocks,
    render_confirm,
    render_message,
    render_view,
    strip_ansi,
)
from bot.surfaces import blocks, coach_blocks, home, nudge_blocks, recap

AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
USERS = {"U1": "alice", "U2": "bob"}
WEEK = "2026-W48"
COUNTS = {
    "2026-W48": WeekCount(shipped=1, clarity=1),
    "2026-W47": WeekCount(shipped=2, clarity=1),
    "2026-W45": WeekCount(shipped=0, clarity=4),
}
BALANCE = Balance(
    share=0.4,
    window=WeekCount(shipped=3, clarity=2),
    this_week=WeekCount(shipped=1, clarity=1),
    last_week=WeekCount(shipped=2, clarity=1),
    target=0.5,
)
STREAK = Streak(current=3, longest=5)


def make_win(
    text: str = "Framed the pricing bet",
    *,
    win_id: str = "w1",
    lane: Lane = Lane.CLARITY,
    user: str = "U1",
    link: str | None = None,
    beneficiary: str | None = None,
) -> Win:
    return Win(
        id=win_id,
        team_id="T1",
        user_id=user,
        lane=lane,
        text=text,
        at=AT,
        week=WEEK,
        logged_at=AT,
        link=link,
        beneficiary=beneficiary,
    )


def reply(built: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    text, block_list = built
    return {"text": text, "blocks": block_list}


def the_home(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "streak": STREAK,
        "balance": BALANCE,
        "counts": COUNTS,
        "paused": frozenset({"2026-W46"}),
        "current_week": WEEK,
        "recent": [make_win(link="https://ex.com/a?b=1&c=2", beneficiary="Sales")],
        "tz": "Europe/Berlin",
        "schedule": NudgeSchedule(),
        "next_nudge": datetime(2026, 11, 27, 14, 0, tzinfo=UTC),
        "paused_now": False,
        "sharing": True,
    }
    arguments.update(overrides)
    return home.home_view(**arguments)


# Messages -------------------------------------------------------------------------------------


def test_win_confirmation_shows_the_win_streak_balance_and_an_undo_button() -> None:
    """A /win confirmation reads as text under an ephemeral title, with Undo as item 1."""
    numbering = Numbering()
    out = render_message(
        reply(blocks.win_logged(make_win(), STREAK, BALANCE)), numbering, ephemeral=True
    )
    lines = out.split("\n")
    assert lines[0] == "── PM Coach (only visible to you) ──"
    assert lines[1] == "🧭 Logged a clarity win: Framed the pricing bet"
    assert "Clarity streak: 3 weeks" in out and "40% clarity · target 50%" in out
    assert lines[-1] == "[1] Undo"
    [undo] = numbering.items
    assert (undo.number, undo.kind, undo.action_id, undo.value) == (1, "button", "win_undo", "w1")
    assert (undo.block_id, undo.surface, undo.label) == ("win_logged_actions", "message", "Undo")
    assert undo.element["type"] == "button" and undo.confirm is None


def test_escaped_user_text_renders_literally_and_never_as_a_mention() -> None:
    """User text arrives escaped in blocks, so it shows as typed: no mention, no broadcast."""
    win = make_win("Told <!channel> & <@U1> about <https://evil.example|this>")
    message = reply(blocks.win_logged(win, STREAK, BALANCE))
    assert "&amp;" in message["blocks"][0]["text"]["text"]  # what Slack receives
    out = render_message(message, Numbering(), users=USERS, width=120)
    assert "Told <!channel> & <@U1> about <https://evil.example|this>" in out
    assert "@alice" not in out and "@channel" not in out and "&amp;" not in out


def test_real_mentions_use_the_users_map_and_fall_back_to_the_id() -> None:
    """A genuine <@U…> in a recap thread shows as @name, or @U… when the name is unknown."""
    members = [
        MemberWeek("U1", {WEEK: WeekCount(clarity=2)}, sharing=True),
        MemberWeek("U3", {WEEK: WeekCount(clarity=1)}, sharing=True),
    ]
    wins = [make_win("Aligned eng", user="U1"), make_win("Framed Q3", win_id="w2", user="U3")]
    thread = recap.thread_reply(build_recap(WEEK, members, wins, "What did you decide?"))
    assert thread is not None
    out = render_message(thread, Numbering(), users=USERS)
    assert "• @alice: Aligned eng" in out
    assert "• @U3: Framed Q3" in out
    assert "<@" not in out


def test_lane_question_quotes_the_text_and_stars_the_suggested_lane() -> None:
    """The lane question quotes the win with │ and marks the suggested button as primary."""
    numbering = Numbering()
    built = blocks.lane_question(
        "Decided the <v2> scope", LaneSuggestion(Lane.CLARITY, 0.6), "draft-9"
    )
    out = render_message(reply(built), numbering, ephemeral=True)
    assert "│ Decided the <v2> scope" in out
    assert "It reads like Created clarity to me — your call." in out
    assert "[1] 🚀 Shipped   [2] ★ 🧭 Created clarity" in out
    assert [(i.action_id, i.value) for i in numbering.items] == [
        ("win_pick_shipped", "draft-9"),
        ("win_pick_clarity", "draft-9"),
    ]


def test_danger_button_keeps_its_confirm_dialog() -> None:
    """The forget-me button is marked ⚠ and carries its confirm dialog for the sandbox."""
    numbering = Numbering()
    out = render_message(reply(coach_blocks.forget_ask()), numbering, ephemeral=True)
    assert "[1] ⚠ Delete everything" in out
    [button] = numbering.items
    assert button.action_id == "forget_confirm" and button.value == "forget"
    assert button.confirm is not None
    dialog = render_confirm(button.confirm)
    assert dialog.startswith("⚠ Delete everything?")
    assert "will be gone for good" in dialog
    assert dialog.endswith("[confirm: Delete] [deny: Keep my data]")


def test_history_overflow_gives_one_number_per_option() -> None:
    """Each history entry's overflow menu becomes two numbered options with their values."""
    numbering = Numbering()
    wins = [make_win("First", win_id="a1"), make_win("Second", win_id="b2", lane=Lane.SHIPPED)]
    out = render_message(reply(coach_blocks.history(wins, "UTC", note="Two shown")), numbering)
    assert "Your latest 2 wins" in out and "  Two shown" in out
    assert "🧭 Tue 24 Nov — First" in out and "🚀 Tue 24 Nov — Second" in out
    assert "    [1] ⋯ Edit   [2] ⋯ Delete" in out and "    [3] ⋯ Edit   [4] ⋯ Delete" in out
    items = [(i.kind, i.action_id, i.block_id, i.value, i.label) for i in numbering.items]
    assert items == [
        ("overflow_option", "history_menu", "win:a1", "edit:a1", "Edit"),
        ("overflow_option", "history_menu", "win:a1", "delete:a1", "Delete"),
        ("overflow_option", "history_menu", "win:b2", "edit:b2", "Edit"),
        ("overflow_option", "history_menu", "win:b2", "delete:b2", "Delete"),
    ]
    assert numbering.items[1].option == {
        "text": {"type": "plain_text", "text": "Delete", "emoji": True},
        "value": "delete:a1",
    }


def test_stats_chart_keeps_every_line_and_its_spacing() -> None:
    """The 12-week chart is a ``` block: each line keeps its spacing, even in a narrow terminal."""
    built = coach_blocks.stats(STREAK, BALANCE, 5, COUNTS, frozenset({"2026-W46"}), WEEK)
    chart = coach_blocks.chart_text(COUNTS, frozenset({"2026-W46"}), WEEK).strip("`")
    chart_lines = chart.split("\n")
    assert len(chart_lines) == 13 and any("  " in line for line in chart_lines)
    out = render_message(reply(built), Numbering(), width=30).split("\n")
    start = out.index("    " + chart_lines[0])
    assert out[start : start + 13] == ["    " + line for line in chart_lines]
    assert out[start + 12].endswith("← this week")


def test_not_saved_code_blocks_show_the_user_text_verbatim() -> None:
    """When Redis is down, the text handed back in ``` blocks renders unescaped and intact."""
    text = "a  <b> & c\n  indented  "
    out = render_message(reply(blocks.not_saved(text)), Numbering())
    assert "    a  <b> & c\n      indented  " in out
    assert "&lt;" not in out and "```" not in out


def test_nudge_buttons_flow_onto_rows_that_fit_the_width() -> None:
    """The nudge's four buttons wrap onto a second row in a 60-column terminal."""
    numbering = Numbering()
    message = nudge_blocks.nudge_message(
        "What did you decide?", WeekCount(1, 2), slot="s1", user_id="U1", notice=True
    )
    out = render_message(message, numbering, width=60)
    assert "[1] ★ Log a clarity win   [2] Reflect   [3] Snooze 1 day\n[4] Skip this week" in out
    assert all(display_width(line) <= 60 for line in out.split("\n"))
    assert [i.action_id for i in numbering.items] == [
        "nudge_log_clarity",
        "nudge_reflect",
        "nudge_snooze",
        "nudge_skip",
    ]
    assert {i.value for i in numbering.items} == {"s1"}


def test_welcome_text_is_word_wrapped_to_the_width() -> None:
    """Long sections wrap at word boundaries, and no row is wider than asked."""
    out = render_message(
        nudge_blocks.welcome(NudgeSchedule(), "Europe/Berlin"), Numbering(), width=50
    )
    rows = out.split("\n")
    assert all(display_width(row) <= 50 for row in rows)
    assert len(rows) > 8
    joined = " ".join(rows[1:])
    assert "What happens next: every Fri at 15:00 (Europe/Berlin)" in joined
    assert "*" not in out


def test_team_recap_and_its_thread_reply() -> None:
    """The recap renders header, trend and prompt; the thread reply can be indented."""
    members = [
        MemberWeek("U1", {WEEK: WeekCount(1, 2), "2026-W47": WeekCount(1, 1)}, sharing=True),
        MemberWeek("U2", {WEEK: WeekCount(2, 0)}),
    ]
    win = make_win("Framed the bet", link="https://ex.com/?a=1&b=2", beneficiary="Sales & Ops")
    built = build_recap(WEEK, members, [win], "What made things clearer?")
    numbering = Numbering()
    top = render_message(recap.main_message(built), numbering, users=USERS)
    assert "🧭 Team recap — week of Nov 23\n══════" in top
    assert "5 wins last week: 2 🧭 created clarity · 3 🚀 shipped" in top
    assert "Prompt of the week: What made things clearer?" in top
    thread = recap.thread_reply(built)
    assert thread is not None
    out = render_message(thread, numbering, users=USERS, indent="    ", title="thread")
    lines = out.split("\n")
    assert lines[0] == "    ── thread ──"
    assert all(line.startswith("    ") for line in lines)
    assert "@alice: Framed the bet (link (https://ex.com/?a=1&b=2)) — for Sales & Ops" in out
    assert numbering.items == []


def test_message_without_blocks_uses_its_text_and_a_custom_title() -> None:
    """A text-only message is rendered as mrkdwn under the given title."""
    out = render_message({"text": "*Saved* &amp; done"}, Numbering(), title="PM Coach · DM")
    assert out == "── PM Coach · DM ──\nSaved & done"


# Numbering ------------------------------------------------------------------------------------


def test_numbers_continue_across_render_calls_and_can_be_looked_up() -> None:
    """Two messages rendered with one Numbering share a sequence; get() finds each item."""
    numbering = Numbering()
    first = render_message(reply(blocks.win_logged(make_win(), STREAK, BALANCE)), numbering)
    second = render_message(
        reply(blocks.lane_question("Shipped it", LaneSuggestion(None, 0.0), "d2")), numbering
    )
    assert "[1] Undo" in first
    assert "[2] 🚀 Shipped   [3] 🧭 Created clarity" in second
    assert [i.number for i in numbering.items] == [1, 2, 3]
    found = numbering.get(3)
    assert found is not None and found.action_id == "win_pick_clarity"
    assert numbering.get(0) is None and numbering.get(4) is None
    later = Numbering(start=10)
    render_blocks(coach_blocks.forget_ask()[1], later)
    assert later.items[0].number == 10 and later.get(10) is later.items[0]
    assert later.get(1) is None


# Views ----------------------------------------------------------------------------------------


def test_win_modal_numbers_each_field_and_shows_defaults() -> None:
    """The /win form: boxed title, five numbered fields, radio options, date default, buttons."""
    numbering = Numbering()
    out = render_view(blocks.win_modal(date(2026, 11, 27)), numbering, width=72)
    lines = out.split("\n")
    assert lines[0].startswith("┌─ Log a win ─") and lines[0].endswith("┐")
    assert display_width(lines[0]) == 72 and display_width(lines[-1]) == 72
    assert "[1] What was the win? (text, multiline)" in out
    assert "    ‹e.g. Got design and eng to agree on the v2 scope›" in out
    assert "[2] Lane (choose one)\n    a) ○ 🚀 Shipped" in out
    assert "    b) ○ 🧭 Created clarity — decided, aligned, framed, unblocked" in out
    assert "[3] When (date, YYYY-MM-DD)\n    default: 2026-11-27" in out
    assert "[4] Link (optional) (url)" in out
    assert "[5] Who benefited? (optional) (text)" in out
    assert lines[-2] == "[submit: Log it] [close: Cancel]"
    assert lines[-1].startswith("└") and lines[-1].endswith("┘")
    fields = [(i.number, i.kind, i.block_id, i.action_id, i.value) for i in numbering.items]
    assert fields == [
        (1, "input", "text", "value", ""),
        (2, "input", "lane", "value", ""),
        (3, "input", "date", "value", ""),
        (4, "input", "link", "value", ""),
        (5, "input", "beneficiary", "value", ""),
    ]
    assert {i.surface for i in numbering.items} == {"modal"}
    assert numbering.items[1].element["type"] == "radio_buttons"


def test_edit_modal_shows_initial_values_then_what_the_person_set() -> None:
    """Initial values show as defaults; `values` replace them, in plain or Slack state form."""
    view = blocks.win_modal(
        date(2026, 11, 27),
        text="Framed the bet",
        lane=Lane.SHIPPED,
        link="https://ex.com",
        beneficiary="Sales",
        title="Edit win",
    )
    before = render_view(view, Numbering())
    assert "┌─ Edit win" in before
    assert "    default: Framed the bet" in before
    assert "    a) ● 🚀 Shipped" in before and "    b) ○ 🧭 Created clarity" in before
    after = render_view(
        view,
        Numbering(),
        values={
            "text": {"value": {"type": "plain_text_input", "value": "Aligned\nsales"}},
            "lane": "clarity",
            "date": date(2026, 11, 20),
            "link": None,
        },
    )
    assert "    value: Aligned\n           sales" in after
    assert "    a) ○ 🚀 Shipped" in after and "    b) ● 🧭 Created clarity" in after
    assert "    value: 2026-11-20" in after
    assert "[4] Link (optional) (url)\n    (empty)" in after
    assert "    default: Sales" in after


def test_field_errors_appear_under_their_field() -> None:
    """response_action=errors: each message sits under its field; unknown ids still show."""
    out = render_view(
        blocks.win_modal(date(2026, 11, 27)),
        Numbering(),
        errors={"date": "That date is in the future.", "nope": "Something else"},
    )
    assert "    default: 2026-11-27\n    ⚠ That date is in the future." in out
    assert "⚠ nope: Something else" in out


def test_settings_modal_selects_checkboxes_timepicker_and_hints() -> None:
    """Settings: static_select and checkboxes list their options, hints show, time defaults."""
    numbering = Numbering()
    view = home.settings_modal(
        target=45,
        tz="Europe/Berlin",
        tz_explicit=True,
        sharing=True,
        paused_until="2026-12-07",
        schedule=NudgeSchedule(days=(0, 3)),
    )
    out = render_view(view, numbering, values={"target": ["60"]})
    assert "[1] Clarity target (choose one)" in out
    assert "    d) ○ 45% clarity" in out and "    f) ● 60% clarity" in out
    assert "[2] Time zone (text, optional)\n    default: Europe/Berlin\n    ℹ An IANA name" in out
    assert "    a) ☑ Show my clarity wins" in out
    assert "    a) ☑ Mon\n    b) ☐ Tue\n    c) ☐ Wed\n    d) ☑ Thu" in out
    assert "[5] Nudge time (your time zone) (time, HH:MM)\n    default: 15:00" in out
    assert "    a) ● Keep pause until 2026-12-07" in out
    assert "[submit: Save] [close: Cancel]" in out
    assert [i.block_id for i in numbering.items] == [
        "target",
        "tz",
        "share",
        "nudge_days",
        "nudge_time",
        "pause",
    ]
    pause = numbering.items[-1].element
    assert [option_letter(i) for i, _ in enumerate(element_options(pause))][-1] == "h"


def test_choices_set_by_option_text_are_marked_too() -> None:
    """A choice given by its option text (several joined by ", ") is marked; unknown shown."""
    view = home.settings_modal(
        target=50, tz="UTC", tz_explicit=False, sharing=False, paused_until=None
    )
    out = render_view(
        view,
        Numbering(),
        values={"target": "70% clarity", "nudge_days": "Mon, Wed", "pause": "someday"},
    )
    assert "    f) ● 70% clarity" in out and "    d) ○ 50% clarity" in out
    assert "    a) ☑ Mon\n    b) ☐ Tue\n    c) ☑ Wed" in out
    assert "    e) ☐ Fri" in out
    assert "    value: someday" in out


def test_prompts_modal_numbers_accessory_buttons_before_the_input() -> None:
    """Each custom prompt's Remove button is numbered in order, then the add field."""
    numbering = Numbering(start=4)
    out = render_view(home.prompts_modal([(1, "What & why?"), (2, "Who <b>?")], 30), numbering)
    assert "1. What & why?\n    [4] Remove\n2. Who <b>?\n    [5] Remove" in out
    assert "[6] Add a prompt of your own (text, optional)" in out
    assert "[submit: Add] [close: Close]" in out
    assert [(i.kind, i.value, i.block_id) for i in numbering.items] == [
        ("button", "1", "prompt:1"),
        ("button", "2", "prompt:2"),
        ("input", "", "prompt"),
    ]


def test_reflect_modal_and_result_modal_without_submit() -> None:
    """The reflect modal shows its prompt in bold text; a result modal only has close."""
    out = render_view(nudge_blocks.reflect_modal("What did I decide?", "meta"), Numbering())
    assert "\nWhat did I decide?\n" in out and "*" not in out
    assert "[1] Your answer (private to you) (text, multiline)" in out
    done = blocks.result_modal(blocks.win_undone(make_win())[1])
    result = render_view(done, Numbering())
    assert "↩️ Removed: Framed the pricing bet" in result
    assert "[close: Close]" in result and "submit" not in result


def test_app_home_renders_every_section_and_numbers_its_controls() -> None:
    """The App Home: title, balance meter, chart, recent wins, nudge, buttons; surface home."""
    numbering = Numbering()
    out = render_view(the_home(), numbering)
    lines = out.split("\n")
    assert lines[0].startswith("┌─ App Home ─")
    assert "Your PM Coach\n═════════════" in out
    assert "Balance (4 weeks): 40% clarity · target 50%\n▰▰▰▰▱│▱▱▱▱▱" in out
    assert "─" * 80 in lines
    assert "    Nov 09    paused" in out
    assert "link (https://ex.com/a?b=1&c=2)" in out.replace("\n", " ")
    assert "Next reflection nudge: Fri 27 Nov, 15:00 (Europe/Berlin)" in out
    assert "[3] ★ Log a win   [4] Settings   [5] My prompts   [6] ⚠ Delete my data" in out
    assert "submit" not in out and lines[-1].startswith("└")
    assert [i.action_id for i in numbering.items] == [
        "history_menu",
        "history_menu",
        "home_log_win",
        "home_settings",
        "home_prompts",
        "forget_confirm",
    ]
    assert {i.surface for i in numbering.items} == {"home"}
    assert numbering.items[-1].confirm is not None


def test_onboarding_home_and_empty_home() -> None:
    """A newcomer's Home has bullets and a Get started button; an empty Home says so."""
    numbering = Numbering()
    out = render_view(nudge_blocks.home_onboarding(), numbering)
    assert "• 🚀 Shipped — launched, released, fixed, delivered" in out
    assert out.split("\n")[-2] == "[1] ★ Get started"
    assert numbering.items[0].action_id == "home_start"
    empty = render_view(
        the_home(recent=[], balance=Balance(None, WeekCount(), WeekCount(), WeekCount(), 0.5)),
        Numbering(),
    )
    assert "Balance: nothing logged in the last 4 weeks yet" in empty
    assert "No wins yet." in empty


# Every block and element type -----------------------------------------------------------------


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def test_every_block_type_renders() -> None:
    """header, section fields + accessories, context images, divider, image and fallbacks."""
    block_list: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
        {
            "type": "section",
            "block_id": "s1",
            "fields": [
                {"type": "mrkdwn", "text": "*Left*"},
                {"type": "plain_text", "text": "*Right*"},
            ],
            "accessory": {
                "type": "static_select",
                "action_id": "pick",
                "placeholder": {"type": "plain_text", "text": "Target"},
                "initial_option": option("30%", "30"),
                "option_groups": [
                    {"label": {"type": "plain_text", "text": "G"}, "options": [option("30%", "30")]}
                ],
                "options": [option("20%", "20")],
            },
        },
        {
            "type": "section",
            "block_id": "s2",
            "text": {"type": "mrkdwn", "text": "When?"},
            "accessory": {"type": "datepicker", "action_id": "day", "initial_date": "2026-11-27"},
        },
        {
            "type": "context",
            "elements": [
                {"type": "image", "image_url": "https://x/i.png", "alt_text": "logo"},
                {"type": "plain_text", "text": "plain"},
            ],
        },
        {"type": "divider"},
        {"type": "image", "image_url": "https://x/c.png", "alt_text": "a chart"},
        {"type": "rich_text", "elements": []},
        {"no_type": True},
    ]
    numbering = Numbering()
    out = render_blocks(block_list, numbering, surface="home", width=40)
    lines = out.split("\n")
    assert lines[:2] == ["Title", "═════"]
    assert "  Left\n  *Right*" in out
    assert "    ▾ Target:   [1] ▸ 20%   [2] ▸ 30% ✓" in out
    assert "When?\n    [3] 📅 date, YYYY-MM-DD: 2026-11-27" in out
    assert "  [image: logo]\n  plain" in out
    assert "─" * 40 in lines
    assert "[image: a chart]" in lines
    assert "[unsupported block: rich_text]" in lines and "[unsupported block: ?]" in lines
    kinds = [(i.kind, i.action_id, i.block_id, i.value) for i in numbering.items]
    assert kinds == [
        ("select_option", "pick", "s1", "20"),
        ("select_option", "pick", "s1", "30"),
        ("input", "day", "s2", ""),
    ]
    assert numbering.items[1].option == option("30%", "30")


def test_every_actions_element_renders() -> None:
    """actions: button (url), overflow, static_select, checkboxes, pickers, unknown element."""
    elements: list[dict[str, Any]] = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Open"},
            "action_id": "open",
            "url": "https://ex.com",
        },
        {"type": "overflow", "action_id": "more", "options": [option("Edit", "e")]},
        {"type": "static_select", "action_id": "sel", "options": [option("One", "1")]},
        {
            "type": "checkboxes",
            "action_id": "box",
            "options": [option("A", "a"), option("B", "b")],
            "initial_options": [option("B", "b")],
        },
        {"type": "datepicker", "action_id": "d"},
        {"type": "timepicker", "action_id": "t", "initial_time": "09:30"},
        {"type": "users_select", "action_id": "u"},
    ]
    numbering = Numbering()
    out = render_blocks(
        [{"type": "actions", "block_id": "acts", "elements": elements}], numbering, width=200
    )
    assert out == (
        "[1] Open ↗ https://ex.com   [2] ⋯ Edit   ▾ Choose:   [3] ▸ One   [4] ☐ A   [5] ☑ B   "
        "[6] 📅 date, YYYY-MM-DD   [7] 🕒 time, HH:MM: 09:30   [unsupported element: users_select]"
    )
    kinds = [(i.kind, i.action_id, i.value) for i in numbering.items]
    assert kinds == [
        ("button", "open", ""),
        ("overflow_option", "more", "e"),
        ("select_option", "sel", "1"),
        ("select_option", "box", "a"),
        ("select_option", "box", "b"),
        ("input", "d", ""),
        ("input", "t", ""),
    ]
    assert {i.block_id for i in numbering.items} == {"acts"}


def test_every_input_element_renders() -> None:
    """input: text, multiline, url, number, radio, select, checkboxes, date, time, unknown."""

    def field(block_id: str, element: dict[str, Any], optional: bool = False) -> dict[str, Any]:
        return {
            "type": "input",
            "block_id": block_id,
            "optional": optional,
            "label": {"type": "plain_text", "text": block_id.capitalize()},
            "element": {"action_id": "value", **element},
        }

    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "All"},
        "submit": {"type": "plain_text", "text": "Go"},
        "blocks": [
            field("name", {"type": "plain_text_input", "initial_value": "Ann"}),
            field("notes", {"type": "plain_text_input", "multiline": True}, optional=True),
            field("site", {"type": "url_text_input"}),
            field("count", {"type": "number_input", "is_decimal_allowed": False}),
            field("size", {"type": "radio_buttons", "options": [option("S", "s")]}),
            field(
                "team",
                {
                    "type": "static_select",
                    "placeholder": {"type": "plain_text", "text": "Pick one"},
                    "options": [option("Core", "core")],
                },
            ),
            field("flags", {"type": "checkboxes", "options": [option("X", "x")]}),
            field("day", {"type": "datepicker", "initial_date": "2026-01-02"}),
            field("hour", {"type": "timepicker"}),
            field("who", {"type": "users_select"}),
        ],
    }
    numbering = Numbering()
    out = render_view(view, numbering, values={"count": 7})
    expected = [
        "[1] Name (text)\n    default: Ann",
        "[2] Notes (text, multiline, optional)",
        "[3] Site (url)",
        "[4] Count (whole number)\n    value: 7",
        "[5] Size (choose one)\n    a) ○ S",
        "[6] Team (choose one)\n    a) ○ Core\n    ‹Pick one›",
        "[7] Flags (choose any)\n    a) ☐ X",
        "[8] Day (date, YYYY-MM-DD)\n    default: 2026-01-02",
        "[9] Hour (time, HH:MM)",
        "Who [unsupported element: users_select]",
        "[submit: Go] [close: Cancel]",
    ]
    for part in expected:
        assert part in out
    assert len(numbering.items) == 9
    assert {i.kind for i in numbering.items} == {"input"}


# mrkdwn ---------------------------------------------------------------------------------------


def test_mrkdwn_entities_are_unescaped_once_with_amp_last() -> None:
    """&lt; &gt; &amp; become < > &, and an escaped entity stays literal."""
    assert mrkdwn_to_text("a &lt;b&gt; &amp; c") == "a <b> & c"
    assert mrkdwn_to_text("&amp;lt; &amp;amp;") == "&lt; &amp;"


def test_mrkdwn_mentions_channels_and_broadcasts() -> None:
    """User, channel and special mentions become readable names."""
    assert mrkdwn_to_text("hi <@U1> and <@U9>", users=USERS) == "hi @alice and @U9"
    assert mrkdwn_to_text("<#C1|general> <#C2>", channels={"C2": "random"}) == "#general #random"
    assert mrkdwn_to_text("<#C3>") == "#C3"
    assert mrkdwn_to_text("<!here> <!channel> <!subteam^S1|@pms>") == "@here @channel @pms"


def test_mrkdwn_links_with_and_without_labels() -> None:
    """Links show their label and URL, with &amp; in the URL turned back into &."""
    assert mrkdwn_to_text("see <https://x.io/a?b=1&amp;c=2|the doc>") == (
        "see the doc (https://x.io/a?b=1&c=2)"
    )
    assert mrkdwn_to_text("<https://x.io>") == "https://x.io"
    assert mrkdwn_to_text("<mailto:a@b.io|a@b.io>") == "a@b.io"
    assert mrkdwn_to_text("<https://x.io/a_b_c|my_link_here>") == (
        "my_link_here (https://x.io/a_b_c)"
    )


def test_mrkdwn_styles_without_and_with_color() -> None:
    """Markers vanish without color; with color they become ANSI styles, nested correctly."""
    text = "*bold _both_* and ~gone~ `co*de*`"
    assert mrkdwn_to_text(text) == "bold both and gone co*de*"
    colored = mrkdwn_to_text(text, color=True)
    assert colored.startswith("\033[1mbold \033[3mboth\033[0m\033[1m\033[0m")
    assert "\033[9mgone\033[0m" in colored
    assert "\033[36mco*de*\033[39m" in colored
    assert strip_ansi(colored) == "bold both and gone co*de*"
    assert mrkdwn_to_text("*x*", color=True) == "\033[1mx\033[0m"


def test_mrkdwn_unmatched_and_intraword_markers_stay() -> None:
    """Unmatched or mid-word markers are kept as typed."""
    assert mrkdwn_to_text("5*3 = 15 and *open") == "5*3 = 15 and *open"
    assert mrkdwn_to_text("snake_case_name and _half") == "snake_case_name and _half"
    assert mrkdwn_to_text("a ~ b ` c") == "a ~ b ` c"
    assert mrkdwn_to_text("x ``` y") == "x ``` y"
    assert mrkdwn_to_text("* spaced *") == "* spaced *"
    assert mrkdwn_to_text("<unclosed & <@U1") == "<unclosed & <@U1"


def test_mrkdwn_pre_blocks_and_quotes() -> None:
    """``` blocks keep their content and spacing, indented; > lines get a quote bar."""
    text = "Chart:\n```\nweek   a    b\n  x      *y*  \n```\nafter\n> quoted *q*\n>no space"
    assert mrkdwn_to_text(text) == (
        "Chart:\n    week   a    b\n      x      *y*  \nafter\n│ quoted q\n│ no space"
    )
    assert mrkdwn_to_text(">>> all\nof this") == "│ all\n│ of this"
    assert mrkdwn_to_text("&gt; not a quote") == "> not a quote"


@given(st.text(alphabet="*_~`<>&|@#!:/ \nabcU1;ltgmp", max_size=60))
def test_mrkdwn_never_raises(text: str) -> None:
    """Any mix of markers and brackets renders without raising, with and without color."""
    assert isinstance(mrkdwn_to_text(text, users=USERS), str)
    assert strip_ansi(mrkdwn_to_text(text, color=True)) == mrkdwn_to_text(text)


def test_wrapping_keeps_bullet_and_quote_indents() -> None:
    """Wrapped bullets continue under their text; wrapped quotes keep the bar."""
    out = render_blocks(
        [blocks.section("• one two three four five six\n> alpha beta gamma delta epsilon")],
        Numbering(),
        width=20,
    )
    assert out == "• one two three four\n  five six\n│ alpha beta gamma\n│ delta epsilon"


def test_display_width_counts_emoji_as_two_columns() -> None:
    """Emoji take two columns, ANSI styles none, so boxes and wrapping line up."""
    assert display_width("🧭 ab") == 5
    assert display_width("✍️x") == 3
    assert display_width("\033[1mab\033[0m") == 2
