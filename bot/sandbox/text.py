"""Slack mrkdwn and plain text as terminal text, for the sandbox's renderer.

Pure: no I/O, no clock, nothing at import. `mrkdwn_to_text` turns Slack mrkdwn into plain
text: entities unescaped, mentions and links spelled out, *bold* / _italic_ / ~strike~ / `code`
shown with ANSI styles when `color` is set and without their markers otherwise, ``` blocks kept
verbatim (the 12-week chart is a monospace block and must stay aligned), quotes marked with
"│ ". The rest is what the block renderer shares: display widths (ANSI styles take no column,
wide characters and emoji two), word wrapping by display width, and the readers that take a
field of a Block Kit dict as the type it should be. It imports only the standard library.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BOLD",
    "DIM",
    "RED",
    "Line",
    "Users",
    "as_dict",
    "as_list",
    "as_str",
    "display_width",
    "flow",
    "mrkdwn_lines",
    "mrkdwn_to_text",
    "plain",
    "sgr",
    "strip_ansi",
    "wrap",
    "wrap_lines",
]

Users = Mapping[str, str] | None

PRE_INDENT = "    "
CHIP_GAP = "   "

# ANSI style codes (SGR parameters).
BOLD = "1"
DIM = "2"
RED = "31"
_RESET = "\033[0m"
_STYLE = {"*": "1", "_": "3", "~": "9"}  # bold, italic, strikethrough
_CODE_ON, _CODE_OFF = "\033[36m", "\033[39m"  # cyan foreground; leaves bold/italic alone

_ANSI = re.compile(r"\033\[[0-9;]*m")
_ENTITY_FREE_SENTINELS = re.compile("[\ue000\ue001]")
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")
_ANGLE = re.compile(r"<([^<>\n]+)>")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
# A marker opens after the start of the line or a non-alphanumeric character and before a
# non-space; it closes after a non-space and before the end or a non-alphanumeric character —
# Slack's rule, which leaves snake_case and 5*3*2 alone.
_SPANS = {
    marker: re.compile(
        rf"(?<![^\W_]|{re.escape(marker)}){re.escape(marker)}"
        rf"(?=[^\s{re.escape(marker)}])(.+?)(?<=[^\s{re.escape(marker)}])"
        rf"{re.escape(marker)}(?![^\W_]|{re.escape(marker)})"
    )
    for marker in _STYLE
}
_LIST_PREFIX = re.compile(r"^(│ )?(\s*(?:[•◦▪‣\-]\s+|\d+[.)]\s+)?)")


# Text helpers ---------------------------------------------------------------------------------


def strip_ansi(text: str) -> str:
    """The text without ANSI style sequences."""
    return _ANSI.sub("", text)


def display_width(text: str) -> int:
    """Terminal columns `text` takes: ANSI styles take none, wide characters and emoji two."""
    width = 0
    previous = 0
    for char in strip_ansi(text):
        if char == "\ufe0f":  # emoji presentation: a narrow symbol becomes two columns wide
            width += 1 if previous == 1 else 0
            previous = 2
            continue
        if char in "\u200b\u200c\u200d\ufe0e" or unicodedata.combining(char):
            continue
        if unicodedata.category(char) in ("Cc", "Cf"):
            continue
        previous = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        width += previous
    return width


def sgr(codes: str, text: str, color: bool) -> str:
    return f"\033[{codes}m{text}{_RESET}" if color and text else text


def _unescape(text: str) -> str:
    """Slack's three entities, &amp; last so that "&amp;lt;" stays the literal "&lt;"."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plain(obj: Any) -> str:
    """The text of a composition text object (or a bare string), "" for anything else."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        text = obj.get("text")
        return text if isinstance(text, str) else ""
    return ""


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# mrkdwn ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    text: str
    pre: bool = False  # inside a ``` block: never wrapped, never reformatted


def _split_pre(text: str) -> list[tuple[str, bool]]:
    """Alternating (text, is_pre) segments; an unmatched ``` stays literal text."""
    parts = text.split("```")
    if len(parts) % 2 == 0:  # an odd number of fences: the last one is just text
        parts[-2:] = [parts[-2] + "```" + parts[-1]]
    return [(part, index % 2 == 1) for index, part in enumerate(parts)]


def _mention(body: str, users: Users, channels: Users) -> str:
    """The text of one <…> control sequence."""
    target, _, label = body.partition("|")
    if target.startswith("@"):
        uid = target[1:]
        if users and uid in users:
            return "@" + users[uid]
        return "@" + (label.lstrip("@") if label else uid)
    if target.startswith("#"):
        cid = target[1:]
        if label:
            return "#" + label.lstrip("#")
        if channels and cid in channels:
            return "#" + channels[cid]
        return "#" + cid
    if target.startswith("!"):
        if label:
            return _unescape(label)
        name = target[1:].split("^", 1)[0]
        return "@" + name
    url, text = _unescape(target), _unescape(label)
    if not text or text == url:
        return url
    if url.startswith("mailto:") and url[len("mailto:") :] == text:
        return text
    return f"{text} ({url})"


def _styled(text: str, color: bool, active: tuple[str, ...] = ()) -> str:
    """Apply the earliest *bold* / _italic_ / ~strike~ span, recursively; keep the rest."""
    out: list[str] = []
    position = 0
    while position < len(text):
        best: re.Match[str] | None = None
        best_marker = ""
        for marker, pattern in _SPANS.items():
            found = pattern.search(text, position)
            if found and (best is None or found.start() < best.start()):
                best, best_marker = found, marker
        if best is None:
            break
        out.append(text[position : best.start()])
        inner = _styled(best.group(1), color, (*active, _STYLE[best_marker]))
        if color:
            reopen = "".join(f"\033[{code}m" for code in active)
            out.append(f"\033[{_STYLE[best_marker]}m{inner}{_RESET}{reopen}")
        else:
            out.append(inner)
        position = best.end()
    out.append(text[position:])
    return "".join(out)


def _inline(line: str, users: Users, channels: Users, color: bool) -> str:
    """One line of mrkdwn outside ``` blocks as display text."""
    literals: list[str] = []

    def keep(text: str) -> str:
        literals.append(text)
        return f"\ue000{len(literals) - 1}\ue001"

    def code(found: re.Match[str]) -> str:
        content = _unescape(found.group(1))
        return keep(f"{_CODE_ON}{content}{_CODE_OFF}" if color else content)

    text = _ENTITY_FREE_SENTINELS.sub("", line)
    text = _INLINE_CODE.sub(code, text)
    text = _ANGLE.sub(lambda found: keep(_mention(found.group(1), users, channels)), text)
    text = _unescape(_styled(text, color))
    return _PLACEHOLDER.sub(lambda found: literals[int(found.group(1))], text)


def _text_lines(text: str, users: Users, channels: Users, color: bool) -> list[Line]:
    """Lines of mrkdwn outside ``` blocks: quotes become "│ ", the rest inline-formatted."""
    lines: list[Line] = []
    quote_rest = False
    for raw in text.split("\n"):
        quoted = quote_rest
        body = raw
        if not quoted and raw.startswith(">>>"):
            quote_rest = quoted = True
            body = raw[3:]
        elif not quoted and raw.startswith(">"):
            quoted = True
            body = raw[1:]
        if quoted:
            body = body.removeprefix(" ")
        rendered = _inline(body, users, channels, color)
        lines.append(Line(("│ " + rendered) if quoted else rendered))
    return lines


def mrkdwn_lines(
    text: str, users: Users = None, channels: Users = None, color: bool = False
) -> list[Line]:
    segments = _split_pre(text)
    lines: list[Line] = []
    for index, (content, is_pre) in enumerate(segments):
        if is_pre:
            body = content.removeprefix("\n").removesuffix("\n")
            lines.extend(Line(PRE_INDENT + _unescape(row), pre=True) for row in body.split("\n"))
            continue
        after_pre = index > 0
        before_pre = index < len(segments) - 1
        if after_pre:
            content = content.removeprefix("\n")
        if before_pre:
            content = content.removesuffix("\n")
        if not content and (after_pre or before_pre):
            continue
        lines.extend(_text_lines(content, users, channels, color))
    return lines


def mrkdwn_to_text(
    text: str,
    *,
    users: Mapping[str, str] | None = None,
    channels: Mapping[str, str] | None = None,
    color: bool = False,
) -> str:
    """Slack mrkdwn as terminal text (see the module docstring). Never raises on odd input."""
    return "\n".join(line.text for line in mrkdwn_lines(text, users, channels, color))


# Wrapping -------------------------------------------------------------------------------------


def _continuation(line: str) -> str:
    """What a wrapped line's later rows start with: the quote bar, and a bullet's indent."""
    found = _LIST_PREFIX.match(line)
    if not found:
        return ""
    quote, indent = found.group(1) or "", found.group(2) or ""
    return quote + " " * display_width(indent)


def wrap(line: str, width: int, prefix: str = "") -> list[str]:
    """Greedy word wrap by display width; spacing kept where a row fits; long words whole."""
    width = max(width - display_width(prefix), 10)
    if display_width(line) <= width:
        return [prefix + line]
    cont = _continuation(line)
    rows: list[str] = []
    row = ""
    has_word = False
    for token in re.findall(r"\S+|\s+", line):
        if token.isspace():
            if has_word or not rows:  # leading spaces of the first row are layout: keep them
                row += token
            continue
        if has_word and display_width(row + token) > width:
            rows.append(row.rstrip())
            row = cont
        row += token
        has_word = True
    if row.strip():
        rows.append(row.rstrip())
    return [prefix + row for row in rows]


def wrap_lines(lines: Sequence[Line], width: int, prefix: str = "") -> list[str]:
    out: list[str] = []
    for line in lines:
        if line.pre:
            out.append(prefix + line.text)
        else:
            out.extend(wrap(line.text, width, prefix))
    return out


def flow(chips: Sequence[str], width: int, prefix: str = "") -> list[str]:
    """Lay chips ("[3] Undo") side by side, starting a new row when the next would overflow."""
    rows: list[str] = []
    row = ""
    for chip in chips:
        candidate = f"{row}{CHIP_GAP}{chip}" if row else chip
        if row and display_width(prefix + candidate) > width:
            rows.append(prefix + row)
            row = chip
        else:
            row = candidate
    if row:
        rows.append(prefix + row)
    return rows
