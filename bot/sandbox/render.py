"""Render what Slack would display — messages, modals, the App Home — as terminal text.

Pure: no I/O, no clock, nothing at import. Every interactive element gets a number, in reading
order, so a person in the terminal sandbox can pick it ("3" clicks the third thing); the
numbers and what they stand for are collected in a `Numbering`, which one screen shares across
several render calls so the numbers keep counting up.

Slack mrkdwn is turned into plain text (`mrkdwn_to_text`): entities unescaped, mentions and
links spelled out, *bold* / _italic_ / ~strike~ / `code` shown with ANSI styles when `color` is
set and without their markers otherwise, ``` blocks kept verbatim (the 12-week chart is a
monospace block and must stay aligned), quotes marked with "│ ".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from typing import Any

__all__ = [
    "Interactive",
    "Numbering",
    "display_width",
    "element_options",
    "mrkdwn_to_text",
    "option_letter",
    "render_blocks",
    "render_confirm",
    "render_message",
    "render_view",
    "strip_ansi",
]

Users = Mapping[str, str] | None

# Kinds of Interactive items.
BUTTON = "button"
OVERFLOW_OPTION = "overflow_option"
SELECT_OPTION = "select_option"  # an option of a static_select / radio / checkboxes in actions
INPUT = "input"  # an input block's element, or a date/time picker outside one

PRE_INDENT = "    "
FIELD_INDENT = "    "
CHIP_GAP = "   "

_RESET = "\033[0m"
_STYLE = {"*": "1", "_": "3", "~": "9"}  # bold, italic, strikethrough
_CODE_ON, _CODE_OFF = "\033[36m", "\033[39m"  # cyan foreground; leaves bold/italic alone
_DIM = "2"
_RED = "31"
_NUMBER = "1;36"

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


# Numbering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interactive:
    """One thing a person can pick by number."""

    number: int  # 1-based, in reading order across everything rendered with the same Numbering
    kind: str  # "button" | "overflow_option" | "select_option" | "input"
    action_id: str
    block_id: str
    value: str  # button value / option value; "" for inputs
    label: str  # what the person sees (plain text)
    element: dict[str, Any]  # the raw Block Kit element (button, overflow, input element…)
    surface: str  # "message" | "modal" | "home"
    confirm: dict[str, Any] | None = None  # a button's confirm dialog, if any
    option: dict[str, Any] | None = None  # the raw option object of an overflow/select option


class Numbering:
    """Collects the Interactive items of one screen; numbers continue across render calls."""

    def __init__(self, start: int = 1) -> None:
        self.start = start
        self.items: list[Interactive] = []

    @property
    def next_number(self) -> int:
        return self.start + len(self.items)

    def add(
        self,
        *,
        kind: str,
        action_id: str,
        block_id: str,
        value: str,
        label: str,
        element: dict[str, Any],
        surface: str,
        confirm: dict[str, Any] | None = None,
        option: dict[str, Any] | None = None,
    ) -> Interactive:
        item = Interactive(
            number=self.next_number,
            kind=kind,
            action_id=action_id,
            block_id=block_id,
            value=value,
            label=label,
            element=element,
            surface=surface,
            confirm=confirm,
            option=option,
        )
        self.items.append(item)
        return item

    def get(self, number: int) -> Interactive | None:
        index = number - self.start
        return self.items[index] if 0 <= index < len(self.items) else None

    def __len__(self) -> int:
        return len(self.items)


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


def _sgr(codes: str, text: str, color: bool) -> str:
    return f"\033[{codes}m{text}{_RESET}" if color and text else text


def _unescape(text: str) -> str:
    """Slack's three entities, &amp; last so that "&amp;lt;" stays the literal "&lt;"."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(obj: Any) -> str:
    """The text of a composition text object (or a bare string), "" for anything else."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        text = obj.get("text")
        return text if isinstance(text, str) else ""
    return ""


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# mrkdwn ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
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


def _text_lines(text: str, users: Users, channels: Users, color: bool) -> list[_Line]:
    """Lines of mrkdwn outside ``` blocks: quotes become "│ ", the rest inline-formatted."""
    lines: list[_Line] = []
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
        lines.append(_Line(("│ " + rendered) if quoted else rendered))
    return lines


def _mrkdwn_lines(
    text: str, users: Users = None, channels: Users = None, color: bool = False
) -> list[_Line]:
    segments = _split_pre(text)
    lines: list[_Line] = []
    for index, (content, is_pre) in enumerate(segments):
        if is_pre:
            body = content.removeprefix("\n").removesuffix("\n")
            lines.extend(_Line(PRE_INDENT + _unescape(row), pre=True) for row in body.split("\n"))
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
    return "\n".join(line.text for line in _mrkdwn_lines(text, users, channels, color))


# Wrapping -------------------------------------------------------------------------------------


def _continuation(line: str) -> str:
    """What a wrapped line's later rows start with: the quote bar, and a bullet's indent."""
    found = _LIST_PREFIX.match(line)
    if not found:
        return ""
    quote, indent = found.group(1) or "", found.group(2) or ""
    return quote + " " * display_width(indent)


def _wrap(line: str, width: int, prefix: str = "") -> list[str]:
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


def _wrap_lines(lines: Sequence[_Line], width: int, prefix: str = "") -> list[str]:
    out: list[str] = []
    for line in lines:
        if line.pre:
            out.append(prefix + line.text)
        else:
            out.extend(_wrap(line.text, width, prefix))
    return out


def _flow(chips: Sequence[str], width: int, prefix: str = "") -> list[str]:
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


# Elements -------------------------------------------------------------------------------------


def option_letter(index: int) -> str:
    """a, b, … z, aa, ab, … for the 0-based `index` of an option under an input field."""
    letters = ""
    index += 1
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


def element_options(element: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The options of a select, radio, checkboxes or overflow element (groups flattened)."""
    options = [o for o in _list(element.get("options")) if isinstance(o, dict)]
    for group in _list(element.get("option_groups")):
        options.extend(o for o in _list(_dict(group).get("options")) if isinstance(o, dict))
    return options


CHOICE_ONE = ("radio_buttons", "static_select")
CHOICE_MANY = ("checkboxes", "multi_static_select")
PICKERS = ("datepicker", "timepicker", "datetimepicker")
TEXT_INPUTS = ("plain_text_input", "url_text_input", "email_text_input", "number_input")
INPUT_ELEMENTS = CHOICE_ONE + CHOICE_MANY + PICKERS + TEXT_INPUTS


def _input_kind(element: Mapping[str, Any]) -> str:
    kind = _str(element.get("type"))
    if kind == "plain_text_input":
        return "text, multiline" if element.get("multiline") else "text"
    if kind == "number_input":
        return "decimal number" if element.get("is_decimal_allowed") else "whole number"
    return {
        "url_text_input": "url",
        "email_text_input": "email",
        "radio_buttons": "choose one",
        "static_select": "choose one",
        "checkboxes": "choose any",
        "multi_static_select": "choose any",
        "datepicker": "date, YYYY-MM-DD",
        "timepicker": "time, HH:MM",
        "datetimepicker": "date and time",
    }.get(kind, kind or "input")


def _marker(element: Mapping[str, Any], chosen: bool) -> str:
    if _str(element.get("type")) in CHOICE_MANY:
        return "☑" if chosen else "☐"
    return "●" if chosen else "○"


def _initial_values(element: Mapping[str, Any]) -> set[str]:
    chosen = [_dict(element.get("initial_option"))]
    chosen += [_dict(o) for o in _list(element.get("initial_options"))]
    return {_str(o.get("value")) for o in chosen if "value" in o}


@dataclass
class _Ctx:
    numbering: Numbering
    surface: str
    users: Users
    channels: Users
    color: bool
    width: int

    def number(self, item: Interactive) -> str:
        return _sgr(_NUMBER, f"[{item.number}]", self.color)

    def dim(self, text: str) -> str:
        return _sgr(_DIM, text, self.color)

    def mrkdwn(self, obj: Any) -> list[_Line]:
        """A text object's lines: mrkdwn is parsed, plain_text shown as it is."""
        text = _plain(obj)
        if isinstance(obj, dict) and obj.get("type") == "plain_text":
            return [_Line(row) for row in text.split("\n")]
        return _mrkdwn_lines(text, self.users, self.channels, self.color)


def _button_chip(ctx: _Ctx, element: dict[str, Any], block_id: str) -> str:
    label = _plain(element.get("text"))
    confirm = element.get("confirm")
    item = ctx.numbering.add(
        kind=BUTTON,
        action_id=_str(element.get("action_id")),
        block_id=block_id,
        value=_str(element.get("value")),
        label=label,
        element=element,
        surface=ctx.surface,
        confirm=confirm if isinstance(confirm, dict) else None,
    )
    mark = {"primary": "★ ", "danger": "⚠ "}.get(_str(element.get("style")), "")
    chip = f"{ctx.number(item)} {mark}{label}"
    url = _str(element.get("url"))
    return f"{chip} ↗ {url}" if url else chip


def _option_chips(ctx: _Ctx, element: dict[str, Any], block_id: str, kind: str) -> list[str]:
    """One numbered chip per option of an overflow, or of a select/radio/checkboxes."""
    chips: list[str] = []
    elem_type = _str(element.get("type"))
    chosen = _initial_values(element)
    if elem_type in ("static_select", "multi_static_select"):
        placeholder = _plain(element.get("placeholder")) or "Choose"
        chips.append(f"▾ {placeholder}:")
    for option in element_options(element):
        label = _plain(option.get("text"))
        value = _str(option.get("value"))
        item = ctx.numbering.add(
            kind=kind,
            action_id=_str(element.get("action_id")),
            block_id=block_id,
            value=value,
            label=label,
            element=element,
            surface=ctx.surface,
            option=option,
        )
        if kind == OVERFLOW_OPTION:
            chips.append(f"{ctx.number(item)} ⋯ {label}")
        elif elem_type in ("static_select", "multi_static_select"):
            tick = " ✓" if value in chosen else ""
            chips.append(f"{ctx.number(item)} ▸ {label}{tick}")
        else:
            chips.append(f"{ctx.number(item)} {_marker(element, value in chosen)} {label}")
    return chips


def _picker_chip(ctx: _Ctx, element: dict[str, Any], block_id: str) -> str:
    """A date/time picker or text field outside an input block: one number, like an input."""
    elem_type = _str(element.get("type"))
    label = _plain(element.get("placeholder")) or _input_kind(element)
    item = ctx.numbering.add(
        kind=INPUT,
        action_id=_str(element.get("action_id")),
        block_id=block_id,
        value="",
        label=label,
        element=element,
        surface=ctx.surface,
    )
    current = (
        _str(element.get("initial_date"))
        or _str(element.get("initial_time"))
        or _str(element.get("initial_value"))
    )
    icon = {"datepicker": "📅", "timepicker": "🕒"}.get(elem_type, "✎")
    shown = f"{label}: {current}" if current else label
    return f"{ctx.number(item)} {icon} {shown}"


def _element_chips(ctx: _Ctx, element: Any, block_id: str) -> list[str]:
    """An actions element or a section accessory as chips."""
    if not isinstance(element, dict):
        return ["[unsupported element]"]
    elem_type = _str(element.get("type"))
    if elem_type == "button":
        return [_button_chip(ctx, element, block_id)]
    if elem_type == "overflow":
        return _option_chips(ctx, element, block_id, OVERFLOW_OPTION)
    if elem_type in CHOICE_ONE + CHOICE_MANY:
        return _option_chips(ctx, element, block_id, SELECT_OPTION)
    if elem_type in PICKERS + TEXT_INPUTS:
        return [_picker_chip(ctx, element, block_id)]
    if elem_type == "image":
        return [f"[image: {_str(element.get('alt_text'))}]"]
    return [f"[unsupported element: {elem_type or '?'}]"]


# Input fields ---------------------------------------------------------------------------------


def _state_entry(value: Any, element: Mapping[str, Any]) -> Any:
    """Unwrap Slack's state shape {action_id: {"type": …, "value": …}} to the action's dict."""
    if isinstance(value, dict) and "type" not in value and "text" not in value:
        action_id = _str(element.get("action_id"))
        inner = value.get(action_id)
        if inner is None and len(value) == 1:
            inner = next(iter(value.values()))
        if isinstance(inner, dict):
            return inner
    return value


def _chosen_values(value: Any) -> set[str]:
    """The option values a person set, from a value, an option, a list of them or a state."""
    if isinstance(value, dict):
        if "selected_options" in value:
            return _chosen_values(value["selected_options"])
        if "selected_option" in value:
            return _chosen_values(value["selected_option"])
        return {_str(value.get("value"))} if "value" in value else set()
    if isinstance(value, list | tuple | set | frozenset):
        chosen: set[str] = set()
        for item in value:
            chosen |= _chosen_values(item)
        return chosen
    return set() if value is None else {str(value)}


def _scalar(value: Any) -> str | None:
    """What a person typed or picked, as text (None: nothing)."""
    if isinstance(value, dict):
        for key in ("value", "selected_date", "selected_time", "selected_date_time"):
            if key in value:
                return _scalar(value[key])
        return None
    if isinstance(value, date | time):
        return value.isoformat()
    return None if value is None else str(value)


def _initial_text(element: Mapping[str, Any]) -> str:
    for key in ("initial_value", "initial_date", "initial_time", "initial_date_time"):
        if element.get(key) not in (None, ""):
            return str(element[key])
    return ""


def _input_lines(
    ctx: _Ctx, block: dict[str, Any], values: Mapping[str, Any], errors: Mapping[str, str]
) -> list[str]:
    element = _dict(block.get("element"))
    block_id = _str(block.get("block_id"))
    label = _plain(block.get("label"))
    elem_type = _str(element.get("type"))
    if elem_type not in INPUT_ELEMENTS:
        return [f"{label} [unsupported element: {elem_type or '?'}]"]
    item = ctx.numbering.add(
        kind=INPUT,
        action_id=_str(element.get("action_id")),
        block_id=block_id,
        value="",
        label=label,
        element=element,
        surface=ctx.surface,
    )
    kind = _input_kind(element)
    if block.get("optional") and "optional" not in label.lower():
        kind += ", optional"
    lines = _wrap(f"{ctx.number(item)} {label} ({kind})", ctx.width)
    has_value = block_id in values
    current = _state_entry(values.get(block_id), element) if has_value else None
    if elem_type in CHOICE_ONE + CHOICE_MANY:
        chosen = _chosen_values(current) if has_value else _initial_values(element)
        # A person's choice may also be given by the option's text, several joined by ", ".
        names = chosen | {part for name in chosen for part in name.split(", ")}
        options = element_options(element)
        picked = [
            _str(o.get("value")) in chosen or (has_value and _plain(o.get("text")) in names)
            for o in options
        ]
        for index, (option, on) in enumerate(zip(options, picked, strict=True)):
            text = f"{option_letter(index)}) {_marker(element, on)} {_plain(option.get('text'))}"
            lines.extend(_wrap(text, ctx.width, FIELD_INDENT))
        if chosen and not any(picked):  # a value no option has: still show what was set
            lines.append(f"{FIELD_INDENT}value: {', '.join(sorted(chosen))}")
        if not has_value and not chosen and (placeholder := _plain(element.get("placeholder"))):
            lines.append(FIELD_INDENT + ctx.dim(f"‹{placeholder}›"))
    else:
        shown: str | None
        if has_value:
            shown, tag = _scalar(current), "value"
        else:
            shown, tag = _initial_text(element), "default"
        if shown:
            first, *rest = shown.split("\n")
            lines.append(f"{FIELD_INDENT}{tag}: {first}")
            pad = FIELD_INDENT + " " * (len(tag) + 2)
            lines.extend(pad + row for row in rest)
        elif has_value:
            lines.append(FIELD_INDENT + "(empty)")
        elif placeholder := _plain(element.get("placeholder")):
            lines.append(FIELD_INDENT + ctx.dim(f"‹{placeholder}›"))
    if hint := _plain(block.get("hint")):
        lines.extend(ctx.dim(row) for row in _wrap(f"ℹ {hint}", ctx.width, FIELD_INDENT))
    if block_id in errors:
        message = f"⚠ {errors[block_id]}"
        lines.extend(_sgr(_RED, row, ctx.color) for row in _wrap(message, ctx.width, FIELD_INDENT))
    return lines


# Blocks ---------------------------------------------------------------------------------------


def _section(ctx: _Ctx, block: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "text" in block:
        lines += _wrap_lines(ctx.mrkdwn(block["text"]), ctx.width)
    for item in _list(block.get("fields")):
        lines += _wrap_lines(ctx.mrkdwn(item), ctx.width, "  ")
    accessory = block.get("accessory")
    if accessory is not None:
        chips = _element_chips(ctx, accessory, _str(block.get("block_id")))
        lines += _flow(chips, ctx.width, FIELD_INDENT)
    return lines


def _context(ctx: _Ctx, block: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for element in _list(block.get("elements")):
        element = _dict(element)
        if element.get("type") == "image":
            rows = [_Line(f"[image: {_str(element.get('alt_text'))}]")]
        else:
            rows = ctx.mrkdwn(element)
        lines += [ctx.dim(row) for row in _wrap_lines(rows, ctx.width, "  ")]
    return lines


def _header(ctx: _Ctx, block: dict[str, Any]) -> list[str]:
    text = _plain(block.get("text"))
    rows = _wrap(text, ctx.width)
    underline = "═" * min(max((display_width(row) for row in rows), default=0), ctx.width)
    return [_sgr("1", row, ctx.color) for row in rows] + [underline]


def _image(block: dict[str, Any]) -> list[str]:
    title = _plain(block.get("title"))
    alt = _str(block.get("alt_text"))
    return ([title] if title else []) + [f"[image: {alt}]"]


def _render(
    blocks: Sequence[Any],
    ctx: _Ctx,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[str]:
    lines: list[str] = []
    previous = ""
    handlers: dict[str, Callable[[dict[str, Any]], list[str]]] = {
        "section": lambda b: _section(ctx, b),
        "context": lambda b: _context(ctx, b),
        "header": lambda b: _header(ctx, b),
        "divider": lambda b: ["─" * ctx.width],
        "image": _image,
        "actions": lambda b: _flow(
            [
                chip
                for element in _list(b.get("elements"))
                for chip in _element_chips(ctx, element, _str(b.get("block_id")))
            ],
            ctx.width,
        ),
        "input": lambda b: _input_lines(ctx, b, values or {}, errors or {}),
    }
    for raw in blocks:
        block = _dict(raw)
        kind = _str(block.get("type"))
        handler = handlers.get(kind)
        rendered = handler(block) if handler else [f"[unsupported block: {kind or '?'}]"]
        # A blank line before a header or an input field (not right after a divider).
        if lines and kind in ("header", "input") and previous != "divider" and lines[-1]:
            lines.append("")
        lines.extend(rendered)
        previous = kind
    return lines


def render_blocks(
    blocks: list[dict[str, Any]],
    numbering: Numbering,
    *,
    surface: str = "message",
    users: Mapping[str, str] | None = None,
    channels: Mapping[str, str] | None = None,
    color: bool = False,
    width: int = 80,
) -> str:
    """A list of blocks as terminal text; their interactive elements join `numbering`."""
    ctx = _Ctx(numbering, surface, users, channels, color, width)
    return "\n".join(_render(blocks, ctx))


def render_message(
    message: dict[str, Any],
    numbering: Numbering,
    *,
    title: str = "",
    ephemeral: bool = False,
    indent: str = "",
    users: Mapping[str, str] | None = None,
    channels: Mapping[str, str] | None = None,
    color: bool = False,
    width: int = 80,
) -> str:
    """A chat message under a title line; blocks when present, else its mrkdwn `text`.

    `title` replaces the whole title text; `indent` prefixes every line (thread replies) and
    is taken off the width available."""
    inner = max(width - display_width(indent), 20)
    ctx = _Ctx(numbering, "message", users, channels, color, inner)
    name = title or ("PM Coach (only visible to you)" if ephemeral else "PM Coach")
    lines = [_sgr(_DIM, f"── {name} ──", color)]
    blocks = message.get("blocks")
    if isinstance(blocks, list) and blocks:
        lines += _render(blocks, ctx)
    else:
        text = _str(message.get("text"))
        rows = (
            [_Line(row) for row in text.split("\n")]
            if message.get("mrkdwn") is False
            else _mrkdwn_lines(text, users, channels, color)
        )
        lines += _wrap_lines(rows, inner)
    return "\n".join(indent + line if line else indent.rstrip() for line in lines)


def render_confirm(confirm: Mapping[str, Any], *, width: int = 80) -> str:
    """A button's confirm dialog as text, for the sandbox to ask before it clicks."""
    title = _plain(confirm.get("title")) or "Are you sure?"
    text = confirm.get("text")
    body = _wrap_lines(
        [_Line(r) for r in _plain(text).split("\n")]
        if _dict(text).get("type") == "plain_text"
        else _mrkdwn_lines(_plain(text)),
        width,
        "  ",
    )
    yes = _plain(confirm.get("confirm")) or "Yes"
    no = _plain(confirm.get("deny")) or "Cancel"
    return "\n".join([f"⚠ {title}", *body, f"  [confirm: {yes}] [deny: {no}]"])


def _box_top(title: str, width: int) -> str:
    head = f"┌─ {title} "
    return head + "─" * max(width - display_width(head) - 1, 1) + "┐"


def render_view(
    view: dict[str, Any],
    numbering: Numbering,
    *,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    users: Mapping[str, str] | None = None,
    channels: Mapping[str, str] | None = None,
    color: bool = False,
    width: int = 80,
) -> str:
    """A modal or the App Home, boxed: title, blocks with numbered fields, submit and close.

    `values` (block_id -> what the person set: a string, an option value or a list of them,
    or Slack's state dict) is shown instead of the initial values; `errors` (block_id ->
    message, as in response_action=errors) appears under the field it is about."""
    home = view.get("type") == "home"
    surface = "home" if home else "modal"
    ctx = _Ctx(numbering, surface, users, channels, color, width)
    title = "App Home" if home else (_plain(view.get("title")) or "Modal")
    lines = [_sgr("1", _box_top(title, width), color)]
    lines += _render(_list(view.get("blocks")), ctx, values, errors)
    known = {_str(_dict(b).get("block_id")) for b in _list(view.get("blocks"))}
    for block_id, message in (errors or {}).items():
        if block_id not in known:
            lines.append(_sgr(_RED, f"⚠ {block_id}: {message}", color))
    if not home:
        buttons = []
        if "submit" in view:
            buttons.append(f"[submit: {_plain(view.get('submit')) or 'Submit'}]")
        buttons.append(f"[close: {_plain(view.get('close')) or 'Cancel'}]")
        lines += ["", " ".join(buttons)]
    lines.append("└" + "─" * max(width - 2, 1) + "┘")
    return "\n".join(lines)
