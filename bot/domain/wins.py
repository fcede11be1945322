"""Wins: the two lanes, parsing what a PM typed, validation, and lane suggestion. Pure."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

MAX_TEXT = 3000
MAX_LINK = 2000
MAX_BENEFICIARY = 200
MAX_BACKDATE_DAYS = 366


class Lane(StrEnum):
    SHIPPED = "shipped"
    CLARITY = "clarity"

    @property
    def emoji(self) -> str:
        return "🚀" if self is Lane.SHIPPED else "🧭"

    @property
    def label(self) -> str:
        return "Shipped" if self is Lane.SHIPPED else "Created clarity"


LANE_ALIASES: dict[str, Lane] = {
    "shipped": Lane.SHIPPED,
    "ship": Lane.SHIPPED,
    "s": Lane.SHIPPED,
    "🚀": Lane.SHIPPED,
    ":rocket:": Lane.SHIPPED,
    "clarity": Lane.CLARITY,
    "c": Lane.CLARITY,
    "🧭": Lane.CLARITY,
    ":compass:": Lane.CLARITY,
}


class WinInputError(ValueError):
    """What the PM typed cannot be stored; `code` picks the friendly explanation."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class WinCommand:
    """`/win …` parsed: a lane (or None when the PM did not say) and the text as typed."""

    lane: Lane | None
    text: str


def parse_lane(token: str) -> Lane | None:
    token = token.strip()
    lane = LANE_ALIASES.get(token.lower())
    if lane is None and token.endswith(":") and not token.startswith(":"):
        lane = LANE_ALIASES.get(token[:-1].lower())
    return lane


_WHITESPACE = re.compile(r"\s+")


def parse_win_command(raw: str) -> WinCommand:
    """Split `/win` text into lane and text. Empty text means "open the modal"."""
    stripped = raw.strip()
    if not stripped:
        return WinCommand(lane=None, text="")
    # The separator may be any whitespace (a tab, a newline from a pasted text).
    first, *tail = _WHITESPACE.split(stripped, maxsplit=1)
    rest = tail[0] if tail else ""
    lane = parse_lane(first)
    if lane is None:
        return WinCommand(lane=None, text=stripped)
    if not rest.strip():
        raise WinInputError("blank_with_lane", lane.value)
    return WinCommand(lane=lane, text=rest.strip())


def has_visible_text(text: str) -> bool:
    """False for text made only of spaces, control or format characters (zero-width joiners,
    direction marks) and lone combining marks: nothing a reader would see."""
    return any(unicodedata.category(c)[0] not in ("Z", "C", "M") for c in text)


def validate_text(text: str) -> str:
    """The text to store, or WinInputError("blank"|"too_long")."""
    if not text or not has_visible_text(text):
        raise WinInputError("blank")
    if len(text) > MAX_TEXT:
        raise WinInputError("too_long", str(len(text)))
    return text


def validate_link(link: str | None) -> str | None:
    if link is None or not link.strip():
        return None
    link = link.strip()
    parsed = urlparse(link)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(link) > MAX_LINK:
        raise WinInputError("bad_link")
    # Slack's link syntax and whitespace, and any control or format character (direction
    # marks and the like, which can disguise where a link goes).
    if any(c in link for c in "<>| ") or any(unicodedata.category(c)[0] == "C" for c in link):
        raise WinInputError("bad_link")
    return link


def validate_beneficiary(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    if len(text) > MAX_BENEFICIARY:
        raise WinInputError("beneficiary_too_long")
    return text.strip()


def validate_backdate(day: date, today: date) -> date:
    if day > today:
        raise WinInputError("future_date")
    if day < today - timedelta(days=MAX_BACKDATE_DAYS):
        raise WinInputError("date_too_old")
    return day


def win_id(team_id: str, user_id: str, source: str) -> str:
    """A stable id derived from what Slack sent, so a redelivery maps to the same win."""
    digest = hashlib.sha256(f"{team_id}:{user_id}:{source}".encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class Win:
    id: str
    team_id: str
    user_id: str
    lane: Lane
    text: str
    at: datetime  # when it happened, UTC
    week: str  # the PM's local ISO week when it happened, e.g. 2026-W48
    logged_at: datetime  # when it was logged, UTC
    link: str | None = None
    beneficiary: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        # Spelled out: the instants become ISO text, and dataclasses.asdict would deep-copy.
        data: dict[str, Any] = {
            "id": self.id,
            "team_id": self.team_id,
            "user_id": self.user_id,
            "lane": str(self.lane),  # a StrEnum's str() is its value
            "text": self.text,
            "at": self.at.isoformat(),
            "week": self.week,
            "logged_at": self.logged_at.isoformat(),
            "link": self.link,
            "beneficiary": self.beneficiary,
        }
        if self.extra:
            data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Win:
        return cls(
            id=data["id"],
            team_id=data["team_id"],
            user_id=data["user_id"],
            lane=Lane(data["lane"]),
            text=data["text"],
            at=datetime.fromisoformat(data["at"]),
            week=data["week"],
            logged_at=datetime.fromisoformat(data["logged_at"]),
            link=data.get("link"),
            beneficiary=data.get("beneficiary"),
            extra=data.get("extra") or {},
        )


# Lane suggestion ------------------------------------------------------------------------------

_CLARITY_WORDS = {
    "decided": 3,
    "decision": 3,
    "aligned": 3,
    "alignment": 3,
    "align": 2,
    "framed": 3,
    "frame": 2,
    "framing": 3,
    "why": 2,
    "strategy": 3,
    "strategic": 3,
    "unblocked": 3,
    "unblock": 3,
    "clarified": 3,
    "clarity": 3,
    "vision": 3,
    "roadmap": 2,
    "priorit": 2,
    "cut": 2,
    "scope": 2,
    "descoped": 3,
    "tradeoff": 3,
    "trade-off": 3,
    "principles": 2,
    "one-pager": 2,
    "memo": 2,
    "narrative": 2,
    "okr": 2,
    "goals": 2,
    "research": 1,
    "insight": 2,
    "problem": 1,
    "hypothesis": 2,
    "defined": 2,
    "mentored": 2,
    "coached": 2,
    "enabled": 2,
    "connected": 2,
    "agreed": 2,
    "consensus": 3,
    "direction": 3,
    "rationale": 2,
    "killed": 2,
    "said no": 3,
    "opportunity": 2,
    "discovery": 2,
    "interview": 1,
}
_SHIPPED_WORDS = {
    "launched": 3,
    "launch": 2,
    "released": 3,
    "release": 2,
    "fixed": 3,
    "fix": 2,
    "shipped": 3,
    "ship": 2,
    "delivered": 3,
    "deployed": 3,
    "deploy": 2,
    "merged": 3,
    "rolled out": 3,
    "rollout": 2,
    "live": 2,
    "built": 2,
    "implemented": 3,
    "closed": 2,
    "ticket": 2,
    "tickets": 2,
    "bug": 2,
    "bugs": 2,
    "sprint": 1,
    "spec": 1,
    "completed": 2,
    "finished": 2,
    "migrated": 3,
    "published": 2,
    "beta": 2,
    "ga": 2,
    "hotfix": 3,
    "demo": 1,
    "qa": 2,
    "tested": 2,
}


@dataclass(frozen=True)
class LaneSuggestion:
    lane: Lane | None  # None: the wording gives no hint
    confidence: float  # 0..1


def _score(words: str, vocabulary: dict[str, int]) -> int:
    total = 0
    for term, weight in vocabulary.items():
        if " " in term or "-" in term:
            total += weight * words.count(term)
        elif term == "priorit":
            total += weight * len(re.findall(r"\bpriorit\w*", words))
        else:
            total += weight * len(re.findall(rf"\b{re.escape(term)}\b", words))
    return total


def suggest_lane(text: str) -> LaneSuggestion:
    """Guess a lane from the wording. Only ever a suggestion: never applied silently."""
    words = text.lower()
    clarity, shipped = _score(words, _CLARITY_WORDS), _score(words, _SHIPPED_WORDS)
    if clarity == shipped:
        return LaneSuggestion(lane=None, confidence=0.0)
    lane = Lane.CLARITY if clarity > shipped else Lane.SHIPPED
    high, low = max(clarity, shipped), min(clarity, shipped)
    confidence = round((high - low) / (high + low + 2), 2)
    return LaneSuggestion(lane=lane, confidence=confidence)
