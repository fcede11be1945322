"""Request bodies exactly as Slack sends them to an app, and their signature headers.

Key sets follow the samples in ``java-slack-sdk-json-logs`` (app-backend/*, events/*) for a
plain (non-Enterprise-Grid, non-workflow) workspace: Grid-only keys (``enterprise_id``),
workflow-function keys (``function_data``, ``interactivity``, ``bot_access_token``), link
unfurl keys (``app_unfurl``) and the deprecated ``authed_users``/``authed_teams`` are left
out, as Slack leaves them out; ``enterprise`` is present and ``null`` as Slack sends it.

Two layers:

* ``*_payload(...) -> dict``: the payload itself, as carried in a Socket Mode envelope
  (for slash commands: the dict of form fields, all values strings);
* ``slash_command(...)``, ``block_actions(...)``, ... ``-> (body_bytes, content_type)``:
  the HTTP body Slack POSTs to the app's request URL.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

JsonDict = dict[str, Any]
Body = tuple[bytes, str]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

# Defaults shared with FakeSlack so payloads and Web API answers agree.
API_APP_ID = "A0FAKEAPP01"
BOT_USER_ID = "U0FAKEBOT01"
BOT_ID = "B0FAKEBOT01"
TEAM_DOMAIN = "fake-workspace"
VERIFICATION_TOKEN = "fakeVerificationToken0001"  # the deprecated per-app token


# ---------------------------------------------------------------------------
# ids and timestamps in Slack's formats


def _upper_id(prefix: str, size: int = 10) -> str:
    return prefix + secrets.token_hex(size)[:size].upper()


def new_trigger_id() -> str:
    """A fresh trigger id like Slack's ``"13345224609.738474920.8088930838d88f008e0"``.

    The first part is the issue time in milliseconds, so the fake can tell its age.
    """
    return f"{int(time.time() * 1000)}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"


def trigger_issued_at(trigger_id: str) -> float | None:
    """Issue time (epoch seconds) of a trigger id minted by new_trigger_id(), else None."""
    head = trigger_id.split(".", 1)[0]
    return int(head) / 1000 if head.isdigit() and len(head) >= 13 else None


def new_ts() -> str:
    """A message/action timestamp ``"1700000000.123456"`` (not guaranteed unique)."""
    now = time.time()
    return f"{int(now)}.{int(now % 1 * 1_000_000):06d}"


def new_view_id() -> str:
    return _upper_id("V")


def new_view_hash() -> str:
    return f"{int(time.time())}.{secrets.token_hex(4)}"


def new_event_id() -> str:
    return _upper_id("Ev")


def _default_channel_name(channel_id: str) -> str:
    return "directmessage" if channel_id.startswith("D") else "fake-channel"


def _user(user_id: str, user_name: str, team_id: str) -> JsonDict:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def _team(team_id: str, team_domain: str) -> JsonDict:
    return {"id": team_id, "domain": team_domain}


def complete_view(
    view: JsonDict,
    *,
    team_id: str,
    view_id: str | None = None,
    view_hash: str | None = None,
    state_values: JsonDict | None = None,
    api_app_id: str = API_APP_ID,
    bot_id: str = BOT_ID,
    root_view_id: str | None = None,
    previous_view_id: str | None = None,
) -> JsonDict:
    """The view object as Slack returns and sends it: the app's view plus Slack's keys."""
    vid = view_id or view.get("id") or new_view_id()
    done: JsonDict = {
        "id": vid,
        "team_id": team_id,
        "type": view.get("type", "modal"),
        "blocks": copy.deepcopy(view.get("blocks", [])),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "state": {"values": copy.deepcopy(state_values) if state_values is not None else {}},
        "hash": view_hash or view.get("hash") or new_view_hash(),
        "title": copy.deepcopy(view.get("title")),
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "close": copy.deepcopy(view.get("close")),
        "submit": copy.deepcopy(view.get("submit")),
        "previous_view_id": previous_view_id,
        "root_view_id": root_view_id or view.get("root_view_id") or vid,
        "app_id": api_app_id,
        "external_id": view.get("external_id", ""),
        "app_installed_team_id": team_id,
        "bot_id": bot_id,
    }
    if done["type"] == "modal":
        done["submit_disabled"] = bool(view.get("submit_disabled", False))
    return done


# ---------------------------------------------------------------------------
# slash commands


def slash_command_payload(
    command: str,
    text: str,
    *,
    team_id: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    trigger_id: str | None = None,
    user_name: str = "pm.tester",
    channel_name: str | None = None,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
) -> dict[str, str]:
    """The form fields of a slash command (also the Socket Mode ``slash_commands`` payload)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name or _default_channel_name(channel_id),
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }


def slash_command(
    command: str,
    text: str,
    *,
    team_id: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    trigger_id: str | None = None,
    user_name: str = "pm.tester",
    channel_name: str | None = None,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
) -> Body:
    fields = slash_command_payload(
        command,
        text,
        team_id=team_id,
        user_id=user_id,
        channel_id=channel_id,
        response_url=response_url,
        trigger_id=trigger_id,
        user_name=user_name,
        channel_name=channel_name,
        team_domain=team_domain,
        api_app_id=api_app_id,
    )
    return urlencode(fields).encode(), FORM


# ---------------------------------------------------------------------------
# interactivity: block_actions, view_submission, view_closed


def _interactive_body(payload: JsonDict) -> Body:
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM


def block_actions_payload(
    actions: list[JsonDict],
    *,
    team_id: str,
    user_id: str,
    response_url: str | None = None,
    channel_id: str | None = None,
    message: JsonDict | None = None,
    view: JsonDict | None = None,
    container: JsonDict | None = None,
    trigger_id: str | None = None,
    state_values: JsonDict | None = None,
    is_ephemeral: bool | None = None,
    user_name: str = "pm.tester",
    channel_name: str | None = None,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
) -> JsonDict:
    """A ``block_actions`` payload.

    * ``view`` given: an action inside a modal or the Home tab (container type ``view``);
      the payload carries the view (with ``state``) and no response_url, channel or message.
    * otherwise, with ``channel_id``: an action on a message. An ephemeral message (the
      default when no ``message`` is given, or ``is_ephemeral=True``) gets
      ``container.is_ephemeral: true`` and no ``message`` key, as Slack sends it; the
      message's ``ts`` still fills ``container.message_ts``. A normal message is included.
    """
    now = new_ts()
    filled = []
    for action in actions:
        a = copy.deepcopy(action)
        a.setdefault("type", "button")
        a.setdefault("block_id", secrets.token_urlsafe(4))
        a.setdefault("action_ts", now)
        filled.append(a)
    payload: JsonDict = {
        "type": "block_actions",
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": {},
        "trigger_id": trigger_id or new_trigger_id(),
        "team": _team(team_id, team_domain),
        "enterprise": None,
        "is_enterprise_install": False,
    }
    if view is not None:
        full = complete_view(
            view, team_id=team_id, state_values=state_values, api_app_id=api_app_id
        )
        if "state" in view and state_values is None:
            full["state"] = copy.deepcopy(view["state"])
        payload["container"] = {"type": "view", "view_id": full["id"]}
        payload["view"] = full
    else:
        if channel_id is None:
            raise ValueError("block_actions needs a view, or a channel_id (and message)")
        ephemeral = message is None if is_ephemeral is None else is_ephemeral
        payload["container"] = {
            "type": "message",
            "message_ts": (message or {}).get("ts") or now,
            "channel_id": channel_id,
            "is_ephemeral": ephemeral,
        }
        payload["channel"] = {
            "id": channel_id,
            "name": channel_name or _default_channel_name(channel_id),
        }
        if message is not None and not ephemeral:
            msg = copy.deepcopy(message)
            msg.setdefault("type", "message")
            msg.setdefault("text", "")
            msg.pop("channel", None)
            payload["message"] = msg
        payload["state"] = {"values": copy.deepcopy(state_values or {})}
        if response_url is not None:
            payload["response_url"] = response_url
    if container is not None:
        payload["container"] = copy.deepcopy(container)
    payload["actions"] = filled
    return payload


def block_actions(
    actions: list[JsonDict],
    *,
    team_id: str,
    user_id: str,
    response_url: str | None = None,
    channel_id: str | None = None,
    message: JsonDict | None = None,
    view: JsonDict | None = None,
    container: JsonDict | None = None,
    trigger_id: str | None = None,
    state_values: JsonDict | None = None,
    is_ephemeral: bool | None = None,
    user_name: str = "pm.tester",
    channel_name: str | None = None,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
) -> Body:
    return _interactive_body(
        block_actions_payload(
            actions,
            team_id=team_id,
            user_id=user_id,
            response_url=response_url,
            channel_id=channel_id,
            message=message,
            view=view,
            container=container,
            trigger_id=trigger_id,
            state_values=state_values,
            is_ephemeral=is_ephemeral,
            user_name=user_name,
            channel_name=channel_name,
            team_domain=team_domain,
            api_app_id=api_app_id,
        )
    )


def view_submission_payload(
    view: JsonDict,
    values: JsonDict,
    *,
    team_id: str,
    user_id: str,
    view_id: str | None = None,
    view_hash: str | None = None,
    trigger_id: str | None = None,
    response_urls: list[JsonDict] | None = None,
    user_name: str = "pm.tester",
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
) -> JsonDict:
    """A ``view_submission``: ``view.state.values`` = values; a new trigger_id every time.

    The view keeps ``view_id`` (or the view's own ``id``) so that submitting the same modal
    twice gives two payloads with the same view id and different trigger ids.
    """
    return {
        "type": "view_submission",
        "team": _team(team_id, team_domain),
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": complete_view(
            view,
            team_id=team_id,
            view_id=view_id,
            view_hash=view_hash,
            state_values=values,
            api_app_id=api_app_id,
        ),
        "response_urls": copy.deepcopy(response_urls or []),
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_submission(
    view: JsonDict,
    values: JsonDict,
    *,
    team_id: str,
    user_id: str,
    view_id: str | None = None,
    view_hash: str | None = None,
    trigger_id: str | None = None,
    response_urls: list[JsonDict] | None = None,
    user_name: str = "pm.tester",
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
) -> Body:
    return _interactive_body(
        view_submission_payload(
            view,
            values,
            team_id=team_id,
            user_id=user_id,
            view_id=view_id,
            view_hash=view_hash,
            trigger_id=trigger_id,
            response_urls=response_urls,
            user_name=user_name,
            team_domain=team_domain,
            api_app_id=api_app_id,
        )
    )


def view_closed_payload(
    view: JsonDict,
    *,
    team_id: str,
    user_id: str,
    view_id: str | None = None,
    is_cleared: bool = False,
    user_name: str = "pm.tester",
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
) -> JsonDict:
    """A ``view_closed`` (sent only for views opened with ``notify_on_close: true``)."""
    return {
        "type": "view_closed",
        "team": _team(team_id, team_domain),
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "view": complete_view(view, team_id=team_id, view_id=view_id, api_app_id=api_app_id),
        "is_cleared": is_cleared,
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_closed(
    view: JsonDict,
    *,
    team_id: str,
    user_id: str,
    view_id: str | None = None,
    is_cleared: bool = False,
    user_name: str = "pm.tester",
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
) -> Body:
    return _interactive_body(
        view_closed_payload(
            view,
            team_id=team_id,
            user_id=user_id,
            view_id=view_id,
            is_cleared=is_cleared,
            user_name=user_name,
            team_domain=team_domain,
            api_app_id=api_app_id,
        )
    )


# ---------------------------------------------------------------------------
# Events API


def event_callback_payload(
    event: JsonDict,
    *,
    team_id: str,
    event_id: str | None = None,
    event_time: int | None = None,
    bot_user_id: str = BOT_USER_ID,
    api_app_id: str = API_APP_ID,
) -> JsonDict:
    """An Events API ``event_callback`` (also the Socket Mode ``events_api`` payload)."""
    ev = copy.deepcopy(event)
    ev.setdefault("event_ts", new_ts())
    context = base64.b64encode(json.dumps({"tid": team_id, "aid": api_app_id}).encode())
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": ev,
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": event_time if event_time is not None else int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + context.decode(),
    }


def event_callback(
    event: JsonDict,
    *,
    team_id: str,
    event_id: str | None = None,
    event_time: int | None = None,
    bot_user_id: str = BOT_USER_ID,
    api_app_id: str = API_APP_ID,
) -> Body:
    payload = event_callback_payload(
        event,
        team_id=team_id,
        event_id=event_id,
        event_time=event_time,
        bot_user_id=bot_user_id,
        api_app_id=api_app_id,
    )
    return json.dumps(payload).encode(), JSON


def url_verification(challenge: str) -> Body:
    payload = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    return json.dumps(payload).encode(), JSON


# ---------------------------------------------------------------------------
# signing


def signed_headers(
    signing_secret: str,
    body: bytes,
    timestamp: int | None = None,
    content_type: str = FORM,
) -> dict[str, str]:
    """Headers Slack adds to a request: ``v0=`` + HMAC-SHA256 of ``v0:{ts}:{body}``."""
    ts = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{ts}:".encode() + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }
