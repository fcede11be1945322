"""conversations.open (the bot's DMs), .members (paginated), .info and .history."""

from __future__ import annotations

import copy

from bot.fakeslack.answers import SlackError
from bot.fakeslack.methods.common import JsonDict, Method, int_arg, page, truthy
from bot.fakeslack.shapes import dm_channel_id
from bot.fakeslack.state import Workspace


def conversations_open(ws: Workspace, args: JsonDict) -> JsonDict:
    if args.get("channel"):
        channel = ws.channel(args["channel"])
        return {"ok": True, "channel": {"id": channel.id}}
    ids = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
    if not ids:
        raise SlackError("users_list_not_supplied")
    if len(ids) > 1:
        raise SlackError("method_not_supported_for_channel_type")  # group DMs: not emulated
    user = ws.user(ids[0])
    if user.deleted:
        raise SlackError("user_disabled")
    dm = ws.channels[dm_channel_id(user.id)]
    already = dm.id in ws.dm_open
    ws.dm_open.add(dm.id)
    info: JsonDict = {"id": dm.id}
    if truthy(args.get("return_im")):
        info = dm.to_api(team_id=ws.team_id, creator=ws.bot_user_id)
    return {"ok": True, "no_op": already, "already_open": already, "channel": info}


def conversations_members(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.channel(args.get("channel"))
    members, cursor = page(channel.members, args, default_limit=100)
    return {"ok": True, "members": members, "response_metadata": {"next_cursor": cursor}}


def conversations_info(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.channel(args.get("channel"))
    info = channel.to_api(team_id=ws.team_id, creator=ws.bot_user_id)
    if truthy(args.get("include_num_members")) and not channel.is_im:
        info["num_members"] = len(channel.members)
    return {"ok": True, "channel": info}


def conversations_history(ws: Workspace, args: JsonDict) -> JsonDict:
    """Newest first; `oldest`/`latest` bound ts (exclusive unless `inclusive`); message
    metadata only with `include_all_metadata`, as Slack does. No cursor paging: at most
    `limit` (default 100, max 999) messages and `has_more`."""
    channel = ws.channel(args.get("channel"))
    oldest = float(args.get("oldest") or 0)
    latest = float(args.get("latest") or 9e12)
    inclusive = truthy(args.get("inclusive"))
    limit = min(int_arg(args, "limit", 100) or 100, 999)
    with_metadata = truthy(args.get("include_all_metadata"))
    found = []
    for message in reversed(ws.messages.get(channel.id, [])):
        ts = float(message["ts"])
        inside = oldest <= ts <= latest if inclusive else oldest < ts < latest
        if not inside or message.get("thread_ts") not in (None, message["ts"]):
            continue
        shown = {k: copy.deepcopy(v) for k, v in message.items() if k != "channel"}
        if not with_metadata:
            shown.pop("metadata", None)
        found.append(shown)
    return {
        "ok": True,
        "messages": found[:limit],
        "has_more": len(found) > limit,
        "pin_count": 0,
        "response_metadata": {"next_cursor": ""},
    }


METHODS: dict[str, Method] = {
    "conversations.open": conversations_open,
    "conversations.members": conversations_members,
    "conversations.info": conversations_info,
    "conversations.history": conversations_history,
}
