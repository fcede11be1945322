"""Malformed but correctly signed requests: a body whose shape or ids are not what Slack sends
is answered 400, stores nothing in Redis and makes no Web API or response_url call.

The signature only says who sent the bytes; everything inside is the sender's to choose. Each
case below is a genuine request with one field broken, signed after the change.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.fakeslack import FakeSlack, payloads
from bot.runtime import wellformed
from bot.runtime.app import create_app
from bot.runtime.compose import build_runtime
from bot.runtime.ids import is_event_id, is_slack_id, response_url_allowed
from bot.runtime.settings import Settings
from bot.surfaces.blocks import ACTION_PICK_CLARITY, FIELD_LANE, FIELD_TEXT, VIEW_WIN
from bot.surfaces.home import FIELD_NUDGE_DAYS, FIELD_PAUSE, FIELD_TARGET, VIEW_SETTINGS
from bot.surfaces.nudge_blocks import ACTION_HOME_START, FIELD_ANSWER, VIEW_REFLECT
from tests.conftest import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, TEAM, Clock, make_redis, serve_app
from tests.driver import SlackDriver
from tests.reliability.conftest import LogCapture
from tests.reliability.test_forged import dump

JsonDict = dict[str, Any]
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


# Genuine requests to break ---------------------------------------------------------------------


def command(hook: str) -> JsonDict:
    return payloads.slash_command_payload(
        "/win",
        "clarity A malformed win",
        team_id=TEAM,
        user_id="U0ALICE",
        channel_id="C0GENERAL",
        response_url=hook,
    )


def click(hook: str) -> JsonDict:
    """A click on the lane question's clarity button (it would log the drafted win)."""
    action = {"type": "button", "action_id": ACTION_PICK_CLARITY, "value": "d1", "block_id": "b"}
    return payloads.block_actions_payload(
        [action], team_id=TEAM, user_id="U0ALICE", channel_id="C0GENERAL", response_url=hook
    )


def home_click(hook: str) -> JsonDict:
    """The Home's Get started button (it would enrol the PM and publish the Home)."""
    action = {"type": "button", "action_id": ACTION_HOME_START, "value": "start", "block_id": "b"}
    view = {"type": "home", "blocks": []}
    return payloads.block_actions_payload([action], team_id=TEAM, user_id="U0ALICE", view=view)


def submission(hook: str) -> JsonDict:
    values = {
        FIELD_TEXT: {"value": {"type": "plain_text_input", "value": "A malformed modal win"}},
        FIELD_LANE: {"value": {"type": "radio_buttons", "selected_option": {"value": "clarity"}}},
    }
    view = {"type": "modal", "callback_id": VIEW_WIN, "blocks": []}
    return payloads.view_submission_payload(view, values, team_id=TEAM, user_id="U0ALICE")


def home_opened(hook: str) -> JsonDict:
    event = {"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "event_ts": "1.1"}
    return payloads.event_callback_payload(event, team_id=TEAM)


def tokens_revoked(hook: str) -> JsonDict:
    """The bot token was revoked (it would mark the team uninstalled)."""
    tokens = {"oauth": ["U0ALICE"], "bot": ["U0PMCOACH"]}
    return payloads.event_callback_payload(
        {"type": "tokens_revoked", "tokens": tokens}, team_id=TEAM
    )


def user_change(hook: str) -> JsonDict:
    user = {"id": "U0ALICE", "team_id": TEAM, "tz": "Asia/Tokyo", "name": "alice"}
    return payloads.event_callback_payload({"type": "user_change", "user": user}, team_id=TEAM)


Edit = Callable[[JsonDict], None]


def setting(path: str, value: Any) -> Edit:
    def edit(body: JsonDict) -> None:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def removing(path: str) -> Edit:
    def edit(body: JsonDict) -> None:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[key]
        del node[last]

    return edit


BASES: dict[str, Callable[[str], JsonDict]] = {
    "command": command,
    "click": click,
    "home_click": home_click,
    "submission": submission,
    "home_opened": home_opened,
    "user_change": user_change,
    "tokens_revoked": tokens_revoked,
}

# (base request, how it is broken). Every one of them was a 500 or a write before the check.
CASES: dict[str, tuple[str, Edit]] = {
    "actions_a_string": ("click", setting("actions", "x")),
    "actions_an_empty_dict": ("click", setting("actions", [{}])),
    "actions_empty": ("click", setting("actions", [])),
    "action_id_a_number": ("click", setting("actions", [{"action_id": 5, "value": "d1"}])),
    "action_value_a_dict": (
        "click",
        setting("actions", [{"action_id": ACTION_PICK_CLARITY, "value": {"x": 1}}]),
    ),
    "click_user_a_string": ("click", setting("user", "x")),
    "click_user_id_lower_case": ("click", setting("user.id", "u0alice")),
    "click_user_id_a_path": ("click", setting("user.id", "U0ALICE/../U0BOB")),
    "click_team_a_list": ("click", setting("team", ["T0TEAM"])),
    "click_team_id_malformed": ("click", setting("team.id", "T0TEAM:x")),
    "click_channel_id_malformed": ("click", setting("container.channel_id", "#general")),
    "click_response_url_a_number": ("click", setting("response_url", 7)),
    "click_without_trigger_id": ("click", removing("trigger_id")),
    "home_click_view_a_string": ("home_click", setting("view", "str")),
    "home_click_container_a_string": ("home_click", setting("container", "view")),
    "home_click_without_view": ("home_click", removing("view")),
    "view_a_string": ("submission", setting("view", "str")),
    "view_without_callback_id": ("submission", removing("view.callback_id")),
    "view_metadata_a_dict": ("submission", setting("view.private_metadata", {"a": 1})),
    "view_state_a_list": ("submission", setting("view.state", [])),
    "view_installed_team_malformed": (
        "submission",
        setting("view.app_installed_team_id", "T0TEAM x"),
    ),
    "submission_user_missing": ("submission", removing("user")),
    "command_without_user_id": ("command", removing("user_id")),
    "command_without_team_id": ("command", removing("team_id")),
    "command_user_id_empty": ("command", setting("user_id", "")),
    "command_user_id_a_channel": ("command", setting("user_id", "C0GENERAL")),
    "command_team_id_lower_case": ("command", setting("team_id", "t0team")),
    "command_channel_id_malformed": ("command", setting("channel_id", "general")),
    "command_without_trigger_id": ("command", removing("trigger_id")),
    "home_opened_without_user": ("home_opened", removing("event.user")),
    "home_opened_user_a_dict": ("home_opened", setting("event.user", {"id": "U0ALICE"})),
    "home_opened_user_malformed": ("home_opened", setting("event.user", "U0ALICE\n")),
    "event_a_string": ("home_opened", setting("event", "x")),
    "event_team_id_missing": ("home_opened", removing("team_id")),
    "event_authorizations_a_string": ("home_opened", setting("authorizations", "x")),
    "user_change_user_a_string": ("user_change", setting("event.user", "x")),
    "user_change_user_without_id": ("user_change", removing("event.user.id")),
    "user_change_user_id_malformed": ("user_change", setting("event.user.id", "*")),
    "user_change_team_id_malformed": ("user_change", setting("team_id", "T0TEAM*")),
    # event_id becomes a Redis key (pmc:v1:{T}:event:<event_id>): Slack's shape only.
    "event_id_a_pattern": ("home_opened", setting("event_id", "Ev0*")),
    "event_id_100_kb": ("home_opened", setting("event_id", "*" * 100_000)),
    "event_id_a_key_path": ("home_opened", setting("event_id", "Ev0:x")),
    "event_id_a_number": ("home_opened", setting("event_id", 7)),
    "event_id_empty": ("home_opened", setting("event_id", "")),
    "tokens_a_string": ("tokens_revoked", setting("event.tokens", "x")),
    "tokens_missing": ("tokens_revoked", removing("event.tokens")),
    "tokens_bot_a_string": ("tokens_revoked", setting("event.tokens.bot", "U0PMCOACH")),
    "tokens_bot_id_malformed": ("tokens_revoked", setting("event.tokens.bot", ["*"])),
    "tokens_oauth_a_dict": ("tokens_revoked", setting("event.tokens.oauth", {"U0ALICE": 1})),
}


def encode(base: str, body: JsonDict) -> tuple[bytes, str]:
    """The HTTP body Slack would send for this payload (form fields, payload=..., or JSON)."""
    if base == "command":
        return urlencode(body).encode(), FORM
    if base in ("home_opened", "user_change", "tokens_revoked"):
        return json.dumps(body).encode(), JSON
    return urlencode({"payload": json.dumps(body)}).encode(), FORM


# The running app ------------------------------------------------------------------------------


@pytest.fixture(scope="module", name="app")
def _app(redis_url: str) -> Iterator[tuple[SlackDriver, FakeSlack, redis.Redis]]:
    """One running app for the module; each test starts from its own Redis snapshot."""
    with FakeSlack(team_id=TEAM, bot_token=BOT_TOKEN, app_token="xapp-unused") as fake:
        fake.add_user("U0ALICE", name="alice", tz="Europe/Berlin")
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_base_url=fake.api_base_url,
            redis_url=redis_url,
        )
        client = make_redis(redis_url)
        clock = Clock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
        with serve_app(settings, client, fake, clock) as slack:
            yield slack, fake, client
        client.close()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_signed_request_gets_400_and_changes_nothing(
    app: tuple[SlackDriver, FakeSlack, redis.Redis], case: str
) -> None:
    """Answered 400 (not a 500, not a 200 that did something), Redis unchanged, no call to
    Slack's Web API or to the response_url."""
    slack, fake, rds = app
    rds.flushall()
    slack.command("/win", "shipped Existing win")  # a PM with a profile, a win, a due nudge
    fake.clear_calls()
    before = dump(rds)
    base, edit = CASES[case]
    body = copy.deepcopy(BASES[base](fake.response_url("malformed")))
    edit(body)
    raw, content_type = encode(base, body)
    answer = slack.post(raw, content_type)  # signed; waits for any work handed off after it
    assert (answer.status, dump(rds) == before, fake.calls) == (400, True, [])


@pytest.mark.parametrize("base", sorted(BASES))
def test_the_unbroken_requests_are_served(
    app: tuple[SlackDriver, FakeSlack, redis.Redis], base: str
) -> None:
    """Control: each request the cases break is served (200) and has an effect."""
    slack, fake, rds = app
    rds.flushall()
    slack.command("/win", "shipped Existing win")
    fake.clear_calls()
    before = dump(rds)
    raw, content_type = encode(base, BASES[base](fake.response_url("genuine")))
    answer = slack.post(raw, content_type)
    assert answer.status == 200
    assert dump(rds) != before or fake.calls, "the genuine request did nothing"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("U0ALICE", True),
        ("W0GRIDUSER", True),
        ("T0TEAM", True),
        ("E0ORG", True),
        ("C0GENERAL", True),
        ("D0DM", True),
        ("G0GROUP", True),
        ("U1", False),
        ("u0alice", False),
        ("X0THING", False),
        ("U0ALICE ", False),
        ("<@U0ALICE>", False),
        ("", False),
        (None, False),
        (7, False),
    ],
)
def test_is_slack_id(text: object, ok: bool) -> None:
    """Only a Slack id's shape passes: kind letter, then upper-case letters and digits."""
    assert is_slack_id(text) is ok


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.com/commands/T0/1/abc", True),
        ("http://127.0.0.1:7801/hooks/x", True),
        ("http://127.0.0.1:7802/internal/admin", False),
        # The API origin's Web API is no response_url, however its path is spelt.
        ("http://127.0.0.1:7801/api/chat.postMessage", False),
        ("http://127.0.0.1:7801/api", False),
        ("http://127.0.0.1:7801/API/chat.postMessage", False),
        ("http://127.0.0.1:7801//api/chat.postMessage", False),
        ("http://127.0.0.1:7801/%61pi/chat.postMessage", False),
        ("http://127.0.0.1:7801/hooks/../api/chat.postMessage", False),
        ("http://127.0.0.1:7801/./api/chat.postMessage", False),
        ("http://127.0.0.1:7801/apiary/x", True),
        ("http://127.0.0.1/hooks/x", False),
        ("https://127.0.0.1:7801/hooks/x", False),
        ("http://hooks.slack.com/commands/x", False),
        ("https://hooks.slack.com.evil.example/x", False),
        ("https://evil.example@hooks.slack.com/x", False),
        ("https://hooks.slack.com:8443/x", False),
        ("file:///etc/passwd", False),
        ("", False),
        (None, False),
    ],
)
def test_response_url_allowed(url: object, ok: bool) -> None:
    """Slack's hooks host over https, or the SLACK_API_BASE_URL origin (the fake) outside the
    Web API's own path: no other."""
    assert response_url_allowed(url, "http://127.0.0.1:7801/api/") is ok


def test_an_api_base_url_at_the_root_leaves_only_slacks_hooks() -> None:
    """With the Web API at its origin's root, every path there is the API: only Slack's
    hooks remain; and Slack's own setting leaves them allowed."""
    assert not response_url_allowed("http://127.0.0.1:7801/hooks/x", "http://127.0.0.1:7801")
    assert response_url_allowed("https://hooks.slack.com/x", "http://127.0.0.1:7801/")
    slack_api = "https://slack.com/api/"
    assert response_url_allowed("https://hooks.slack.com/actions/T0/1/abc", slack_api)
    assert not response_url_allowed("https://slack.com/api/chat.postMessage", slack_api)


def test_the_fakes_hooks_are_allowed() -> None:
    """The fake Slack's response_urls pass with its own API base URL (tests, sandbox)."""
    with FakeSlack(team_id=TEAM, bot_token=BOT_TOKEN) as fake:
        assert response_url_allowed(fake.response_url("k"), fake.api_base_url)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Ev0PV52K21", True),
        ("Ev08MFMKH6", True),
        ("Ev0SAME", True),
        ("Ev", False),
        ("Ev0*", False),
        ("Ev0:x", False),
        ("Ev0 ", False),
        ("Ev" + "A" * 41, False),
        ("EV0PV52K21", False),
        ("", False),
        (7, False),
    ],
)
def test_is_event_id(text: object, ok: bool) -> None:
    """Only an Events API event_id's shape passes: it becomes part of a Redis key."""
    assert is_event_id(text) is ok


def test_only_a_revoked_bot_token_uninstalls(
    app: tuple[SlackDriver, FakeSlack, redis.Redis],
) -> None:
    """`tokens_revoked` for user (oauth) tokens only leaves the team installed; one naming a
    bot user id marks it uninstalled (as `app_uninstalled` does)."""
    slack, _, rds = app
    rds.flushall()
    users_only = {"type": "tokens_revoked", "tokens": {"oauth": ["U0ALICE"], "bot": []}}
    assert slack.event(users_only).status == 200
    assert slack.event({"type": "tokens_revoked", "tokens": {"oauth": ["U0ALICE"]}}).status == 200
    assert not slack.store.teams.is_uninstalled(TEAM)
    bot = {"type": "tokens_revoked", "tokens": {"bot": ["U0PMCOACH"]}}
    assert slack.event(bot).status == 200
    assert slack.store.teams.is_uninstalled(TEAM)


def test_problem_names_the_field_never_its_content() -> None:
    """The log line says which field was wrong, without echoing what the sender put there."""
    body = payloads.event_callback_payload(
        {"type": "app_home_opened", "user": "xoxb-secret"}, team_id=TEAM
    )
    assert wellformed.problem(body) == "event.user"


# Form fields are the PM's input: a field of the wrong shape is an answer, never a 500 ---------

WRONG_FIELDS: dict[str, tuple[str, JsonDict]] = {
    "settings_option_a_string": (
        VIEW_SETTINGS,
        {
            FIELD_TARGET: {"value": {"selected_option": "50"}},
            FIELD_PAUSE: {"value": {"selected_option": ["0"]}},
        },
    ),
    "settings_days_not_objects": (
        VIEW_SETTINGS,
        {
            FIELD_TARGET: {"value": {"selected_option": {"value": "50"}}},
            FIELD_NUDGE_DAYS: {"value": {"selected_options": ["1", 2, None]}},
        },
    ),
    "reflect_answer_a_list": (VIEW_REFLECT, {FIELD_ANSWER: {"value": {"value": ["x"]}}}),
    "reflect_answer_not_an_object": (VIEW_REFLECT, {FIELD_ANSWER: {"value": "x"}}),
    "reflect_values_a_list": (VIEW_REFLECT, []),  # type: ignore[dict-item]
}


@pytest.mark.parametrize("case", sorted(WRONG_FIELDS))
def test_a_form_field_of_the_wrong_shape_is_answered_under_a_field(
    app: tuple[SlackDriver, FakeSlack, redis.Redis], case: str
) -> None:
    """Settings and reflect forms whose fields are not in Slack's shape: 200 with an error
    under a field (or the form simply closes), never a 500."""
    slack, _, rds = app
    rds.flushall()
    slack.command("/win", "shipped Existing win")
    callback_id, values = WRONG_FIELDS[case]
    view = {"type": "modal", "callback_id": callback_id, "blocks": []}
    answer = slack.submit(view, values)
    assert answer.status == 200, answer.body
    if answer.body:
        assert answer.json.get("response_action") == "errors", answer.json


def test_socket_mode_refuses_a_malformed_envelope_too(
    fake_socket: FakeSlack, rds: redis.Redis, redis_url: str, logs: LogCapture
) -> None:
    """Over Socket Mode (no HTTP front to catch anything) the same check answers: the broken
    command is refused and stores nothing; the connection keeps serving genuine commands."""
    fake = fake_socket
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_api_base_url=fake.api_base_url,
        redis_url=redis_url,
    )
    runtime = build_runtime(settings, redis_client=rds, clock=Clock(datetime.now(UTC)))
    handler = SocketModeHandler(create_app(settings, runtime.deps), app_token=APP_TOKEN)
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        assert fake.socket_connected(timeout=15)
        broken = command(fake.response_url("sock-broken"))
        del broken["user_id"]
        before = dump(rds)

        # Bolt sends no ack for a non-200 answer: deliver without waiting for one.
        def deliver() -> None:
            with contextlib.suppress(AssertionError):
                fake.socket_send("slash_commands", broken, timeout=0.5)

        sender = threading.Thread(target=deliver, daemon=True)
        sender.start()
        wait_for_event(logs, "request_malformed")
        assert dump(rds) == before and fake.calls_to("response_url") == []
        genuine = command(fake.response_url("sock-genuine"))
        ack = fake.socket_send("slash_commands", genuine, timeout=10)
        assert "Logged" in json.dumps(ack.get("payload"))
        sender.join(timeout=10)
    finally:
        handler.close()  # type: ignore[no-untyped-call]


def wait_for_event(logs: LogCapture, event: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not logs.events(event):
        assert time.monotonic() < deadline, f"no {event} log line"
        time.sleep(0.01)


@pytest.fixture(name="fake_socket")
def _fake_socket() -> Iterator[FakeSlack]:
    with FakeSlack(team_id=TEAM, bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        fake.add_user("U0ALICE", name="alice", tz="Europe/Berlin")
        yield fake
