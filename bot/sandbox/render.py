"""Render what Slack would display — messages, modals, the App Home — as terminal text.

Pure: no I/O, no clock, nothing at import. This is the sandbox's renderer and its public face:
`render_message`, `render_view` (a modal or the App Home, boxed), `render_blocks` and
`render_confirm` lay out blocks, with their interactive elements numbered through a shared
`Numbering` (`bot.sandbox.elements`) and their mrkdwn drawn as text (`bot.sandbox.text`, which
also gives `mrkdwn_to_text`). It imports only those two modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.sandbox.elements import (
    FIELD_INDENT,
    Ctx,
    Interactive,
    Numbering,
    element_chips,
    element_options,
    input_lines,
    option_letter,
)
from bot.sandbox.text import (
    BOLD,
    DIM,
    RED,
    Line,
    as_dict,
    as_list,
    as_str,
    display_width,
    flow,
    mrkdwn_lines,
    mrkdwn_to_text,
    plain,
    sgr,
    strip_ansi,
    wrap,
    wrap_lines,
)

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


# Blocks ---------------------------------------------------------------------------------------


def _section(ctx: Ctx, block: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "text" in block:
        lines += wrap_lines(ctx.mrkdwn(block["text"]), ctx.width)
    for item in as_list(block.get("fields")):
        lines += wrap_lines(ctx.mrkdwn(item), ctx.width, "  ")
    accessory = block.get("accessory")
    if accessory is not None:
        chips = element_chips(ctx, accessory, as_str(block.get("block_id")))
        lines += flow(chips, ctx.width, FIELD_INDENT)
    return lines


def _context(ctx: Ctx, block: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for element in as_list(block.get("elements")):
        element = as_dict(element)
        if element.get("type") == "image":
            rows = [Line(f"[image: {as_str(element.get('alt_text'))}]")]
        else:
            rows = ctx.mrkdwn(element)
        lines += [ctx.dim(row) for row in wrap_lines(rows, ctx.width, "  ")]
    return lines


def _header(ctx: Ctx, block: dict[str, Any]) -> list[str]:
    text = plain(block.get("text"))
    rows = wrap(text, ctx.width)
    underline = "═" * min(max((display_width(row) for row in rows), default=0), ctx.width)
    return [sgr(BOLD, row, ctx.color) for row in rows] + [underline]


def _image(block: dict[str, Any]) -> list[str]:
    title = plain(block.get("title"))
    alt = as_str(block.get("alt_text"))
    return ([title] if title else []) + [f"[image: {alt}]"]


def _render(
    blocks: Sequence[Any],
    ctx: Ctx,
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
        "actions": lambda b: flow(
            [
                chip
                for element in as_list(b.get("elements"))
                for chip in element_chips(ctx, element, as_str(b.get("block_id")))
            ],
            ctx.width,
        ),
        "input": lambda b: input_lines(ctx, b, values or {}, errors or {}),
    }
    for raw in blocks:
        block = as_dict(raw)
        kind = as_str(block.get("type"))
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
    ctx = Ctx(numbering, surface, users, channels, color, width)
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
    ctx = Ctx(numbering, "message", users, channels, color, inner)
    name = title or ("PM Coach (only visible to you)" if ephemeral else "PM Coach")
    lines = [sgr(DIM, f"── {name} ──", color)]
    blocks = message.get("blocks")
    if isinstance(blocks, list) and blocks:
        lines += _render(blocks, ctx)
    else:
        text = as_str(message.get("text"))
        rows = (
            [Line(row) for row in text.split("\n")]
            if message.get("mrkdwn") is False
            else mrkdwn_lines(text, users, channels, color)
        )
        lines += wrap_lines(rows, inner)
    return "\n".join(indent + line if line else indent.rstrip() for line in lines)


def render_confirm(confirm: Mapping[str, Any], *, width: int = 80) -> str:
    """A button's confirm dialog as text, for the sandbox to ask before it clicks."""
    title = plain(confirm.get("title")) or "Are you sure?"
    text = confirm.get("text")
    body = wrap_lines(
        [Line(r) for r in plain(text).split("\n")]
        if as_dict(text).get("type") == "plain_text"
        else mrkdwn_lines(plain(text)),
        width,
        "  ",
    )
    yes = plain(confirm.get("confirm")) or "Yes"
    no = plain(confirm.get("deny")) or "Cancel"
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
    ctx = Ctx(numbering, surface, users, channels, color, width)
    title = "App Home" if home else (plain(view.get("title")) or "Modal")
    lines = [sgr(BOLD, _box_top(title, width), color)]
    lines += _render(as_list(view.get("blocks")), ctx, values, errors)
    known = {as_str(as_dict(b).get("block_id")) for b in as_list(view.get("blocks"))}
    for block_id, message in (errors or {}).items():
        if block_id not in known:
            lines.append(sgr(RED, f"⚠ {block_id}: {message}", color))
    if not home:
        buttons = []
        if "submit" in view:
            buttons.append(f"[submit: {plain(view.get('submit')) or 'Submit'}]")
        buttons.append(f"[close: {plain(view.get('close')) or 'Cancel'}]")
        lines += ["", " ".join(buttons)]
    lines.append("└" + "─" * max(width - 2, 1) + "┘")
    return "\n".join(lines)
