"""What the person at the sandbox's terminal sees: everything the app sent to the fake Slack
since the last look (replies, DMs, message updates, modals, the App Home, the channel recap,
exported files), read from the fake's journal and drawn as text, with each interactive element
numbered and remembered with where it lives (`Target`) so a click can be sent as Slack would
send it. It also holds the open form and what the person typed into it. It imports the
sandbox's renderer and workspace, and the fake Slack it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.fakeslack import FakeSlack
from bot.sandbox.forms import display_values
from bot.sandbox.render import Interactive, Numbering, render_message, render_view
from bot.sandbox.workspace import CHANNEL, CHANNEL_NAME, PEOPLE, Person

__all__ = ["Screen", "Target"]


@dataclass
class Target:
    """Where an interactive element lives, so a click can be sent as Slack would."""

    kind: str  # "ephemeral" | "dm" | "channel" | "home" | "modal"
    message: dict[str, Any] = field(default_factory=dict)
    channel: str = ""
    view: dict[str, Any] = field(default_factory=dict)


class Screen:
    """The terminal's view of the fake Slack: the journal position already shown, the numbered
    elements on screen, and the open form with what the person typed into it."""

    def __init__(self, fake: FakeSlack, out: TextIO, *, color: bool = False) -> None:
        self.fake = fake
        self.out = out
        self.color = color
        self.seen = 0  # journal position already shown
        self.targets: dict[int, tuple[Interactive, Target]] = {}
        self.modal: dict[str, Any] | None = None
        self.modal_values: dict[str, Any] = {}
        self.modal_errors: dict[str, str] = {}

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def fresh(self) -> Numbering:
        """A new screen: numbers start again at 1 and nothing earlier can be clicked."""
        self.targets = {}
        return Numbering()

    def skip_journal(self) -> None:
        """Count everything sent to the fake so far as already seen."""
        self.seen = len(self.fake.calls)

    def show_new(
        self, numbering: Numbering, me: Person, *, when: str = "", force_home: bool = False
    ) -> int:
        """Everything the app sent to "Slack" since the last look, as `me` would see it; `when`
        follows the titles of messages sent by scheduled work. Returns how many calls Slack
        refused (each is shown)."""
        calls = self.fake.calls[self.seen :]
        self.seen = len(self.fake.calls)
        refused = 0
        for call in calls:
            if call.response.get("ok") is False and call.method != "response_url":
                refused += 1
                self.say(f"✗ Slack refused {call.method}: {call.response.get('error')}")
                continue
            args = call.args
            if call.method == "response_url":
                message = {k: v for k, v in args.items() if not k.startswith("_")}
                self.show_message(message, Target("ephemeral", message), numbering, ephemeral=True)
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
                    self.show_message(
                        message,
                        Target("channel", message, channel=channel),
                        numbering,
                        title=title,
                        indent=indent,
                    )
                elif args.get("channel") == me.user_id or channel == self.fake.dm_channel(
                    me.user_id
                ):
                    self.show_message(
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
                self.show_message(
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
                    self.show_modal(numbering)
            elif call.method == "views.publish" and args.get("user_id") == me.user_id:
                if force_home:
                    view = call.response.get("view") or args.get("view") or {}
                    self.show_view(view, Target("home", view=view), numbering)
                else:
                    self.say("(your App Home was refreshed — :home to look)")
            elif call.method == "files.completeUploadExternal":
                for upload in self.fake.files(me.user_id)[-1:]:
                    content = upload["content"].decode("utf-8", "replace")
                    self.say(f"── 📄 {upload.get('filename')} (sent to your DM) ──")
                    self.say(content.rstrip())
        return refused

    def show_message(
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
                users=_users(),
                channels={CHANNEL: CHANNEL_NAME},
                color=self.color,
                indent=indent,
            )
        )
        for item in numbering.items[before:]:
            self.targets[item.number] = (item, target)

    def show_view(self, view: dict[str, Any], target: Target, numbering: Numbering) -> None:
        before = len(numbering.items)
        self.say(
            render_view(
                view,
                numbering,
                users=_users(),
                channels={CHANNEL: CHANNEL_NAME},
                color=self.color,
                values=display_values(self.modal_values),
                errors=self.modal_errors,
            )
        )
        for item in numbering.items[before:]:
            self.targets[item.number] = (item, target)

    def show_modal(self, numbering: Numbering, refresh_only: bool = False) -> None:
        """The open form; with `refresh_only`, as the fake holds it now (after an action)."""
        if self.modal is None:
            return
        live = self.fake.open_views().get(str(self.modal.get("id")))
        if live is not None and refresh_only:
            self.modal = live
        self.show_view(self.modal, Target("modal", view=self.modal), numbering)


def _users() -> dict[str, str]:
    return {p.user_id: p.name for p in PEOPLE}
