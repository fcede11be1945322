"""users.info and users.list (cursor-paginated)."""

from __future__ import annotations

import time

from bot.fakeslack.methods.common import JsonDict, Method, page, truthy
from bot.fakeslack.state import Workspace


def users_info(ws: Workspace, args: JsonDict) -> JsonDict:
    user = ws.user_object(ws.user(args.get("user")))
    if truthy(args.get("include_locale")):
        user["locale"] = "en-US"
    return {"ok": True, "user": user}


def users_list(ws: Workspace, args: JsonDict) -> JsonDict:
    ids, cursor = page(list(ws.users), args, default_limit=0)
    return {
        "ok": True,
        "members": [ws.user_object(ws.users[uid]) for uid in ids],
        "cache_ts": int(time.time()),
        "response_metadata": {"next_cursor": cursor},
    }


METHODS: dict[str, Method] = {
    "users.info": users_info,
    "users.list": users_list,
}
