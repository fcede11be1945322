"""views.open, .push, .update and .publish: Block Kit view limits, single-use trigger ids
(with an optional expiry), external ids, and hashes that guard against lost updates."""

from __future__ import annotations

import copy
import time
from typing import cast

from bot.fakeslack import payloads
from bot.fakeslack.answers import SlackError, invalid_arguments
from bot.fakeslack.blockkit import validate_view
from bot.fakeslack.methods.common import JsonDict, Method
from bot.fakeslack.state import Workspace


def _view_arg(args: JsonDict, kinds: tuple[str, ...]) -> JsonDict:
    view = args.get("view")
    errors = validate_view(view)
    if not errors and cast(JsonDict, view)["type"] not in kinds:
        errors = ["failed to match all allowed schemas [json-pointer:/view/type]"]
    if errors:
        raise invalid_arguments(errors)
    return cast(JsonDict, view)


def _use_trigger(ws: Workspace, args: JsonDict) -> None:
    trigger = str(args.get("trigger_id") or args.get("interactivity_pointer") or "")
    if not trigger:
        raise invalid_arguments(["missing required field: trigger_id"])
    if trigger in ws.used_triggers:
        raise SlackError("exchanged_trigger_id")
    issued = payloads.trigger_issued_at(trigger)
    ttl = ws.trigger_ttl
    if ttl is not None and issued is not None and time.time() - issued > ttl:
        raise SlackError("expired_trigger_id")
    ws.used_triggers.add(trigger)


def _check_external_id(ws: Workspace, view: JsonDict, own_id: str | None = None) -> None:
    external = view.get("external_id")
    if external and any(
        v.get("external_id") == external and vid != own_id for vid, v in ws.views.items()
    ):
        raise SlackError("duplicate_external_id")


def _fresh_hash(old: str) -> str:
    new = payloads.new_view_hash()
    while new == old:
        new = payloads.new_view_hash()
    return new


def views_open(ws: Workspace, args: JsonDict) -> JsonDict:
    view = _view_arg(args, ("modal",))
    _check_external_id(ws, view)
    _use_trigger(ws, args)
    full = ws.complete_view(view, view_id=payloads.new_view_id())
    ws.views[full["id"]] = full
    ws.modal_ids.append(full["id"])
    return {"ok": True, "view": copy.deepcopy(full)}


def views_push(ws: Workspace, args: JsonDict) -> JsonDict:
    view = _view_arg(args, ("modal",))
    _check_external_id(ws, view)
    _use_trigger(ws, args)
    previous = ws.modal_ids[-1] if ws.modal_ids else None
    root = ws.views[previous]["root_view_id"] if previous else None
    full = ws.complete_view(
        view, view_id=payloads.new_view_id(), root_view_id=root, previous_view_id=previous
    )
    ws.views[full["id"]] = full
    ws.modal_ids.append(full["id"])
    return {"ok": True, "view": copy.deepcopy(full)}


def views_update(ws: Workspace, args: JsonDict) -> JsonDict:
    view_id = args.get("view_id")
    external_id = args.get("external_id")
    if not view_id and not external_id:
        raise invalid_arguments(["either view_id or external_id is required"])
    if not view_id:
        view_id = next(
            (vid for vid, v in ws.views.items() if v.get("external_id") == external_id), None
        )
    current = ws.views.get(str(view_id or ""))
    if current is None:
        raise SlackError("not_found")
    if args.get("hash") and args["hash"] != current["hash"]:
        raise SlackError("hash_conflict")
    view = _view_arg(args, (current["type"],))
    _check_external_id(ws, view, own_id=current["id"])
    full = ws.complete_view(
        view,
        view_id=current["id"],
        view_hash=_fresh_hash(current["hash"]),
        root_view_id=current["root_view_id"],
        previous_view_id=current["previous_view_id"],
    )
    ws.views[current["id"]] = full
    return {"ok": True, "view": copy.deepcopy(full)}


def views_publish(ws: Workspace, args: JsonDict) -> JsonDict:
    user = ws.user(args.get("user_id"))
    view = _view_arg(args, ("home",))
    view_id = ws.home_ids.get(user.id)
    current = ws.views.get(view_id) if view_id else None
    if args.get("hash") and current is not None and args["hash"] != current["hash"]:
        raise SlackError("hash_conflict")
    new_hash = _fresh_hash(current["hash"]) if current is not None else None
    full = ws.complete_view(view, view_id=view_id or payloads.new_view_id(), view_hash=new_hash)
    ws.views[full["id"]] = full
    ws.home_ids[user.id] = full["id"]
    return {"ok": True, "view": copy.deepcopy(full)}


METHODS: dict[str, Method] = {
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
}
