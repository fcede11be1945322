"""What each URL of the fake answers, whatever carries the request.

:class:`Endpoints` serves ``/api/<method>`` (arguments read as Slack reads them, the token
from the ``Authorization`` header or the form, the arrival noted and any hold, injected fault
or workspace bucket applied, then the method's handler under the workspace lock),
``/hooks/<key>`` (response_url, at most ``response_url_max_uses`` posts), ``/upload/v1/<key>``
(upload URLs) and the Socket Mode link (ticket check, then the session). Each request is
journaled once answered. The HTTP transport calls it; it imports ``answers``, ``state``,
``journal``, ``faults``, ``methods`` and ``socketmode``.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import time
from typing import Any
from urllib.parse import parse_qsl

from bot.fakeslack.answers import Reply, SlackError
from bot.fakeslack.faults import Faults
from bot.fakeslack.journal import Call, Journal
from bot.fakeslack.methods import APP_TOKEN_METHODS, RETIRED_METHODS, Method
from bot.fakeslack.socketmode import SocketMode
from bot.fakeslack.state import Upload, Workspace
from bot.fakeslack.websocket import WebSocket

JsonDict = dict[str, Any]

# Arguments Slack takes as JSON-encoded strings in form bodies; decoded in Call.args.
_JSON_ARGS = ("blocks", "attachments", "view", "files", "metadata")


def parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """Fields of a multipart/form-data body: bytes for file parts, text for the others."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        raw = data if isinstance(data, bytes) else b""
        fields[name] = raw if part.get_filename() else raw.decode("utf-8", errors="replace")
    return fields


def parse_args(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Request arguments as Slack reads them: query string + form, JSON or multipart body.

    JSON-valued form fields (blocks, attachments, view, files, metadata) are decoded.
    Raises SlackError("invalid_json") for a malformed JSON body.
    """
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(data, dict):
            raise SlackError("json_not_object")
        args.update(data)
    elif ctype == "multipart/form-data":
        args.update(parse_multipart(body, content_type))
    elif body:
        args.update(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    for key in _JSON_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                args[key] = json.loads(value)
            except ValueError:
                if key == "view":
                    raise SlackError("invalid_arguments") from None
                raise SlackError(f"invalid_{key}") from None
    return args


class Endpoints:
    """The fake's routes, transport-neutral: each takes the request and returns a Reply."""

    def __init__(
        self,
        workspace: Workspace,
        methods: dict[str, Method],
        journal: Journal,
        faults: Faults,
        socket_mode: SocketMode,
    ) -> None:
        self.workspace = workspace
        self.methods = methods  # shared with the facade: methods added later are served
        self.journal = journal
        self.faults = faults
        self.socket_mode = socket_mode

    # /api/<method>

    def api(self, method: str, query: str, body: bytes, headers: dict[str, str]) -> Reply:
        token: str | None = None
        args: JsonDict = {}
        try:
            args = parse_args(query, body, headers.get("Content-Type", ""))
            auth = headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else None
            form_token = args.pop("token", None)
            token = token or (str(form_token) if form_token else None)
            self.journal.arrive(method)
            reply = self.faults.injected(method) or self._answer(method, args, token)
        except SlackError as exc:
            reply = Reply(200, {"ok": False, "error": exc.error, **exc.extra})
        self.journal.record(
            Call(method, args, token, reply.status, reply.body, time.time(), headers)
        )
        return reply

    def _answer(self, method: str, args: JsonDict, token: str | None) -> Reply:
        if method in RETIRED_METHODS:
            raise SlackError("method_deprecated")
        handler = self.methods.get(method)
        if handler is None:
            raise SlackError("unknown_method", req_method=method)
        self._authenticate(method, token)
        if method == "chat.postMessage":
            retry_after = self.faults.bucket_retry_after()
            if retry_after is not None:
                body = {"ok": False, "error": "ratelimited"}
                return Reply(429, body, {"Retry-After": str(retry_after)})
        with self.workspace.lock:
            return Reply(200, handler(self.workspace, args))

    def _authenticate(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        ws = self.workspace
        expected = ws.app_token if method in APP_TOKEN_METHODS else ws.bot_token
        if token == expected:
            return
        if token in (ws.bot_token, ws.app_token):
            raise SlackError("not_allowed_token_type")
        raise SlackError("invalid_auth")

    # /hooks/<key>: response_url

    def hook(self, key: str, body: bytes, headers: dict[str, str]) -> Reply:
        args: JsonDict = {}
        try:
            parsed = json.loads(body or b"{}")
            args = parsed if isinstance(parsed, dict) else {"_body": parsed}
        except ValueError:
            args = {"_raw": body.decode("utf-8", errors="replace")}
        args["_hook"] = key
        reply = self.faults.injected("response_url")
        if reply is None:
            ws = self.workspace
            with ws.lock:
                ws.hook_uses[key] += 1
                uses = ws.hook_uses[key]
            limit = ws.response_url_max_uses
            if "_raw" in args or "_body" in args:
                reply = Reply(400, {"ok": False, "error": "invalid_payload"})
            elif limit is not None and uses > limit:
                reply = Reply(404, {"ok": False, "error": "used_url"})
            else:
                reply = Reply(200, {"ok": True})
        call = Call("response_url", args, None, reply.status, reply.body, time.time(), headers)
        self.journal.record(call)
        return reply

    # /upload/v1/<key>: the upload URLs of files.getUploadURLExternal

    def upload(self, key: str, body: bytes, headers: dict[str, str]) -> Reply:
        with self.workspace.lock:
            upload = self.workspace.uploads.get(key)
        reply = self.faults.injected("upload_url") or self._store_upload(upload, body, headers)
        args = {"_upload": key, "file_id": upload.file_id if upload else None, "size": len(body)}
        answer = {"body": reply.text} if reply.text is not None else reply.body
        self.journal.record(
            Call("upload_url", args, None, reply.status, answer, time.time(), headers)
        )
        return reply

    def _store_upload(self, upload: Upload | None, body: bytes, headers: dict[str, str]) -> Reply:
        if upload is None:
            return Reply(404, {}, text="upload_url_not_found")
        content = body
        ctype = headers.get("Content-Type", "")
        if ctype.lower().startswith("multipart/form-data"):
            fields = parse_multipart(body, ctype)
            part = fields.get("file", next(iter(fields.values()), b""))
            content = part if isinstance(part, bytes) else str(part).encode()
        with self.workspace.lock:
            upload.content = content
        return Reply(200, {}, text=f"OK - {len(content)}")

    # /link/?ticket=...: the Socket Mode WebSocket

    def ticket_valid(self, ticket: str) -> bool:
        with self.workspace.lock:
            return ticket in self.workspace.tickets

    def socket_session(self, ws: WebSocket) -> None:
        self.socket_mode.session(ws)
