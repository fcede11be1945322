"""The Slack edge: thin Bolt listeners grouped by surface, each module ending with
`register(app)`. A listener reads the payload, answers within Slack's 3 s (`ack`), and hands
slow work to `replies.after_ack`; what to do is the coach's (`bot.coach`), what to show the
surfaces' (`bot.surfaces`). Imports `bot.coach`, `bot.store` (its records and errors),
`bot.surfaces` and `bot.domain`; never `bot.runtime`, which builds the app around them.
"""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, events, home, nudges, views


def register_all(app: App) -> None:
    for module in (commands, actions, views, events, home, nudges):
        module.register(app)
