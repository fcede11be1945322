"""Drive the running app the way Slack does: signed HTTP requests to /slack/events.

Reads like a conversation in tests: `slack.command("/win", "clarity Framed the bet")`.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.coach import Coach
from bot.fakeslack import FakeSlack, payloads, signed_headers
from bot.store import Store


@dataclass
class Response:
    status: int
    body: bytes
    response_url: str | None = None
    hook: str | None = None
    elapsed: float = 0.0  # seconds until the HTTP answer (Slack's view of the ack)

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body) if self.body else {}

    @property
    def text(self) -> str:
        """Everything a person would read in the reply: text plus all block texts."""
        return visible_text(self.json)


def visible_text(message: Any) -> str:
    """Concatenate every text a Slack client would show for a message, view or block list."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message)
    return "\n".join(parts)


def find_action(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return dict(element)
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("action_id") == action_id:
            return dict(accessory)
    raise AssertionError(f"no element with action_id {action_id!r} in {blocks}")


class SlackDriver:
    def __init__(
        self,
        *,
        base_url: str,
        secret: str,
        fake: FakeSlack,
        team_id: str,
        store: Store,
        coach: Coach,
        ticker: Any = None,
        recaps: Any = None,
        settle: Callable[[], None] | None = None,
    ) -> None:
        self.base_url = base_url
        self.secret = secret
        self.fake = fake
        self.team_id = team_id
        self.store = store
        self.coach = coach
        self.ticker = ticker
        self.recaps = recaps
        # Waits until the work listeners handed off after answering (after_ack) is done, so a
        # test reads the journal after the whole interaction, as a PM would see it.
        self.settle = settle or (lambda: None)

    # Raw --------------------------------------------------------------------------------------

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        timestamp: int | None = None,
        path: str = "/slack/events",
        timeout: float = 10.0,
    ) -> Response:
        sent = (
            signed_headers(self.secret, body, timestamp, content_type)
            if sign
            else {"Content-Type": content_type}
        )
        sent.update(headers or {})
        request = urllib.request.Request(  # noqa: S310 - loopback URL of the test server
            self.base_url + path, data=body, headers=sent, method="POST"
        )
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                answer = Response(response.status, response.read())
        except urllib.error.HTTPError as error:
            answer = Response(error.code, error.read())
        answer.elapsed = time.perf_counter() - began
        self.settle()
        return answer

    def get(self, path: str) -> Response:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=10) as response:  # noqa: S310
                return Response(response.status, response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read())

    # As Slack ---------------------------------------------------------------------------------

    def command(
        self,
        command: str,
        text: str = "",
        *,
        user: str = "U0ALICE",
        channel: str = "C0GENERAL",
        trigger_id: str | None = None,
    ) -> Response:
        hook = f"cmd-{secrets.token_hex(6)}"
        url = self.fake.response_url(hook)
        body, content_type = payloads.slash_command(
            command,
            text,
            team_id=self.team_id,
            user_id=user,
            channel_id=channel,
            response_url=url,
            trigger_id=trigger_id,
        )
        response = self.post(body, content_type)
        response.response_url, response.hook = url, hook
        return response

    def click(
        self,
        reply: Response | dict[str, Any],
        action_id: str,
        *,
        user: str = "U0ALICE",
        channel: str = "C0GENERAL",
    ) -> Response:
        """Click a button in an ephemeral reply (message container, answered via response_url)."""
        message = reply.json if isinstance(reply, Response) else reply
        element = find_action(message.get("blocks", []), action_id)
        hook = f"act-{secrets.token_hex(6)}"
        url = self.fake.response_url(hook)
        action = {
            "type": "button",
            "action_id": action_id,
            "block_id": "b",
            "value": element.get("value", ""),
            "text": element.get("text"),
            "action_ts": f"{time.time():.6f}",
        }
        body, content_type = payloads.block_actions(
            [action],
            team_id=self.team_id,
            user_id=user,
            response_url=url,
            channel_id=channel,
            is_ephemeral=True,  # our replies are ephemeral, and so are clicks on them
            message={
                "type": "message",
                "text": message.get("text", ""),
                "blocks": message.get("blocks", []),
                "ts": f"{time.time():.6f}",
            },
        )
        response = self.post(body, content_type)
        response.response_url, response.hook = url, hook
        return response

    def click_in_view(
        self, view: dict[str, Any], action_id: str, *, user: str = "U0ALICE"
    ) -> Response:
        element = find_action(view.get("blocks", []), action_id)
        action = {
            "type": "button",
            "action_id": action_id,
            "block_id": "b",
            "value": element.get("value", ""),
            "action_ts": f"{time.time():.6f}",
        }
        body, content_type = payloads.block_actions(
            [action], team_id=self.team_id, user_id=user, view=view
        )
        return self.post(body, content_type)

    def submit(
        self,
        view: dict[str, Any],
        values: dict[str, Any],
        *,
        user: str = "U0ALICE",
        view_id: str | None = None,
    ) -> Response:
        body, content_type = payloads.view_submission(
            view, values, team_id=self.team_id, user_id=user, view_id=view_id
        )
        return self.post(body, content_type)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        body, content_type = payloads.event_callback(event, team_id=self.team_id, event_id=event_id)
        return self.post(body, content_type, headers=headers)

    # Reading what Slack received --------------------------------------------------------------

    def hook_posts(
        self, reply: Response, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """The bodies the app POSTed to a reply's response_url (waits for `count`)."""
        deadline = time.monotonic() + timeout
        while True:
            posts = [
                c.args
                for c in self.fake.calls_to("response_url")
                if c.args.get("_hook") == reply.hook
            ]
            if len(posts) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert len(posts) >= count, f"expected {count} post(s) to {reply.hook}, got {posts}"
        return posts


@contextmanager
def held_until_answered(
    slack: SlackDriver, method: str, timeout: float = 5.0
) -> Iterator[list[int]]:
    """Slack answers `method` only once the app has answered the request being sent (or after
    `timeout`): yields, per request, how many `method` calls Slack had answered when the
    app's answer arrived. 0 proves the answer did not wait for that call, whatever the
    machine's load (a wall-clock bound on the answer's time cannot)."""
    fake, settle = slack.fake, slack.settle
    # The fake's own hold: calls wait before its lock, so the journal stays readable (a
    # handler waiting inside the lock blocked `calls_to` below until it timed out).
    answered = fake.hold(method)
    expiry = threading.Timer(timeout, answered.set)
    expiry.start()
    seen: list[int] = []

    def on_answer() -> None:
        seen.append(len(fake.calls_to(method)))
        answered.set()
        settle()

    slack.settle = on_answer
    try:
        yield seen
    finally:
        answered.set()
        expiry.cancel()
        slack.settle = settle


def unsettled(slack: SlackDriver) -> SlackDriver:
    """The same running app, driven without waiting for after-ack work after each request."""
    return SlackDriver(
        base_url=slack.base_url,
        secret=slack.secret,
        fake=slack.fake,
        team_id=slack.team_id,
        store=slack.store,
        coach=slack.coach,
    )


def hook_texts(fake: FakeSlack, reply: Response) -> list[str]:
    """What the app POSTed to a reply's response_url, as a person reads it (after settle)."""
    return [
        visible_text(c.args)
        for c in fake.calls_to("response_url")
        if c.args.get("_hook") == reply.hook
    ]


def told(fake: FakeSlack, reply: Response) -> str:
    """Everything the PM was told about a request (after settle): the answer, then what the
    app POSTed to its response_url, one per line."""
    return "\n".join([reply.text, *hook_texts(fake, reply)])
