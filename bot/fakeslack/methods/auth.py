"""auth.test, and apps.connections.open (the Socket Mode URL, called with the app token)."""

from __future__ import annotations

import secrets

from bot.fakeslack.methods.common import JsonDict, Method
from bot.fakeslack.state import Workspace


def auth_test(ws: Workspace, args: JsonDict) -> JsonDict:
    return {
        "ok": True,
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": ws.team_name,
        "user": ws.bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def apps_connections_open(ws: Workspace, args: JsonDict) -> JsonDict:
    ticket = secrets.token_hex(16)
    ws.tickets.add(ticket)
    host = ws.base_url.removeprefix("http://")
    return {"ok": True, "url": f"ws://{host}/link/?ticket={ticket}&app_id={ws.api_app_id}"}


METHODS: dict[str, Method] = {
    "auth.test": auth_test,
    "apps.connections.open": apps_connections_open,
}
