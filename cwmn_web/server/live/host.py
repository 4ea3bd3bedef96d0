"""One host connection's protocol: phase, dispatch by message type, the session it hosts
and what each message makes the room send. No I/O: requests that need the store (start,
resume, links, invites, replays) come out as :attr:`Outputs.work` for the edge, which
calls back (:meth:`HostCore.started`, :meth:`HostCore.resumed`, ...) with what it found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ...errors import CwmnError, InvalidState, RateLimited
from ...protocol.messages import (
    AbandonReplay,
    AcceptHostInvite,
    ControlRefused,
    CreateJoinCode,
    CreateLink,
    CreatePublicLink,
    DeclineControl,
    EndSession,
    ErrorReply,
    GetHostInvite,
    Hello,
    InviteGuest,
    InviteToHost,
    Message,
    MirrorFrame,
    MuteAll,
    MuteGuest,
    Ok,
    Ping,
    Pong,
    RemoveGuest,
    ResumeSession,
    SendVideo,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    SetControl,
    SetControlAllowed,
    SetPrivacy,
    SetPublicLink,
    StartSession,
    WatchReplay,
    Welcome,
)
from ..db import EndReason, SessionRecord
from ..host_protocol import HostProtocol
from ..replays.recording import Recording
from . import control
from .activity import host_acted
from .fanout import LiveRoom, roster
from .outputs import ConnId, Outputs
from .registry import LiveRooms, SessionSlot

__all__ = ["MAX_INVITES_IN_FLIGHT", "MAX_PAGE_ID", "NO_GUESTS", "HostCore"]

MAX_PAGE_ID = 200
#: Invites one host connection may have on their way at once.
MAX_INVITES_IN_FLIGHT = 4
NO_GUESTS = "a replay recording has no guests"
#: Requests about guests, which a replay session has none of.
_GUESTS_ONLY = (CreateLink, CreatePublicLink, CreateJoinCode, InviteGuest, SetPublicLink)
#: Requests answered when their sending is done (a mail server, an SMS provider), while
#: the connection goes on taking mirror frames.
_SENDING = (InviteGuest, InviteToHost, SendVideo)
#: Requests the edge carries out with the store (or a service over it).
_STORE_WORK: tuple[type[Message], ...] = (
    StartSession,
    ResumeSession,
    AcceptHostInvite,
    CreateLink,
    CreatePublicLink,
    CreateJoinCode,
    SetPublicLink,
    GetHostInvite,
    WatchReplay,
    AbandonReplay,
    RemoveGuest,
    *_SENDING,
)

M = TypeVar("M", bound=Message)
Handler = Callable[["HostCore", Any, float], Outputs]
_HANDLERS: dict[type[Message], Handler] = {}


def _handles(kind: type[M]) -> Callable[[Callable[[HostCore, M, float], Outputs]], Any]:
    def register(method: Callable[[HostCore, M, float], Outputs]) -> Any:
        _HANDLERS[kind] = method
        return method

    return register


def session_started(
    ref: int,
    record: SessionRecord,
    settings: dict[str, object],
    assets: dict[str, object] | None = None,
) -> SessionStarted:
    """The answer that hands the host the session ``record`` (started, or an accepted
    invitation's: its record is never a replay); ``assets``: its asset store's URLs."""
    return SessionStarted(
        ref=ref,
        session_id=record.id,
        resume_token=record.resume_token,
        started_at=record.created_at,
        is_replay=record.is_replay,
        host_name=record.host_name,
        host_email=record.host_email,
        settings=settings,
        assets=assets or {},
    )


class HostCore:
    """The server's side of one host connection, over the process's :class:`LiveRooms`.

    :meth:`receive` takes each decoded message; :meth:`gone` the socket's end. Errors a
    request raises become its ``ErrorReply``."""

    def __init__(self, rooms: LiveRooms, conn: ConnId, site_id: int = 0, client: str = "") -> None:
        self.rooms = rooms
        self._conn = conn
        self.site_id, self.client = site_id, client
        """The page's site and the socket's client address: what a new session counts for."""
        self.protocol = HostProtocol()
        self.live: LiveRoom | None = None
        self.page_url = ""
        self.inviting = 0
        """Invites on their way (answered later)."""
        self.slot: SessionSlot | None = None
        """The session being started or accepted, counted from its admission on."""
        self._relay_text: str | None = None

    @property
    def conn(self) -> ConnId:
        return self._conn

    def session_over(self) -> None:
        """The session is over for this connection (ended, or taken over by another)."""
        self.protocol.ended()

    # -- input ------------------------------------------------------------------------------
    def receive(self, message: Message, now: float, relay_text: str | None = None) -> Outputs:
        """What to do about ``message``: replies and pushes, or the edge's store work.
        ``relay_text``: a mirror frame as guests receive it, if the edge wrote it already."""
        self._relay_text = relay_text
        try:
            if not self.protocol.check(message):
                return Outputs()  # a frame sent before the host learnt the session ended
            if isinstance(message, _GUESTS_ONLY) and self.live and self.live.recording:
                raise InvalidState(NO_GUESTS)
            if self.live is not None:
                self.rooms.touch(self.live, message, host_acted, now)
            handler = _HANDLERS.get(type(message))
            if handler is not None:
                return handler(self, message, now)
            if isinstance(message, _SENDING):
                self._start_sending()
            elif isinstance(message, RemoveGuest):
                self.rooms.removing(self._room(), message.guest_id)
            elif isinstance(message, StartSession | AcceptHostInvite):
                self.release_slot()  # the edge counts it anew (:meth:`admitted`)
            assert isinstance(message, _STORE_WORK), message
            return Outputs(work=message)
        except CwmnError as exc:
            return self.error(message.ref, exc)

    def error(self, ref: int, exc: CwmnError) -> Outputs:
        """The answer to a request that failed with ``exc``."""
        out = Outputs()
        out.send(self.conn, ErrorReply(ref=ref, code=exc.code, message=exc.message))
        return out

    def admitted(self) -> None:
        """The edge's quotas counted the session being started or accepted for the site
        and this client address: its slot, which its room takes over."""
        self.release_slot()
        self.slot = self.rooms.admit_session(self.site_id, self.client)

    def release_slot(self) -> None:
        """The start or acceptance admitted is over (done, failed, or its connection
        gone): a slot no room took over counts no more."""
        self.rooms.release(self.slot)
        self.slot = None

    def gone(self, close_code: int | None, now: float) -> Outputs:
        """The socket closed (``close_code``: the client's): guests hear the host left."""
        self.release_slot()
        if self.live is None:
            return Outputs()
        return self.rooms.host_gone(self.live, self, close_code, now)

    def _room(self) -> LiveRoom:
        assert self.live is not None  # the phase lets only in-session requests through
        return self.live

    def _reply(self, message: Message) -> Outputs:
        out = Outputs()
        out.send(self.conn, message)
        return out

    # -- handled here -----------------------------------------------------------------------
    @_handles(Hello)
    def _hello(self, message: Hello, now: float) -> Outputs:
        self.page_url = message.page_url[:2048]
        self.protocol.greeted()
        return self._reply(Welcome(ref=message.ref, server_time=now))

    @_handles(Ping)
    def _ping(self, message: Ping, now: float) -> Outputs:
        return self._reply(Pong(ref=message.ref))

    @_handles(MirrorFrame)
    def _frame(self, message: MirrorFrame, now: float) -> Outputs:
        return self.rooms.frame(self._room(), message, now, self._relay_text)

    @_handles(SetPrivacy)
    def _privacy(self, message: SetPrivacy, now: float) -> Outputs:
        out = self.rooms.set_privacy(self._room(), message.enabled, now)
        out.send(self.conn, Ok(ref=message.ref))
        return out

    @_handles(MuteGuest)
    def _mute(self, message: MuteGuest, now: float) -> Outputs:
        out = self.rooms.mute_guest(self._room(), message.guest_id, message.muted)
        out.send(self.conn, Ok(ref=message.ref))
        return out

    @_handles(MuteAll)
    def _mute_all(self, message: MuteAll, now: float) -> Outputs:
        out = self.rooms.mute_all(self._room(), message.muted)
        out.send(self.conn, Ok(ref=message.ref))
        return out

    # -- extensions: remote control (server/live/control.py) ---------------------------------
    @_handles(SetControl)
    def _set_control(self, message: SetControl, now: float) -> Outputs:
        out = control.grant(self._room(), message.guest_id)
        out.send(self.conn, Ok(ref=message.ref))
        return out

    @_handles(DeclineControl)
    def _decline_control(self, message: DeclineControl, now: float) -> Outputs:
        out = control.decline(self._room(), message.guest_id, now)
        out.send(self.conn, Ok(ref=message.ref))
        return out

    @_handles(SetControlAllowed)
    def _set_control_allowed(self, message: SetControlAllowed, now: float) -> Outputs:
        out = control.set_allowed(self._room(), message.allowed)
        out.send(self.conn, Ok(ref=message.ref))
        return out

    @_handles(ControlRefused)
    def _control_refused(self, message: ControlRefused, now: float) -> Outputs:
        return control.refused(self._room(), message)

    @_handles(EndSession)
    def _end(self, message: EndSession, now: float) -> Outputs:
        session_id = self.protocol.session_id
        out = self.rooms.end(self._room(), EndReason.ENDED, tell_host=False)
        self.protocol.ended()
        out.send(
            self.conn, SessionEnded(ref=message.ref, session_id=session_id, reason=EndReason.ENDED)
        )
        return out

    def _start_sending(self) -> None:
        if self.inviting >= MAX_INVITES_IN_FLIGHT:
            raise RateLimited(
                f"{MAX_INVITES_IN_FLIGHT} invites are already on their way: wait for their "
                "answers, then try again"
            )
        self.inviting += 1

    # -- after the edge's store work --------------------------------------------------------
    def sent(self, reply: Message) -> Outputs:
        """An invite's sending is done: its answer (or ``ErrorReply``) goes out."""
        self.inviting -= 1
        return self._reply(reply)

    def started(
        self,
        message: StartSession,
        record: SessionRecord,
        settings: dict[str, object],
        now: float,
        recording: Recording | None = None,
        assets: dict[str, object] | None = None,
    ) -> Outputs:
        """The store made the session ``record``: open its room, hosted here."""
        page_id = message.page_id[:MAX_PAGE_ID]
        self.live = self.rooms.start(
            record, self, page_id, now, recording, self.slot, idle_timeout=message.idle_timeout
        )
        self.slot = None
        self.protocol.started(record.id)
        return self._reply(session_started(message.ref, record, settings, assets))

    def resumed(
        self,
        message: ResumeSession,
        record: SessionRecord,
        settings: dict[str, object],
        public_enabled: bool,
        now: float,
        recording: Recording | None = None,
        assets: dict[str, object] | None = None,
    ) -> Outputs:
        """Take the open session ``record`` back: same page → the server's last seq, new
        page → 0; then the guest changes the page missed."""
        page_id = message.page_id[:MAX_PAGE_ID]
        self.live, back, out = self.rooms.resume(record, page_id, self, now, recording)
        self.protocol.started(record.id)
        room = self.live.room
        room.set_public_link(public_enabled)
        reply = SessionResumed(
            ref=message.ref,
            session_id=record.id,
            started_at=record.created_at,
            is_replay=record.is_replay,
            host_name=record.host_name,
            host_email=record.host_email,
            acked_seq=back.acked_seq,
            settings=settings,
            privacy=room.privacy,
            mute_all=room.mute_all,
            public_link=room.public_enabled,
            controller=room.controller,
            control_allowed=room.control_allowed,
            assets=assets or {},
        )
        for push in (reply, *roster(back)):
            out.send(self.conn, push)
        return out

    def accepted(
        self,
        message: AcceptHostInvite,
        record: SessionRecord,
        settings: dict[str, object],
        now: float,
        assets: dict[str, object] | None = None,
    ) -> Outputs:
        """The invitee hosts the session the invitation made (the inviter may wait in it)."""
        page_id = message.page_id[:MAX_PAGE_ID]
        self.live, back, out = self.rooms.accept(record, page_id, self, now, self.slot)
        self.slot = None
        self.protocol.started(record.id)
        reply = session_started(message.ref, record, settings, assets)
        for push in (reply, *roster(back)):
            out.send(self.conn, push)
        return out

    def needs_public_link(self) -> bool:
        """Whether the session's public link is still to be made (it is made once)."""
        return not self._room().room.public_url

    def public_link_made(self, url: str, expires: float) -> None:
        self._room().room.public_link_made(url, expires)

    def public_link_set(self, message: SetPublicLink) -> Outputs:
        """The store holds the public link's flag (across restarts); the room now too."""
        self._room().room.set_public_link(message.enabled)
        return self._reply(Ok(ref=message.ref))

    def guest_removed(self, message: RemoveGuest) -> Outputs:
        """The store has the removal: the guest goes (see :meth:`LiveRooms.removed`)."""
        out = self.rooms.removed(self._room(), message.guest_id)
        out.send(self.conn, Ok(ref=message.ref))
        return out
