"""chat.postMessage, .postEphemeral, .update and .delete, with Slack's content limits."""

from __future__ import annotations

import copy

from bot.fakeslack.answers import SlackError
from bot.fakeslack.blockkit import validate_blocks
from bot.fakeslack.methods.common import JsonDict, Method
from bot.fakeslack.state import Workspace

MAX_MESSAGE_TEXT = 40_000


def check_content(args: JsonDict, *, require: bool = True) -> None:
    """Slack's checks of a message body: some content, text length, Block Kit limits."""
    text, blocks = args.get("text"), args.get("blocks")
    if require and not text and not blocks and not args.get("attachments"):
        raise SlackError("no_text")
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        errors = validate_blocks(blocks, surface="message")
        if errors:
            raise SlackError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )


def chat_post_message(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.postable(args.get("channel"), user_ok=True)
    check_content(args)
    message = ws.bot_message(args, ws.next_ts())
    ws.messages.setdefault(channel.id, []).append({**message, "channel": channel.id})
    return {"ok": True, "channel": channel.id, "ts": message["ts"], "message": message}


def chat_post_ephemeral(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.postable(args.get("channel"))
    user = ws.user(args.get("user"))
    if user.id not in channel.members:
        raise SlackError("user_not_in_channel")
    check_content(args)
    ts = ws.next_ts()
    entry = {**ws.bot_message(args, ts), "channel": channel.id, "recipient": user.id}
    ws.ephemerals.setdefault(user.id, []).append(entry)
    return {"ok": True, "message_ts": ts}


def chat_update(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.channel(args.get("channel"))
    message = ws.stored(channel.id, args.get("ts"))
    check_content(args, require=False)
    for key in ("text", "blocks", "attachments", "metadata"):
        if key in args:
            message[key] = copy.deepcopy(args[key])
    message["edited"] = {"user": ws.bot_user_id, "ts": ws.next_ts()}
    shown = {k: v for k, v in message.items() if k not in ("channel", "ts")}
    return {
        "ok": True,
        "channel": channel.id,
        "ts": message["ts"],
        "text": message.get("text", ""),
        "message": copy.deepcopy(shown),
    }


def chat_delete(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.channel(args.get("channel"))
    message = ws.stored(channel.id, args.get("ts"))
    ws.messages[channel.id].remove(message)
    return {"ok": True, "channel": channel.id, "ts": message["ts"]}


METHODS: dict[str, Method] = {
    "chat.postMessage": chat_post_message,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
}
