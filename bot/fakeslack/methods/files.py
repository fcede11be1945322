"""The external file upload flow of files_upload_v2: files.getUploadURLExternal hands out an
upload URL (served by the endpoints), files.completeUploadExternal shares what arrived there."""

from __future__ import annotations

import copy
import secrets
import time

from bot.fakeslack.answers import SlackError, invalid_arguments
from bot.fakeslack.methods.common import JsonDict, Method, int_arg
from bot.fakeslack.state import Upload, Workspace


def files_get_upload_url(ws: Workspace, args: JsonDict) -> JsonDict:
    filename = args.get("filename")
    if not filename:
        raise invalid_arguments(["missing required field: filename"])
    if args.get("length") in (None, ""):
        raise invalid_arguments(["missing required field: length"])
    length = int_arg(args, "length", 0)
    key = secrets.token_urlsafe(16)
    upload = Upload("F" + secrets.token_hex(5).upper(), str(filename), length)
    ws.uploads[key] = upload
    return {"ok": True, "upload_url": f"{ws.base_url}/upload/v1/{key}", "file_id": upload.file_id}


def _file_object(ws: Workspace, upload: Upload, title: str, now: int) -> JsonDict:
    """The ``files`` entry of files.completeUploadExternal's answer."""
    content = upload.content or b""
    return {
        "id": upload.file_id,
        "created": now,
        "timestamp": now,
        "name": upload.filename,
        "title": title,
        "mimetype": "text/plain",
        "filetype": "text",
        "pretty_type": "Plain Text",
        "user": ws.bot_user_id,
        "user_team": ws.team_id,
        "editable": True,
        "size": len(content),
        "mode": "snippet",
        "is_external": False,
        "external_type": "",
        "is_public": False,
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        "url_private": f"{ws.base_url}/files-pri/{upload.file_id}",
        "url_private_download": f"{ws.base_url}/files-pri/{upload.file_id}/download",
        "permalink": f"https://{ws.team_domain}.slack.com/files/{upload.file_id}",
        "comments_count": 0,
        "shares": {},  # Slack shares asynchronously: empty in this answer
        "channels": [],
        "groups": [],
        "ims": [],
        "has_more_shares": False,
        "file_access": "visible",
    }


def files_complete_upload(ws: Workspace, args: JsonDict) -> JsonDict:
    wanted = args.get("files")
    if not isinstance(wanted, list) or not wanted:
        raise invalid_arguments(["missing required field: files"])
    by_id = {u.file_id: u for u in ws.uploads.values()}
    uploads: list[tuple[Upload, str]] = []
    for item in wanted:
        upload = by_id.get(str(item.get("id") if isinstance(item, dict) else ""))
        if upload is None or upload.content is None:
            raise SlackError("file_not_found")
        uploads.append((upload, str(item.get("title") or upload.filename)))
    channels = [str(args["channel_id"])] if args.get("channel_id") else []
    channels += [c for c in str(args.get("channels") or "").split(",") if c]
    targets = [ws.postable(c).id for c in channels]
    now = int(time.time())
    shown = []
    for upload, title in uploads:
        shown.append(_file_object(ws, upload, title, now))
        for channel_id in targets or [ws.bot_user_id]:
            ws.files.append(
                {
                    "id": upload.file_id,
                    "filename": upload.filename,
                    "title": title,
                    "content": upload.content or b"",
                    "channel_id": channel_id,
                    "initial_comment": args.get("initial_comment") or "",
                    "thread_ts": args.get("thread_ts"),
                }
            )
    for channel_id in targets:  # the share appears as a message from the bot
        share = ws.bot_message(
            {"text": args.get("initial_comment") or "", "thread_ts": args.get("thread_ts")},
            ws.next_ts(),
        )
        share.update({"files": copy.deepcopy(shown), "upload": True, "channel": channel_id})
        ws.messages.setdefault(channel_id, []).append(share)
    return {"ok": True, "files": shown}


METHODS: dict[str, Method] = {
    "files.getUploadURLExternal": files_get_upload_url,
    "files.completeUploadExternal": files_complete_upload,
}
