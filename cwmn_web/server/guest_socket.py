"""The WebSocket endpoint guests connect to (``/ws/guest``): same-origin only, hello, join
through a link token bound to the device cookie, then the host's mirror stream."""

from __future__ import annotations

import secrets
import time

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from ..errors import CwmnError
from ..protocol.messages import (
    CLOSE_BAD_ORIGIN,
    CLOSE_NORMAL,
    CLOSE_SESSION_ENDED,
    ErrorReply,
    Hello,
    Join,
    Message,
    Ok,
    Ping,
    PointerClick,
    PointerMove,
    Pong,
    SetName,
    Welcome,
)
from ..protocol.names import clean_guest_name
from .config import Settings
from .db import LinkRecord, SessionRecord, Store
from .guest_protocol import GuestProtocol
from .links import DEVICE_COOKIE, check_link, device_hash, usable_token
from .relay import LiveRoom, Peer, Relay, SocketClosed, read_message, serve
from .rooms import Guest
from .sites import DEFAULT_SETTINGS, same_origin

__all__ = ["JOIN_REFUSALS", "guest_socket"]

#: What a refused guest is told, by error code.
JOIN_REFUSALS: dict[str, str] = {
    "link_invalid": "This link is not valid: it may have expired or been revoked. "
    "Ask the host for a new link.",
    "session_ended": "This session has ended.",
    "link_used": "This private link was already used on another device. "
    "Ask the host for a new link.",
    "cookies_required": "This browser did not send its device cookie: open the link itself "
    "in a browser that accepts cookies.",
    "guest_removed": "The host removed you from this session.",
    "public_link_disabled": "The host has turned this link off: no one new can join through "
    "it. Ask the host for another link.",
    "room_full": "This session is full: it already has as many guests as it allows. "
    "Ask the host to make room, then open the link again.",
}


async def guest_socket(ws: WebSocket) -> None:
    """One guest connection. Only pages of this server may open it (the viewer)."""
    settings: Settings = ws.app.state.settings
    origin, host = ws.headers.get("origin", ""), ws.headers.get("host", "")
    if not same_origin(origin, host, settings.public_url):
        await ws.close(CLOSE_BAD_ORIGIN, reason="origin not allowed")
        return
    await ws.accept()
    conn = GuestConnection(ws, ws.app.state.relay, settings, ws.app.state.store)
    await serve(conn.run, conn.closed, conn.peer)


class JoinRefused(CwmnError):
    """A join the link rules refuse; the guest is told why and disconnected."""

    def __init__(self, code: str) -> None:
        super().__init__(JOIN_REFUSALS[code], code)


class GuestConnection:
    """Reads one guest socket: hello, join, pings. Frames reach it through the relay."""

    def __init__(self, ws: WebSocket, relay: Relay, settings: Settings, store: Store) -> None:
        self.ws, self.relay, self.settings, self.store = ws, relay, settings, store
        self.protocol = GuestProtocol()
        self.peer: Peer = relay.peer(ws)
        self.live: LiveRoom | None = None
        self.guest_id = ""

    async def run(self) -> bool:
        """Serve until the socket closes; True if this side closed it."""
        while True:
            try:
                message = await read_message(self.ws, self.peer)
            except SocketClosed as closed:
                return closed.by_us
            try:
                self.protocol.check(message)
                reply = await self.handle(message)
            except JoinRefused as exc:
                self.peer.send(ErrorReply(ref=message.ref, code=exc.code, message=exc.message))
                ended = exc.code == "session_ended"
                self.peer.close(CLOSE_SESSION_ENDED if ended else CLOSE_NORMAL, exc.code)
                return True
            except CwmnError as exc:
                reply = ErrorReply(ref=message.ref, code=exc.code, message=exc.message)
            if reply is not None:
                self.peer.send(reply)

    def closed(self) -> None:
        if self.live is not None:
            self.relay.guest_gone(self.live, self.guest_id, self.peer)

    async def handle(self, message: Message) -> Message | None:
        if isinstance(message, Hello):
            self.protocol.greeted()
            return Welcome(ref=message.ref, server_time=time.time())
        if isinstance(message, Join):
            await self.join(message)
            return None  # the relay sent Joined, then what the guest needs
        if isinstance(message, PointerMove):
            assert self.live is not None
            self.relay.guest_pointer(self.live, self.guest_id, message)
            return None
        if isinstance(message, PointerClick):
            assert self.live is not None
            self.relay.guest_click(self.live, self.guest_id, message)
            return None
        if isinstance(message, SetName):
            assert self.live is not None
            name = clean_guest_name(message.name)
            if self.relay.rename_guest(self.live, self.guest_id, name):
                await run_in_threadpool(self.store.rename_guest, self.guest_id, name)
            return Ok(ref=message.ref)
        assert isinstance(message, Ping)
        return Pong(ref=message.ref)

    async def join(self, message: Join) -> None:
        """Validate the link and the device, bind a private link on first use, take a seat.

        A removed guest is refused; a guest already seated through a public link the host
        has since turned off may come back (reload, reconnect)."""
        link: LinkRecord | None = None
        session: SessionRecord | None = None
        if usable_token(message.token):
            link = await run_in_threadpool(self.store.link_by_token, message.token)
        if link is not None:
            session = await run_in_threadpool(self.store.get_session, link.session_id)
        device = device_hash(self.ws.cookies.get(DEVICE_COOKIE))
        code = check_link(link, session, device, time.time(), self.settings.max_session_seconds)
        seated = await run_in_threadpool(self.store.guest_on_link, link, device) if link else None
        if seated is not None and seated.removed_at is not None:
            code = "guest_removed"
        elif seated is not None and code == "public_link_disabled":
            code = None
        if code is None and device is None:
            code = "cookies_required"  # nothing to bind the link to, or to know the guest by
        if code is not None:
            raise JoinRefused(code)
        assert link is not None and session is not None and device is not None
        # The viewer sends the name the guest gave (?name=, or one it remembers); without
        # one the guest keeps the name it had here, else an invite link's name for it.
        invited = link.guest_name if link.kind == "invite" else ""
        given = message.name.strip() or (seated.name if seated else "") or invited
        name = clean_guest_name(given or "")
        if seated is not None:  # a new name is a rename, limited as set_name is
            name = self.relay.join_name(session.id, seated.guest_id, seated.name, name)
        guest_id = seated.guest_id if seated else secrets.token_urlsafe(12)
        if link.kind != "public":
            bound = await run_in_threadpool(
                self.store.bind_link, link.token_hash, device, guest_id, name
            )
            if bound is None or bound.device_hash != device or bound.guest_id is None:
                raise JoinRefused("link_used")  # another device joined first
            link, guest_id = bound, bound.guest_id
        if not await self.relay.check_open(session):
            raise JoinRefused("session_ended")
        site = await run_in_threadpool(self.store.site_by_id, session.site_id)
        limit = int({**DEFAULT_SETTINGS, **(site.settings if site else {})}["maxGuests"])
        record = await run_in_threadpool(
            self.store.seat_guest, session.id, link, device, guest_id, name
        )
        # Checked after the last await, so that nothing can change before the seat is taken:
        # the session may have ended, the room filled or the host removed this guest since.
        if record.removed_at is not None:
            raise JoinRefused("guest_removed")
        if not await self.relay.check_open(session):
            raise JoinRefused("session_ended")
        live = self.relay.room_for_guest(session)
        if live.room.is_removed(record.guest_id):
            raise JoinRefused("guest_removed")
        if record.guest_id not in live.room.guests and len(live.room.guests) >= limit:
            raise JoinRefused("room_full")
        self.live = live
        self.guest_id = record.guest_id
        guest = Guest(record.guest_id, name, joined_at=record.joined_at, via=record.via)
        self.relay.join(self.live, guest, self.peer, max(message.last_seq, 0), message.ref)
        self.protocol.joined()
