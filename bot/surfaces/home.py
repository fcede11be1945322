"""The App Home and the modals opened from it (settings, prompts). Pure builders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain.schedule import DAY_NAMES, NudgeSchedule
from bot.domain.streaks import Balance, Streak, WeekCount
from bot.domain.weeks import zone
from bot.domain.wins import Win
from bot.surfaces import texts
from bot.surfaces.blocks import Block, button, context, escape, plain, section
from bot.surfaces.coach_blocks import chart_text, forget_confirm_button, history_entry, plural
from bot.surfaces.nudge_blocks import reflections_blocks

ACTION_HOME_LOG = "home_log_win"
ACTION_HOME_SETTINGS = "home_settings"
ACTION_HOME_PROMPTS = "home_prompts"
ACTION_PROMPT_REMOVE = "prompt_remove"
VIEW_SETTINGS = "settings_modal"
VIEW_PROMPTS = "prompts_modal"
FIELD_TARGET = "target"
FIELD_TZ = "tz"
FIELD_SHARE = "share"
FIELD_PAUSE = "pause"
FIELD_PROMPT = "prompt"
FIELD_NUDGE_DAYS = "nudge_days"
FIELD_NUDGE_TIME = "nudge_time"
TARGET_CHOICES = (20, 30, 40, 50, 60, 70, 80)
PAUSE_CHOICES = (1, 2, 3, 4, 6, 8)
HOME_BLOCK_LIMIT = 100


def balance_meter(balance: Balance, width: int = 10) -> str:
    """A ten-step bar of the clarity share with the target marked, e.g. ▰▰▰▰▱│▱▱▱▱▱."""
    if balance.share is None:
        return ""
    filled = round(balance.share * width)
    target_at = round(balance.target * width)
    cells = ["▰" if i < filled else "▱" for i in range(width)]
    cells.insert(min(max(target_at, 0), width), "│")
    return "".join(cells)


def home_view(
    *,
    streak: Streak,
    balance: Balance,
    counts: dict[str, WeekCount],
    paused: frozenset[str],
    current_week: str,
    recent: Sequence[Win],
    tz: str,
    schedule: NudgeSchedule,
    next_nudge: Any,
    paused_now: bool,
    sharing: bool,
    reflections: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The Home tab: balance against target, streaks, a 12-week chart, recent wins, the next
    nudge and the settings. Never more than 100 blocks; all user text escaped."""
    if balance.percent is None:
        balance_text = texts.HOME_BALANCE_EMPTY
    else:
        balance_text = (
            texts.HOME_BALANCE.format(percent=balance.percent, target=round(balance.target * 100))
            + f"\n`{balance_meter(balance)}`"
        )
    streak_text = texts.HOME_STREAK.format(
        current=streak.current, plural=plural(streak.current), longest=streak.longest
    )
    this, last = balance.this_week, balance.last_week
    blocks: list[Block] = [
        {"type": "header", "text": plain(texts.HOME_TITLE, 150)},
        section(balance_text),
        section(streak_text),
        context(
            texts.STATS_WEEKS.format(
                this_c=this.clarity, this_s=this.shipped, last_c=last.clarity, last_s=last.shipped
            )
        ),
    ]
    if paused_now:
        blocks.append(context(texts.HOME_PAUSED))
    blocks += [
        {"type": "divider"},
        {"type": "header", "text": plain(texts.CHART_TITLE, 150)},
        section(chart_text(counts, paused, current_week)),
        {"type": "divider"},
        {"type": "header", "text": plain(texts.HOME_RECENT, 150)},
    ]
    if recent:
        blocks.extend(history_entry(win, tz, prefix="home") for win in recent[:5])
    else:
        blocks.append(section(texts.HOME_NO_WINS))
    blocks.extend(reflections_blocks(reflections[:3], tz))
    if schedule.enabled and next_nudge is not None:
        local = next_nudge.astimezone(zone(tz))
        nudge_text = texts.HOME_NEXT_NUDGE.format(when=local.strftime("%a %d %b, %H:%M"), tz=tz)
    else:
        nudge_text = texts.HOME_NUDGES_OFF
    blocks += [
        {"type": "divider"},
        section(nudge_text),
        context(
            texts.HOME_SHARING.format(state="on" if sharing else "off"),
            f"Time zone: {escape(tz)}",
        ),
        {
            "type": "actions",
            "block_id": "home_actions",
            "elements": [
                button(texts.HOME_LOG, ACTION_HOME_LOG, "log", style="primary"),
                button(texts.HOME_SETTINGS, ACTION_HOME_SETTINGS, "settings"),
                button(texts.HOME_PROMPTS, ACTION_HOME_PROMPTS, "prompts"),
                forget_confirm_button() | {"text": plain(texts.HOME_FORGET, 75)},
            ],
        },
    ]
    assert len(blocks) <= HOME_BLOCK_LIMIT
    return {"type": "home", "blocks": blocks}


def forgotten_home() -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": plain(texts.HOME_TITLE, 150)},
            section(texts.HOME_FORGOTTEN),
        ],
    }


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, 75), "value": value}


def settings_modal(
    *,
    target: int,
    tz: str,
    tz_explicit: bool,
    sharing: bool,
    paused_until: str | None,
    schedule: NudgeSchedule | None = None,
) -> dict[str, Any]:
    targets = sorted(set(TARGET_CHOICES) | {target})
    target_options = [_option(f"{t}% clarity", str(t)) for t in targets]
    pause_options = [_option(texts.SETTINGS_PAUSE_NONE, "0")] + [
        _option(f"{n} week{plural(n)} from this week", str(n)) for n in PAUSE_CHOICES
    ]
    if paused_until:  # keeping the pause is the default; "Not paused" resumes
        pause_options.insert(0, _option(f"Keep pause until {paused_until}", "keep"))
    share_option = _option(texts.SETTINGS_SHARE_OPTION, "share")
    share_element: Block = {"type": "checkboxes", "action_id": "value", "options": [share_option]}
    if sharing:
        share_element["initial_options"] = [share_option]
    tz_element: Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "placeholder": plain("Europe/Berlin", 150),
        "max_length": 64,
    }
    if tz_explicit:
        tz_element["initial_value"] = tz
    pause_label = texts.SETTINGS_PAUSE
    return {
        "type": "modal",
        "callback_id": VIEW_SETTINGS,
        "title": plain(texts.SETTINGS_TITLE, 24),
        "submit": plain(texts.SETTINGS_SAVE, 24),
        "close": plain(texts.MODAL_CANCEL, 24),
        "blocks": [
            {
                "type": "input",
                "block_id": FIELD_TARGET,
                "label": plain(texts.SETTINGS_TARGET),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": target_options,
                    "initial_option": target_options[targets.index(target)],
                },
            },
            {
                "type": "input",
                "block_id": FIELD_TZ,
                "optional": True,
                "label": plain(texts.SETTINGS_TZ),
                "hint": plain(texts.SETTINGS_TZ_HINT + f" Now: {tz}.", 150),
                "element": tz_element,
            },
            {
                "type": "input",
                "block_id": FIELD_SHARE,
                "optional": True,
                "label": plain(texts.SETTINGS_SHARE),
                "element": share_element,
            },
            nudge_days_block(schedule or NudgeSchedule()),
            {
                "type": "input",
                "block_id": FIELD_NUDGE_TIME,
                "label": plain(texts.SETTINGS_NUDGE_TIME),
                "element": {
                    "type": "timepicker",
                    "action_id": "value",
                    "initial_time": (schedule or NudgeSchedule()).at.strftime("%H:%M"),
                },
            },
            {
                "type": "input",
                "block_id": FIELD_PAUSE,
                "label": plain(pause_label),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": pause_options,
                    "initial_option": pause_options[0],
                },
            },
        ],
    }


def nudge_days_block(schedule: NudgeSchedule) -> Block:
    """Checkboxes for the nudge days; none ticked switches nudges off."""
    options = [_option(name.capitalize(), str(i)) for i, name in enumerate(DAY_NAMES)]
    element: Block = {"type": "checkboxes", "action_id": "value", "options": options}
    if schedule.enabled and schedule.days:
        element["initial_options"] = [options[d] for d in schedule.days]
    return {
        "type": "input",
        "block_id": FIELD_NUDGE_DAYS,
        "optional": True,
        "label": plain(texts.SETTINGS_NUDGE_DAYS),
        "hint": plain(texts.SETTINGS_NUDGES_HINT, 150),
        "element": element,
    }


def prompts_modal(custom: Sequence[tuple[int, str]], builtin: int) -> dict[str, Any]:
    blocks: list[Block] = [section(texts.PROMPTS_BUILTIN.format(count=builtin, themes=8))]
    if not custom:
        blocks.append(context(texts.PROMPTS_NONE))
    for number, text in custom[:40]:
        blocks.append(
            {
                "type": "section",
                "block_id": f"prompt:{number}",
                "text": {"type": "mrkdwn", "text": f"*{number}.* {escape(text)}"},
                "accessory": button(texts.PROMPTS_REMOVE, ACTION_PROMPT_REMOVE, str(number)),
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": FIELD_PROMPT,
            "optional": True,
            "label": plain(texts.PROMPTS_MODAL_ADD),
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "max_length": 280,
                "placeholder": plain("What did I decide this week that others can build on?", 150),
            },
        }
    )
    return {
        "type": "modal",
        "callback_id": VIEW_PROMPTS,
        "title": plain(texts.PROMPTS_MODAL_TITLE, 24),
        "submit": plain(texts.PROMPTS_MODAL_SUBMIT, 24),
        "close": plain(texts.MODAL_CLOSE, 24),
        "blocks": blocks,
    }
