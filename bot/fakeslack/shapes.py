"""Users and channels the fake knows, rendered in the shapes the Web API returns them.

Shapes follow java-slack-sdk-json-logs/api/users.info.json and conversations.info.json,
minus Enterprise Grid keys (``enterprise_user``, ``enterprise_id``, ...), which Slack
omits outside Grid.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

JsonDict = dict[str, Any]

CREATED = 1_600_000_000  # "created"/"updated" stamps of everything the fake knows

# Slack shows long names; zoneinfo only knows abbreviations. Unknown ones fall back to those.
_TZ_LABELS = {
    "CET": "Central European Time",
    "CEST": "Central European Summer Time",
    "EET": "Eastern European Time",
    "EEST": "Eastern European Summer Time",
    "WET": "Western European Time",
    "WEST": "Western European Summer Time",
    "GMT": "Greenwich Mean Time",
    "BST": "British Summer Time",
    "IST": "India Standard Time",
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
    "JST": "Japan Standard Time",
    "AEST": "Australian Eastern Standard Time",
    "AEDT": "Australian Eastern Daylight Time",
    "UTC": "Coordinated Universal Time",
}


def tz_fields(tz: str, at: datetime | None = None) -> JsonDict:
    """``tz``, ``tz_label``, ``tz_offset`` (seconds east of UTC) for an IANA zone, now."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return {"tz": tz, "tz_label": tz, "tz_offset": 0}
    local = (at or datetime.now(tz=zone)).astimezone(zone)
    offset = local.utcoffset()
    abbrev = local.tzname() or tz
    return {
        "tz": tz,
        "tz_label": _TZ_LABELS.get(abbrev, abbrev),
        "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
    }


def dm_channel_id(user_id: str) -> str:
    """A stable ``D…`` id for the bot's DM with this user."""
    return "D" + hashlib.sha256(user_id.encode()).hexdigest()[:10].upper()


@dataclass
class User:
    id: str
    name: str
    tz: str = "Europe/Berlin"
    is_admin: bool = False
    is_owner: bool = False
    deleted: bool = False
    is_bot: bool = False

    def to_api(self, team_id: str, *, bot_id: str | None = None, app_id: str = "") -> JsonDict:
        """The ``user`` object of users.info / a ``members`` entry of users.list.

        A deactivated user comes back as Slack sends one: ``deleted: true`` and no
        ``tz``/``tz_label``/``tz_offset``/``is_admin``/``is_owner``/... keys.
        """
        profile: JsonDict = {
            "title": "",
            "phone": "",
            "skype": "",
            "real_name": self.name,
            "real_name_normalized": self.name,
            "display_name": self.name,
            "display_name_normalized": self.name,
            "fields": {},
            "status_text": "",
            "status_emoji": "",
            "status_emoji_display_info": [],
            "status_expiration": 0,
            "avatar_hash": "g0000000000a",
            "first_name": self.name.split(" ")[0] if self.name else "",
            "last_name": " ".join(self.name.split(" ")[1:]),
            "image_24": "https://a.slack-edge.com/avatar-24.png",
            "image_32": "https://a.slack-edge.com/avatar-32.png",
            "image_48": "https://a.slack-edge.com/avatar-48.png",
            "image_72": "https://a.slack-edge.com/avatar-72.png",
            "image_192": "https://a.slack-edge.com/avatar-192.png",
            "image_512": "https://a.slack-edge.com/avatar-512.png",
            "status_text_canonical": "",
            "team": team_id,
        }
        if self.is_bot:
            profile.update({"bot_id": bot_id or "", "api_app_id": app_id, "always_active": True})
        user: JsonDict = {
            "id": self.id,
            "team_id": team_id,
            "name": self.name.lower().replace(" ", ".") or self.id.lower(),
            "deleted": self.deleted,
        }
        if not self.deleted:
            user["color"] = "9f69e7"
            user["real_name"] = self.name
            user.update(tz_fields(self.tz))
        user["profile"] = profile
        if not self.deleted:
            user.update(
                {
                    "is_admin": self.is_admin,
                    "is_owner": self.is_owner,
                    "is_primary_owner": False,
                    "is_restricted": False,
                    "is_ultra_restricted": False,
                }
            )
        user.update({"is_bot": self.is_bot, "is_app_user": False, "updated": CREATED})
        if not self.deleted:
            user["is_email_confirmed"] = not self.is_bot
            user["who_can_share_contact_card"] = "EVERYONE"
        return user


@dataclass
class Channel:
    id: str
    name: str = ""
    members: list[str] = field(default_factory=list)
    is_archived: bool = False
    bot_is_member: bool = True
    is_private: bool = False
    is_im: bool = False
    im_user: str | None = None  # for DMs: the user on the other side

    def to_api(self, *, team_id: str, creator: str) -> JsonDict:
        """The ``channel`` object of conversations.info."""
        if self.is_im:
            return {
                "id": self.id,
                "created": CREATED,
                "is_archived": False,
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": team_id,
                "updated": CREATED,
                "user": self.im_user,
                "last_read": "0000000000.000000",
                "latest": None,
                "unread_count": 0,
                "unread_count_display": 0,
                "is_open": True,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "created": CREATED,
            "is_archived": self.is_archived,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": self.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": team_id,
            "updated": CREATED,
            "parent_conversation": None,
            "creator": creator,
            "is_ext_shared": False,
            "shared_team_ids": [team_id],
            "pending_connected_team_ids": [],
            "is_member": self.bot_is_member,
            "last_read": "0000000000.000000",
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }
