"""One guest connection's protocol: phase, dispatch by message type, join admission, the
guest's pointer, clicks and name. No I/O: the edge reads and writes the store for a join
(:meth:`GuestCore.admission`, :meth:`GuestCore.seat` decide over what it found).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ...errors import CwmnError, ErrorCode
from ...protocol.messages import (
    CLOSE_NORMAL,
    CLOSE_SESSION_ENDED,
    ControlInput,
    Draw,
    ErrorReply,
    Hello,
    Join,
    Message,
    Ok,
    Ping,
    PointerClick,
    PointerMove,
    Pong,
    ReleaseControl,
    RequestControl,
    SetName,
    Welcome,
)
from ...protocol.names import clean_guest_name
from ..db import GuestRecord, LinkRecord, SessionRecord
from ..guest_protocol import GuestProtocol
from ..links import check_link
from ..rooms import Guest
from . import control
from .activity import guest_acted
from .fanout import LiveRoom
from .outputs import ConnId, Outputs
from .registry import LiveRooms

__all__ = ["JOIN_REFUSALS", "GuestCore", "JoinRefused"]

C = ErrorCode
#: What a refused guest is told, by error code.
JOIN_REFUSALS: dict[ErrorCode, str] = {
    C.LINK_INVALID: "This link is not valid: it may have expired or been revoked. "
    "Ask the host for a new link.",
    C.SESSION_ENDED: "This session has ended.",
    C.LINK_USED: "This private link was already used on another device. "
    "Ask the host for a new link.",
    C.COOKIES_REQUIRED: "This browser did not send its device cookie: open the link itself "
    "in a browser that accepts cookies.",
    C.GUEST_REMOVED: "The host removed you from this session.",
    C.PUBLIC_LINK_DISABLED: "The host has turned this link off: no one new can join through "
    "it. Ask the host for another link.",
    C.ROOM_FULL: "This session is full: it already has as many guests as it allows. "
    "Ask the host to make room, then open the link again.",
}


class JoinRefused(CwmnError):
    """A join the link rules refuse; the guest is told why and disconnected."""

    def __init__(self, code: ErrorCode) -> None:
        super().__init__(JOIN_REFUSALS[code], code)


M = TypeVar("M", bound=Message)
_HANDLERS: dict[type[Message], Callable[[GuestCore, Any, float], Outputs]] = {}


def _handles(kind: type[M]) -> Callable[[Callable[[GuestCore, M, float], Outputs]], Any]:
    def register(method: Callable[[GuestCore, M, float], Outputs]) -> Any:
        _HANDLERS[kind] = method
        return method

    return register


class GuestCore:
    """The server's side of one guest connection, over the process's :class:`LiveRooms`.

    :meth:`receive` takes each decoded message; a ``Join`` comes back as
    :attr:`Outputs.work` (the edge looks the link up). :attr:`done`: this side closed the
    connection (a refused join)."""

    def __init__(self, rooms: LiveRooms, conn: ConnId) -> None:
        self.rooms = rooms
        self.conn = conn
        self.protocol = GuestProtocol()
        self.live: LiveRoom | None = None
        self.guest_id = ""
        self.done = False

    def receive(self, message: Message, now: float) -> Outputs:
        try:
            self.protocol.check(message)
            handler = _HANDLERS.get(type(message))
            if handler is None:
                assert isinstance(message, Join), message
                return Outputs(work=message)
            out = handler(self, message, now)
            # Only what the room accepted is activity (a refused one raised), and nothing
            # from a guest the host muted: it cannot keep a session alive on its own.
            live = self.live
            if live is not None and not live.room.muted(self.guest_id):
                self.rooms.touch(live, message, guest_acted, now)
            return out
        except CwmnError as exc:
            return self.error(message.ref, exc)

    def error(self, ref: int, exc: CwmnError) -> Outputs:
        """The answer to a message that failed with ``exc``; a refused join also closes
        the connection (1000, or 4410 when the session has ended)."""
        out = Outputs()
        out.send(self.conn, ErrorReply(ref=ref, code=exc.code, message=exc.message))
        if isinstance(exc, JoinRefused):
            ended = exc.code == C.SESSION_ENDED
            out.close(self.conn, CLOSE_SESSION_ENDED if ended else CLOSE_NORMAL, exc.code)
            self.done = True
        return out

    def gone(self) -> Outputs:
        """The socket closed or failed: the host hears the guest left."""
        if self.live is None:
            return Outputs()
        return self.rooms.guest_gone(self.live, self.guest_id, self.conn)

    def _reply(self, message: Message) -> Outputs:
        out = Outputs()
        out.send(self.conn, message)
        return out

    def _room(self) -> LiveRoom:
        assert self.live is not None  # the phase lets these through only once joined
        return self.live

    @_handles(Hello)
    def _hello(self, message: Hello, now: float) -> Outputs:
        self.protocol.greeted()
        return self._reply(Welcome(ref=message.ref, server_time=now))

    @_handles(Ping)
    def _ping(self, message: Ping, now: float) -> Outputs:
        return self._reply(Pong(ref=message.ref))

    @_handles(PointerMove)
    def _pointer(self, message: PointerMove, now: float) -> Outputs:
        return self.rooms.guest_pointer(self._room(), self.guest_id, message, now)

    @_handles(PointerClick)
    def _click(self, message: PointerClick, now: float) -> Outputs:
        return self.rooms.guest_click(self._room(), self.guest_id, message, now)

    @_handles(SetName)
    def _set_name(self, message: SetName, now: float) -> Outputs:
        name = clean_guest_name(message.name)
        out = self.rooms.rename_guest(self._room(), self.guest_id, name, now)
        out.send(self.conn, Ok(ref=message.ref))
        return out

    # -- extensions: remote control and drawing (server/live/control.py) -------------------
    @_handles(RequestControl)
    def _request_control(self, message: RequestControl, now: float) -> Outputs:
        out = control.request(self._room(), self.guest_id, now)
        out.send(self.conn, Ok(ref=message.ref))
        return out

    @_handles(ReleaseControl)
    def _release_control(self, message: ReleaseControl, now: float) -> Outputs:
        out = control.release(self._room(), self.guest_id)
        out.send(self.conn, Ok(ref=message.ref))
        return out

    @_handles(ControlInput)
    def _control_input(self, message: ControlInput, now: float) -> Outputs:
        return control.relay_input(self._room(), self.guest_id, message, now)

    @_handles(Draw)
    def _draw(self, message: Draw, now: float) -> Outputs:
        return control.relay_draw(self._room(), self.guest_id, message, now)

    # -- joining: decisions over what the edge found in the store ---------------------------
    @staticmethod
    def admission(
        link: LinkRecord | None,
        session: SessionRecord | None,
        seated: GuestRecord | None,
        device: str | None,
        now: float,
        max_session_seconds: float,
    ) -> None:
        """Raise :class:`JoinRefused` unless ``device`` (a hash) may join through ``link``.

        A removed guest is refused; a guest already seated through a public link the host
        has since turned off may come back (reload, reconnect)."""
        code = check_link(link, session, device, now, max_session_seconds)
        if seated is not None and seated.removed_at is not None:
            code = C.GUEST_REMOVED
        elif seated is not None and code == C.PUBLIC_LINK_DISABLED:
            code = None
        if code is None and device is None:
            code = C.COOKIES_REQUIRED  # nothing to bind the link to, or to know the guest by
        if code is not None:
            raise JoinRefused(code)

    def join_name(
        self, message: Join, link: LinkRecord, seated: GuestRecord | None, now: float
    ) -> str:
        """The name the guest joins with: the one it gave (?name=, or one it remembers);
        without one the name it had here, else an invite link's name for it. A new name
        for a seated guest is a rename, limited as ``set_name`` is."""
        invited = link.guest_name if link.kind == "invite" else ""
        given = message.name.strip() or (seated.name if seated else "") or invited
        name = clean_guest_name(given or "")
        if seated is not None:
            name = self.rooms.join_name(link.session_id, seated.guest_id, seated.name, name, now)
        return name

    @staticmethod
    def bound(link: LinkRecord | None, device: str) -> tuple[LinkRecord, str]:
        """The private link as binding it left it, and its guest; raises ``link_used`` if
        another device joined first."""
        if link is None or link.device_hash != device or link.guest_id is None:
            raise JoinRefused(C.LINK_USED)
        return link, link.guest_id

    def seat(
        self,
        message: Join,
        session: SessionRecord,
        record: GuestRecord,
        name: str,
        max_guests: int,
        now: float,
    ) -> Outputs:
        """Take the seat the store gave: checked with nothing awaited since, so nothing can
        change before it is taken (the session may have ended, the room filled or the host
        removed this guest meanwhile: the edge checked the end just before)."""
        if record.removed_at is not None:
            raise JoinRefused(C.GUEST_REMOVED)
        live = self.rooms.room_for_guest(session, now)
        if live.room.is_removed(record.guest_id):
            raise JoinRefused(C.GUEST_REMOVED)
        if record.guest_id not in live.room.guests and len(live.room.guests) >= max_guests:
            raise JoinRefused(C.ROOM_FULL)
        self.live, self.guest_id = live, record.guest_id
        guest = Guest(record.guest_id, name, joined_at=record.joined_at, via=record.via)
        out = self.rooms.join(live, guest, self.conn, max(message.last_seq, 0), message.ref)
        self.protocol.joined()
        return out
