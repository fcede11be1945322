"""Block Kit elements and input fields as numbered terminal text, for the sandbox's renderer.

Pure: no I/O, no clock, nothing at import. Every interactive element — a button, each option
of an overflow or a select, an input field — gets a number in reading order, so a person in the
terminal sandbox can pick it ("3" clicks the third thing); the numbers and what they stand for
are collected in a `Numbering`, which one screen shares across several render calls so the
numbers keep counting up. Input fields show what the person set over the element's initial
value, and the error Slack would show under them. It imports only `bot.sandbox.text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from bot.sandbox.text import (
    DIM,
    RED,
    Line,
    Users,
    as_dict,
    as_list,
    as_str,
    mrkdwn_lines,
    plain,
    sgr,
    wrap,
)

__all__ = [
    "BUTTON",
    "FIELD_INDENT",
    "INPUT",
    "OVERFLOW_OPTION",
    "SELECT_OPTION",
    "Ctx",
    "Interactive",
    "Numbering",
    "element_chips",
    "element_options",
    "input_lines",
    "option_letter",
]

# Kinds of Interactive items.
BUTTON = "button"
OVERFLOW_OPTION = "overflow_option"
SELECT_OPTION = "select_option"  # an option of a static_select / radio / checkboxes in actions
INPUT = "input"  # an input block's element, or a date/time picker outside one

FIELD_INDENT = "    "
_NUMBER = "1;36"


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
    options = [o for o in as_list(element.get("options")) if isinstance(o, dict)]
    for group in as_list(element.get("option_groups")):
        options.extend(o for o in as_list(as_dict(group).get("options")) if isinstance(o, dict))
    return options


CHOICE_ONE = ("radio_buttons", "static_select")
CHOICE_MANY = ("checkboxes", "multi_static_select")
PICKERS = ("datepicker", "timepicker", "datetimepicker")
TEXT_INPUTS = ("plain_text_input", "url_text_input", "email_text_input", "number_input")
INPUT_ELEMENTS = CHOICE_ONE + CHOICE_MANY + PICKERS + TEXT_INPUTS


def _input_kind(element: Mapping[str, Any]) -> str:
    kind = as_str(element.get("type"))
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
    if as_str(element.get("type")) in CHOICE_MANY:
        return "☑" if chosen else "☐"
    return "●" if chosen else "○"


def _initial_values(element: Mapping[str, Any]) -> set[str]:
    chosen = [as_dict(element.get("initial_option"))]
    chosen += [as_dict(o) for o in as_list(element.get("initial_options"))]
    return {as_str(o.get("value")) for o in chosen if "value" in o}


@dataclass
class Ctx:
    """What one render call shares: the numbering its items join, the surface they are on,
    the names mentions are spelled with, whether to style, and the width to wrap at."""

    numbering: Numbering
    surface: str
    users: Users
    channels: Users
    color: bool
    width: int

    def number(self, item: Interactive) -> str:
        return sgr(_NUMBER, f"[{item.number}]", self.color)

    def dim(self, text: str) -> str:
        return sgr(DIM, text, self.color)

    def mrkdwn(self, obj: Any) -> list[Line]:
        """A text object's lines: mrkdwn is parsed, plain_text shown as it is."""
        text = plain(obj)
        if isinstance(obj, dict) and obj.get("type") == "plain_text":
            return [Line(row) for row in text.split("\n")]
        return mrkdwn_lines(text, self.users, self.channels, self.color)


def _button_chip(ctx: Ctx, element: dict[str, Any], block_id: str) -> str:
    label = plain(element.get("text"))
    confirm = element.get("confirm")
    item = ctx.numbering.add(
        kind=BUTTON,
        action_id=as_str(element.get("action_id")),
        block_id=block_id,
        value=as_str(element.get("value")),
        label=label,
        element=element,
        surface=ctx.surface,
        confirm=confirm if isinstance(confirm, dict) else None,
    )
    mark = {"primary": "★ ", "danger": "⚠ "}.get(as_str(element.get("style")), "")
    chip = f"{ctx.number(item)} {mark}{label}"
    url = as_str(element.get("url"))
    return f"{chip} ↗ {url}" if url else chip


def _option_chips(ctx: Ctx, element: dict[str, Any], block_id: str, kind: str) -> list[str]:
    """One numbered chip per option of an overflow, or of a select/radio/checkboxes."""
    chips: list[str] = []
    elem_type = as_str(element.get("type"))
    chosen = _initial_values(element)
    if elem_type in ("static_select", "multi_static_select"):
        placeholder = plain(element.get("placeholder")) or "Choose"
        chips.append(f"▾ {placeholder}:")
    for option in element_options(element):
        label = plain(option.get("text"))
        value = as_str(option.get("value"))
        item = ctx.numbering.add(
            kind=kind,
            action_id=as_str(element.get("action_id")),
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


def _picker_chip(ctx: Ctx, element: dict[str, Any], block_id: str) -> str:
    """A date/time picker or text field outside an input block: one number, like an input."""
    elem_type = as_str(element.get("type"))
    label = plain(element.get("placeholder")) or _input_kind(element)
    item = ctx.numbering.add(
        kind=INPUT,
        action_id=as_str(element.get("action_id")),
        block_id=block_id,
        value="",
        label=label,
        element=element,
        surface=ctx.surface,
    )
    current = (
        as_str(element.get("initial_date"))
        or as_str(element.get("initial_time"))
        or as_str(element.get("initial_value"))
    )
    icon = {"datepicker": "📅", "timepicker": "🕒"}.get(elem_type, "✎")
    shown = f"{label}: {current}" if current else label
    return f"{ctx.number(item)} {icon} {shown}"


def element_chips(ctx: Ctx, element: Any, block_id: str) -> list[str]:
    """An actions element or a section accessory as chips."""
    if not isinstance(element, dict):
        return ["[unsupported element]"]
    elem_type = as_str(element.get("type"))
    if elem_type == "button":
        return [_button_chip(ctx, element, block_id)]
    if elem_type == "overflow":
        return _option_chips(ctx, element, block_id, OVERFLOW_OPTION)
    if elem_type in CHOICE_ONE + CHOICE_MANY:
        return _option_chips(ctx, element, block_id, SELECT_OPTION)
    if elem_type in PICKERS + TEXT_INPUTS:
        return [_picker_chip(ctx, element, block_id)]
    if elem_type == "image":
        return [f"[image: {as_str(element.get('alt_text'))}]"]
    return [f"[unsupported element: {elem_type or '?'}]"]


# Input fields ---------------------------------------------------------------------------------


def _state_entry(value: Any, element: Mapping[str, Any]) -> Any:
    """Unwrap Slack's state shape {action_id: {"type": …, "value": …}} to the action's dict."""
    if isinstance(value, dict) and "type" not in value and "text" not in value:
        action_id = as_str(element.get("action_id"))
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
        return {as_str(value.get("value"))} if "value" in value else set()
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


def input_lines(
    ctx: Ctx, block: dict[str, Any], values: Mapping[str, Any], errors: Mapping[str, str]
) -> list[str]:
    element = as_dict(block.get("element"))
    block_id = as_str(block.get("block_id"))
    label = plain(block.get("label"))
    elem_type = as_str(element.get("type"))
    if elem_type not in INPUT_ELEMENTS:
        return [f"{label} [unsupported element: {elem_type or '?'}]"]
    item = ctx.numbering.add(
        kind=INPUT,
        action_id=as_str(element.get("action_id")),
        block_id=block_id,
        value="",
        label=label,
        element=element,
        surface=ctx.surface,
    )
    kind = _input_kind(element)
    if block.get("optional") and "optional" not in label.lower():
        kind += ", optional"
    lines = wrap(f"{ctx.number(item)} {label} ({kind})", ctx.width)
    has_value = block_id in values
    current = _state_entry(values.get(block_id), element) if has_value else None
    if elem_type in CHOICE_ONE + CHOICE_MANY:
        chosen = _chosen_values(current) if has_value else _initial_values(element)
        # A person's choice may also be given by the option's text, several joined by ", ".
        names = chosen | {part for name in chosen for part in name.split(", ")}
        options = element_options(element)
        picked = [
            as_str(o.get("value")) in chosen or (has_value and plain(o.get("text")) in names)
            for o in options
        ]
        for index, (option, on) in enumerate(zip(options, picked, strict=True)):
            text = f"{option_letter(index)}) {_marker(element, on)} {plain(option.get('text'))}"
            lines.extend(wrap(text, ctx.width, FIELD_INDENT))
        if chosen and not any(picked):  # a value no option has: still show what was set
            lines.append(f"{FIELD_INDENT}value: {', '.join(sorted(chosen))}")
        if not has_value and not chosen and (placeholder := plain(element.get("placeholder"))):
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
        elif placeholder := plain(element.get("placeholder")):
            lines.append(FIELD_INDENT + ctx.dim(f"‹{placeholder}›"))
    if hint := plain(block.get("hint")):
        lines.extend(ctx.dim(row) for row in wrap(f"ℹ {hint}", ctx.width, FIELD_INDENT))
    if block_id in errors:
        message = f"⚠ {errors[block_id]}"
        lines.extend(sgr(RED, row, ctx.color) for row in wrap(message, ctx.width, FIELD_INDENT))
    return lines
