"""`/coach <subcommand>`: one small function per subcommand, routed by name.

Each function answers through `ack` (fast, within Slack's 3 s) or, for slow work such as the
export, acks first and answers through `respond`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.coach import NOT_ENROLLED, Coach
from bot.domain.export import ExportRangeError
from bot.domain.numbers import is_number
from bot.domain.prompts import MAX_CUSTOM_PROMPTS, THEMES, library, validate_custom_prompt
from bot.domain.schedule import (
    DAY_NAMES,
    NudgeSchedule,
    ScheduleError,
    parse_days,
    parse_schedule,
    parse_time,
    schedule_from_profile,
)
from bot.domain.weeks import canonical_tz, zone
from bot.surfaces import blocks, coach_blocks, nudge_blocks, texts
from handlers.replies import after_ack, ephemeral

HISTORY_DEFAULT = 10
HISTORY_MAX = 20


@dataclass
class Ctx:
    ack: Ack
    respond: Respond
    client: WebClient
    coach: Coach
    team_id: str
    user_id: str
    log: Any
    channel_id: str = ""
    recaps: Any = None
    admin_ids: frozenset[str] = frozenset()
    context: Any = None  # Bolt's context, for `after_ack`

    def later(self, work: Callable[[], None]) -> None:
        """Run `work` once Slack has the answer (see `handlers.replies.after_ack`)."""
        after_ack(self.context or {}, work, self.respond)

    def reply(self, reply: blocks.Reply) -> None:
        self.ack(**ephemeral(reply))

    def say(self, message: str) -> None:
        self.reply(coach_blocks.simple(message))

    def tell(self, message: str) -> None:
        """After the answer: tell the PM privately through the response_url (a new message;
        the answer stays)."""
        self.respond(**ephemeral(coach_blocks.simple(message)), replace_original=False)


def help_(args: str, ctx: Ctx) -> None:
    ctx.reply(coach_blocks.help_reply())


def stats(args: str, ctx: Ctx) -> None:
    ov = ctx.coach.overview(ctx.team_id, ctx.user_id)
    ctx.reply(
        coach_blocks.stats(
            ov.standing.streak,
            ov.standing.balance,
            ov.snapshot.total_wins,
            ov.snapshot.state.counts,
            ov.snapshot.state.paused,
            ov.week,
        )
    )


def history(args: str, ctx: Ctx) -> None:
    count = HISTORY_DEFAULT
    if args:
        if not is_number(args) or not 1 <= int(args) <= HISTORY_MAX:
            ctx.say(texts.BAD_COUNT)
            return
        count = int(args)
    wins = ctx.coach.history(ctx.team_id, ctx.user_id, count)
    tz = ctx.coach.tz_for(ctx.team_id, ctx.user_id)
    text, reply = coach_blocks.history(wins, tz)
    mine = ctx.coach.store.profiles.reflections(
        ctx.team_id, ctx.user_id, limit=3, newest_first=True
    )
    ctx.reply((text, reply + nudge_blocks.reflections_blocks(mine, tz)))


def undo(args: str, ctx: Ctx) -> None:
    undone = ctx.coach.undo_last(ctx.team_id, ctx.user_id)
    if undone.win is None:
        ctx.say(texts.UNDO_NOTHING)
        return
    standing = undone.standing
    ctx.reply(
        blocks.win_undone(
            undone.win,
            standing.streak if standing else None,
            standing.balance if standing else None,
        )
    )


def export(args: str, ctx: Ctx) -> None:
    try:
        document = ctx.coach.export(ctx.team_id, ctx.user_id, args)
    except ExportRangeError as exc:
        ctx.say(texts.EXPORT_BAD.get(exc.code, texts.EXPORT_BAD["bad_range"]))
        return
    ctx.say(texts.EXPORT_PREPARING.format(label=document.range.label))

    def send() -> None:
        try:
            ctx.coach.send_export(ctx.user_id, document)
        except (SlackApiError, SlackClientError, OSError) as exc:
            ctx.log.error("export_failed", error=type(exc).__name__)
            ctx.respond(text=texts.EXPORT_FAILED, response_type="ephemeral")
            return
        ctx.log.info("export_sent", wins=document.count, range=document.range.label)
        ctx.respond(
            text=texts.EXPORT_SENT.format(
                label=document.range.label,
                count=document.count,
                plural=coach_blocks.plural(document.count),
            ),
            response_type="ephemeral",
        )

    ctx.later(send)


def target(args: str, ctx: Ctx) -> None:
    match = re.fullmatch(r"(\d{1,3})\s*%?", args)
    if not match or not 1 <= int(match.group(1)) <= 100:
        ctx.say(texts.TARGET_BAD)
        return
    ctx.coach.set_target(ctx.team_id, ctx.user_id, int(match.group(1)))
    ctx.say(texts.TARGET_SET.format(percent=int(match.group(1))))


def timezone(args: str, ctx: Ctx) -> None:
    if not args:
        profile = ctx.coach.store.profiles.profile(ctx.team_id, ctx.user_id)
        tz = profile.get("tz") or ctx.coach.tz_for(ctx.team_id, ctx.user_id)
        source = "you chose it" if profile.get("tz_source") == "explicit" else "from Slack"
        if profile.get("tz_source") in (None, "fallback"):  # Slack is not asked while it waits
            source = texts.TZ_SOURCE_GUESS
            ctx.later(partial(ctx.coach.learn_zone, ctx.team_id, ctx.user_id))
        ctx.say(texts.TZ_SHOW.format(tz=tz, source=source) + texts.TZ_SHOW_AUTO)
        return
    if args.lower() == "auto":
        # Slack's zone comes from users.info: asked after the answer, told through respond.
        ctx.say(texts.TZ_AUTO_ASKING)

        def follow_slack() -> None:
            tz = ctx.coach.set_timezone_from_slack(ctx.team_id, ctx.user_id)
            if tz is None:
                ctx.tell(texts.TZ_AUTO_FAILED.format(tz=ctx.coach.tz_for(ctx.team_id, ctx.user_id)))
            else:
                ctx.tell(texts.TZ_AUTO.format(tz=tz))

        ctx.later(follow_slack)
        return
    try:
        tz = ctx.coach.set_timezone(ctx.team_id, ctx.user_id, args)
    except ValueError:
        ctx.say(texts.TZ_BAD.format(tz=blocks.escape(blocks.clip(args, 60))))
        return
    ctx.say(texts.TZ_SET.format(tz=tz))


def pause(args: str, ctx: Ctx) -> None:
    match = re.fullmatch(r"(\d{1,2})\s*(w|wk|wks|week|weeks)?", args.lower())
    if not match or not 1 <= int(match.group(1)) <= 12:
        ctx.say(texts.PAUSE_BAD)
        return
    _, last = ctx.coach.pause(ctx.team_id, ctx.user_id, int(match.group(1)))
    ctx.say(texts.PAUSED.format(until=ctx.coach.pause_ends(last)))


def resume(args: str, ctx: Ctx) -> None:
    removed = ctx.coach.resume(ctx.team_id, ctx.user_id)
    ctx.say(texts.RESUMED if removed else texts.NOT_PAUSED)


def share(args: str, ctx: Ctx) -> None:
    choice = args.lower()
    if choice not in ("on", "off"):
        ctx.say(texts.SHARE_BAD)
        return
    ctx.coach.set_share(ctx.team_id, ctx.user_id, choice == "on")
    ctx.say(texts.SHARE_ON if choice == "on" else texts.SHARE_OFF)


def prompts(args: str, ctx: Ctx) -> None:
    action, *tail = re.split(r"\s+", args, maxsplit=1)
    rest = tail[0] if tail else ""
    action = action.lower()
    store = ctx.coach.store
    if action == "add":
        try:
            text = validate_custom_prompt(rest)
        except ValueError as exc:
            ctx.say(texts.PROMPTS_BAD.get(str(exc), texts.PROMPTS_BAD["blank"]))
            return
        ctx.coach.enrol(ctx.team_id, ctx.user_id)
        number = store.profiles.add_prompt(ctx.team_id, ctx.user_id, text, MAX_CUSTOM_PROMPTS)
        if number is None:
            ctx.say(texts.PROMPTS_FULL.format(limit=MAX_CUSTOM_PROMPTS))
        else:
            ctx.say(texts.PROMPTS_ADDED.format(number=number, text=blocks.escape(text)))
        return
    if action == "remove":
        if not is_number(rest.strip()):
            ctx.say(texts.PROMPTS_BAD["bad_number"])
            return
        number = int(rest.strip())
        if store.profiles.remove_prompt(ctx.team_id, ctx.user_id, number):
            ctx.say(texts.PROMPTS_REMOVED.format(number=number))
        else:
            ctx.say(texts.PROMPTS_NOT_FOUND.format(number=number))
        return
    if action:
        ctx.reply(coach_blocks.help_reply(unknown=f"prompts {args}"))
        return
    custom = store.profiles.custom_prompts(ctx.team_id, ctx.user_id)
    ctx.reply(coach_blocks.prompts_list(len(library()), len(THEMES), custom))


def nudges(args: str, ctx: Ctx) -> None:
    """`/coach nudges` shows the schedule; `<days> <HH:MM>`, `off` or `on` change it."""
    coach = ctx.coach
    tz = coach.tz_for(ctx.team_id, ctx.user_id)
    if not args:
        schedule = schedule_from_profile(coach.store.profiles.profile(ctx.team_id, ctx.user_id))
        ctx.say(texts.NUDGES_SHOW.format(schedule=schedule.describe(), tz=tz))
        return
    try:
        if args.lower() == "on":
            current = schedule_from_profile(coach.store.profiles.profile(ctx.team_id, ctx.user_id))
            schedule = NudgeSchedule(days=current.days, at=current.at)
        else:
            schedule = parse_schedule(args)
    except ScheduleError:
        ctx.say(texts.NUDGES_BAD)
        return
    nxt = coach.set_nudges(ctx.team_id, ctx.user_id, schedule)
    if not schedule.enabled or nxt is None:
        ctx.say(texts.NUDGES_OFF)
        return
    when = nxt.astimezone(zone(tz)).strftime("%a %d %b, %H:%M")
    ctx.say(texts.NUDGES_SET.format(schedule=schedule.describe(), tz=tz, next=when))


def recap(args: str, ctx: Ctx) -> None:
    """`/coach recap [here|off|<day> <HH:MM> [zone]]`: team recap settings, admins only."""
    recaps = ctx.recaps
    words = args.split()
    if not words:
        schedule = recaps.schedule(ctx.team_id)
        if schedule is None:
            ctx.say(texts.RECAP_SHOW_OFF)
            return
        due = ctx.coach.store.recaps.recap_due_at(ctx.team_id)
        when = due.astimezone(zone(schedule.tz)).strftime("%a %d %b, %H:%M") if due else "—"
        ctx.say(
            texts.RECAP_SHOW.format(
                channel=schedule.channel, schedule=schedule.describe(), next=when
            )
        )
        return
    if ctx.user_id in ctx.admin_ids:  # listed by the operator: Slack need not be asked
        _change_recap(words, ctx, ctx.say)
        return
    # Whether the PM is a workspace admin comes from users.info: asked after the answer.
    ctx.say(texts.RECAP_CHECKING_ADMIN)

    def check_then_change() -> None:
        if ctx.coach.is_admin(ctx.user_id, ctx.admin_ids, ctx.coach.slack):
            _change_recap(words, ctx, ctx.tell)
            return
        extra = ""
        if ctx.admin_ids:
            people = ", ".join(f"<@{u}>" for u in sorted(ctx.admin_ids)[:10])
            extra = texts.RECAP_ADMINS_EXTRA.format(people=people)
        ctx.tell(texts.RECAP_ADMINS_ONLY.format(extra=extra))

    ctx.later(check_then_change)


def _change_recap(words: list[str], ctx: Ctx, answer: Callable[[str], None]) -> None:
    """`/coach recap here|off|<day> <HH:MM> [zone]` from an admin; the outcome goes to
    `answer` (the ack, or `ctx.tell` once the admin check has run after it)."""
    recaps = ctx.recaps
    action = words[0].lower()
    tz = ctx.coach.tz_for(ctx.team_id, ctx.user_id)
    if action == "here":
        if not ctx.channel_id.startswith(("C", "G")):
            answer(texts.RECAP_NOT_A_CHANNEL)
            return
        schedule = recaps.set_channel(ctx.team_id, ctx.channel_id, ctx.user_id, tz)
        answer(texts.RECAP_HERE.format(schedule=schedule.describe()))

        def invite_hint() -> None:  # asks Slack: after the answer
            if not ctx.coach.bot_in_channel(ctx.channel_id):
                ctx.respond(
                    text=texts.RECAP_INVITE_ME, response_type="ephemeral", replace_original=False
                )

        ctx.later(invite_hint)
        return
    if action == "off" and len(words) == 1:
        recaps.turn_off(ctx.team_id)
        answer(texts.RECAP_OFF)
        return
    try:
        days = parse_days(words[0])
        at = parse_time(words[1]) if len(words) > 1 else None
    except ScheduleError:
        days, at = (), None
    zone_name = canonical_tz(words[2]) if len(words) > 2 else tz
    if len(days) != 1 or at is None or zone_name is None or len(words) > 3:
        answer(texts.RECAP_BAD)
        return
    schedule = recaps.set_time(ctx.team_id, days[0], at, zone_name, ctx.user_id)
    if schedule is None:
        described = f"{DAY_NAMES[days[0]].capitalize()} {at.strftime('%H:%M')} ({zone_name})"
        answer(texts.RECAP_TIME_NO_CHANNEL.format(schedule=described))
    else:
        answer(texts.RECAP_TIME_SET.format(schedule=schedule.describe()))


def forget_me(args: str, ctx: Ctx) -> None:
    ctx.reply(coach_blocks.forget_ask())


Subcommand = Callable[[str, Ctx], None]
SUBCOMMANDS: dict[str, Subcommand] = {
    "help": help_,
    "?": help_,
    "stats": stats,
    "history": history,
    "undo": undo,
    "export": export,
    "target": target,
    "timezone": timezone,
    "tz": timezone,
    "pause": pause,
    "resume": resume,
    "share": share,
    "prompts": prompts,
    "nudges": nudges,
    "recap": recap,
    "nudge": nudges,
    "forget-me": forget_me,
    "forgetme": forget_me,
}


def _changes_settings(handler: Subcommand, args: str) -> bool:
    """Whether `/coach <handler> <args>` writes the PM's own settings (it would enrol them)."""
    if handler in (target, pause, resume, share):
        return True
    if handler in (timezone, nudges):
        return bool(args)
    return handler is prompts and args.split(maxsplit=1)[:1] == ["add"]


def dispatch(text: str, ctx: Ctx) -> None:
    """Route `/coach <name> <args>`; unknown names say what was not understood, then help."""
    name, *rest = re.split(r"\s+", text.strip(), maxsplit=1)
    args = rest[0] if rest else ""
    handler = SUBCOMMANDS.get(name.lower()) if name else help_
    if handler is None:
        ctx.reply(coach_blocks.help_reply(unknown=text.strip()))
        return
    enrolled = ""
    if handler not in (forget_me, help_):
        # Using a command ends an enrolled PM's back-off; it never enrols anyone (a win does:
        # after forget-me, only `/win` starts fresh, as the answer to forget-me says).
        enrolled = ctx.coach.start_enrolment(ctx.team_id, ctx.user_id, create=False)
    if enrolled == NOT_ENROLLED and _changes_settings(handler, args.strip()):
        # Settings belong to an enrolled PM: nothing is written before their first win.
        ctx.say(texts.NOT_PAUSED if handler is resume else texts.SETTING_BEFORE_FIRST_WIN)
        return
    if enrolled == NOT_ENROLLED and handler is nudges:
        ctx.say(texts.NUDGES_NOT_YET)  # the default schedule would promise a nudge that won't come
        return
    try:
        handler(args.strip(), ctx)
    finally:
        if enrolled and enrolled != NOT_ENROLLED:
            ctx.later(partial(ctx.coach.finish_enrolment, ctx.team_id, ctx.user_id, enrolled))
