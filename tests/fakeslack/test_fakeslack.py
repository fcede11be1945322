"""The fake Slack's Web API methods answer real slack_sdk clients the way Slack does:
auth, users, conversations, chat, Block Kit limits, views, files, response_url."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.fakeslack import (
    FakeSlack,
    payloads,
    validate_blocks,
    validate_view,
)
from tests.fakeslack.support import (
    ANN,
    TEAM,
    api_sample,
    data_keys,
    modal,
    raw_post,
    section,
)

# --------------------------------------------------------------------------- auth


def test_auth_test_answers_with_the_bot_identity(fake: FakeSlack, client: WebClient) -> None:
    resp = client.auth_test()
    assert resp["ok"] is True
    assert resp["team_id"] == TEAM
    assert resp["user_id"] == fake.bot_user_id
    assert resp["bot_id"] == fake.bot_id
    sample = api_sample("auth.test")
    if sample is not None:
        assert data_keys(resp) <= set(sample)
    call = fake.calls_to("auth.test")[0]
    assert call.token == "xoxb-test"
    assert call.status == 200


@pytest.mark.parametrize(
    ("token", "error"),
    [("xoxb-wrong", "invalid_auth"), ("xapp-test", "not_allowed_token_type")],
)
def test_wrong_token_is_refused(fake: FakeSlack, token: str, error: str) -> None:
    with pytest.raises(SlackApiError) as exc:
        WebClient(token=token, base_url=fake.api_base_url).auth_test()
    assert exc.value.response["error"] == error


def test_missing_token_is_not_authed(fake: FakeSlack) -> None:
    status, body = raw_post(
        fake.api_base_url + "auth.test", b"", "application/x-www-form-urlencoded"
    )
    assert (status, body) == (200, {"ok": False, "error": "not_authed"})


def test_token_may_come_as_form_argument(fake: FakeSlack) -> None:
    body = urlencode({"token": "xoxb-test"}).encode()
    status, answer = raw_post(
        fake.api_base_url + "auth.test", body, "application/x-www-form-urlencoded"
    )
    assert status == 200 and answer["ok"] is True
    assert fake.calls_to("auth.test")[0].token == "xoxb-test"


def test_unknown_method_is_200_unknown_method(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.api_call("pins.nonsense")
    assert exc.value.response.status_code == 200
    assert exc.value.response["error"] == "unknown_method"


# --------------------------------------------------------------------------- users


def test_users_info_found(fake: FakeSlack, client: WebClient) -> None:
    user = client.users_info(user=ANN)["user"]
    assert user["id"] == ANN
    assert user["tz"] == "Europe/Berlin"
    assert user["tz_label"] in ("Central European Time", "Central European Summer Time")
    assert user["tz_offset"] in (3600, 7200)
    assert user["is_admin"] is True and user["is_owner"] is False and user["deleted"] is False
    sample_answer = api_sample("users.info")
    if sample_answer is not None:
        sample = sample_answer["user"]
        grid_only = {"enterprise_user", "enterprise_id", "enterprise_name", "teams"}
        assert set(user) <= set(sample) | {"locale"}
        assert {"tz", "tz_label", "tz_offset", "is_admin", "is_owner", "profile"} <= set(user)
        assert not set(user) & grid_only


def test_users_info_unknown_user(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.users_info(user="U0NOBODY")
    assert exc.value.response["error"] == "user_not_found"


def test_deactivated_user_has_no_tz(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U0GONE", name="Gone", deleted=True)
    user = client.users_info(user="U0GONE")["user"]
    assert user["deleted"] is True
    assert "tz" not in user and "is_admin" not in user


def test_users_list_paginates(fake: FakeSlack, client: WebClient) -> None:
    for i in range(7):
        fake.add_user(f"U1{i:04d}")
    seen: list[str] = []
    for page in client.users_list(limit=3):
        seen += [m["id"] for m in page["members"]]
    assert len(seen) == len(set(seen)) == 9  # 7 + Ann + the bot user


# --------------------------------------------------------------------------- conversations


def test_conversations_members_paginates_over_pages(fake: FakeSlack, client: WebClient) -> None:
    people = [f"U2{i:05d}" for i in range(250)]
    fake.add_channel("C0BIG", members=people, bot_is_member=False)
    seen: list[str] = []
    cursors: list[str] = []
    cursor = None
    while True:
        resp = client.conversations_members(channel="C0BIG", limit=100, cursor=cursor)
        seen += resp["members"]
        cursor = resp["response_metadata"]["next_cursor"]
        cursors.append(cursor)
        if not cursor:
            break
    assert len(fake.calls_to("conversations.members")) == 3
    assert cursors[-1] == ""
    assert seen == people


def test_conversations_members_errors(fake: FakeSlack, client: WebClient) -> None:
    fake.add_channel("G0SECRET", is_private=True, bot_is_member=False, members=[ANN])
    for channel in ("C0NOPE", "G0SECRET"):
        with pytest.raises(SlackApiError) as exc:
            client.conversations_members(channel=channel)
        assert exc.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as exc:  # a user id is no channel here
        client.conversations_members(channel=ANN)
    assert exc.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as exc:
        client.conversations_members(channel="C0PMS", cursor="garbage")
    assert exc.value.response["error"] == "invalid_cursor"


def test_conversations_open_gives_the_stable_dm(fake: FakeSlack, client: WebClient) -> None:
    first = client.conversations_open(users=ANN)
    again = client.conversations_open(users=ANN)
    assert first["channel"]["id"] == again["channel"]["id"] == fake.dm_channel(ANN)
    assert fake.dm_channel(ANN).startswith("D")
    assert again["already_open"] is True
    with pytest.raises(SlackApiError) as exc:
        client.conversations_open(users="U0NOBODY")
    assert exc.value.response["error"] == "user_not_found"


def test_conversations_info(fake: FakeSlack, client: WebClient) -> None:
    info = client.conversations_info(channel="C0PMS", include_num_members=True)["channel"]
    assert info["id"] == "C0PMS" and info["name"] == "pms" and info["is_member"] is True
    assert info["num_members"] == 2  # Ann and the bot
    sample_answer = api_sample("conversations.info")
    if sample_answer is not None:
        sample = sample_answer["channel"]
        assert set(info) <= set(sample) | {"parent_conversation"}


# --------------------------------------------------------------------------- chat


def test_post_message_is_journaled_with_decoded_blocks(fake: FakeSlack, client: WebClient) -> None:
    blocks = [section("*Win logged*")]
    resp = client.chat_postMessage(channel="C0PMS", text="Win logged", blocks=blocks)
    call = fake.wait_for("chat.postMessage")[0]
    assert call.args["blocks"] == blocks
    assert call.args["channel"] == "C0PMS"
    assert call.response["ts"] == resp["ts"]
    [stored] = fake.messages("C0PMS")
    assert stored["text"] == "Win logged" and stored["blocks"] == blocks
    assert stored["user"] == fake.bot_user_id and stored["channel"] == "C0PMS"


def test_form_encoded_blocks_are_decoded(fake: FakeSlack) -> None:
    blocks = [section("from a form")]
    body = urlencode(
        {"token": "xoxb-test", "channel": "C0PMS", "blocks": json.dumps(blocks)}
    ).encode()
    status, answer = raw_post(
        fake.api_base_url + "chat.postMessage", body, "application/x-www-form-urlencoded"
    )
    assert status == 200 and answer["ok"] is True
    assert fake.calls_to("chat.postMessage")[0].args["blocks"] == blocks


def test_ts_are_unique_and_increasing_and_threads_are_kept(
    fake: FakeSlack, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel="C0PMS", text="parent")["ts"]
    reply = client.chat_postMessage(channel="C0PMS", text="reply", thread_ts=parent)["ts"]
    dm = client.chat_postMessage(channel=ANN, text="to Ann")  # a user id posts to the DM
    assert float(parent) < float(reply) < float(dm["ts"])
    assert dm["channel"] == fake.dm_channel(ANN)
    assert [m.get("thread_ts") for m in fake.messages("C0PMS")] == [None, parent]
    assert fake.messages(ANN)[0]["text"] == "to Ann"


def test_update_and_delete(fake: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0PMS", text="v1")["ts"]
    updated = client.chat_update(channel="C0PMS", ts=ts, text="v2", blocks=[section("v2")])
    assert updated["ts"] == ts and updated["text"] == "v2"
    assert fake.messages("C0PMS")[0]["text"] == "v2"
    assert fake.messages("C0PMS")[0]["blocks"] == [section("v2")]
    client.chat_delete(channel="C0PMS", ts=ts)
    assert fake.messages("C0PMS") == []
    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel="C0PMS", ts=ts, text="v3")
    assert exc.value.response["error"] == "message_not_found"


@pytest.mark.parametrize(
    ("channel", "kwargs", "error"),
    [
        ("C0NOPE", {"text": "x"}, "channel_not_found"),
        ("C0OUT", {"text": "x"}, "not_in_channel"),
        ("G0HIDDEN", {"text": "x"}, "channel_not_found"),
        ("C0OLD", {"text": "x"}, "is_archived"),
        pytest.param(
            "C0PMS", {}, "no_text", marks=pytest.mark.filterwarnings("ignore::UserWarning")
        ),
        ("C0PMS", {"text": "x" * 40_001}, "msg_too_long"),
    ],
)
def test_post_message_errors(
    fake: FakeSlack, client: WebClient, channel: str, kwargs: dict[str, Any], error: str
) -> None:
    fake.add_channel("C0OUT", bot_is_member=False)
    fake.add_channel("G0HIDDEN", bot_is_member=False, is_private=True)
    fake.add_channel("C0OLD", is_archived=True)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=channel, **kwargs)
    assert exc.value.response["error"] == error
    assert fake.messages(channel) == []
    assert fake.calls_to("chat.postMessage")[0].response["error"] == error


def test_post_ephemeral(fake: FakeSlack, client: WebClient) -> None:
    resp = client.chat_postEphemeral(channel="C0PMS", user=ANN, text="only you")
    assert resp["message_ts"]
    [eph] = fake.ephemerals(ANN)
    assert eph["text"] == "only you" and eph["channel"] == "C0PMS"
    fake.add_user("U0BOB")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postEphemeral(channel="C0PMS", user="U0BOB", text="x")
    assert exc.value.response["error"] == "user_not_in_channel"
    sample = api_sample("chat.postEphemeral")
    if sample is not None:
        assert data_keys(resp) <= set(sample)


# --------------------------------------------------------------------------- Block Kit


def test_validate_blocks_limits() -> None:
    assert validate_blocks([section("ok")], surface="message") == []
    assert validate_blocks([section("x")] * 50, surface="message") == []
    assert validate_blocks([section("x")] * 51, surface="message")
    assert validate_blocks([section("x")] * 100, surface="modal") == []
    assert validate_blocks([section("x")] * 101, surface="home")
    [err] = validate_blocks([section("x" * 3001)])
    assert err == "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    assert validate_blocks([section("x" * 3000)]) == []
    assert validate_blocks([section("")])  # empty text is invalid too
    field = {"type": "mrkdwn", "text": "f" * 2001}
    assert validate_blocks([{"type": "section", "fields": [field]}])
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    assert validate_blocks([header])
    assert validate_blocks([{**section("x"), "block_id": "b" * 256}])
    button = {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}}
    assert validate_blocks([{"type": "actions", "elements": [button]}])
    button = {"type": "button", "text": {"type": "plain_text", "text": "ok"}, "value": "v" * 2001}
    assert validate_blocks([{"type": "actions", "elements": [button]}])
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "ok"},
        "action_id": "a" * 256,
    }
    [err] = validate_blocks([{"type": "actions", "elements": [button]}])
    assert "/blocks/0/elements/0/action_id" in err
    text_input = {"type": "plain_text_input", "max_length": 3001}
    assert validate_blocks(
        [{"type": "input", "label": {"type": "plain_text", "text": "L"}, "element": text_input}],
        surface="modal",
    )
    [err] = validate_blocks([{"text": {"type": "mrkdwn", "text": "no type"}}])
    assert err == "missing required field: type [json-pointer:/blocks/0]"


def test_validate_view_limits() -> None:
    assert validate_view(modal()) == []
    [err] = validate_view(modal("t" * 25))
    assert err.endswith("[json-pointer:/view/title/text]")
    assert validate_view({"type": "dialog", "blocks": []})
    assert validate_view({"type": "home", "blocks": [section("x")] * 101})
    assert validate_view(modal(private_metadata="m" * 3001))


def test_invalid_blocks_are_refused_and_not_recorded(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0PMS", text="x", blocks=[section("x")] * 51)
    assert exc.value.response["error"] == "invalid_blocks"
    assert exc.value.response["errors"] == ["no more than 50 items allowed [json-pointer:/blocks]"]
    assert exc.value.response["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert fake.messages("C0PMS") == []


def test_invalid_view_is_refused_like_slack(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.views_open(trigger_id=payloads.new_trigger_id(), view=modal("t" * 25))
    assert exc.value.response["error"] == "invalid_arguments"
    [message] = exc.value.response["response_metadata"]["messages"]
    assert message.startswith("[ERROR] must be less than 25 characters")
    assert fake.open_views() == {}
    with pytest.raises(SlackApiError) as exc:
        client.views_publish(user_id=ANN, view={"type": "home", "blocks": [section("x")] * 101})
    assert exc.value.response["error"] == "invalid_arguments"
    assert fake.home_view(ANN) is None


# --------------------------------------------------------------------------- views


def test_views_open_update_push(fake: FakeSlack, client: WebClient) -> None:
    trigger = payloads.new_trigger_id()
    opened = client.views_open(trigger_id=trigger, view=modal(callback_id="win"))["view"]
    assert opened["id"].startswith("V") and opened["hash"]
    assert opened["callback_id"] == "win" and opened["root_view_id"] == opened["id"]
    sample_answer = api_sample("views.open")
    if sample_answer is not None:
        assert set(opened) <= set(sample_answer["view"])
    assert fake.open_views()[opened["id"]]["title"]["text"] == "Log a win"

    with pytest.raises(SlackApiError) as exc:  # a trigger_id works once
        client.views_open(trigger_id=trigger, view=modal())
    assert exc.value.response["error"] == "exchanged_trigger_id"

    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("Saved"))[
        "view"
    ]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert fake.open_views()[opened["id"]]["title"]["text"] == "Saved"
    with pytest.raises(SlackApiError) as exc:  # the old hash is stale now
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("Again"))
    assert exc.value.response["error"] == "hash_conflict"

    pushed = client.views_push(trigger_id=payloads.new_trigger_id(), view=modal("Step 2"))["view"]
    assert pushed["previous_view_id"] == opened["id"]
    assert pushed["root_view_id"] == opened["id"]
    assert len(fake.open_views()) == 2


def test_views_update_by_external_id(fake: FakeSlack, client: WebClient) -> None:
    view = modal(external_id="win-42")
    opened = client.views_open(trigger_id=payloads.new_trigger_id(), view=view)["view"]
    client.views_update(external_id="win-42", view=modal("Done", external_id="win-42"))
    assert fake.open_views()[opened["id"]]["title"]["text"] == "Done"
    with pytest.raises(SlackApiError) as exc:
        client.views_update(view_id="V0NOPE", view=modal())
    assert exc.value.response["error"] == "not_found"


def test_trigger_ttl_expires_triggers(fake: FakeSlack, client: WebClient) -> None:
    fake.trigger_ttl = 3.0
    old = f"{int((time.time() - 10) * 1000)}.123.abc"
    with pytest.raises(SlackApiError) as exc:
        client.views_open(trigger_id=old, view=modal())
    assert exc.value.response["error"] == "expired_trigger_id"


def test_views_publish_and_home_view(fake: FakeSlack, client: WebClient) -> None:
    home = {"type": "home", "blocks": [section("Your week")]}
    first = client.views_publish(user_id=ANN, view=home)["view"]
    stored = fake.home_view(ANN)
    assert stored is not None and stored["blocks"] == home["blocks"]
    second = client.views_publish(
        user_id=ANN, view={"type": "home", "blocks": [section("Next")]}, hash=first["hash"]
    )["view"]
    assert second["id"] == first["id"] and second["hash"] != first["hash"]
    with pytest.raises(SlackApiError) as exc:
        client.views_publish(user_id=ANN, view=home, hash=first["hash"])
    assert exc.value.response["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as exc:
        client.views_publish(user_id="U0NOBODY", view=home)
    assert exc.value.response["error"] == "user_not_found"
    assert fake.home_view("U0NOBODY") is None
    assert fake.open_views() == {}  # home tabs are not modals


# --------------------------------------------------------------------------- files


def test_files_upload_v2_end_to_end(fake: FakeSlack, client: WebClient) -> None:
    resp = client.files_upload_v2(
        channel="C0PMS",
        content="week,wins\n47,3\n",
        filename="wins.csv",
        title="Your wins",
        initial_comment="Here is your export",
    )
    assert resp["file"]["id"].startswith("F")
    assert [c.method for c in fake.calls] == [
        "files.getUploadURLExternal",
        "upload_url",
        "files.completeUploadExternal",
    ]
    [stored] = fake.files("C0PMS")
    assert stored["content"] == b"week,wins\n47,3\n"
    assert stored["filename"] == "wins.csv" and stored["title"] == "Your wins"
    assert stored["initial_comment"] == "Here is your export"
    [share] = fake.messages("C0PMS")
    assert share["files"][0]["id"] == resp["file"]["id"]


def test_files_upload_v2_to_a_dm_and_errors(fake: FakeSlack, client: WebClient) -> None:
    dm = client.conversations_open(users=ANN)["channel"]["id"]
    client.files_upload_v2(channel=dm, content=b"\x00bin", filename="a.bin", title="A")
    assert fake.files(ANN)[0]["content"] == b"\x00bin"
    with pytest.raises(SlackApiError) as exc:
        client.files_upload_v2(channel="C0NOPE", content="x", filename="x.txt", title="x")
    assert exc.value.response["error"] == "channel_not_found"


def test_legacy_files_upload_is_retired(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.api_call("files.upload", data={"channels": "C0PMS", "content": "x"})
    assert exc.value.response["error"] == "method_deprecated"


# --------------------------------------------------------------------------- response_url


def test_response_url_posts_are_journaled(fake: FakeSlack) -> None:
    respond = Respond(response_url=fake.response_url("cmd-1"))
    resp = respond(text="Logged!", response_type="ephemeral", replace_original=False)
    assert resp.status_code == 200
    [call] = fake.wait_for("response_url")
    assert call.args["_hook"] == "cmd-1"
    assert call.args["text"] == "Logged!"
    assert call.token is None


def test_response_url_works_five_times(fake: FakeSlack) -> None:
    respond = Respond(response_url=fake.response_url("cmd-2"))
    statuses = [respond(text=str(i)).status_code for i in range(6)]
    assert statuses == [200] * 5 + [404]
