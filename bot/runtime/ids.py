"""What a Slack client may send us and we accept: well-formed ids and response URLs. Pure.

Everything in a payload apart from the signature is the client's to choose: these checks run
where ids and URLs enter (the request middleware in `bot.runtime.app`, and the few places that
read an id or a URL back from text or from `private_metadata`).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# Slack ids: one upper-case letter saying what it is, then upper-case letters and digits.
_ID = r"[A-Z0-9]{2,40}"
_TEAM_RE = re.compile(rf"[TE]{_ID}")  # a workspace (T) or an Enterprise Grid org (E)
_USER_RE = re.compile(rf"[UW]{_ID}")  # W: a user of an Enterprise Grid org
_CHANNEL_RE = re.compile(rf"[CDG]{_ID}")  # public channel, DM, private channel / group DM
_ANY_RE = re.compile(rf"[TEUWCDG]{_ID}")
_BOT_RE = re.compile(rf"B{_ID}")  # a bot id (tokens_revoked lists bot *user* ids, U...)
# An Events API delivery, like Slack's `Ev0PV52K21` (it becomes part of a Redis key).
_EVENT_RE = re.compile(r"Ev[A-Za-z0-9]{2,40}")

SLACK_HOOKS = "https://hooks.slack.com"


def is_slack_id(text: object) -> bool:
    """True for any well-formed team, enterprise, user or channel id."""
    return isinstance(text, str) and _ANY_RE.fullmatch(text) is not None


def is_team_id(text: object) -> bool:
    return isinstance(text, str) and _TEAM_RE.fullmatch(text) is not None


def is_user_id(text: object) -> bool:
    return isinstance(text, str) and _USER_RE.fullmatch(text) is not None


def is_channel_id(text: object) -> bool:
    return isinstance(text, str) and _CHANNEL_RE.fullmatch(text) is not None


def is_bot_id(text: object) -> bool:
    return isinstance(text, str) and _BOT_RE.fullmatch(text) is not None


def is_event_id(text: object) -> bool:
    """An Events API `event_id`: `Ev`, then letters and digits (at most 42 characters)."""
    return isinstance(text, str) and _EVENT_RE.fullmatch(text) is not None


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL (lower-case scheme and host), or "" if it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port is not None else "")


def response_url_allowed(url: object, api_base_url: str) -> bool:
    """A response_url the app may POST to: Slack's own `https://hooks.slack.com/...`, or one
    on the origin of SLACK_API_BASE_URL (the fake Slack of tests and the sandbox) outside the
    Web API itself (its base URL's path, e.g. `/api/`: a POST there is a Web API call made
    with whatever the app sends). Anything else in a payload would let a client aim the
    app's outgoing requests (SSRF)."""
    if not isinstance(url, str) or not url or any(c.isspace() for c in url) or "@" in url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.path.startswith("/"):
        return False
    here = origin(url)
    if here == SLACK_HOOKS:
        return True
    return here != "" and here == origin(api_base_url) and not _under_api(parts.path, api_base_url)


def _under_api(path: str, api_base_url: str) -> bool:
    """Whether `path` (a URL's, on the API origin) reaches the Web API under
    `api_base_url`'s path. Compared as the server would route it: dot segments resolved,
    percent-escapes decoded, case and repeated slashes ignored. A base URL at the origin's
    root puts the whole origin under the API."""
    base = _route(urlsplit(api_base_url).path)
    return base == "/" or _route(path).startswith(base)


def _route(path: str) -> str:
    """`path` normalised for comparison, ending in "/"."""
    decoded = unquote(path).lower()
    segments: list[str] = []
    for segment in decoded.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "".join(s + "/" for s in segments)
