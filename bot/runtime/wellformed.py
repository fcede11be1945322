"""Is a signed request body well-formed enough to act on? Pure.

A valid signature says the body came from Slack's side, not that it has the shape our
listeners read: `problem(body)` names the first thing wrong with it (the app answers 400 and
does nothing), or returns None. It checks what the listeners and Bolt read — ids, the
action list, the view, the event's user — and that every Slack id in it is well-formed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.runtime.ids import is_bot_id, is_channel_id, is_event_id, is_team_id, is_user_id

MAX_ID_LEN = 255  # action_id, block_id, callback_id


def _str(value: Any, *, optional: bool = True) -> bool:
    return isinstance(value, str) if not optional or value is not None else True


def _dict(value: Any, *, optional: bool = True) -> bool:
    return isinstance(value, dict) if not optional or value is not None else True


def _id_or_blank(value: Any, check: Callable[[object], bool]) -> bool:
    return value is None or value == "" or check(value)


def _team_of(body: dict[str, Any]) -> Any:
    team, user = body.get("team"), body.get("user")
    if isinstance(team, dict) and team.get("id") is not None:
        return team.get("id")
    return user.get("team_id") if isinstance(user, dict) else None


def _people(body: dict[str, Any]) -> str | None:
    """The acting user and their workspace, as interactive payloads carry them."""
    if not _dict(body.get("team")):
        return "team"
    user = body.get("user")
    if not isinstance(user, dict) or not is_user_id(user.get("id")):
        return "user"
    if not _id_or_blank(user.get("team_id"), is_team_id):
        return "user.team_id"
    if not is_team_id(_team_of(body)):
        return "team.id"
    enterprise = body.get("enterprise")
    if not _dict(enterprise) or (enterprise and not _id_or_blank(enterprise.get("id"), is_team_id)):
        return "enterprise"
    return None


def _where(body: dict[str, Any]) -> str | None:
    """The message or view an interactive payload comes from, and its channel."""
    container, channel, message = body.get("container"), body.get("channel"), body.get("message")
    if not _dict(container):
        return "container"
    if container and (
        not _id_or_blank(container.get("channel_id"), is_channel_id)
        or not _str(container.get("message_ts"))
        or not _str(container.get("type"))
    ):
        return "container"
    if not _dict(channel) or (channel and not is_channel_id(channel.get("id"))):
        return "channel"
    if not _dict(message) or (
        message and (not _str(message.get("ts")) or not _str(message.get("text")))
    ):
        return "message"
    for key in ("trigger_id", "response_url"):
        if not _str(body.get(key)):
            return key
    urls = body.get("response_urls")
    if urls is not None and (
        not isinstance(urls, list)
        or not all(isinstance(u, dict) and _str(u.get("response_url")) for u in urls)
    ):
        return "response_urls"
    return None


def _state(state: Any) -> bool:
    """`state` is an object when present. What is inside is the form's input: the listeners
    read it defensively and answer a broken field with an error under that field."""
    return _dict(state)


def _view(view: Any, *, required: bool) -> str | None:
    if view is None and not required:
        return None
    if not isinstance(view, dict):
        return "view"
    if not isinstance(view.get("id"), str) or not isinstance(view.get("callback_id"), str):
        return "view.id"
    if len(view["callback_id"]) > MAX_ID_LEN:
        return "view.callback_id"
    for key in ("private_metadata", "hash", "type"):
        if not _str(view.get(key)):
            return f"view.{key}"
    for key in ("team_id", "app_installed_team_id"):
        if not _id_or_blank(view.get(key), is_team_id):
            return f"view.{key}"
    if not _state(view.get("state")):
        return "view.state"
    return None


def _actions(actions: Any) -> bool:
    if not isinstance(actions, list) or not actions:
        return False
    for action in actions:
        if not isinstance(action, dict):
            return False
        action_id = action.get("action_id")
        if not isinstance(action_id, str) or not action_id or len(action_id) > MAX_ID_LEN:
            return False
        if not _str(action.get("value")) or not _str(action.get("block_id")):
            return False
        option = action.get("selected_option")
        if not _dict(option) or (option and not _str(option.get("value"))):
            return False
    return True


def _interactive(body: dict[str, Any]) -> str | None:
    kind = body["type"]
    if problem := _people(body) or _where(body):
        return problem
    if kind == "block_actions":
        if not _actions(body.get("actions")):
            return "actions"
        if not body.get("trigger_id"):  # Slack sends one with every click; forms need it
            return "trigger_id"
        if not _state(body.get("state")):
            return "state"
        in_view = (body.get("container") or {}).get("type") == "view"
        return _view(body.get("view"), required=in_view)
    if kind in ("view_submission", "view_closed"):
        return _view(body.get("view"), required=True)
    if kind in ("shortcut", "message_action"):
        callback_id = body.get("callback_id")
        if not isinstance(callback_id, str) or len(callback_id) > MAX_ID_LEN:
            return "callback_id"
        if kind == "message_action" and (
            not isinstance(body.get("message"), dict) or not isinstance(body.get("channel"), dict)
        ):
            return "message"
    return None


def _command(body: dict[str, Any]) -> str | None:
    if not all(isinstance(v, str) for v in body.values()):
        return "command.fields"
    if not is_team_id(body.get("team_id")):
        return "team_id"
    if not is_user_id(body.get("user_id")):
        return "user_id"
    if not _id_or_blank(body.get("channel_id"), is_channel_id):
        return "channel_id"
    if not _id_or_blank(body.get("enterprise_id"), is_team_id):
        return "enterprise_id"
    if not body["command"].startswith("/"):
        return "command"
    if not body.get("trigger_id"):  # Slack sends one with every command; forms need it
        return "trigger_id"
    return None


# Events whose listeners act on a user: the user must be there, in the shape Slack sends.
_EVENT_USER_ID = ("app_home_opened",)  # event.user is the id
_EVENT_USER_OBJECT = ("user_change",)  # event.user is the user object


def _revoked(tokens: Any) -> bool:
    """`tokens_revoked`'s `tokens`: {"oauth": [user ids], "bot": [bot user ids]}, each list
    optional (the listener marks the team uninstalled only for a revoked bot token)."""
    if not isinstance(tokens, dict):
        return False
    return all(
        isinstance(ids, list) and all(is_user_id(i) or is_bot_id(i) for i in ids)
        for ids in (tokens.get("oauth", []), tokens.get("bot", []))
    )


def _event(body: dict[str, Any]) -> str | None:
    if not is_team_id(body.get("team_id")):
        return "team_id"
    if not _id_or_blank(body.get("enterprise_id"), is_team_id):
        return "enterprise_id"
    # It names the delivery's dedupe key in Redis: Slack's shape only (absent: no dedupe).
    if body.get("event_id") is not None and not is_event_id(body["event_id"]):
        return "event_id"
    authorizations = body.get("authorizations")
    if authorizations is not None and (
        not isinstance(authorizations, list)
        or not all(
            isinstance(a, dict) and _id_or_blank(a.get("team_id"), is_team_id)
            for a in authorizations
        )
    ):
        return "authorizations"
    event = body.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return "event"
    kind, user = event["type"], event.get("user")
    if kind in _EVENT_USER_ID and not is_user_id(user):
        return "event.user"
    if kind in _EVENT_USER_OBJECT and not (isinstance(user, dict) and is_user_id(user.get("id"))):
        return "event.user"
    if isinstance(user, str) and not is_user_id(user):
        return "event.user"
    if isinstance(user, dict) and not is_user_id(user.get("id")):
        return "event.user"
    channel = event.get("channel")
    if isinstance(channel, str) and not _id_or_blank(channel, is_channel_id):
        return "event.channel"
    if kind == "tokens_revoked" and not _revoked(event.get("tokens")):
        return "event.tokens"
    return None


def problem(body: Any) -> str | None:
    """What is wrong with a request body (a short name, never its content), or None."""
    if not isinstance(body, dict):
        return "body"
    if "command" in body:
        return _command(body)
    kind = body.get("type")
    if kind == "url_verification":
        return None
    if kind == "event_callback":
        return _event(body)
    if kind in (
        "block_actions",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "block_suggestion",
    ):
        return _interactive(body)
    return "type"
