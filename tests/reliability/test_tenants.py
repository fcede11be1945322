"""Tenant isolation: two workspaces in one Redis, with the same user ids in both.

The fake Slack knows one workspace, but payloads carry any `team_id`; the app must scope every
read and write by it. Nothing team B sends — command, button, modal or event — may read or
change team A's data, and everything B causes lands under B's keys only.
"""

from __future__ import annotations

import json
import re
from typing import Any

import redis

from bot.fakeslack import FakeSlack, payloads
from bot.surfaces.blocks import ACTION_PICK_CLARITY, ACTION_UNDO
from bot.surfaces.coach_blocks import ACTION_FORGET
from bot.surfaces.nudge_blocks import ACTION_HOME_START, FIELD_ANSWER
from tests.conftest import TEAM, Clock
from tests.driver import Response, SlackDriver, find_action, told, visible_text
from tests.reliability.conftest import TEAM_B, other_team, settle
from tests.test_adversarial import button_message, form, overflow
from tests.test_ticker import enrol_pm

A_CHANNEL, B_CHANNEL = "C0RECAPA", "C0RECAPB"
MON_9 = "2026-11-30T09:00:30+00:00"


def team_state(client: redis.Redis, team: str) -> dict[str, Any]:
    """Everything Redis holds for `team`: its own keys (value and TTL-free dump) and its
    members of the shared scheduling indexes."""
    state: dict[str, Any] = {}
    for key in client.scan_iter("*", count=1000):
        key = str(key)
        if f"{{{team}:" in key or f"{{{team}}}" in key:
            if ":event:" in key:
                continue  # Events API dedupe markers of A's own events
            state[key] = (client.type(key), client.dump(key))
        elif client.type(key) == "zset":
            for member, score in client.zrange(key, 0, -1, withscores=True):
                if str(member) == team or str(member).startswith(f"{team}:"):
                    state[f"{key}#{member}"] = score
        elif client.type(key) == "hash" and key.endswith(":leases"):
            for field, value in client.hgetall(key).items():
                if str(field).startswith(f"{team}:"):
                    state[f"{key}#{field}"] = value
    return state


def keys_outside(client: redis.Redis, team: str, before: set[str]) -> list[str]:
    """New keys that are not `team`'s own (shared index keys excepted)."""
    new = {str(k) for k in client.scan_iter("*", count=1000)} - before
    return sorted(
        k
        for k in new
        if f"{{{team}:" not in k
        and f"{{{team}}}" not in k
        and not re.fullmatch(r"pmc:v1:(\{due:\d\d\}:(index|leases)|ops:(recaps|procs))", k)
    )


def populate_a(slack: SlackDriver, fake: FakeSlack) -> dict[str, Any]:
    """Team A's PMs with wins, settings, prompts, a reflection, a draft and a recap channel."""
    fake.add_channel(A_CHANNEL, members=["U0ALICE", "U0BOB", "U0ADMIN"])
    fake.add_channel(B_CHANNEL, members=["U0ALICE", "U0BOB", "U0ADMIN"])
    first = slack.command("/win", "clarity A's clarity win")
    slack.command("/win", "shipped A's shipped win")
    slack.command("/win", "clarity A's Bob win", user="U0BOB")
    question = slack.command("/win", "A's pending draft")
    for sub in (
        "target 70",
        "prompts add A's own prompt",
        "timezone Asia/Tokyo",
        "share on",
        "nudges mon,thu 09:30",
    ):
        assert slack.command("/coach", sub).status == 200
    slack.command("/reflect", "A's private reflection")
    recap_here = slack.command("/coach", "recap here", user="U0ADMIN", channel=A_CHANNEL)
    assert "posted here" in told(fake, recap_here)
    settle()
    win_ids = [w.id for w in slack.store.wins.user_wins(TEAM, "U0ALICE")]
    draft = find_action(question.json["blocks"], ACTION_PICK_CLARITY)["value"]
    return {"first": first, "question": question, "win_ids": win_ids, "draft": draft}


def b_view_submission(
    b: SlackDriver, callback: str, values: dict[str, Any], **extra: Any
) -> Response:
    view = {"type": "modal", "callback_id": callback, "blocks": [], **extra}
    return b.submit(view, values)


def test_team_b_never_reads_or_changes_team_a(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """Every command, button, form and event team B can send — with A's win ids, draft ids and
    the same user ids — reads nothing of A's and leaves A's data byte for byte as it was."""
    a = populate_a(slack, fake)
    b = other_team(slack)
    before_a = team_state(rds, TEAM)
    keys_before = {str(k) for k in rds.scan_iter("*")}
    calls_before = len(fake.calls)
    files_before = len(fake.files("U0ALICE"))
    replies: list[Response] = []

    def cmd(command: str, text: str, **kw: Any) -> Response:
        reply = b.command(command, text, **kw)
        replies.append(reply)
        return reply

    # Reads: B's Alice and Bob see nothing of A's.
    assert "0 wins logged in all" in cmd("/coach", "stats").text
    assert "No wins yet" in cmd("/coach", "history 20").text
    assert "nothing to undo" in cmd("/coach", "undo", user="U0BOB").text
    assert "no prompts of your own" in cmd("/coach", "prompts").text
    # Not A's Tokyo: a guess, said to be one (Slack is not asked while it waits for the answer).
    shown = cmd("/coach", "timezone").text
    assert "Asia/Tokyo" not in shown and "*UTC* (a guess" in shown
    assert "Friday at 15:00" in cmd("/coach", "nudges").text  # the default, not A's schedule
    assert "recap is off" in cmd("/coach", "recap").text  # A has one; B has none
    export = cmd("/coach", "export this year")
    assert "0 wins" in b.hook_posts(export)[0]["text"]
    event = {"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "event_ts": "1.1"}
    assert b.event(event).status == 200

    # Changes aimed at A's ids, from B.
    for win_id in a["win_ids"]:
        replies.append(b.click(button_message(ACTION_UNDO, win_id), ACTION_UNDO))
        replies.append(overflow(b, f"delete:{win_id}"))
        replies.append(overflow(b, f"edit:{win_id}"))
        edit = {"win": win_id, "origin": "home", "response_url": ""}
        replies.append(
            b_view_submission(
                b, "win_edit", form("B rewrote it", "shipped"), private_metadata=json.dumps(edit)
            )
        )
    replies.append(b.click(a["question"], ACTION_PICK_CLARITY))
    replies.append(b.click(a["first"], ACTION_UNDO))
    cmd("/coach", "prompts remove 1")

    # B's own writes, with the same user ids.
    cmd("/win", "clarity B's own win")
    cmd("/win", "shipped B's Bob win", user="U0BOB")
    for sub in ("target 20", "pause 2w", "share off", "timezone Europe/Lisbon", "nudges off"):
        cmd("/coach", sub)
    cmd("/coach", "prompts add B's prompt")
    cmd("/reflect", "B's reflection")
    cmd("/coach", "recap here", user="U0ADMIN", channel=B_CHANNEL)
    replies.append(b_view_submission(b, "win_modal", form("B's modal win", "clarity")))
    settings_state = {
        "target": {"value": {"type": "static_select", "selected_option": {"value": "10"}}},
        "tz": {"value": {"type": "plain_text_input", "value": "America/Chicago"}},
        "pause": {"value": {"type": "static_select", "selected_option": {"value": "0"}}},
    }
    replies.append(b_view_submission(b, "settings_modal", settings_state))
    prompt_state = {"prompt": {"value": {"type": "plain_text_input", "value": "B's modal prompt"}}}
    replies.append(b_view_submission(b, "prompts_modal", prompt_state))
    answer = {FIELD_ANSWER: {"value": {"type": "plain_text_input", "value": "B's modal answer"}}}
    replies.append(b_view_submission(b, "reflect_modal", answer, private_metadata="{}"))
    home = {"type": "home", "blocks": [{"type": "actions", "elements": []}]}
    start = {"type": "button", "action_id": ACTION_HOME_START, "value": "start"}
    body, content_type = payloads.block_actions([start], team_id=TEAM_B, user_id="U0BOB", view=home)
    replies.append(b.post(body, content_type))
    change = {
        "type": "user_change",
        "user": {"id": "U0ALICE", "team_id": TEAM_B, "tz": "Asia/Dubai"},
    }
    assert b.event(change).status == 200
    ask = cmd("/coach", "forget-me", user="U0BOB")
    replies.append(b.click(ask, ACTION_FORGET, user="U0BOB"))
    settle(0.5)

    assert [r.status for r in replies if r.status != 200] == []
    assert team_state(rds, TEAM) == before_a
    assert keys_outside(rds, TEAM_B, keys_before) == []
    said_to_b = json.dumps([r.json for r in replies if r.body])
    said_to_b += json.dumps([c.args for c in list(fake.calls)[calls_before:]])
    said_to_b += "".join(bytes(f["content"]).decode() for f in fake.files("U0ALICE")[files_before:])
    assert "A's" not in said_to_b
    # …and B really did get its own data, under its own keys.
    assert sorted(w.text for w in slack.store.wins.user_wins(TEAM_B, "U0ALICE")) == [
        "B's modal win",
        "B's own win",
    ]
    assert slack.store.profiles.profile(TEAM_B, "U0ALICE")["tz"] == "America/Chicago"
    assert slack.store.profiles.profile(TEAM, "U0ALICE")["tz"] == "Asia/Tokyo"


def test_forget_me_in_b_leaves_a_intact(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """The same PM says forget-me in workspace B: all of B's data about them goes, none of A's."""
    populate_a(slack, fake)
    b = other_team(slack)
    b.command("/win", "clarity B's win")
    b.command("/coach", "prompts add B's prompt")
    b.command("/reflect", "B's reflection")
    settle()
    before_a = team_state(rds, TEAM)
    ask = b.command("/coach", "forget-me")
    assert "deleted" in visible_text(b.hook_posts(b.click(ask, ACTION_FORGET))[0])
    settle()
    assert [str(k) for k in rds.scan_iter(f"*{{{TEAM_B}:U0ALICE}}*")] == []
    assert team_state(rds, TEAM) == before_a
    assert "A's clarity win" in slack.command("/coach", "history").text


def test_recap_of_b_counts_only_b(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis, clock: Clock
) -> None:
    """Both workspaces post a recap to a channel with the same members: each counts only its
    own team's wins, and B's recap names nobody from A."""
    populate_a(slack, fake)
    b = other_team(slack)
    b.command("/win", "clarity B's only win")
    b.command("/coach", "share on")
    recap_here = b.command("/coach", "recap here", user="U0ADMIN", channel=B_CHANNEL)
    assert "posted here" in told(fake, recap_here)
    settle()
    built_a = slack.recaps.build(TEAM, "2026-W48", A_CHANNEL)
    built_b = slack.recaps.build(TEAM_B, "2026-W48", B_CHANNEL)
    assert (built_a.this.clarity, built_a.this.shipped) == (2, 1)
    assert (built_b.this.clarity, built_b.this.shipped) == (1, 0)
    assert [w.text for w in built_b.highlights] == ["B's only win"]
    from datetime import datetime

    outcomes = slack.recaps.run_due(datetime.fromisoformat(MON_9))
    assert {(o.team_id, o.status) for o in outcomes} == {(TEAM, "posted"), (TEAM_B, "posted")}
    b_posts = json.dumps(fake.messages(B_CHANNEL))
    assert "A's" not in b_posts and "B's only win" in b_posts
    assert "A's clarity win" in json.dumps(fake.messages(A_CHANNEL))


def test_uninstalling_b_stops_only_b(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis, settings: Any, clock: Clock
) -> None:
    """`app_uninstalled` from workspace B stops B's nudges; the same PMs in A still get theirs."""
    from datetime import UTC, datetime

    for user in ("U0ALICE", "U0BOB"):
        enrol_pm(settings, rds, clock, user, "Europe/Berlin")
    b = other_team(slack)
    for user in ("U0ALICE", "U0BOB"):
        b.command("/win", "clarity in B", user=user)
    settle()
    assert b.event({"type": "app_uninstalled"}).status == 200
    settle()
    assert slack.store.teams.is_uninstalled(TEAM_B) and not slack.store.teams.is_uninstalled(TEAM)
    report = slack.ticker.tick(datetime(2026, 11, 27, 14, 0, 30, tzinfo=UTC))
    assert sorted((c.team_id, c.user_id) for c, _ in report.sent) == [
        (TEAM, "U0ALICE"),
        (TEAM, "U0BOB"),
    ]
    assert {c.team_id for c, _ in report.dropped} <= {TEAM_B}


def test_a_user_change_delivered_for_b_does_not_touch_a(
    slack: SlackDriver, fake: FakeSlack, rds: redis.Redis
) -> None:
    """A `user_change` event delivered for workspace B — whatever team its user object names —
    changes nothing of workspace A's PM with that id."""
    populate_a(slack, fake)
    before_a = team_state(rds, TEAM)
    b = other_team(slack)
    change = {"type": "user_change", "user": {"id": "U0BOB", "team_id": TEAM, "tz": "Asia/Dubai"}}
    assert b.event(change).status == 200
    settle()
    assert slack.store.profiles.profile_tz(TEAM, "U0BOB") == "America/New_York"
    assert team_state(rds, TEAM) == before_a
