"""The fake's Web API methods: one module per method family, and the dispatch table.

``auth`` (auth.test, apps.connections.open), ``users``, ``conversations``, ``chat``,
``views``, ``files`` (the external upload flow); ``common`` has the handler type
:data:`Method` and what the families share (argument reading, cursor pagination). Each family
exports ``METHODS``; :data:`METHODS` merges them. A handler runs with the workspace's lock
held, reads and changes only the :class:`~bot.fakeslack.state.Workspace`, and raises
``SlackError`` for Slack's error answers; authentication, injected faults and the journal are
the endpoints' business. Imports ``answers``, ``state``, ``shapes``, ``blockkit``, ``payloads``.
"""

from __future__ import annotations

from bot.fakeslack.methods import auth, chat, conversations, files, users, views
from bot.fakeslack.methods.common import Method

__all__ = ["APP_TOKEN_METHODS", "METHODS", "RETIRED_METHODS", "Method"]

METHODS: dict[str, Method] = {
    **auth.METHODS,
    **users.METHODS,
    **conversations.METHODS,
    **chat.METHODS,
    **views.METHODS,
    **files.METHODS,
}

# Methods called with the app-level token (xapp-...) rather than the bot token.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
# Sunset by Slack: answered method_deprecated.
RETIRED_METHODS = frozenset({"files.upload"})
