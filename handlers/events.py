"""Events API: profile changes and uninstalls (the Home tab lives in handlers/home.py)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.domain.weeks import is_valid_tz
from handlers.replies import coach_of


def user_changed(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
    """Follow a PM's Slack time zone unless they chose one explicitly."""
    user = event.get("user") or {}
    tz = str(user.get("tz") or "")
    # The workspace is the one the event was delivered for, never what the payload's user
    # object claims: a user object must not reach into another workspace's data.
    team_id = str(body.get("team_id") or context.get("team_id") or "")
    if not tz or not is_valid_tz(tz) or not team_id:
        return
    if coach_of(context).follow_slack_zone(team_id, str(user.get("id")), tz):
        context["log"].info("tz_followed_slack", tz=tz)


def tokens_revoked(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
    """Tokens were revoked: the team is gone for the app only if its bot token was (the
    event's `tokens.bot`, bot user ids; `tokens.oauth` lists user tokens, which the app
    does not use). Its shape was checked in `bot.runtime.wellformed`."""
    if (event.get("tokens") or {}).get("bot"):
        uninstalled(event, body, context)
    else:
        context["log"].info("user_tokens_revoked")


def uninstalled(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
    """The app left the workspace or lost its bot token: stop all scheduled work for the
    team."""
    coach = coach_of(context)
    team_id = str(body.get("team_id") or context.get("team_id") or "")
    coach.store.teams.mark_uninstalled(team_id, coach.clock())
    context["log"].warning("team_uninstalled", kind=event.get("type"))


def register(app: App) -> None:
    app.event("user_change")(user_changed)
    app.event("app_uninstalled")(uninstalled)
    app.event("tokens_revoked")(tokens_revoked)
