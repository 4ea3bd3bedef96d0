"""The host: runs the state machine, the bus and every CwmnAPI call against the server.

Effects go through :class:`~cwmn_web.client.ports.Ports`; nothing here imports ``js``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import (
    CwmnError,
    InvalidState,
    NotFound,
    NotImplementedCapability,
    ProtocolError,
    Unauthorized,
)
from ..protocol.messages import EndSession, Message, SessionEnded, SessionStarted, StartSession
from .bus import Bus
from .compat import missing_features
from .events import staged_events
from .link import Link
from .ports import Ports
from .spec import FUNCTIONS, check_state
from .states import TRANSITIONS, Machine, State, Trigger
from .validation import validate

__all__ = ["ClientConfig", "HostController"]

CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class ClientConfig:
    """Where the server is and what page we are on (from the stub)."""

    server: str
    page_url: str
    features: Mapping[str, object] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.server.startswith("https:") else "ws"
        return f"{scheme}://{self.server.split('://', 1)[1].rstrip('/')}/ws"

    @property
    def domain(self) -> str:
        return urlsplit(self.page_url).hostname or ""


@dataclass
class _Session:
    link: Link
    info: dict[str, Any]


class HostController:
    """Owns the client's state and answers the page's calls."""

    def __init__(self, ports: Ports, config: ClientConfig) -> None:
        self.ports = ports
        self.config = config
        self.machine = Machine()
        self.bus = Bus()
        self.domain_info: dict[str, Any] = {"domain": config.domain, "authorized": None}
        self.mute_all = False
        self.public_link_enabled = True
        self.privacy_enabled = False
        self.guests: list[dict[str, Any]] = []
        self._session: _Session | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "session.start": self._start,
            "session.endSession": self._end,
            "guest.removeGuest": self._remove_guest,
            "guest.muteGuest": self._mute_guest,
            "guest.muteAllGuests": self._mute_all,
            "publicLink.setEnabled": self._set_public_link,
            "privacy.setEnabled": self._set_privacy,
        }

    # -- what the page sees -------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.machine.state

    def view(self, state: State | None = None) -> dict[str, Any]:
        """Everything the stub's synchronous getters answer from."""
        state = state or self.state
        session = self._session if state is State.IN_SESSION else None
        return {
            "state": state.value,
            "initFired": self.bus.init_fired,
            "compatible": not missing_features(self.config.features),
            "domainInfo": self.domain_info,
            "sessionInfo": dict(session.info) if session else None,
            "guests": list(self.guests),
            "muteAll": self.mute_all,
            "publicLinkEnabled": self.public_link_enabled,
            "privacyEnabled": self.privacy_enabled,
        }

    def _emit(self, event: str, *args: Any, state: State | None = None) -> None:
        self.ports.deliver(self.bus.emit(event, *args), self.view(state))

    def _move(self, trigger: Trigger, *args: Any) -> None:
        """Apply ``trigger`` and fire its events, each with the state it occurs in."""
        source = self.state
        transition = TRANSITIONS[source].get(trigger)
        self.machine.apply(trigger)
        assert transition is not None
        for event, state in staged_events(source, transition):
            self._emit(event, *(args if event == "in session" else ()), state=state)

    # -- subscriptions ------------------------------------------------------------------
    def subscribe(self, event: str, handle: Hashable, once: bool = False) -> None:
        immediate = self.bus.subscribe(event, handle, once)
        if immediate is not None:
            self.ports.deliver(immediate, self.view())

    def unsubscribe(self, handle: Hashable) -> None:
        self.bus.unsubscribe(handle)

    # -- boot ---------------------------------------------------------------------------
    async def boot(self) -> None:
        """Fire ``init``, then settle in ``no session``, ``incompatible`` or ``unauthorized``."""
        for event in self.machine.boot():
            self._emit(event)
        if missing_features(self.config.features):
            self._move(Trigger.INCOMPATIBLE)
            return
        await self._load_domain_info()
        if self.domain_info.get("authorized") is False:
            self._move(Trigger.UNAUTHORIZED)
            return
        self._move(Trigger.READY)

    async def _load_domain_info(self) -> None:
        url = f"{self.config.server.rstrip('/')}/api/domain-info"
        try:
            info = await self.ports.fetch_json(url)
        except CwmnError as exc:
            # Authorization is checked again by the server on connect; keep going.
            self.domain_info = {
                "domain": self.config.domain,
                "authorized": None,
                "error": exc.to_dict(),
            }
            return
        self.domain_info = info

    # -- calls --------------------------------------------------------------------------
    async def call(self, path: str, args: tuple[Any, ...]) -> Any:
        """Run the Promise-returning function ``path``; raise a ``CwmnError`` on failure."""
        if path not in FUNCTIONS or FUNCTIONS[path].sync:
            raise CwmnError(f"CwmnAPI.{path} is not an asynchronous function", "invalid_params")
        check_state(path, self.state)
        params = validate(path, args)
        handler = self._handlers.get(path)
        if handler is None:
            raise NotImplementedCapability(
                f"CwmnAPI.{path}() is not available in cwmn_web yet; see the project's issues"
            )
        return await handler(params)

    async def _start(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["isReplay"]:
            raise NotImplementedCapability(
                "replay sessions (isReplay: true) are not available in cwmn_web yet"
            )
        if self.domain_info.get("authorized") is None:
            await self._load_domain_info()
        if self.domain_info.get("authorized") is False:
            raise Unauthorized(f"the domain {self.config.domain} is not authorized to use CWMN")
        self._move(Trigger.START)
        link: Link | None = None
        try:
            link = await self._open_link()
            start = StartSession(
                host_name=params["hostName"], host_email=params["hostEmail"], is_replay=False
            )
            reply = await link.request(start)
            if not isinstance(reply, SessionStarted):
                raise ProtocolError(f"expected session_started, got {reply.type}")
        except CwmnError:
            if link is not None:
                await link.close()
            self._move(Trigger.CONNECT_FAILED)
            raise
        self._session = _Session(link, _session_info(reply, self.config.page_url))
        self._move(Trigger.CONNECTED, False)
        return dict(self._session.info)

    async def _open_link(self) -> Link:
        try:
            conn = await asyncio.wait_for(self.ports.connect(self.config.ws_url), CONNECT_TIMEOUT)
        except TimeoutError:
            raise CwmnError(
                f"could not connect to {self.config.ws_url} in {CONNECT_TIMEOUT:g} s", "timeout"
            ) from None
        link = Link(conn, self._on_push, self._on_lost)
        try:
            await link.open(self.config.page_url)
        except CwmnError:
            await link.close()
            raise
        return link

    async def _end(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._require_session()
        with contextlib.suppress(CwmnError):
            await session.link.request(EndSession())
        # The server may have ended the session (expiry) while we waited for its answer.
        reason = "ended" if self._session is session else "expired"
        await self._finish(session, Trigger.END_REALTIME)
        return {"sessionId": session.info["sessionId"], "reason": reason}

    async def _finish(self, session: _Session, trigger: Trigger) -> None:
        """End ``session`` once, and go back to ``no session`` through ``init``."""
        if self._session is not session:
            return
        self._move(trigger)  # 'expired' and 'end session' still see the session's info
        self._session = None
        self.guests = []
        await session.link.close()
        self._move(Trigger.READY)

    def _require_session(self) -> _Session:
        if self._session is None:
            raise InvalidState("there is no session on this page")
        return self._session

    def _on_push(self, message: Message) -> None:
        session = self._session
        if isinstance(message, SessionEnded) and session is not None:
            expired = message.reason == "expired"
            trigger = Trigger.EXPIRE_REALTIME if expired else Trigger.END_REALTIME
            self._spawn(self._finish(session, trigger))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_lost(self, exc: CwmnError) -> None:
        if self._session is not None and self.state is State.IN_SESSION:
            self._emit("connection issue")

    # -- local settings -----------------------------------------------------------------
    async def _remove_guest(self, params: dict[str, Any]) -> None:
        self.guests.remove(self._guest(params["guestId"]))
        self.ports.publish(self.view())

    async def _mute_guest(self, params: dict[str, Any]) -> None:
        guest = self._guest(params["guestId"])
        guest["muted"] = params["muted"]
        self.ports.publish(self.view())

    def _guest(self, guest_id: str) -> dict[str, Any]:
        for guest in self.guests:
            if guest["guestId"] == guest_id:
                return guest
        raise NotFound(
            f"no guest with id {guest_id!r} in this session; "
            "CwmnAPI.guest.getGuestList() lists the guests"
        )

    async def _mute_all(self, params: dict[str, Any]) -> bool:
        self.mute_all = params["status"]
        self.ports.publish(self.view())
        return self.mute_all

    async def _set_public_link(self, params: dict[str, Any]) -> bool:
        self.public_link_enabled = params["enabled"]
        self.ports.publish(self.view())
        return self.public_link_enabled

    async def _set_privacy(self, params: dict[str, Any]) -> bool:
        self.privacy_enabled = params["enabled"]
        self.ports.publish(self.view())
        return self.privacy_enabled


def _session_info(reply: SessionStarted, page_url: str) -> dict[str, Any]:
    return {
        "sessionId": reply.session_id,
        "isReplay": reply.is_replay,
        "hostName": reply.host_name,
        "hostEmail": reply.host_email,
        "startedAt": reply.started_at,
        "pageUrl": page_url,
    }
