"""`pm-coach sandbox`: the real app in a terminal, with no Slack workspace and no Redis.

The same app factory, handlers, store code and tick run against the loopback fake Slack (the
one the tests use) and an embedded store (fakeredis in this process; REDIS_URL is ignored).
Requests reach the app exactly as Slack sends them — signed bodies through Bolt — and whatever
the app sends back to "Slack" (replies, DMs, modals, the Home, the channel recap) is read from
the fake's journal and drawn as text. A simulated clock lets scheduled work happen on demand.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any, TextIO

from pydantic import SecretStr
from slack_bolt import App, BoltRequest

from bot.domain.schedule import DAY_NAMES, parse_time
from bot.domain.weeks import zone
from bot.domain.wins import Lane
from bot.fakeslack import FakeSlack, drop_proxies, payloads, signed_headers
from bot.runtime.app import create_app
from bot.runtime.compose import Runtime, build_runtime
from bot.runtime.settings import Settings
from bot.sandbox.render import (
    Interactive,
    Numbering,
    mrkdwn_to_text,
    render_message,
    render_view,
)

TEAM = "T0SANDBOX"
# Not secrets: the sandbox's fake Slack accepts exactly these made-up tokens.
SANDBOX_BOT_TOKEN = "xoxb-sandbox-0000"  # noqa: S105
SANDBOX_APP_TOKEN = "xapp-sandbox"  # noqa: S105
CHANNEL = "C0PRODUCT"
CHANNEL_NAME = "product"


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    tz: str
    admin: bool = False


PEOPLE = (
    Person("U0ALICE", "alice", "Europe/Berlin"),
    Person("U0BOB", "bob", "America/New_York"),
    Person("U0SAM", "sam", "Europe/London", admin=True),
)


class SimClock:
    """The sandbox's clock: it only moves when the person says so."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, now: datetime) -> None:
        with self._lock:
            self._now = now


@dataclass
class Target:
    """Where an interactive element lives, so a click can be sent as Slack would."""

    kind: str  # "ephemeral" | "dm" | "channel" | "home" | "modal"
    message: dict[str, Any] = field(default_factory=dict)
    channel: str = ""
    view: dict[str, Any] = field(default_factory=dict)


class SandboxError(Exception):
    """A line the sandbox could not carry out (shown, and counted as a failed line)."""


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
        self.color = color
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
        self.seen = 0  # journal position already shown
        self.targets: dict[int, tuple[Interactive, Target]] = {}
        self.modal: dict[str, Any] | None = None
        self.modal_values: dict[str, Any] = {}
        self.modal_errors: dict[str, str] = {}
        self.failed = 0

    # Setting up -----------------------------------------------------------------------------

    def setup(self, demo: bool = False) -> None:
        """The sample team: a recap channel set by sam; with `demo`, twelve weeks of history."""
        recaps = self.runtime.recaps
        admin = PEOPLE[2]
        self.runtime.deps.coach.tz_cache.put(TEAM, admin.user_id, admin.tz)
        self.runtime.store.enrol(TEAM, admin.user_id, admin.tz, self.clock())
        recaps.set_channel(TEAM, CHANNEL, admin.user_id, admin.tz)
        if demo:
            seed_history(self.runtime, self.clock)
        self.seen = len(self.fake.calls)

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
        numbering = Numbering()
        self.targets = {}
        if answer.get("text") or answer.get("blocks"):
            self._show_message(answer, Target("ephemeral"), numbering, ephemeral=True)
        self._show_new(numbering)

    def click(self, number: int) -> None:
        found = self.targets.get(number)
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
        numbering = Numbering()
        self.targets = {}
        if target.kind == "modal" and self.modal is not None:
            self._show_modal(numbering, refresh_only=True)
        self._show_new(numbering)

    # Forms ------------------------------------------------------------------------------------

    def set_field(self, rest: str) -> None:
        if self.modal is None:
            raise SandboxError("no form is open")
        number_text, _, value = rest.partition(" ")
        item = self.targets.get(self._number(number_text))
        if item is None or item[0].kind != "input":
            raise SandboxError(f"[{number_text}] is not a field of the open form")
        field_item = item[0]
        element = field_item.element
        kind = element.get("type")
        state: dict[str, Any] = {"type": kind}
        if kind in ("radio_buttons", "static_select", "checkboxes"):
            options = element.get("options") or []
            chosen = (
                [self._option(options, part) for part in re.split(r"[,\s]+", value.strip()) if part]
                if kind == "checkboxes"
                else [self._option(options, value.strip())]
            )
            if kind == "checkboxes":
                state["selected_options"] = chosen
            else:
                state["selected_option"] = chosen[0]
        elif kind == "datepicker":
            state["selected_date"] = value.strip() or None
        elif kind == "timepicker":
            state["selected_time"] = value.strip() or None
        else:
            state["value"] = value
        self.modal_values[field_item.block_id] = {field_item.action_id: state}
        self.modal_errors.pop(field_item.block_id, None)
        numbering = Numbering()
        self.targets = {}
        self._show_modal(numbering)

    @staticmethod
    def _option(options: list[dict[str, Any]], choice: str) -> dict[str, Any]:
        choice = choice.strip().lower()
        if len(choice) == 1 and choice.isalpha() and ord(choice) - ord("a") < len(options):
            return options[ord(choice) - ord("a")]
        if choice.isdigit() and 1 <= int(choice) <= len(options):
            return options[int(choice) - 1]
        for option in options:
            if option.get("value", "").lower() == choice:
                return option
        last = chr(ord("a") + len(options) - 1)
        raise SandboxError(f"no option {choice!r}; pick a letter a–{last}")

    def _state_values(self) -> dict[str, Any]:
        """What Slack would send as view.state.values: typed values over the defaults."""
        assert self.modal is not None
        values: dict[str, Any] = {}
        for block in self.modal.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block.get("element") or {}
            block_id, action_id = block.get("block_id", ""), element.get("action_id", "value")
            state: dict[str, Any] = {"type": element.get("type")}
            if "initial_value" in element:
                state["value"] = element["initial_value"]
            if "initial_option" in element:
                state["selected_option"] = element["initial_option"]
            if "initial_options" in element:
                state["selected_options"] = element["initial_options"]
            if "initial_date" in element:
                state["selected_date"] = element["initial_date"]
            if "initial_time" in element:
                state["selected_time"] = element["initial_time"]
            values[block_id] = {action_id: state}
        values.update(self.modal_values)
        return values

    def submit(self) -> None:
        if self.modal is None:
            raise SandboxError("no form is open")
        body, content_type = payloads.view_submission(
            self.modal,
            self._state_values(),
            team_id=TEAM,
            user_id=self.me.user_id,
            view_id=self.modal.get("id"),
            view_hash=self.modal.get("hash"),
        )
        answer = self._dispatch(body, content_type)
        numbering = Numbering()
        self.targets = {}
        action = answer.get("response_action")
        if action == "errors":
            self.modal_errors = {str(k): str(v) for k, v in (answer.get("errors") or {}).items()}
            self._show_modal(numbering)
            return
        if action == "update":
            self.modal = dict(
                answer.get("view") or {}, id=self.modal.get("id"), hash=self.modal.get("hash")
            )
            self.modal_values, self.modal_errors = {}, {}
            self._show_modal(numbering)
        else:
            self.modal = None
            self.say("(form closed)")
        self._show_new(numbering)

    def cancel(self) -> None:
        if self.modal is None:
            raise SandboxError("no form is open")
        self.fake.close_view(str(self.modal.get("id")))
        self.modal = None
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
        numbering = Numbering()
        self.targets = {}
        self._show_new(numbering, force_home=True)

    def show_dms(self) -> None:
        numbering = Numbering()
        self.targets = {}
        messages = self.fake.messages(self.me.user_id)
        if not messages:
            self.say("(no DMs from PM Coach yet)")
        for message in messages[-5:]:
            self._show_message(
                message,
                Target("dm", message, channel=message["channel"]),
                numbering,
                title="DM from PM Coach",
            )

    def show_channel(self) -> None:
        numbering = Numbering()
        self.targets = {}
        messages = self.fake.messages(CHANNEL)
        if not messages:
            self.say(f"(nothing in #{CHANNEL_NAME} yet — the team recap is posted there)")
        for message in messages[-6:]:
            indent = "    " if message.get("thread_ts") else ""
            title = f"thread reply in #{CHANNEL_NAME}" if indent else f"#{CHANNEL_NAME}"
            self._show_message(
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
        self.modal = None
        self.targets = {}
        self.say(f"You are now @{person.name} ({person.tz}); it is {self._now_text()}.")

    # The clock --------------------------------------------------------------------------------

    def advance(self, rest: str) -> None:
        target = self._target_time(rest)
        if target <= self.clock():
            raise SandboxError("the clock only moves forward")
        numbering = Numbering()
        self.targets = {}
        runs = 0
        while runs < 500:
            due = self.runtime.store.earliest_due()
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

    def _show_new(
        self, numbering: Numbering, *, force_home: bool = False, at: bool = False
    ) -> None:
        """Everything the app sent to "Slack" since the last look, as the person would see it."""
        calls = self.fake.calls[self.seen :]
        self.seen = len(self.fake.calls)
        when = f" · {self._now_text()}" if at else ""
        for call in calls:
            if call.response.get("ok") is False and call.method != "response_url":
                self.failed += 1
                self.say(f"✗ Slack refused {call.method}: {call.response.get('error')}")
                continue
            args = call.args
            if call.method == "response_url":
                message = {k: v for k, v in args.items() if not k.startswith("_")}
                self._show_message(message, Target("ephemeral", message), numbering, ephemeral=True)
            elif call.method == "chat.postMessage":
                channel = str(call.response.get("channel") or args.get("channel"))
                message = dict(
                    call.response.get("message") or args,
                    channel=channel,
                    ts=call.response.get("ts"),
                )
                if channel == CHANNEL:
                    thread = bool(args.get("thread_ts"))
                    indent = "    " if thread else ""
                    title = (
                        f"thread reply in #{CHANNEL_NAME}{when}"
                        if thread
                        else f"#{CHANNEL_NAME}{when}"
                    )
                    self._show_message(
                        message,
                        Target("channel", message, channel=channel),
                        numbering,
                        title=title,
                        indent=indent,
                    )
                elif args.get("channel") == self.me.user_id or channel == self.fake.dm_channel(
                    self.me.user_id
                ):
                    self._show_message(
                        message,
                        Target("dm", message, channel=channel),
                        numbering,
                        title=f"DM from PM Coach{when}",
                    )
                else:
                    who = next(
                        (p.name for p in PEOPLE if p.user_id == args.get("channel")),
                        args.get("channel"),
                    )
                    self.say(f"(PM Coach sent @{who} a DM{when})")
            elif call.method == "chat.update":
                channel = str(args.get("channel"))
                updated = next(
                    (m for m in self.fake.messages(channel) if m.get("ts") == args.get("ts")), args
                )
                self._show_message(
                    updated,
                    Target("dm", updated, channel=channel),
                    numbering,
                    title="PM Coach updated its message",
                )
            elif call.method in ("views.open", "views.push", "views.update"):
                view = call.response.get("view") or args.get("view") or {}
                if view.get("type") == "modal":
                    self.modal = view
                    self.modal_values, self.modal_errors = {}, {}
                    self._show_modal(numbering)
            elif call.method == "views.publish" and args.get("user_id") == self.me.user_id:
                if force_home:
                    view = call.response.get("view") or args.get("view") or {}
                    self._show_view(view, Target("home", view=view), numbering)
                else:
                    self.say("(your App Home was refreshed — :home to look)")
            elif call.method == "files.completeUploadExternal":
                for upload in self.fake.files(self.me.user_id)[-1:]:
                    content = upload["content"].decode("utf-8", "replace")
                    self.say(f"── 📄 {upload.get('filename')} (sent to your DM) ──")
                    self.say(content.rstrip())

    def _show_message(
        self,
        message: dict[str, Any],
        target: Target,
        numbering: Numbering,
        *,
        ephemeral: bool = False,
        title: str = "",
        indent: str = "",
    ) -> None:
        before = len(numbering.items)
        self.say(
            render_message(
                message,
                numbering,
                title=title,
                ephemeral=ephemeral,
                users=self._users(),
                channels={CHANNEL: CHANNEL_NAME},
                color=self.color,
                indent=indent,
            )
        )
        for item in numbering.items[before:]:
            self.targets[item.number] = (item, target)

    def _show_view(self, view: dict[str, Any], target: Target, numbering: Numbering) -> None:
        before = len(numbering.items)
        self.say(
            render_view(
                view,
                numbering,
                users=self._users(),
                channels={CHANNEL: CHANNEL_NAME},
                color=self.color,
                values=self._display_values(),
                errors=self.modal_errors,
            )
        )
        for item in numbering.items[before:]:
            self.targets[item.number] = (item, target)

    def _show_modal(self, numbering: Numbering, refresh_only: bool = False) -> None:
        if self.modal is None:
            return
        live = self.fake.open_views().get(str(self.modal.get("id")))
        if live is not None and refresh_only:
            self.modal = live
        self._show_view(self.modal, Target("modal", view=self.modal), numbering)

    def _display_values(self) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        for block_id, by_action in self.modal_values.items():
            for state in by_action.values():
                if "value" in state:
                    shown[block_id] = state["value"]
                elif state.get("selected_option"):
                    shown[block_id] = state["selected_option"]["text"]["text"]
                elif "selected_options" in state:
                    shown[block_id] = ", ".join(
                        o["text"]["text"] for o in state["selected_options"]
                    )
                else:
                    shown[block_id] = state.get("selected_date") or state.get("selected_time")
        return shown

    def _users(self) -> dict[str, str]:
        return {p.user_id: p.name for p in PEOPLE}

    def _now_text(self) -> str:
        local = self.clock().astimezone(zone(self.me.tz))
        return local.strftime("%a %d %b %Y, %H:%M") + f" ({self.me.tz})"

    @staticmethod
    def _number(text: str) -> int:
        if not text.strip().isdigit():
            raise SandboxError(f"not a number: {text!r}")
        return int(text.strip())

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


# Demo history ---------------------------------------------------------------------------------

_CLARITY = [
    "Framed the pricing question as three options for the exec review",
    "Got design and eng to agree on the v2 scope",
    "Wrote the why behind the onboarding bet",
    "Cut the reporting epic in half after customer interviews",
    "Unblocked the data team by deciding on one metrics definition",
    "Aligned sales and support on the escalation path",
    "Turned twelve feature requests into one problem statement",
    "Said no to the partner integration, with a one-pager on why",
]
_SHIPPED = [
    "Launched the new onboarding flow",
    "Released 2.4 with SSO",
    "Fixed the CSV export timeout",
    "Shipped dark mode",
    "Rolled out usage-based billing to 10% of accounts",
    "Closed the accessibility bugs from the audit",
    "Delivered the Q3 roadmap deck",
    "Migrated search to the new index",
]


def seed_history(runtime: Runtime, clock: SimClock, weeks: int = 12, seed: int = 7) -> None:
    """Twelve weeks of plausible wins for the sample PMs, logged through the real coach.
    alice drifts toward clarity, bob stays in the weeds, sam is balanced; alice shares."""
    rng = Random(seed)  # noqa: S311 - demo data, not security
    coach = runtime.deps.coach
    now = clock()
    leaning = {"alice": (0.25, 0.65), "bob": (0.15, 0.25), "sam": (0.45, 0.55)}
    for person in PEOPLE:
        coach.tz_cache.put(TEAM, person.user_id, person.tz)
        runtime.store.enrol(TEAM, person.user_id, person.tz, now - timedelta(weeks=weeks))
        start, end = leaning[person.name]
        for week in range(weeks, 0, -1):
            share = start + (end - start) * (weeks - week) / max(weeks - 1, 1)
            for n in range(rng.randint(2, 5)):
                at = now - timedelta(weeks=week) + timedelta(days=rng.randint(0, 4), hours=n)
                clock.set(at)
                lane = Lane.CLARITY if rng.random() < share else Lane.SHIPPED
                pool = _CLARITY if lane is Lane.CLARITY else _SHIPPED
                coach.log_win(
                    team_id=TEAM,
                    user_id=person.user_id,
                    lane=lane,
                    text=rng.choice(pool),
                    source=f"demo:{person.name}:{week}:{n}",
                )
    clock.set(now)
    coach.set_share(TEAM, "U0ALICE", True)
    coach.reflect(
        TEAM,
        "U0ALICE",
        "I let the squad run the roadmap review and it went fine.",
        "",
        "What did you let go of this week?",
    )
    for person in PEOPLE:
        coach.schedule_next(TEAM, person.user_id)


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
    # they sent real workspaces' nudges (to the fake) and marked real PMs inactive.
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
