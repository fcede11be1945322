"""The Slack edge: thin listeners grouped by surface. Each module ends with `register(app)`."""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, events, home, nudges, views


def register_all(app: App) -> None:
    for module in (commands, actions, views, events, home, nudges):
        module.register(app)
