"""`/coach` end to end: every subcommand through signed requests to the running app, real
Redis, the fake Slack; replies, files and the Home checked for content."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import redis

from bot.domain.wins import Lane
from bot.fakeslack import FakeSlack
from bot.surfaces import texts
from bot.surfaces.coach_blocks import ACTION_FORGET, ACTION_HISTORY_MENU
from tests.conftest import TEAM, Clock
from tests.driver import Response, SlackDriver, find_action, told, visible_text


def log(slack: SlackDriver, text: str, user: str = "U0ALICE") -> None:
    assert "Logged" in slack.command("/win", text, user=user).text


def choose(
    slack: SlackDriver, reply: Response | dict, action_id: str, value: str, block_id: str = "b"
) -> Response:
    """Pick an option of an overflow menu in an ephemeral reply: one that the reply offers."""
    from bot.fakeslack import payloads

    message = reply.json if isinstance(reply, Response) else reply
    offered = [
        option["value"]
        for block in message.get("blocks", [])
        if block.get("accessory", {}).get("action_id") == action_id
        for option in block["accessory"].get("options", [])
    ]
    assert value in offered, (value, offered)
    hook = f"menu-{time.monotonic_ns()}"
    url = slack.fake.response_url(hook)
    action = {
        "type": "overflow",
        "action_id": action_id,
        "block_id": block_id,
        "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": value},
        "action_ts": "1.1",
    }
    body, content_type = payloads.block_actions(
        [action],
        team_id=TEAM,
        user_id="U0ALICE",
        response_url=url,
        channel_id="C0GENERAL",
        is_ephemeral=True,
    )
    response = slack.post(body, content_type)
    response.response_url, response.hook = url, hook
    return response


def test_help_and_unknown_subcommand(slack: SlackDriver) -> None:
    """Unknown subcommands say what was not understood, then show the full help."""
    reply = slack.command("/coach", "")
    assert "/coach export" in reply.text and "/coach forget-me" in reply.text
    unknown = slack.command("/coach", "dance now")
    assert "I didn't understand `dance now`" in unknown.text
    assert "/coach stats" in unknown.text


def test_stats_show_balance_streak_and_chart(slack: SlackDriver, clock: Clock) -> None:
    clock.advance(days=-14)
    log(slack, "clarity Framed the onboarding problem")
    clock.advance(days=7)
    log(slack, "shipped Released 2.3")
    clock.advance(days=7)
    log(slack, "clarity Aligned sales on pricing")
    log(slack, "shipped Fixed the export bug")
    reply = slack.command("/coach", "stats")
    text = reply.text
    assert "Balance (4 weeks): 50% clarity · target 50%" in text
    assert "Clarity streak: 2 weeks" in text  # W46 counts, W47 forgiven, W48 counts
    assert "Longest streak: 2 weeks" in text
    assert "4 wins logged in all" in text
    assert "This week: 1 🧭 · 1 🚀" in text
    chart = next(
        b["text"]["text"]
        for b in reply.json["blocks"]
        if b["type"] == "section" and "```" in b["text"]["text"]
    )
    lines = chart.strip("`").splitlines()
    assert len(lines) == 13  # header + 12 weeks
    assert lines[-1].startswith("Nov 23") and "this week" in lines[-1]
    assert lines[-3].startswith("Nov 09") and "■" in lines[-3]


def test_history_edit_and_delete(slack: SlackDriver, fake: FakeSlack, clock: Clock) -> None:
    """History lists wins newest first with edit and delete; both work and refresh the list."""
    for i in range(3):
        clock.advance(minutes=1)
        log(slack, f"shipped Thing {i}")
    reply = slack.command("/coach", "history 2")
    assert "Your latest 2 wins" in reply.text
    assert reply.text.index("Thing 2") < reply.text.index("Thing 1")
    assert "Thing 0" not in reply.text
    menus = [b["accessory"] for b in reply.json["blocks"] if b.get("accessory")]
    values = [o["value"] for o in menus[0]["options"]]
    assert values[0].startswith("edit:") and values[1].startswith("delete:")
    thing2 = values[1].split(":", 1)[1]

    deleted = choose(slack, reply, ACTION_HISTORY_MENU, f"delete:{thing2}")
    [posted] = slack.hook_posts(deleted)
    assert "Deleted: Thing 2" in visible_text(posted) and posted["replace_original"] is True
    assert [w.text for w in slack.store.wins.user_wins(TEAM, "U0ALICE")] == ["Thing 0", "Thing 1"]

    thing1 = slack.store.wins.user_wins(TEAM, "U0ALICE")[1].id
    edit = choose(slack, reply, ACTION_HISTORY_MENU, f"edit:{thing1}")
    assert edit.status == 200
    opened = fake.wait_for("views.open")[-1]
    view = opened.args["view"]
    assert view["callback_id"] == "win_edit"
    assert view["blocks"][0]["element"]["initial_value"] == "Thing 1"
    values_in = {
        "text": {"value": {"type": "plain_text_input", "value": "Thing 1, reframed"}},
        "lane": {"value": {"type": "radio_buttons", "selected_option": {"value": "clarity"}}},
        "date": {"value": {"type": "datepicker", "selected_date": "2026-11-17"}},
        "link": {"value": {"type": "url_text_input", "value": "https://x.example/doc"}},
        "beneficiary": {"value": {"type": "plain_text_input", "value": "Design"}},
    }
    saved = slack.submit(view, values_in, view_id=opened.response["view"]["id"])
    assert saved.json["response_action"] == "update"
    assert "Thing 1, reframed" in visible_text(saved.json["view"])
    edited = slack.store.wins.get_win(TEAM, "U0ALICE", thing1)
    assert edited is not None
    assert (edited.text, edited.lane, edited.week) == (
        "Thing 1, reframed",
        Lane.CLARITY,
        "2026-W47",
    )
    assert edited.link == "https://x.example/doc" and edited.beneficiary == "Design"
    weeks = slack.store.redis.hgetall(f"pmc:v1:{{{TEAM}:U0ALICE}}:weeks")
    assert weeks == {"2026-W48:s": "1", "2026-W47:c": "1"}
    assert slack.store.recaps.team_week_entries(TEAM, "2026-W47") == [("U0ALICE", thing1)]
    # The history message was refreshed through its response_url.
    refreshed = [
        c.args for c in fake.calls_to("response_url") if "Thing 1, reframed" in visible_text(c.args)
    ]
    assert refreshed and refreshed[-1]["replace_original"] is True


def test_history_bad_count_and_empty(slack: SlackDriver) -> None:
    assert "No wins yet" in slack.command("/coach", "history").text
    assert "from 1 to 20" in slack.command("/coach", "history 99").text
    assert "from 1 to 20" in slack.command("/coach", "history lots").text


def test_undo_removes_the_last_logged_win(slack: SlackDriver, clock: Clock) -> None:
    """`/coach undo` removes the most recently *logged* win, even if it was backdated."""
    assert "nothing to undo" in slack.command("/coach", "undo").text
    log(slack, "clarity First")
    clock.advance(minutes=1)
    log(slack, "shipped Second")
    reply = slack.command("/coach", "undo")
    assert "Removed: Second" in reply.text
    reply = slack.command("/coach", "undo")
    assert "Removed: First" in reply.text
    assert slack.store.wins.user_wins(TEAM, "U0ALICE") == []


def test_target_changes_the_balance_goal(slack: SlackDriver) -> None:
    assert "/win" in slack.command("/coach", "target 40%").text  # a win comes first
    log(slack, "shipped Launched it")
    assert "now *40%*" in slack.command("/coach", "target 40%").text
    reply = slack.command("/win", "clarity Framed it")
    assert "target 40%" in reply.text
    for bad in ("0%", "101", "lots", ""):
        assert "between 1% and 100%" in slack.command("/coach", f"target {bad}").text


def test_a_newcomers_setting_is_not_saved_until_their_first_win(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """A newcomer's `/coach target 40` says kindly it was not saved and that a first win sets
    PM Coach up, and stores nothing (no key, no welcome DM); after `/win` the same command
    saves."""
    refused = slack.command("/coach", "target 40")
    assert refused.status == 200 and refused.json["response_type"] == "ephemeral"
    assert texts.SETTING_BEFORE_FIRST_WIN in refused.text
    assert "Not saved" in refused.text and "/win" in refused.text
    slack.settle()
    assert mentions(rds, "U0ALICE") == []
    assert fake.messages("U0ALICE") == []

    log(slack, "shipped Launched it")
    assert "now *40%*" in slack.command("/coach", "target 40").text
    assert slack.store.profiles.profile(TEAM, "U0ALICE")["target"] == "40"


def test_a_newcomers_nudge_schedule_promises_nothing_before_their_first_win(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """`/coach nudges` before a first win says nudges start with it (the default schedule
    would promise a Friday nudge that never comes) and stores nothing; after `/win` it shows
    the PM's schedule."""
    before = slack.command("/coach", "nudges")
    assert texts.NUDGES_NOT_YET in before.text
    slack.settle()
    assert mentions(rds, "U0ALICE") == []
    log(slack, "clarity Framed the bet")
    after = slack.command("/coach", "nudges").text
    assert texts.NUDGES_NOT_YET not in after and "Fri" in after


def test_timezone_explicit_and_auto(slack: SlackDriver, fake: FakeSlack, clock: Clock) -> None:
    """An explicit zone wins over Slack's until `auto`; wins keep the week they were logged in."""
    log(slack, "clarity In Berlin")
    assert "Europe/Berlin" in slack.command("/coach", "timezone").text
    assert "now *Asia/Tokyo*" in slack.command("/coach", "timezone Asia/Tokyo").text
    assert (
        "don't know the time zone `Mars/Olympus`"
        in slack.command("/coach", "timezone Mars/Olympus").text
    )
    clock.set(datetime(2026, 11, 29, 20, 0, tzinfo=UTC))  # Monday 05:00 in Tokyo
    log(slack, "clarity In Tokyo")
    weeks = {w.text: w.week for w in slack.store.wins.user_wins(TEAM, "U0ALICE")}
    assert weeks == {"In Berlin": "2026-W48", "In Tokyo": "2026-W49"}
    # Slack's user_change does not override the explicit choice…
    slack.event(
        {"type": "user_change", "user": {"id": "U0ALICE", "team_id": TEAM, "tz": "America/Chicago"}}
    )
    time.sleep(0.2)
    assert slack.store.profiles.profile_tz(TEAM, "U0ALICE") == "Asia/Tokyo"
    # …until the PM says auto: Slack is asked after the answer, the zone told through respond.
    auto = slack.command("/coach", "timezone auto")
    assert texts.TZ_AUTO_ASKING in auto.text and "Europe/Berlin" not in auto.text
    assert texts.TZ_AUTO.format(tz="Europe/Berlin") in told(fake, auto)
    assert slack.store.profiles.profile(TEAM, "U0ALICE")["tz_source"] == "slack"


def test_pause_and_resume(slack: SlackDriver) -> None:
    log(slack, "shipped Launched it")
    reply = slack.command("/coach", "pause 2w")
    assert "Paused until Mon 07 Dec" in reply.text
    assert slack.store.redis.smembers(f"pmc:v1:{{{TEAM}:U0ALICE}}:paused") == {
        "2026-W48",
        "2026-W49",
    }
    assert "1 to 12" in slack.command("/coach", "pause 20w").text
    assert "no longer paused" in slack.command("/coach", "resume").text
    assert "weren't paused" in slack.command("/coach", "resume").text


def test_share_on_off(slack: SlackDriver) -> None:
    log(slack, "shipped Launched it")
    assert "may now appear" in slack.command("/coach", "share on").text
    assert slack.store.profiles.profile(TEAM, "U0ALICE")["share"] == "1"
    assert "stay private" in slack.command("/coach", "share off").text
    assert slack.store.profiles.profile(TEAM, "U0ALICE")["share"] == "0"
    assert "share on" in slack.command("/coach", "share maybe").text


def test_custom_prompts(slack: SlackDriver) -> None:
    listing = slack.command("/coach", "prompts")
    assert "built-in prompts" in listing.text and "no prompts of your own" in listing.text
    log(slack, "shipped Launched it")
    added = slack.command("/coach", "prompts add What did I <!channel> decide?")
    assert "Added prompt 1" in added.text and "<!channel>" not in json.dumps(added.json)
    slack.command("/coach", "prompts add Who did I unblock?")
    listing = slack.command("/coach", "prompts")
    assert "*1.* What did I &lt;!channel&gt; decide?" in listing.text
    assert "*2.* Who did I unblock?" in listing.text
    assert "Removed prompt 1" in slack.command("/coach", "prompts remove 1").text
    assert "no prompt number 1" in slack.command("/coach", "prompts remove 1").text
    assert "by its number" in slack.command("/coach", "prompts remove one").text
    assert "under 280" in slack.command("/coach", "prompts add " + "x" * 281).text
    assert [t for _, t in slack.store.profiles.custom_prompts(TEAM, "U0ALICE")] == [
        "Who did I unblock?"
    ]


def test_export_sends_a_brag_document_privately(
    slack: SlackDriver, fake: FakeSlack, clock: Clock
) -> None:
    clock.set(datetime(2026, 10, 14, 10, 0, tzinfo=UTC))
    log(slack, "shipped October launch")
    clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    log(slack, "clarity Framed <the> pricing & packaging bet")
    slack.command("/win", "")
    view = fake.wait_for("views.open")[0].args["view"]
    slack.submit(
        view,
        {
            "text": {"value": {"type": "plain_text_input", "value": "Aligned legal on terms"}},
            "lane": {"value": {"type": "radio_buttons", "selected_option": {"value": "clarity"}}},
            "date": {"value": {"type": "datepicker", "selected_date": "2026-11-02"}},
            "link": {"value": {"type": "url_text_input", "value": "https://docs.example.com/t"}},
            "beneficiary": {"value": {"type": "plain_text_input", "value": "Sales"}},
        },
    )
    reply = slack.command("/coach", "export this quarter")
    assert "Putting together your brag document for Q4 2026" in reply.text
    [done] = slack.hook_posts(reply)
    assert "in our DM: 3 wins" in done["text"]
    [file] = fake.files("U0ALICE")
    assert file["filename"] == "pm-coach-brag-2026-Q4.md"
    content = file["content"].decode()
    assert content.index("Created clarity") < content.index("Shipped")
    assert "Framed <the> pricing & packaging bet" in content  # exact text in the document
    assert "[link](https://docs.example.com/t)" in content and "for Sales" in content
    assert "### October 2026" in content and "### November 2026" in content
    assert "October launch" in content

    month = slack.command("/coach", "export")
    slack.hook_posts(month)
    assert "October launch" not in fake.files("U0ALICE")[-1]["content"].decode()
    assert "three years" in slack.command("/coach", "export 2020-01-01..2026-01-01").text
    assert "Try `/coach export`" in slack.command("/coach", "export sometime").text


def test_export_failure_is_reported(slack: SlackDriver, fake: FakeSlack) -> None:
    log(slack, "clarity Something")
    fake.fail("files.completeUploadExternal", "internal_error", times=None)
    reply = slack.command("/coach", "export")
    [done] = slack.hook_posts(reply)
    assert "couldn't send your brag document" in done["text"]


def test_forget_me_deletes_everything(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """After the confirmation, no key, set member or index entry mentions the PM."""
    log(slack, "clarity Mine")
    log(slack, "shipped Also mine")
    log(slack, "clarity Bob's", user="U0BOB")
    slack.command("/coach", "prompts add A question of mine")
    slack.command("/coach", "pause 1w")
    slack.command("/coach", "share on")
    slack.command("/win", "A draft waiting for its lane")
    ask = slack.command("/coach", "forget-me")
    assert "cannot be undone" in ask.text
    button = find_action(ask.json["blocks"], ACTION_FORGET)
    assert button["style"] == "danger" and "confirm" in button
    done = slack.click(ask, ACTION_FORGET)
    [posted] = slack.hook_posts(done)
    assert "Everything PM Coach knew about you is deleted" in visible_text(posted)
    fake.wait_for("views.publish")

    assert mentions(rds, "U0ALICE") == []
    # Bob is untouched.
    assert [w.text for w in slack.store.wins.user_wins(TEAM, "U0BOB")] == ["Bob's"]
    assert slack.store.teams.team_users(TEAM) == {"U0BOB"}


def test_store_down_is_reported_for_coach(settings, fake: FakeSlack, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    from bot.store import connect
    from tests.conftest import serve_app
    from tests.redis_server import free_port

    with serve_app(settings, connect(f"redis://127.0.0.1:{free_port()}/0"), fake, clock) as s:
        assert "did *not* go through" in s.command("/coach", "stats").text
        assert "did *not* go through" in s.command("/coach", "target 40").text


def mentions(rds: redis.Redis, user: str) -> list[str]:
    """Every key, set or sorted-set member, hash field or value that names `user`."""
    found = []
    for key in rds.scan_iter("*"):
        kind = rds.type(key)
        members: list[str] = []
        if kind == "set":
            members = list(rds.smembers(key))
        elif kind == "zset":
            members = list(rds.zrange(key, 0, -1))
        elif kind == "hash":
            members = list(rds.hkeys(key)) + list(rds.hvals(key))
        elif kind == "string":
            members = [rds.get(key) or ""]
        if user in key or any(user in m for m in members):
            found.append(key)
    return found


def welcomes(fake: FakeSlack, user: str) -> int:
    return sum("Welcome to PM Coach" in str(m.get("text")) for m in fake.messages(user))


def test_after_forget_me_only_a_win_starts_fresh(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """After forget-me, /coach subcommands and the App Home answer without enrolling the PM
    again (no welcome DM, no key, no due-index entry); settings ask for a win first; the next
    /win enrols them, with one welcome."""
    log(slack, "clarity Before")
    slack.settle()
    assert welcomes(fake, "U0ALICE") == 1
    ask = slack.command("/coach", "forget-me")
    slack.hook_posts(slack.click(ask, ACTION_FORGET))
    slack.settle()
    assert mentions(rds, "U0ALICE") == []

    for sub in ("stats", "help", "history", "undo", "nudges", "timezone", "prompts", "export"):
        assert slack.command("/coach", sub).status == 200
    for change in ("nudges fri 10:00", "target 40", "timezone Asia/Tokyo", "pause 1w"):
        assert "/win" in slack.command("/coach", change).text, change
    for change in ("share on", "prompts add Who did I unblock?"):
        assert "/win" in slack.command("/coach", change).text, change
    assert "weren't paused" in slack.command("/coach", "resume").text
    published = len(fake.calls_to("views.publish"))
    slack.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "event_ts": "9.1"})
    home = fake.wait_for("views.publish", count=published + 1)[-1].args["view"]
    slack.settle()
    assert "Get started" in json.dumps(home)  # the introduction, not a PM's Home
    assert mentions(rds, "U0ALICE") == []
    assert welcomes(fake, "U0ALICE") == 1

    again = slack.command("/win", "shipped x")
    slack.settle()
    assert "Logged" in again.text
    assert welcomes(fake, "U0ALICE") == 2
    assert slack.store.profiles.profile(TEAM, "U0ALICE")
    assert slack.store.nudges.due_at(TEAM, "U0ALICE") is not None  # nudges scheduled again
