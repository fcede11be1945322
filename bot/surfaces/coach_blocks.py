"""Block Kit for `/coach`: stats, the 12-week chart, history, prompts, forget-me. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

from bot.domain.streaks import Balance, Streak, WeekCount
from bot.domain.weeks import week_monday, weeks_back, zone
from bot.domain.wins import Win
from bot.surfaces import texts
from bot.surfaces.blocks import (
    Block,
    Reply,
    balance_line,
    button,
    clip,
    context,
    escape,
    plain,
    quoted_win,
    section,
    streak_line,
)

ACTION_HISTORY_MENU = "history_menu"
ACTION_FORGET = "forget_confirm"
CHART_WEEKS = 12
MAX_SHOWN_LINK = 1500  # escaped; keeps a win's line far inside a section's 3,000 characters
BAR_WIDTH = 10


def plural(n: int) -> str:
    return "" if n == 1 else "s"


def _bar(count: int, scale: int) -> str:
    if count == 0:
        return "·".ljust(BAR_WIDTH + 3)
    length = max(1, round(count / scale * BAR_WIDTH)) if scale else 0
    return f"{'■' * length} {count}".ljust(BAR_WIDTH + 3)


def chart_text(
    counts: Mapping[str, WeekCount],
    paused: Set[str],
    current_week: str,
    weeks: int = CHART_WEEKS,
) -> str:
    """Both lanes over the last `weeks` weeks as a monospace chart that reads at a glance."""
    span = weeks_back(current_week, weeks)
    top = max([max(c.clarity, c.shipped) for w, c in counts.items() if w in span] or [0])
    scale = max(top, 1)
    lines = [texts.CHART_HEADER]
    for week in span:
        label = week_monday(week).strftime("%b %d")
        count = counts.get(week, WeekCount())
        if week in paused and count.total == 0:
            row = f"{label}    {texts.CHART_PAUSED}"
        else:
            row = f"{label}    {_bar(count.clarity, scale)}      {_bar(count.shipped, scale)}"
        lines.append(row.rstrip() + ("   ← this week" if week == current_week else ""))
    return "```" + "\n".join(lines) + "```"


def chart_blocks(
    counts: Mapping[str, WeekCount], paused: Set[str], current_week: str
) -> list[Block]:
    return [
        {"type": "header", "text": plain(texts.CHART_TITLE, 150)},
        section(chart_text(counts, paused, current_week)),
    ]


def win_line(win: Win, tz: str) -> str:
    """One win as a line: lane emoji, local date, the text (escaped), link, beneficiary."""
    day = win.at.astimezone(zone(tz)).strftime("%a %d %b")
    parts = [f"{win.lane.emoji} *{day}* — {quoted_win(win.text, 600)}"]
    if win.link and len(escape(win.link)) <= MAX_SHOWN_LINK:
        parts.append(f"<{escape(win.link)}|link>")
    elif win.link:
        parts.append("_(long link: see `/coach export`)_")
    if win.beneficiary:
        parts.append(f"_for {escape(clip(win.beneficiary, 100))}_")
    return " · ".join(parts)


def stats(
    streak: Streak,
    balance: Balance,
    total: int,
    counts: Mapping[str, WeekCount],
    paused: Set[str],
    current_week: str,
) -> Reply:
    this, last = balance.this_week, balance.last_week
    blocks: list[Block] = [
        {"type": "header", "text": plain(texts.STATS_TITLE, 150)},
        section(f"*{balance_line(balance)}*\n{streak_line(streak)}"),
        context(
            texts.STATS_WEEKS.format(
                this_c=this.clarity, this_s=this.shipped, last_c=last.clarity, last_s=last.shipped
            ),
            texts.STATS_LONGEST.format(weeks=streak.longest, plural=plural(streak.longest)),
            texts.STATS_TOTAL.format(total=total, plural=plural(total)),
        ),
    ]
    if total == 0:
        blocks.append(section(texts.STATS_EMPTY))
    else:
        blocks.extend(chart_blocks(counts, paused, current_week))
    return f"{balance_line(balance)} · {streak_line(streak)}", blocks


def history_entry(win: Win, tz: str, prefix: str = "win") -> Block:
    """A win with an overflow menu to edit or delete it (in history and on the Home)."""
    return {
        "type": "section",
        "block_id": f"{prefix}:{win.id}",
        "text": {"type": "mrkdwn", "text": win_line(win, tz)},
        "accessory": {
            "type": "overflow",
            "action_id": ACTION_HISTORY_MENU,
            "options": [
                {"text": plain(texts.HISTORY_EDIT, 75), "value": f"edit:{win.id}"},
                {"text": plain(texts.HISTORY_DELETE, 75), "value": f"delete:{win.id}"},
            ],
        },
    }


def history(wins: Sequence[Win], tz: str, note: str | None = None) -> Reply:
    if not wins:
        return texts.HISTORY_EMPTY, [section(note or texts.HISTORY_EMPTY)]
    title = texts.HISTORY_TITLE.format(count=len(wins), plural=plural(len(wins)))
    blocks: list[Block] = []
    if note:
        blocks.append(context(note))
    blocks.append({"type": "header", "text": plain(title, 150)})
    blocks.extend(history_entry(w, tz) for w in wins)
    return title, blocks


def simple(message: str) -> Reply:
    return message, [section(message)]


def prompts_list(builtin: int, themes: int, custom: Sequence[tuple[int, str]]) -> Reply:
    lines = [texts.PROMPTS_BUILTIN.format(count=builtin, themes=themes)]
    if custom:
        lines.extend(f"*{n}.* {escape(text)}" for n, text in custom)
    else:
        lines.append(texts.PROMPTS_NONE)
    blocks: list[Block] = [{"type": "header", "text": plain(texts.PROMPTS_TITLE, 150)}]
    blocks.extend(section(line) for line in lines[:45])
    return texts.PROMPTS_TITLE, blocks


def forget_confirm_button() -> Block:
    element = button(texts.FORGET_BUTTON, ACTION_FORGET, "forget", style="danger")
    element["confirm"] = {
        "title": plain(texts.FORGET_CONFIRM_TITLE, 100),
        "text": plain(texts.FORGET_CONFIRM_TEXT, 300),
        "confirm": plain(texts.FORGET_CONFIRM_YES, 30),
        "deny": plain(texts.FORGET_CONFIRM_NO, 30),
        "style": "danger",
    }
    return element


def forget_ask() -> Reply:
    return texts.FORGET_ASK, [
        section(texts.FORGET_ASK),
        {"type": "actions", "block_id": "forget", "elements": [forget_confirm_button()]},
    ]


def help_reply(unknown: str | None = None) -> Reply:
    blocks: list[Block] = []
    if unknown is not None:
        blocks.append(section(texts.COACH_UNKNOWN_FULL.format(text=escape(clip(unknown, 200)))))
    blocks.append(section(texts.COACH_HELP_FULL))
    return texts.COACH_HELP_FULL, blocks
