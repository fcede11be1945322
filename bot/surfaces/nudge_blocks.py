"""Block Kit for nudges, reflections and the welcome DM. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.domain.schedule import DAY_NAMES, NudgeSchedule
from bot.domain.streaks import WeekCount
from bot.domain.weeks import zone
from bot.surfaces import texts
from bot.surfaces.blocks import Block, button, context, escape, plain, quoted_win, section

ACTION_NUDGE_LOG = "nudge_log_clarity"
ACTION_NUDGE_REFLECT = "nudge_reflect"
ACTION_NUDGE_SNOOZE = "nudge_snooze"
ACTION_NUDGE_SKIP = "nudge_skip"
ACTION_HOME_START = "home_start"
VIEW_REFLECT = "reflect_modal"
FIELD_ANSWER = "answer"
METADATA_EVENT = "pmc_nudge"


def nudge_message(
    prompt: str, week: WeekCount, *, slot: str, user_id: str, notice: bool
) -> dict[str, Any]:
    """The weekly DM: a prompt, the week so far, and four buttons."""
    blocks: list[Block] = [section(f"*{escape(prompt)}*")]
    blocks.append(context(texts.NUDGE_WEEK.format(shipped=week.shipped, clarity=week.clarity)))
    if notice:
        blocks.append(context(texts.NUDGE_BACKOFF))
    blocks.append(
        {
            "type": "actions",
            "block_id": "nudge_actions",
            "elements": [
                button(texts.NUDGE_LOG, ACTION_NUDGE_LOG, slot, style="primary"),
                button(texts.NUDGE_REFLECT, ACTION_NUDGE_REFLECT, slot),
                button(texts.NUDGE_SNOOZE, ACTION_NUDGE_SNOOZE, slot),
                button(texts.NUDGE_SKIP, ACTION_NUDGE_SKIP, slot),
            ],
        }
    )
    return {
        "text": texts.NUDGE_FALLBACK.format(prompt=escape(prompt)),
        "blocks": blocks,
        # Lets a retry after a lost answer find out whether this nudge already arrived.
        "metadata": {
            "event_type": METADATA_EVENT,
            "event_payload": {"user": user_id, "slot": slot},
        },
    }


def nudge_answered(prompt: str, outcome: str) -> dict[str, Any]:
    """The nudge after an action: the prompt stays, the buttons go."""
    return {
        "text": outcome,
        "blocks": [section(f"*{escape(prompt)}*"), context(outcome)],
    }


def schedule_line(schedule: NudgeSchedule, tz: str) -> str:
    if not schedule.enabled:
        return texts.WELCOME_NO_SCHEDULE
    days = ", ".join(DAY_NAMES[d].capitalize() for d in schedule.days)
    return texts.WELCOME_SCHEDULE.format(days=days, time=schedule.at.strftime("%H:%M"), tz=tz)


def welcome(schedule: NudgeSchedule, tz: str) -> dict[str, Any]:
    message = texts.WELCOME.format(schedule_line=schedule_line(schedule, tz))
    return {"text": message, "blocks": [section(message)]}


def reflect_modal(prompt: str, metadata: str, initial: str = "") -> dict[str, Any]:
    element: Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": True,
        "max_length": 3000,
    }
    if initial:
        element["initial_value"] = initial[:3000]
    return {
        "type": "modal",
        "callback_id": VIEW_REFLECT,
        "title": plain(texts.REFLECT_TITLE, 24),
        "submit": plain(texts.REFLECT_SUBMIT, 24),
        "close": plain(texts.MODAL_CANCEL, 24),
        "private_metadata": metadata[:3000],
        "blocks": [
            section(f"*{escape(prompt)}*"),
            {
                "type": "input",
                "block_id": FIELD_ANSWER,
                "label": plain(texts.REFLECT_LABEL),
                "element": element,
            },
        ],
    }


def reflections_blocks(items: Sequence[dict[str, Any]], tz: str) -> list[Block]:
    if not items:
        return []
    blocks: list[Block] = [context(texts.REFLECTIONS_TITLE)]
    for item in items:
        when = datetime.fromisoformat(str(item["at"])).astimezone(zone(tz)).strftime("%a %d %b")
        prompt = escape(str(item.get("prompt") or ""))
        blocks.append(section(f"✍️ *{when}* — _{prompt}_\n{quoted_win(str(item['text']), 2000)}"))
    return blocks


def snoozed_until(when: datetime, tz: str) -> str:
    return when.astimezone(zone(tz)).strftime("%a %H:%M")


def home_onboarding() -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": plain("PM Coach", 150)},
            section(texts.HOME_INTRO),
            section(texts.HOME_ONBOARDING),
            {
                "type": "actions",
                "block_id": "onboarding",
                "elements": [button(texts.HOME_START, ACTION_HOME_START, "start", style="primary")],
            },
        ],
    }
