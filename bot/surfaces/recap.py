"""The weekly team recap as Slack shows it: the top-level message (team aggregates only, never a
person), the thread reply (opted-in PMs' highlights and milestones) and the plain-text form the CLI
prints. Pure; the recap's content comes from `bot.domain.recap`.

No broadcast mentions; user text is escaped; within Slack's limits however large the team.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bot.domain.recap import MAX_HIGHLIGHTS, Recap, share
from bot.domain.weeks import week_monday
from bot.domain.wins import Win
from bot.surfaces.blocks import Block, clip, context, escape, plain, quoted_win, section

MESSAGE_BLOCKS = 50
SECTION_BUDGET = 2800  # below Slack's 3,000, leaving room for the summary line


def _trend(recap: Recap) -> str:
    now, before, average = share(recap.this), share(recap.previous), share(recap.four_weeks)
    if now is None:
        return "no wins logged"
    parts = [f"*{now}% clarity*"]
    if before is None:
        parts.append("no wins the week before")
    elif now > before:
        parts.append(f"↑ from {before}% the week before")
    elif now < before:
        parts.append(f"↓ from {before}% the week before")
    else:
        parts.append(f"same as the week before ({before}%)")
    if average is not None:
        parts.append(f"4-week average {average}%")
    return " · ".join(parts)


def week_label(week: str) -> str:
    return week_monday(week).strftime("%b %d").replace(" 0", " ")


def main_message(recap: Recap) -> dict[str, Any]:
    """The top-level message: team aggregates only, never a person."""
    title = f"🧭 Team recap — week of {week_label(recap.week)}"
    this = recap.this
    if recap.quiet:
        body = (
            "*A quiet week on the log:* nobody recorded a win. Quiet weeks happen — thinking "
            "time counts too. A 🧭 win this week is a good way to start the next one."
        )
        stats = "No wins last week"
    else:
        plural = "" if this.total == 1 else "s"
        body = (
            f"*{this.total} win{plural}* last week: {this.clarity} 🧭 created clarity · "
            f"{this.shipped} 🚀 shipped\n*Team balance:* {_trend(recap)}"
        )
        stats = f"{this.total} win{plural}, {share(this)}% clarity"
    people = "PM" if recap.members == 1 else "PMs"
    blocks: list[Block] = [
        {"type": "header", "text": plain(title, 150)},
        section(body),
        context(f"From {recap.members} {people} in this channel who use PM Coach."),
        {"type": "divider"},
        section(f"*Prompt of the week:* _{escape(recap.prompt)}_"),
        context(
            "Log a win with `/win` · to be celebrated by name in the thread, "
            "`/coach share on` (reflections always stay private)"
        ),
    ]
    return {"text": f"{title}: {stats}", "blocks": blocks}


def _highlight_line(win: Win) -> str:
    line = f"• <@{win.user_id}>: {quoted_win(win.text, 400)}"
    if win.link and len(escape(win.link)) <= 500:
        line += f" (<{escape(win.link)}|link>)"
    if win.beneficiary:
        line += f" — _for {escape(clip(win.beneficiary, 80))}_"
    return line


def thread_reply(recap: Recap) -> dict[str, Any] | None:
    """The thread: opted-in clarity highlights and streak milestones, or None if there are
    none. Long lists are summarised ("…and 12 more from 5 people"), never cut mid-word."""
    if not recap.highlights and not recap.milestones:
        return None
    blocks: list[Block] = []
    if recap.highlights:
        blocks.append(section("🧭 *Clarity highlights* from PMs who share theirs"))
        shown = recap.highlights[:MAX_HIGHLIGHTS]
        chunk: list[str] = []
        used = 0
        shown_count = 0
        for win in shown:
            line = _highlight_line(win)
            if used + len(line) + 1 > SECTION_BUDGET:
                blocks.append(section("\n".join(chunk)))
                chunk, used = [], 0
                if len(blocks) >= MESSAGE_BLOCKS - 4:
                    break
            chunk.append(line)
            used += len(line) + 1
            shown_count += 1
        if chunk:
            blocks.append(section("\n".join(chunk)))
        rest, people = _not_shown(recap, shown_count)
        if rest:
            plural = "person" if people == 1 else "people"
            blocks.append(context(f"…and {rest} more clarity wins from {people} {plural}."))
    if recap.milestones:
        items = [f"<@{user}> {weeks} weeks" for user, weeks in recap.milestones[:40]]
        text = "🔥 *Streak milestones:* " + " · ".join(items)
        if len(recap.milestones) > 40:
            text += f" · and {len(recap.milestones) - 40} more"
        blocks.append(section(text))
    return {"text": "Clarity highlights and streak milestones", "blocks": blocks[:MESSAGE_BLOCKS]}


def _not_shown(recap: Recap, shown_count: int) -> tuple[int, int]:
    """(wins, people) the thread does not show: each opted-in PM's clarity wins this week (the
    larger of their week count and the highlights given) less those shown."""
    given = Counter(win.user_id for win in recap.highlights)
    shown = Counter(win.user_id for win in recap.highlights[:shown_count])
    rest = {
        user: max(recap.shared_clarity.get(user, 0), given[user]) - shown[user]
        for user in set(given) | set(recap.shared_clarity)
    }
    left = [n for n in rest.values() if n > 0]
    return sum(left), len(left)


def as_text(recap: Recap) -> str:
    """The recap as a person would read it: for `pm-coach recap --dry-run`."""
    lines = []
    for message in (main_message(recap), thread_reply(recap)):
        if message is None:
            continue
        for block in message["blocks"]:
            if block["type"] == "divider":
                lines.append("―" * 40)
            elif block["type"] in ("header", "section"):
                lines.append(block["text"]["text"])
            elif block["type"] == "context":
                lines.extend(e["text"] for e in block["elements"])
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
