"""FakeSlack: the facade the tests, the sandbox and the bench drive.

It composes the parts of the package: the :class:`Workspace` (state), the method table
(``methods``), the :class:`Journal`, the :class:`Faults`, :class:`SocketMode`, the
:class:`Endpoints` and the :class:`HttpServer` that carries them; and it offers one place to
arrange a workspace (users, channels), read what the app did (calls, messages, views, files),
inject trouble (errors, 429, 5xx, delays, holds, a token bucket) and drive Socket Mode.
Imports the rest of the package; nothing in it imports this module.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Generic, TypeVar

from bot.fakeslack import payloads
from bot.fakeslack.endpoints import Endpoints
from bot.fakeslack.faults import Fault, Faults
from bot.fakeslack.httpserver import HttpServer
from bot.fakeslack.journal import Call, Journal
from bot.fakeslack.methods import METHODS, Method
from bot.fakeslack.shapes import dm_channel_id
from bot.fakeslack.socketmode import SocketMode
from bot.fakeslack.state import Workspace

T = TypeVar("T")


class _Mirror(Generic[T]):
    """An attribute of the facade that reads and writes the same one of a part of it."""

    def __init__(self, part: str, name: str = "") -> None:
        self.part = part
        self.name = name  # the part's attribute; by default the facade's name for it

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = self.name or name

    def __get__(self, obj: Any, owner: type | None = None) -> T:
        value: T = getattr(getattr(obj, self.part), self.name)
        return value

    def __set__(self, obj: Any, value: T) -> None:
        setattr(getattr(obj, self.part), self.name, value)


class FakeSlack:
    """A fake Slack workspace on loopback. See the package docstring for what it emulates.

    ``http_version="HTTP/1.0"`` makes the fake an HTTP/1.0 server: every connection closes
    after its answer. ``journal`` replaces the call journal (the bench keeps counters only).
    """

    team_id = _Mirror[str]("workspace")
    bot_token = _Mirror[str]("workspace")
    app_token = _Mirror[str]("workspace")
    bot_user_id = _Mirror[str]("workspace")
    bot_id = _Mirror[str]("workspace")
    api_app_id = _Mirror[str]("workspace")
    team_name = _Mirror[str]("workspace")
    team_domain = _Mirror[str]("workspace")
    bot_name = _Mirror[str]("workspace")
    # Slack: a trigger_id expires after 3 s. Off by default so slow CI stays green;
    # set to 3.0 to check that the app opens modals fast enough.
    trigger_ttl = _Mirror[float | None]("workspace")
    response_url_max_uses = _Mirror[int | None]("workspace")  # Slack: 5 posts per response_url
    socket_ping_interval = _Mirror[float]("socket_mode", "ping_interval")

    def __init__(
        self,
        team_id: str = "T0TEAM",
        bot_token: str = "xoxb-test",  # noqa: S107 (a fake's well-known test token)
        app_token: str = "xapp-test",  # noqa: S107
        *,
        bot_user_id: str = payloads.BOT_USER_ID,
        bot_id: str = payloads.BOT_ID,
        api_app_id: str = payloads.API_APP_ID,
        team_name: str = "Fake Workspace",
        team_domain: str = payloads.TEAM_DOMAIN,
        bot_name: str = "pm-coach",
        trigger_ttl: float | None = None,
        response_url_max_uses: int | None = 5,
        socket_ping_interval: float = 0.5,
        http_version: str = "HTTP/1.1",
        journal: Journal | None = None,
    ) -> None:
        self.workspace = Workspace(
            team_id=team_id,
            bot_token=bot_token,
            app_token=app_token,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            api_app_id=api_app_id,
            team_name=team_name,
            team_domain=team_domain,
            bot_name=bot_name,
            trigger_ttl=trigger_ttl,
            response_url_max_uses=response_url_max_uses,
        )
        # The Web API methods served, by name: add or replace entries to extend the fake.
        self.methods: dict[str, Method] = dict(METHODS)
        self.journal = journal if journal is not None else Journal()
        self._stopping = threading.Event()
        self.faults = Faults(self._stopping)
        self.socket_mode = SocketMode(self.journal, api_app_id, socket_ping_interval)
        self._endpoints = Endpoints(
            self.workspace, self.methods, self.journal, self.faults, self.socket_mode
        )
        self._http_version = http_version
        self._lifecycle = threading.Lock()
        self._http: HttpServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        with self._lifecycle:
            if self._stopped:
                raise RuntimeError("a stopped FakeSlack cannot be restarted; make a new one")
            if self._http is not None:
                return self
            self._http = HttpServer(self._endpoints, self._http_version)
        self.workspace.base_url = self.base_url
        self._threads = [
            threading.Thread(
                target=self._http.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="fakeslack-http",
                daemon=True,
            ),
            threading.Thread(target=self.socket_mode.ping_loop, name="fakeslack-ping", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close Socket Mode connections, join threads. Idempotent."""
        with self._lifecycle:
            if self._http is None or self._stopped:
                return
            self._stopped = True
        self._stopping.set()
        self.journal.release_all()
        self.socket_mode.stop()
        self._http.shutdown()
        self._http.server_close()
        self._http.close_connections()
        for thread in self._threads:
            thread.join(5)
        self._http.join_request_threads(5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._http.server_address[1])

    @property
    def connections_opened(self) -> int:
        """How many HTTP connections clients have opened so far (each may carry many calls)."""
        return self._http.connections_opened if self._http is not None else 0

    def close_connections(self) -> None:
        """End every kept-alive HTTP connection now, as Slack's load balancer ends idle ones."""
        if self._http is not None:
            self._http.close_connections()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, key: str) -> str:
        return f"{self.base_url}/hooks/{key}"

    # ------------------------------------------------------------------ directory

    def add_user(
        self,
        user_id: str,
        *,
        name: str = "",
        tz: str = "Europe/Berlin",
        is_admin: bool = False,
        is_owner: bool = False,
        deleted: bool = False,
        is_bot: bool = False,
    ) -> None:
        self.workspace.add_user(
            user_id,
            name=name,
            tz=tz,
            is_admin=is_admin,
            is_owner=is_owner,
            deleted=deleted,
            is_bot=is_bot,
        )

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str = "",
        members: list[str] | None = None,
        is_archived: bool = False,
        bot_is_member: bool = True,
        is_private: bool = False,
    ) -> None:
        self.workspace.add_channel(
            channel_id,
            name=name,
            members=members,
            is_archived=is_archived,
            bot_is_member=bot_is_member,
            is_private=is_private,
        )

    def dm_channel(self, user_id: str) -> str:
        return dm_channel_id(user_id)

    # ------------------------------------------------------------------ journal

    @property
    def calls(self) -> list[Call]:
        """Every call answered so far, in order (the journal's own list)."""
        return self.journal.calls

    def calls_to(self, method: str) -> list[Call]:
        return self.journal.calls_to(method)

    def clear_calls(self) -> None:
        self.journal.clear()

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        return self.journal.wait_for(method, count, timeout)

    # ------------------------------------------------------------------ state

    def messages(self, channel: str) -> list[dict[str, Any]]:
        ws = self.workspace
        with ws.lock:
            return copy.deepcopy(ws.messages.get(ws.dm_alias(channel), []))

    def ephemerals(self, user: str) -> list[dict[str, Any]]:
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.ephemerals.get(user, []))

    def home_view(self, user: str) -> dict[str, Any] | None:
        ws = self.workspace
        with ws.lock:
            view_id = ws.home_ids.get(user)
            return copy.deepcopy(ws.views[view_id]) if view_id else None

    def open_views(self) -> dict[str, dict[str, Any]]:
        ws = self.workspace
        with ws.lock:
            return {vid: copy.deepcopy(ws.views[vid]) for vid in ws.modal_ids}

    def close_view(self, view_id: str) -> None:
        """The user closed a modal: it no longer counts as open."""
        ws = self.workspace
        with ws.lock:
            if view_id in ws.modal_ids:
                ws.modal_ids.remove(view_id)

    def files(self, user_or_channel: str) -> list[dict[str, Any]]:
        ws = self.workspace
        with ws.lock:
            key = ws.dm_alias(user_or_channel)
            return [copy.deepcopy(f) for f in ws.files if f["channel_id"] == key]

    # ------------------------------------------------------------------ faults

    def fail(self, method: str, error: str, *, times: int | None = 1, status: int = 200) -> None:
        self.faults.add(method, Fault("fail", error, status, 0, times))

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int | None = 1) -> None:
        self.faults.add(method, Fault("rate_limit", "ratelimited", 429, retry_after, times))

    def server_error(self, method: str, *, status: int = 503, times: int | None = 1) -> None:
        self.faults.add(method, Fault("server_error", "fatal_error", status, 0, times))

    def delay(self, method: str, seconds: float, *, times: int | None = 1) -> None:
        self.faults.delay(method, seconds, times=times)

    def clear_faults(self) -> None:
        self.faults.clear()

    def workspace_bucket(self, rate_per_s: float | None, burst: int = 20) -> None:
        self.faults.workspace_bucket(rate_per_s, burst)

    # ------------------------------------------------------------------ holding answers

    def hold(self, method: str) -> threading.Event:
        """Every call to `method` waits in the fake once it has arrived, before any delay or
        fault, until the returned event is set (or the fake stops): a test decides when Slack
        answers, and can see with `wait_arrivals` which calls are waiting meanwhile."""
        return self.journal.hold(method)

    def arrivals(self, method: str) -> list[float]:
        """When (time.time()) each call to `method` arrived, before any hold or delay: the
        journal (`calls`) has a call only once it is answered."""
        return self.journal.arrivals(method)

    def wait_arrivals(self, method: str, count: int, timeout: float = 10.0) -> list[float]:
        """Wait until `count` calls to `method` have arrived (bounded by `timeout`)."""
        return self.journal.wait_arrivals(method, count, timeout)

    # ------------------------------------------------------------------ Socket Mode

    def socket_connected(self, timeout: float = 5.0) -> bool:
        return self.socket_mode.connected(timeout)

    def socket_send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = True,
        retry_attempt: int = 0,
        envelope_id: str | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Deliver an envelope to the newest connection; return the client's ack."""
        return self.socket_mode.send(
            envelope_type,
            payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            envelope_id=envelope_id,
            timeout=timeout,
        )

    def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected clients to reconnect, as Slack does every few hours."""
        self.socket_mode.disconnect(reason)
