"""`pm-coach sandbox`: the terminal loop and its commands.

`Sandbox` runs the real app — the same composition, app factory, handlers, store code and tick —
against the loopback fake Slack (the one the tests use) and an embedded store (fakeredis in
this process; REDIS_URL is ignored), and carries out the person's lines: slash commands and
clicks reach the app exactly as Slack sends them — signed bodies through Bolt —, `:set` and
`:submit` fill and send the open form, and `:advance` moves the simulated clock, running the
scheduled work due on the way. Whatever the app sends back to "Slack" is drawn by
`bot.sandbox.screen`. `main` runs it on a terminal, or over a script's lines or stdin.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from pydantic import SecretStr
from slack_bolt import App, BoltRequest

from bot.domain.schedule import DAY_NAMES, parse_time
from bot.domain.weeks import zone
from bot.fakeslack import FakeSlack, drop_proxies, payloads, signed_headers
from bot.runtime.app import create_app
from bot.runtime.compose import Runtime, build_runtime
from bot.runtime.settings import Settings
from bot.sandbox.forms import SandboxError, field_state, state_values
from bot.sandbox.render import Numbering, mrkdwn_to_text
from bot.sandbox.screen import Screen, Target
from bot.sandbox.workspace import (
    CHANNEL,
    CHANNEL_NAME,
    PEOPLE,
    SANDBOX_APP_TOKEN,
    SANDBOX_BOT_TOKEN,
    TEAM,
    SimClock,
    seed_history,
)

__all__ = ["HELP", "Sandbox", "SandboxError", "main"]


HELP = """\
Type what you would type in Slack, or a sandbox command:
  /win clarity Wrote the pricing one-pager    /win shipped …    /win …    /win (a form)
  /coach help | stats | history | export …    /reflect …
  3 or :click 3        press button / menu option number 3
  :set 2 some text     fill field 2 of the open form (options: a letter or a number)
  :submit  :cancel     submit or close the open form
  :home                open your App Home            :dms   your DMs from PM Coach
  :channel             the #product channel (the team recap goes there)
  :as bob              be another sample PM (alice, bob, sam — sam is a workspace admin)
  :advance 1d | 2h | 1w | to fri 15:00   move the clock, running everything due on the way
  :time  :who  :help  :quit"""


class Sandbox:
    def __init__(
        self,
        *,
        redis_client: Any,
        out: TextIO,
        color: bool = False,
        now: datetime | None = None,
        store_label: str = "",
    ) -> None:
        drop_proxies()  # slack-sdk would send loopback calls through a proxy
        self.out = out
        self.store_label = store_label
        start = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
        self.clock = SimClock(start)
        self.fake = FakeSlack(
            team_id=TEAM, bot_token=SANDBOX_BOT_TOKEN, app_token=SANDBOX_APP_TOKEN
        )
        self.fake.start()
        for person in PEOPLE:
            self.fake.add_user(
                person.user_id, name=person.name, tz=person.tz, is_admin=person.admin
            )
        self.fake.add_channel(CHANNEL, name=CHANNEL_NAME, members=[p.user_id for p in PEOPLE])
        self.screen = Screen(self.fake, out, color=color)
        self.secret = secrets.token_hex(16)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_bot_token=SecretStr(SANDBOX_BOT_TOKEN),
            slack_signing_secret=SecretStr(self.secret),
            slack_api_base_url=self.fake.api_base_url,
            redis_url="redis://sandbox.invalid/0",
            slack_post_rate=1000,
            slack_post_burst=1000,
        )
        self.runtime: Runtime = build_runtime(settings, redis_client=redis_client, clock=self.clock)
        self.app: App = create_app(settings, self.runtime.deps)
        self.me = PEOPLE[0]
        self.failed = 0

    # Setting up -----------------------------------------------------------------------------

    def setup(self, demo: bool = False) -> None:
        """The sample team: a recap channel set by sam; with `demo`, twelve weeks of history."""
        recaps = self.runtime.recaps
        admin = PEOPLE[2]
        self.runtime.deps.coach.tz_cache.put(TEAM, admin.user_id, admin.tz)
        self.runtime.store.profiles.enrol(TEAM, admin.user_id, admin.tz, self.clock())
        recaps.set_channel(TEAM, CHANNEL, admin.user_id, admin.tz)
        if demo:
            seed_history(self.runtime, self.clock)
        self.screen.skip_journal()

    def close(self) -> None:
        self.fake.stop()

    # The loop ---------------------------------------------------------------------------------

    def banner(self) -> None:
        self.say(
            f"PM Coach sandbox — a local fake Slack on loopback and {self.store_label}. "
            "Nothing leaves this machine. Type :help."
        )
        self.say(f"You are @{self.me.name} ({self.me.tz}); it is {self._now_text()}.")

    def run(self, lines: Iterable[str], *, echo: bool) -> int:
        for raw in lines:
            line = raw.rstrip("\n")
            if echo:
                self.say(f"\n› {line}")
            if line.strip() in (":quit", ":q", ":exit"):
                break
            self.handle(line)
        return 1 if self.failed else 0

    def handle(self, line: str) -> None:
        text = line.strip()
        if not text or text.startswith("#"):
            return
        try:
            self._handle(text)
        except SandboxError as exc:
            self.failed += 1
            self.say(f"✗ {exc}")
        except Exception as exc:
            self.failed += 1
            self.say(f"✗ {type(exc).__name__}: {exc}")

    def _handle(self, text: str) -> None:
        if text.startswith("/"):
            command, _, rest = text.partition(" ")
            if command not in ("/win", "/coach", "/reflect"):
                raise SandboxError(f"unknown slash command {command}; try /win, /coach, /reflect")
            self.command(command, rest)
        elif text.isdigit():
            self.click(int(text))
        elif text.startswith(":"):
            name, _, rest = text[1:].partition(" ")
            handler = self._commands().get(name.lower())
            if handler is None:
                raise SandboxError(f"unknown sandbox command :{name} (see :help)")
            handler(rest.strip())
        else:
            raise SandboxError("start with / for a slash command or : for the sandbox (:help)")

    def _commands(self) -> dict[str, Callable[[str], None]]:
        return {
            "help": lambda _: self.say(HELP),
            "click": lambda rest: self.click(self._number(rest)),
            "set": self.set_field,
            "submit": lambda _: self.submit(),
            "cancel": lambda _: self.cancel(),
            "home": lambda _: self.open_home(),
            "dms": lambda _: self.show_dms(),
            "channel": lambda _: self.show_channel(),
            "as": self.switch,
            "who": lambda _: self.say(f"You are @{self.me.name} ({self.me.tz})."),
            "time": lambda _: self.say(f"It is {self._now_text()}."),
            "advance": self.advance,
        }

    # Sending what Slack would send ------------------------------------------------------------

    def _dispatch(self, body: bytes, content_type: str) -> dict[str, Any]:
        headers = signed_headers(self.secret, body, None, content_type)
        request = BoltRequest(
            body=body.decode(), headers={k.lower(): [v] for k, v in headers.items()}
        )
        response = self.app.dispatch(request)
        if response.status != 200:
            raise SandboxError(f"the app answered HTTP {response.status}: {response.body[:200]}")
        if not response.body:
            return {}
        try:
            parsed = json.loads(response.body)
        except json.JSONDecodeError:
            return {"text": response.body}
        return parsed if isinstance(parsed, dict) else {}

    def command(self, command: str, text: str) -> None:
        hook = f"cmd-{secrets.token_hex(4)}"
        body, content_type = payloads.slash_command(
            command,
            text,
            team_id=TEAM,
            user_id=self.me.user_id,
            channel_id=CHANNEL,
            user_name=self.me.name,
            response_url=self.fake.response_url(hook),
        )
        answer = self._dispatch(body, content_type)
        numbering = self.screen.fresh()
        if answer.get("text") or answer.get("blocks"):
            self.screen.show_message(answer, Target("ephemeral"), numbering, ephemeral=True)
        self._show_new(numbering)

    def click(self, number: int) -> None:
        found = self.screen.targets.get(number)
        if found is None:
            raise SandboxError(f"there is no [{number}] on screen")
        item, target = found
        if item.kind == "input":
            raise SandboxError(f"[{number}] is a form field: fill it with :set {number} …")
        if item.confirm:
            confirm = item.confirm
            self.say(
                f"({mrkdwn_to_text(str((confirm.get('title') or {}).get('text', '')))}: "
                f"{(confirm.get('confirm') or {}).get('text', 'OK')})"
            )
        action: dict[str, Any] = {
            "type": item.element.get("type", "button"),
            "action_id": item.action_id,
            "block_id": item.block_id,
            "action_ts": f"{self.clock().timestamp():.6f}",
        }
        if item.kind in ("overflow_option", "select_option"):
            action["selected_option"] = {
                "text": {"type": "plain_text", "text": item.label},
                "value": item.value,
            }
        else:
            action["value"] = item.value
            action["text"] = item.element.get("text")
        hook = f"act-{secrets.token_hex(4)}"
        if target.kind in ("home", "modal"):
            body, content_type = payloads.block_actions(
                [action], team_id=TEAM, user_id=self.me.user_id, view=target.view
            )
        elif target.kind == "ephemeral":
            body, content_type = payloads.block_actions(
                [action],
                team_id=TEAM,
                user_id=self.me.user_id,
                channel_id=CHANNEL,
                response_url=self.fake.response_url(hook),
                is_ephemeral=True,
                message={
                    "type": "message",
                    "ts": f"{self.clock().timestamp():.6f}",
                    **{k: v for k, v in target.message.items() if k in ("text", "blocks")},
                },
            )
        else:
            message = {k: v for k, v in target.message.items() if k != "channel"}
            body, content_type = payloads.block_actions(
                [action],
                team_id=TEAM,
                user_id=self.me.user_id,
                channel_id=target.channel,
                message=message,
                response_url=self.fake.response_url(hook),
            )
        self._dispatch(body, content_type)
        numbering = self.screen.fresh()
        if target.kind == "modal" and self.screen.modal is not None:
            self.screen.show_modal(numbering, refresh_only=True)
        self._show_new(numbering)

    # Forms ------------------------------------------------------------------------------------

    def set_field(self, rest: str) -> None:
        if self.screen.modal is None:
            raise SandboxError("no form is open")
        number_text, _, value = rest.partition(" ")
        item = self.screen.targets.get(self._number(number_text))
        if item is None or item[0].kind != "input":
            raise SandboxError(f"[{number_text}] is not a field of the open form")
        field_item = item[0]
        state = field_state(field_item.element, value)
        self.screen.modal_values[field_item.block_id] = {field_item.action_id: state}
        self.screen.modal_errors.pop(field_item.block_id, None)
        numbering = self.screen.fresh()
        self.screen.show_modal(numbering)

    def submit(self) -> None:
        screen, modal = self.screen, self.screen.modal
        if modal is None:
            raise SandboxError("no form is open")
        body, content_type = payloads.view_submission(
            modal,
            state_values(modal, screen.modal_values),
            team_id=TEAM,
            user_id=self.me.user_id,
            view_id=modal.get("id"),
            view_hash=modal.get("hash"),
        )
        answer = self._dispatch(body, content_type)
        numbering = screen.fresh()
        action = answer.get("response_action")
        if action == "errors":
            screen.modal_errors = {str(k): str(v) for k, v in (answer.get("errors") or {}).items()}
            screen.show_modal(numbering)
            return
        if action == "update":
            screen.modal = dict(
                answer.get("view") or {}, id=modal.get("id"), hash=modal.get("hash")
            )
            screen.modal_values, screen.modal_errors = {}, {}
            screen.show_modal(numbering)
        else:
            screen.modal = None
            self.say("(form closed)")
        self._show_new(numbering)

    def cancel(self) -> None:
        if self.screen.modal is None:
            raise SandboxError("no form is open")
        self.fake.close_view(str(self.screen.modal.get("id")))
        self.screen.modal = None
        self.say("(form closed)")

    # Looking around ---------------------------------------------------------------------------

    def open_home(self) -> None:
        body, content_type = payloads.event_callback(
            {
                "type": "app_home_opened",
                "user": self.me.user_id,
                "tab": "home",
                "channel": self.fake.dm_channel(self.me.user_id),
                "event_ts": f"{self.clock().timestamp():.6f}",
            },
            team_id=TEAM,
        )
        self._dispatch(body, content_type)
        numbering = self.screen.fresh()
        self._show_new(numbering, force_home=True)

    def show_dms(self) -> None:
        numbering = self.screen.fresh()
        messages = self.fake.messages(self.me.user_id)
        if not messages:
            self.say("(no DMs from PM Coach yet)")
        for message in messages[-5:]:
            self.screen.show_message(
                message,
                Target("dm", message, channel=message["channel"]),
                numbering,
                title="DM from PM Coach",
            )

    def show_channel(self) -> None:
        numbering = self.screen.fresh()
        messages = self.fake.messages(CHANNEL)
        if not messages:
            self.say(f"(nothing in #{CHANNEL_NAME} yet — the team recap is posted there)")
        for message in messages[-6:]:
            indent = "    " if message.get("thread_ts") else ""
            title = f"thread reply in #{CHANNEL_NAME}" if indent else f"#{CHANNEL_NAME}"
            self.screen.show_message(
                message,
                Target("channel", message, channel=CHANNEL),
                numbering,
                title=title,
                indent=indent,
            )

    def switch(self, name: str) -> None:
        person = next((p for p in PEOPLE if p.name == name.strip().lower().lstrip("@")), None)
        if person is None:
            raise SandboxError(f"no sample PM {name!r}; try alice, bob or sam")
        self.me = person
        self.screen.modal = None
        self.screen.targets = {}
        self.say(f"You are now @{person.name} ({person.tz}); it is {self._now_text()}.")

    # The clock --------------------------------------------------------------------------------

    def advance(self, rest: str) -> None:
        target = self._target_time(rest)
        if target <= self.clock():
            raise SandboxError("the clock only moves forward")
        numbering = self.screen.fresh()
        runs = 0
        while runs < 500:
            due = self.runtime.store.nudges.earliest_due()
            if due is None or due > target:
                break
            self.clock.set(max(due, self.clock()) + timedelta(seconds=1))
            self.runtime.ticker.tick(self.clock())
            self.runtime.recaps.run_due(self.clock())
            runs += 1
            self._show_new(numbering, at=True)
        self.clock.set(target)
        self.say(f"⏩ It is now {self._now_text()}.")

    def _target_time(self, rest: str) -> datetime:
        rest = rest.strip().lower()
        match = re.fullmatch(r"(\d+)\s*([mhdw])", rest)
        if match:
            amount, unit = int(match.group(1)), match.group(2)
            delta = {
                "m": timedelta(minutes=amount),
                "h": timedelta(hours=amount),
                "d": timedelta(days=amount),
                "w": timedelta(weeks=amount),
            }[unit]
            return self.clock() + delta
        match = re.fullmatch(r"to\s+([a-z]{3})[a-z]*\s+(\S+)", rest)
        if match and match.group(1) in DAY_NAMES:
            day = DAY_NAMES.index(match.group(1))
            try:
                at = parse_time(match.group(2))
            except ValueError:
                raise SandboxError(f"not a time: {match.group(2)}") from None
            local = self.clock().astimezone(zone(self.me.tz))
            for offset in range(0, 8):
                candidate = datetime.combine(
                    local.date() + timedelta(days=offset), at, tzinfo=zone(self.me.tz)
                )
                if candidate.weekday() == day and candidate > local:
                    return candidate.astimezone(UTC)
        raise SandboxError("try :advance 1d, :advance 3h, :advance 1w or :advance to fri 15:00")

    # Drawing ----------------------------------------------------------------------------------

    def _now_text(self) -> str:
        local = self.clock().astimezone(zone(self.me.tz))
        return local.strftime("%a %d %b %Y, %H:%M") + f" ({self.me.tz})"

    @staticmethod
    def _number(text: str) -> int:
        if not text.strip().isdigit():
            raise SandboxError(f"not a number: {text!r}")
        return int(text.strip())

    def say(self, text: str) -> None:
        self.screen.say(text)

    def _show_new(
        self, numbering: Numbering, *, force_home: bool = False, at: bool = False
    ) -> None:
        """Everything the app sent to "Slack" since the last look, as the person would see it;
        with `at`, titles say when (the work ran on the simulated clock)."""
        when = f" · {self._now_text()}" if at else ""
        self.failed += self.screen.show_new(numbering, self.me, when=when, force_home=force_home)


# Entry point ----------------------------------------------------------------------------------

IGNORED_REDIS_URL = (
    "pm-coach sandbox: REDIS_URL is set and ignored: the sandbox keeps its own in-memory store "
    "and never touches a real Redis or workspace."
)


def main(
    *,
    demo: bool = False,
    script: str | None = None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    """Run the sandbox: interactive on a terminal, else the lines of `script` or stdin."""
    import fakeredis

    # Always the embedded store, never REDIS_URL: the sandbox's tick and recaps are the
    # product's, which serve every team in the Redis they are given — pointed at a real one
    # they would send real workspaces' nudges (to the fake) and mark real PMs inactive.
    if os.environ.get("REDIS_URL"):
        sys.stderr.write(IGNORED_REDIS_URL + "\n")
    client = fakeredis.FakeRedis(decode_responses=True)
    label = "an in-memory store (fakeredis; gone when you quit)"
    sandbox = Sandbox(redis_client=client, out=stdout, color=stdout.isatty(), store_label=label)
    try:
        sandbox.setup(demo=demo)
        sandbox.banner()
        if script:
            with open(script, encoding="utf-8") as lines:
                return sandbox.run(lines, echo=True)
        if not stdin.isatty():
            return sandbox.run(stdin, echo=True)
        return sandbox.run(_prompt_lines(sandbox), echo=False)
    finally:
        sandbox.close()


def _prompt_lines(sandbox: Sandbox) -> Iterable[str]:
    import readline  # noqa: F401 - line editing and history for input()

    while True:
        try:
            yield input(f"{sandbox.me.name}› ")
        except (EOFError, KeyboardInterrupt):
            sandbox.say("")
            return
