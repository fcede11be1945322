"""Block Kit builders: pure functions from domain values to Slack JSON. User text is escaped."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.domain.streaks import Balance, Streak
from bot.domain.wins import MAX_BENEFICIARY, MAX_TEXT, Lane, LaneSuggestion, Win
from bot.surfaces import texts

Block = dict[str, Any]
Reply = tuple[str, list[Block]]  # (plain-text fallback, blocks)

# action_id / block_id / callback_id: the contract between blocks and handlers.
ACTION_UNDO = "win_undo"
ACTION_PICK_SHIPPED = "win_pick_shipped"
ACTION_PICK_CLARITY = "win_pick_clarity"
VIEW_WIN = "win_modal"
VIEW_WIN_DONE = "win_modal_done"
VIEW_WIN_EDIT = "win_edit"
FIELD_TEXT = "text"
FIELD_LANE = "lane"
FIELD_DATE = "date"
FIELD_LINK = "link"
FIELD_BENEFICIARY = "beneficiary"

SECTION_LIMIT = 3000


def escape(text: str) -> str:
    """Make user text inert in mrkdwn: no mentions, no links, no broadcasts."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Shorten at a word boundary with an ellipsis, never mid-word when avoidable."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + "…"


def mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def plain(text: str, limit: int = 3000) -> Block:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(clip(text, SECTION_LIMIT))}


def context(*lines: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(clip(line, 2000)) for line in lines]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": plain(text, 75),
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def quoted_win(text: str, budget: int = 2500) -> str:
    """A win's text, escaped and shortened so that the *escaped* form fits `budget`."""
    escaped = escape(text)
    if len(escaped) <= budget:
        return escaped
    # The longest prefix whose escaped form leaves room for the ellipsis.
    used, cut = 0, 0
    for index, char in enumerate(text):
        size = len(escape(char))
        if used + size > budget - 1:
            break
        used, cut = used + size, index + 1
    space = text.rfind(" ", 0, cut + 1)
    if space > cut * 0.6:  # end on a whole word when one is near
        cut = space
    return escape(text[:cut]).rstrip() + "…"


def streak_line(streak: Streak) -> str:
    if streak.current == 0:
        return texts.STREAK_NONE
    line = (
        texts.STREAK_ONE if streak.current == 1 else texts.STREAK_MANY.format(weeks=streak.current)
    )
    return line + (texts.STREAK_AT_RISK if streak.at_risk else "")


def balance_line(balance: Balance) -> str:
    if balance.percent is None:
        return texts.BALANCE_EMPTY
    line = texts.BALANCE.format(percent=balance.percent, target=round(balance.target * 100))
    return line + (texts.BALANCE_ON_TARGET if balance.on_target else "")


def win_logged(
    win: Win,
    streak: Streak,
    balance: Balance,
    *,
    duplicate: bool = False,
    with_undo: bool = True,
    removed: bool = False,
) -> tuple[str, list[Block]]:
    """The private confirmation of a logged win: what, streak, balance, Undo. A redelivery of
    a win that was removed since says so instead of claiming it is logged."""
    if removed:
        return texts.WIN_REDELIVERED_REMOVED, [section(texts.WIN_REDELIVERED_REMOVED)]
    template = texts.WIN_LOGGED[win.lane]
    quoted = quoted_win(win.text)
    headline = template.format(text=quoted)
    blocks: list[Block] = [section(headline)]
    details = [streak_line(streak), balance_line(balance)]
    if duplicate:
        details.insert(0, texts.WIN_ALREADY_LOGGED)
    blocks.append(context(" · ".join(details)))
    if with_undo:
        blocks.append(
            {
                "type": "actions",
                "block_id": "win_logged_actions",
                "elements": [button(texts.UNDO_BUTTON, ACTION_UNDO, win.id)],
            }
        )
    # The notification's text: the same line, shortened further for a long win.
    fallback = headline if len(quoted) <= 200 else template.format(text=quoted_win(win.text, 200))
    return fallback, blocks


def win_undone(
    win: Win | None, streak: Streak | None = None, balance: Balance | None = None
) -> tuple[str, list[Block]]:
    if win is None:
        return texts.WIN_ALREADY_UNDONE, [section(texts.WIN_ALREADY_UNDONE)]
    text = texts.WIN_UNDONE.format(text=quoted_win(win.text))
    blocks = [section(text)]
    if streak is not None and balance is not None:
        blocks.append(context(f"{streak_line(streak)} · {balance_line(balance)}"))
    return texts.WIN_UNDONE.format(text=quoted_win(win.text, 200)), blocks


def lane_question(text: str, suggestion: LaneSuggestion, draft_id: str) -> tuple[str, list[Block]]:
    """Ask for the lane of `/win <text>`; the suggested lane's button is highlighted."""
    hint = (
        texts.LANE_SUGGESTION.format(label=suggestion.lane.label)
        if suggestion.lane is not None
        else texts.LANE_NO_SUGGESTION
    )
    shipped_style = "primary" if suggestion.lane is Lane.SHIPPED else None
    clarity_style = "primary" if suggestion.lane is Lane.CLARITY else None
    blocks: list[Block] = [
        section(texts.LANE_QUESTION.format(text=quoted_win(text))),
        context(hint),
        {
            "type": "actions",
            "block_id": "win_lane_pick",
            "elements": [
                button(texts.LANE_SHIPPED_BUTTON, ACTION_PICK_SHIPPED, draft_id, shipped_style),
                button(texts.LANE_CLARITY_BUTTON, ACTION_PICK_CLARITY, draft_id, clarity_style),
            ],
        },
    ]
    return "Which lane is this win in? 🚀 Shipped or 🧭 Created clarity", blocks


def error(code: str, **values: Any) -> tuple[str, list[Block]]:
    message = texts.ERRORS.get(code, texts.GENERIC_ERROR).format(**values)
    return message, [section(message)]


def not_saved(text: str, note: str = texts.NOT_SAVED) -> Reply:
    """Redis is down or refuses writes: say plainly that nothing was saved (`note`), and hand
    the whole text back."""
    return text_back(note, text)


MESSAGE_BLOCKS = 50  # Slack's limit of blocks in one message


def text_back(note: str, text: str) -> Reply:
    """`note`, then the PM's `text` to copy, in code blocks each within a section's 3,000
    characters once escaped, and within a message's 50 blocks (a text too long even for that
    comes back as far as it fits, and says so)."""
    blocks = [section(note)]
    room = SECTION_LIMIT - 6  # the ``` on each side
    start = 0
    while start < len(text.strip() and text) and len(blocks) < MESSAGE_BLOCKS - 1:
        end, size = start, 0
        while end < len(text) and size + len(escape(text[end])) <= room:
            size += len(escape(text[end]))
            end += 1
        blocks.append(section("```" + escape(text[start:end]) + "```"))
        start = end
    if start < len(text.strip() and text):
        blocks.append(context(texts.TEXT_BACK_CUT.format(rest=len(text) - start)))
    return note, blocks


def win_modal(
    today: date,
    *,
    text: str = "",
    lane: Lane | None = None,
    private_metadata: str = "",
    day: date | None = None,
    link: str | None = None,
    beneficiary: str | None = None,
    callback_id: str = VIEW_WIN,
    title: str = texts.MODAL_TITLE,
    submit: str = texts.MODAL_SUBMIT,
) -> dict[str, Any]:
    """The `/win` form (also used to edit a win): text, lane, date for backdating, optional
    link and who benefited."""
    options = [
        {"text": plain(texts.MODAL_LANE_SHIPPED), "value": Lane.SHIPPED.value},
        {"text": plain(texts.MODAL_LANE_CLARITY), "value": Lane.CLARITY.value},
    ]
    lane_element: Block = {"type": "radio_buttons", "action_id": "value", "options": options}
    if lane is not None:
        lane_element["initial_option"] = options[0 if lane is Lane.SHIPPED else 1]
    text_element: Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": True,
        "max_length": MAX_TEXT,
        "placeholder": plain(texts.MODAL_TEXT_PLACEHOLDER, 150),
    }
    if text:
        text_element["initial_value"] = text[:MAX_TEXT]
    link_element: Block = {"type": "url_text_input", "action_id": "value"}
    if link:
        link_element["initial_value"] = link
    beneficiary_element: Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "max_length": MAX_BENEFICIARY,
        "placeholder": plain(texts.MODAL_BENEFICIARY_PLACEHOLDER, 150),
    }
    if beneficiary:
        beneficiary_element["initial_value"] = beneficiary[:MAX_BENEFICIARY]
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "submit": plain(submit, 24),
        "close": plain(texts.MODAL_CANCEL, 24),
        "private_metadata": private_metadata,
        "blocks": [
            {
                "type": "input",
                "block_id": FIELD_TEXT,
                "label": plain(texts.MODAL_TEXT_LABEL),
                "element": text_element,
            },
            {
                "type": "input",
                "block_id": FIELD_LANE,
                "label": plain(texts.MODAL_LANE_LABEL),
                "element": lane_element,
            },
            {
                "type": "input",
                "block_id": FIELD_DATE,
                "label": plain(texts.MODAL_DATE_LABEL),
                "element": {
                    "type": "datepicker",
                    "action_id": "value",
                    "initial_date": (day or today).isoformat(),
                },
            },
            {
                "type": "input",
                "block_id": FIELD_LINK,
                "optional": True,
                "label": plain(texts.MODAL_LINK_LABEL),
                "element": link_element,
            },
            {
                "type": "input",
                "block_id": FIELD_BENEFICIARY,
                "optional": True,
                "label": plain(texts.MODAL_BENEFICIARY_LABEL),
                "element": beneficiary_element,
            },
        ],
    }


def result_modal(blocks: list[Block], title: str = texts.MODAL_DONE_TITLE) -> dict[str, Any]:
    """A modal that shows an outcome (used after a submission and after Undo inside it)."""
    return {
        "type": "modal",
        "callback_id": VIEW_WIN_DONE,
        "title": plain(title, 24),
        "close": plain(texts.MODAL_CLOSE, 24),
        "blocks": blocks,
    }
