"""Forged requests: only a request signed with our signing secret within five minutes is served.

Every forged variant of four real requests — a slash command that would log a win, a Home
button that would enrol the PM (profile, welcome DM, Home), a modal submission that would log
a win, and an `app_home_opened` event that would publish the Home — must get a 401, leave Redis
exactly as it was (no key added, removed or changed) and make no Web API call at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from bot.fakeslack import FakeSlack, payloads
from bot.runtime.settings import Settings
from bot.surfaces.blocks import FIELD_BENEFICIARY, FIELD_DATE, FIELD_LANE, FIELD_LINK, FIELD_TEXT
from bot.surfaces.nudge_blocks import ACTION_HOME_START
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, TEAM, Clock, make_redis, serve_app
from tests.driver import SlackDriver
from tests.reliability.conftest import settle

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
Headers = list[tuple[str, str]]


def digest(body: bytes, ts: str, secret: str = SIGNING_SECRET, algo: Any = hashlib.sha256) -> str:
    return hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, algo).hexdigest()


def good(body: bytes, ts: str) -> Headers:
    return [("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", f"v0={digest(body, ts)}")]


# The four requests -------------------------------------------------------------------------


# Where forged commands ask to be answered: the fake's own hook, so any POST the app makes to
# it (a forger choosing the app's outgoing request) shows up in the journal.
HOOK = {"url": "http://127.0.0.1:9/hooks/forged"}


def command_body(text: str = "clarity A forged win") -> tuple[bytes, str]:
    return payloads.slash_command(
        "/win",
        text,
        team_id=TEAM,
        user_id="U0ALICE",
        channel_id="C0GENERAL",
        response_url=HOOK["url"],
    )


def action_body(user: str = "U0ALICE") -> tuple[bytes, str]:
    home = {
        "type": "home",
        "blocks": [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACTION_HOME_START,
                        "value": "start",
                        "text": {"type": "plain_text", "text": "Get started"},
                    }
                ],
            }
        ],
    }
    action = {"type": "button", "action_id": ACTION_HOME_START, "value": "start"}
    return payloads.block_actions([action], team_id=TEAM, user_id=user, view=home)


def view_body(text: str = "A forged modal win") -> tuple[bytes, str]:
    view = {"type": "modal", "callback_id": "win_modal", "blocks": []}
    values = {
        FIELD_TEXT: {"value": {"type": "plain_text_input", "value": text}},
        FIELD_LANE: {"value": {"type": "radio_buttons", "selected_option": {"value": "clarity"}}},
        FIELD_DATE: {"value": {"type": "datepicker", "selected_date": None}},
        FIELD_LINK: {"value": {"type": "url_text_input", "value": None}},
        FIELD_BENEFICIARY: {"value": {"type": "plain_text_input", "value": None}},
    }
    return payloads.view_submission(view, values, team_id=TEAM, user_id="U0ALICE")


def event_body(user: str = "U0ALICE") -> tuple[bytes, str]:
    event = {"type": "app_home_opened", "user": user, "tab": "home", "event_ts": "1.1"}
    return payloads.event_callback(event, team_id=TEAM)


KINDS: dict[str, Callable[[], tuple[bytes, str]]] = {
    "slash_command": command_body,
    "block_actions": action_body,
    "view_submission": view_body,
    "event": event_body,
}
# A different, genuine request of the same kind (for "signature of another body").
OTHER: dict[str, Callable[[], tuple[bytes, str]]] = {
    "slash_command": lambda: command_body("shipped Something else entirely"),
    "block_actions": lambda: action_body("U0BOB"),
    "view_submission": lambda: view_body("Another modal win"),
    "event": lambda: event_body("U0BOB"),
}


# The forgeries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Forged:
    body: bytes
    headers: Headers


def forge(case: str, kind: str, margin: int = 0) -> Forged:
    """The request a forger (or a broken proxy) would send for `case`."""
    body, _ = KINDS[kind]()
    now = int(time.time())
    ts = str(now)
    sig = digest(body, ts)
    if case == "no_headers":
        return Forged(body, [])
    if case == "missing_signature":
        return Forged(body, [("X-Slack-Request-Timestamp", ts)])
    if case == "missing_timestamp":
        return Forged(body, [("X-Slack-Signature", f"v0={sig}")])
    if case == "wrong_secret":
        return Forged(
            body,
            [
                ("X-Slack-Request-Timestamp", ts),
                ("X-Slack-Signature", f"v0={digest(body, ts, 'not-our-secret')}"),
            ],
        )
    if case == "empty_secret":
        return Forged(
            body,
            [
                ("X-Slack-Request-Timestamp", ts),
                ("X-Slack-Signature", f"v0={digest(body, ts, '')}"),
            ],
        )
    if case == "bot_token_as_secret":
        return Forged(
            body,
            [
                ("X-Slack-Request-Timestamp", ts),
                ("X-Slack-Signature", f"v0={digest(body, ts, BOT_TOKEN)}"),
            ],
        )
    if case == "secret_with_trailing_space":
        key = SIGNING_SECRET + " "
        return Forged(
            body,
            [
                ("X-Slack-Request-Timestamp", ts),
                ("X-Slack-Signature", f"v0={digest(body, ts, key)}"),
            ],
        )
    if case in ("stale_301s", "future_301s", "epoch_zero", "far_future"):
        shifted = {
            # Rounded away from "now", so the stamp is at least 301 s off when it is checked
            # (`margin` adds slack for a busy machine).
            "stale_301s": math.floor(time.time()) - 301 - margin,
            "future_301s": math.ceil(time.time()) + 301 + margin,
            "epoch_zero": 0,
            "far_future": now + 10**9,
        }[case]
        return Forged(body, good(body, str(shifted)))
    if case == "tampered_body":
        tampered = body.replace(b"U0ALICE", b"U0ALICF", 1)
        assert tampered != body
        return Forged(tampered, good(body, ts))
    if case == "signature_of_another_body":
        other, _ = OTHER[kind]()
        return Forged(body, good(other, ts))
    if case == "replayed_with_new_timestamp":
        captured = str(now - 400)  # a genuine request seen 400 s ago, re-sent with a fresh stamp
        return Forged(
            body,
            [
                ("X-Slack-Request-Timestamp", ts),
                ("X-Slack-Signature", f"v0={digest(body, captured)}"),
            ],
        )
    if case == "timestamp_of_another_request":
        return Forged(
            body, [("X-Slack-Request-Timestamp", str(now - 1)), ("X-Slack-Signature", f"v0={sig}")]
        )
    if case == "empty_signature":
        return Forged(body, [("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", "")])
    if case == "bare_prefix":
        return Forged(body, [("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", "v0=")])
    replaced_signature = {
        "wrong_version_v1": f"v1={sig}",
        "uppercase_prefix": f"V0={sig}",
        "no_version_prefix": sig,
        "colon_instead_of_equals": f"v0:{sig}",
        "uppercase_hex": f"v0={sig.upper()}",
        "truncated_signature": f"v0={sig[:-1]}",
        "half_signature": f"v0={sig[:32]}",
        "signature_with_extra_hex": f"v0={sig}0",
        "space_inside_signature": f"v0={sig[:32]} {sig[32:]}",
        "space_after_prefix": f"v0= {sig}",
        "sha1_signature": f"v0={digest(body, ts, algo=hashlib.sha1)}",
        "base64_signature": "v0=" + base64.b64encode(bytes.fromhex(sig)).decode(),
        "signature_without_v0_in_base": "v0="
        + hmac.new(SIGNING_SECRET.encode(), f"{ts}:".encode() + body, hashlib.sha256).hexdigest(),
        "two_signatures_in_one_header": f"v0={digest(body, ts, 'x')},v0={sig}",
    }
    if case in replaced_signature:
        return Forged(
            body,
            [("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", replaced_signature[case])],
        )
    replaced_timestamp = {
        "non_numeric_timestamp": "yesterday",
        "float_timestamp": f"{now}.5",
        "zero_padded_timestamp": f"0{now}",
        "space_inside_timestamp": f"{ts[:5]} {ts[5:]}",
        "unicode_digit_timestamp": ts.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
        "negative_timestamp": f"-{now}",
        "hex_timestamp": hex(now),
        "empty_timestamp": "",
    }
    if case in replaced_timestamp:
        # Signed over the fake timestamp with the right secret: what a parser must still refuse.
        fake_ts = replaced_timestamp[case]
        signed_over = (
            ts if case in ("zero_padded_timestamp", "unicode_digit_timestamp") else fake_ts
        )
        return Forged(
            body,
            [
                ("X-Slack-Request-Timestamp", fake_ts),
                ("X-Slack-Signature", f"v0={digest(body, signed_over)}"),
            ],
        )
    if case == "body_with_trailing_bytes":
        extra = b"&text=clarity+smuggled" if kind != "event" else b" "
        return Forged(body + extra, good(body, ts))
    if case == "body_with_trailing_newline":
        return Forged(body + b"\n", good(body, ts))
    if case == "body_with_invalid_utf8_tail":
        return Forged(body + b"\xff\xfe", good(body, ts))
    if case == "body_truncated":
        return Forged(body[:-3], good(body, ts))
    if case == "duplicated_signature_both_forged":
        other, _ = OTHER[kind]()
        return Forged(
            body,
            [
                ("X-Slack-Request-Timestamp", ts),
                ("X-Slack-Signature", f"v0={digest(body, ts, 'x')}"),
                ("X-Slack-Signature", f"v0={digest(other, ts)}"),
            ],
        )
    if case == "duplicated_signature_genuine_then_junk":
        return Forged(
            body,
            [
                ("X-Slack-Request-Timestamp", ts),
                ("X-Slack-Signature", f"v0={sig}"),
                ("X-Slack-Signature", f"v0={digest(body, ts, 'x')}"),
            ],
        )
    if case == "duplicated_timestamp_fresh_then_stale":
        # A genuine request captured 400 s ago, with a fresh stamp put in front of it.
        old = str(now - 400)
        return Forged(
            body,
            [
                ("X-Slack-Request-Timestamp", ts),
                ("X-Slack-Request-Timestamp", old),
                ("X-Slack-Signature", f"v0={digest(body, old)}"),
            ],
        )
    raise AssertionError(f"unknown case {case}")


CASES = [
    "no_headers",
    "missing_signature",
    "missing_timestamp",
    "wrong_secret",
    "empty_secret",
    "bot_token_as_secret",
    "secret_with_trailing_space",
    "stale_301s",
    "future_301s",
    "epoch_zero",
    "far_future",
    "tampered_body",
    "signature_of_another_body",
    "replayed_with_new_timestamp",
    "timestamp_of_another_request",
    "empty_signature",
    "bare_prefix",
    "wrong_version_v1",
    "uppercase_prefix",
    "no_version_prefix",
    "colon_instead_of_equals",
    "uppercase_hex",
    "truncated_signature",
    "half_signature",
    "signature_with_extra_hex",
    "space_inside_signature",
    "space_after_prefix",
    "sha1_signature",
    "base64_signature",
    "signature_without_v0_in_base",
    "two_signatures_in_one_header",
    "non_numeric_timestamp",
    "float_timestamp",
    "zero_padded_timestamp",
    "space_inside_timestamp",
    "unicode_digit_timestamp",
    "negative_timestamp",
    "hex_timestamp",
    "empty_timestamp",
    "body_with_trailing_bytes",
    "body_with_trailing_newline",
    "body_with_invalid_utf8_tail",
    "body_truncated",
    "duplicated_signature_both_forged",
    "duplicated_signature_genuine_then_junk",
    "duplicated_timestamp_fresh_then_stale",
]


# Sending raw requests ----------------------------------------------------------------------


def raw_post(base_url: str, body: bytes, content_type: str, headers: Headers) -> int:
    """POST exactly these headers (repeats included) with http.client; return the status."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.putrequest("POST", "/slack/events", skip_accept_encoding=True)
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(len(body)))
        for name, value in headers:
            conn.putheader(name, value.encode())  # UTF-8 on the wire, as a forger may send
        conn.endheaders(body)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@dataclass
class Target:
    slack: SlackDriver
    fake: FakeSlack
    redis: redis.Redis


@pytest.fixture(scope="module", name="target")
def _target(redis_url: str) -> Iterator[Target]:
    """One running app for the module (forged requests should change nothing, so sharing it is
    itself part of the check); each test starts from a flushed Redis and an empty journal."""
    with FakeSlack(team_id=TEAM, bot_token=BOT_TOKEN, app_token="xapp-unused") as fake:
        HOOK["url"] = fake.response_url("forged")
        fake.add_user("U0ALICE", name="alice", tz="Europe/Berlin")
        fake.add_user("U0BOB", name="bob", tz="America/New_York")
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_base_url=fake.api_base_url,
            redis_url=redis_url,
        )
        client = make_redis(redis_url)
        clock = Clock(datetime.now(UTC))
        with serve_app(settings, client, fake, clock) as slack:
            yield Target(slack, fake, client)
        client.close()


def dump(client: redis.Redis) -> dict[str, Any]:
    """Every key with its type and value: 'nothing stored' means this is unchanged."""
    out: dict[str, Any] = {}
    for key in client.scan_iter("*", count=1000):
        out[str(key)] = (client.type(key), client.dump(key))
    return out


@pytest.mark.parametrize("case", CASES)
def test_forged_request_is_refused_and_changes_nothing(target: Target, case: str) -> None:
    """A forged slash command, button, modal submission and event each get 401, store nothing
    in Redis and make no Web API or response_url call."""
    target.redis.flushall()
    target.redis.set("pmc:v1:canary", "before")  # something that existed before
    target.fake.clear_calls()
    before = dump(target.redis)
    statuses = {}
    for kind, (_, content_type) in ((k, f()) for k, f in KINDS.items()):
        forged = forge(case, kind)
        statuses[kind] = raw_post(target.slack.base_url, forged.body, content_type, forged.headers)
    settle(0.15)
    outcome = {
        "statuses": statuses,
        "redis_changed": dump(target.redis) != before,
        "calls": [(c.method, c.args.get("text")) for c in target.fake.calls],
    }
    assert outcome == {
        "statuses": dict.fromkeys(KINDS, 401),
        "redis_changed": False,
        "calls": [],
    }


def test_a_junk_timestamp_does_not_let_a_forger_aim_the_apps_outgoing_requests(
    target: Target,
) -> None:
    """An unsigned command with a non-numeric timestamp must not make the app POST anything to
    the response_url the forger put in the body (a blind server-side request)."""
    target.fake.clear_calls()
    body, content_type = command_body()
    headers = [("X-Slack-Request-Timestamp", "now"), ("X-Slack-Signature", "v0=00")]
    raw_post(target.slack.base_url, body, content_type, headers)
    settle(0.3)
    assert target.fake.calls_to("response_url") == []


def test_the_same_requests_signed_properly_do_take_effect(target: Target) -> None:
    """Control: each of the four requests, correctly signed, is served (200) and writes to Redis
    or calls Slack — so the forged variants above really would have done something."""
    target.redis.flushall()
    target.fake.clear_calls()
    statuses = {}
    for kind, make in KINDS.items():
        body, content_type = make()
        ts = str(int(time.time()))
        statuses[kind] = raw_post(target.slack.base_url, body, content_type, good(body, ts))
    settle(0.4)
    assert statuses == dict.fromkeys(KINDS, 200)
    wins = [w.text for w in target.slack.store.wins.user_wins(TEAM, "U0ALICE")]
    assert sorted(wins) == ["A forged modal win", "A forged win"]
    methods = {c.method for c in target.fake.calls}
    assert {"views.publish", "chat.postMessage"} <= methods, methods


def test_signed_within_the_window_and_trimmed_headers_are_accepted(target: Target) -> None:
    """The window is five minutes either way (299 s old or ahead is fine), and whitespace that
    HTTP itself trims around a header value does not make a genuine request fail."""
    target.redis.flushall()
    now = int(time.time())
    statuses = []
    for i, ts in enumerate((now - 299, now + 299)):
        body, content_type = command_body(f"clarity edge {i}")
        statuses.append(raw_post(target.slack.base_url, body, content_type, good(body, str(ts))))
    body, content_type = command_body("clarity padded header")
    ts = str(now)
    padded = [
        ("X-Slack-Request-Timestamp", f"  {ts}  "),
        ("X-Slack-Signature", f"\tv0={digest(body, ts)} "),
    ]
    statuses.append(raw_post(target.slack.base_url, body, content_type, padded))
    assert statuses == [200, 200, 200]
    assert len(target.slack.store.wins.user_wins(TEAM, "U0ALICE")) == 3


def test_a_flood_of_forgeries_alongside_genuine_traffic(target: Target) -> None:
    """Two hundred forged requests racing twenty genuine ones: every forgery is refused, every
    genuine win is logged exactly once, and no forged text reaches Redis or Slack."""
    target.redis.flushall()
    target.fake.clear_calls()
    kinds = list(KINDS)

    def forged_post(i: int) -> int:
        # Forged at the moment of sending: the ±301 s stamps must not drift into the window.
        kind = kinds[i % len(kinds)]
        forged = forge(CASES[i % len(CASES)], kind, margin=5)
        return raw_post(target.slack.base_url, forged.body, KINDS[kind]()[1], forged.headers)

    def genuine_post(i: int) -> int:
        body, content_type = command_body(f"clarity genuine {i}")
        return raw_post(
            target.slack.base_url, body, content_type, good(body, str(int(time.time())))
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        forged_futures = [pool.submit(forged_post, i) for i in range(200)]
        genuine_futures = [pool.submit(genuine_post, i) for i in range(20)]
        forged_statuses = [f.result() for f in forged_futures]
        genuine_statuses = [f.result() for f in genuine_futures]
    settle(0.3)
    assert set(forged_statuses) == {401} and set(genuine_statuses) == {200}
    wins = sorted(w.text for w in target.slack.store.wins.user_wins(TEAM, "U0ALICE"))
    assert wins == sorted(f"genuine {i}" for i in range(20))
    journal = json.dumps([c.args for c in target.fake.calls])
    assert "forged" not in journal.lower() and "smuggled" not in journal
