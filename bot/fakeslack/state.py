"""The fake workspace's state: who is in it, what was posted, which views are open, files.

:class:`Workspace` holds the identity of the workspace and its app (ids, tokens, names), the
directory (users, channels, the bot's DMs), messages and ephemerals, views (modals and home
tabs), used trigger ids, uploads and shared files, response_url uses and the Socket Mode
tickets handed out. It also has the lookups every method family shares (a user, a channel the
bot can see or post to), each raising the :class:`SlackError` Slack answers. Web API method
handlers (``bot.fakeslack.methods``) read and change it with :attr:`Workspace.lock` held; the
facade copies out of it under the same lock. Imports ``answers``, ``shapes`` and ``payloads``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bot.fakeslack import payloads
from bot.fakeslack.answers import SlackError
from bot.fakeslack.shapes import Channel, User, dm_channel_id

JsonDict = dict[str, Any]


@dataclass
class Upload:
    """A file announced by files.getUploadURLExternal; ``content`` once its URL got the bytes."""

    file_id: str
    filename: str
    length: int
    content: bytes | None = None


class Workspace:
    """One Slack workspace with the app installed. Change it only with ``lock`` held."""

    def __init__(
        self,
        *,
        team_id: str,
        bot_token: str,
        app_token: str,
        bot_user_id: str,
        bot_id: str,
        api_app_id: str,
        team_name: str,
        team_domain: str,
        bot_name: str,
        trigger_ttl: float | None,
        response_url_max_uses: int | None,
    ) -> None:
        self.team_id = team_id
        self.bot_token = bot_token
        self.app_token = app_token
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.api_app_id = api_app_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_name = bot_name
        self.trigger_ttl = trigger_ttl
        self.response_url_max_uses = response_url_max_uses
        self.base_url = ""  # http://127.0.0.1:<port> once the fake serves

        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.dm_open: set[str] = set()
        self.messages: dict[str, list[JsonDict]] = {}  # channel -> its messages, oldest first
        self.ephemerals: dict[str, list[JsonDict]] = {}  # user -> what only they saw
        self.views: dict[str, JsonDict] = {}  # every view: modals and home tabs
        self.modal_ids: list[str] = []  # open modals, oldest first
        self.home_ids: dict[str, str] = {}  # user -> view id
        self.used_triggers: set[str] = set()
        self.uploads: dict[str, Upload] = {}  # upload key -> upload
        self.files: list[JsonDict] = []  # one entry per file and channel it was shared to
        self.hook_uses: Counter[str] = Counter()  # response_url key -> posts to it
        self.tickets: set[str] = set()  # Socket Mode tickets from apps.connections.open
        self._last_ts_us = 0

        self.add_user(bot_user_id, name=bot_name, is_bot=True)

    # directory

    def add_user(
        self,
        user_id: str,
        *,
        name: str = "",
        tz: str = "Europe/Berlin",
        is_admin: bool = False,
        is_owner: bool = False,
        deleted: bool = False,
        is_bot: bool = False,
    ) -> None:
        with self.lock:
            self.users[user_id] = User(
                user_id, name or user_id, tz, is_admin, is_owner, deleted, is_bot
            )
            if user_id != self.bot_user_id:
                dm = dm_channel_id(user_id)
                self.channels[dm] = Channel(
                    dm, members=[user_id, self.bot_user_id], is_im=True, im_user=user_id
                )

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str = "",
        members: list[str] | None = None,
        is_archived: bool = False,
        bot_is_member: bool = True,
        is_private: bool = False,
    ) -> None:
        with self.lock:
            people = list(members or [])
            if bot_is_member and self.bot_user_id not in people:
                people.append(self.bot_user_id)
            self.channels[channel_id] = Channel(
                channel_id,
                name or channel_id.lower(),
                people,
                is_archived,
                bot_is_member,
                is_private,
            )

    def dm_alias(self, channel_or_user: str) -> str:
        """A known user id stands for the bot's DM with that user."""
        if channel_or_user in self.users and channel_or_user != self.bot_user_id:
            return dm_channel_id(channel_or_user)
        return channel_or_user

    # lookups the method families share

    def user(self, user_id: Any) -> User:
        user = self.users.get(str(user_id or ""))
        if user is None:
            raise SlackError("user_not_found")
        return user

    def user_object(self, user: User) -> JsonDict:
        """The ``user`` object of users.info / users.list."""
        return user.to_api(self.team_id, bot_id=self.bot_id, app_id=self.api_app_id)

    def channel(self, channel_id: Any, *, user_ok: bool = False) -> Channel:
        """A channel the bot can see (private channels it is not in are invisible).

        ``user_ok``: a user id stands for the bot's DM with them (chat.postMessage only).
        """
        wanted = str(channel_id or "")
        channel = self.channels.get(self.dm_alias(wanted) if user_ok else wanted)
        if channel is None or (channel.is_private and not channel.bot_is_member):
            raise SlackError("channel_not_found")
        return channel

    def postable(self, channel_id: Any, *, user_ok: bool = False) -> Channel:
        """A channel the bot can post to: visible, not archived, the bot a member."""
        channel = self.channel(channel_id, user_ok=user_ok)
        if channel.is_archived:
            raise SlackError("is_archived")
        if not channel.bot_is_member:
            raise SlackError("not_in_channel")
        return channel

    def stored(self, channel: str, ts: Any) -> JsonDict:
        """The stored message `ts` of `channel` (changed in place by chat.update)."""
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    # what the bot posts

    def next_ts(self) -> str:
        """A message ts, unique and increasing within the workspace, as Slack's are."""
        micros = max(self._last_ts_us + 1, int(time.time() * 1_000_000))
        self._last_ts_us = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def bot_message(self, args: JsonDict, ts: str) -> JsonDict:
        """The message object Slack stores for a post of the bot with these arguments."""
        message: JsonDict = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": ts,
            "bot_id": self.bot_id,
            "app_id": self.api_app_id,
            "text": args.get("text") or "",
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.api_app_id,
                "name": self.bot_name,
                "deleted": False,
                "team_id": self.team_id,
            },
        }
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                message[key] = copy.deepcopy(args[key])
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
            message["parent_user_id"] = self.bot_user_id
        return message

    def complete_view(self, view: JsonDict, **kwargs: Any) -> JsonDict:
        """The full view object Slack answers and stores for `view` (see payloads)."""
        return payloads.complete_view(
            view, team_id=self.team_id, api_app_id=self.api_app_id, bot_id=self.bot_id, **kwargs
        )
