"""The WebSocket endpoint hosts connect to (``/ws``): the Origin check, then an adapter
between the socket and the host's protocol core (:class:`~.live.host.HostCore`): frames
in, the core's outputs out, and the store work its requests need (sessions, links,
invites, invitations to host, replays)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from ..errors import CwmnError, ErrorCode, NotFound
from ..protocol.messages import (
    CLOSE_BAD_ORIGIN,
    AbandonReplay,
    AcceptHostInvite,
    CreateLink,
    CreatePublicLink,
    ErrorReply,
    GetHostInvite,
    HostInviteInfo,
    HostInviteSent,
    InviteGuest,
    InviteSent,
    InviteToHost,
    LinkCreated,
    Message,
    Ok,
    RemoveGuest,
    ReplayUpdate,
    ResumeSession,
    SendVideo,
    SetPublicLink,
    StartSession,
    WatchReplay,
)
from .config import Settings
from .db import EndReason, SessionRecord, Store
from .db.replays import settled
from .host_invites import accept_invitation, find_invitation
from .invites.host import send_host_invite
from .invites.service import Inviter, Invites
from .links import join_url, public_base
from .live.host import HostCore
from .live.outputs import Outputs
from .peer import SocketClosed, read_message, serve
from .relay import Relay
from .replays.recording import Recording
from .replays.service import ReplayService, replay_changed, replay_update
from .replays.sessions import new_recording, open_recording
from .sites import Site, hostname_of

__all__ = ["HostSocket", "append_frame_log", "host_socket", "send_failed"]

#: How often a watched replay's row is read (its render worker is another process).
WATCH_INTERVAL = 0.3
log = logging.getLogger("cwmn_web.server")
StoreWork = Callable[[Any], Awaitable[Outputs]]


async def host_socket(ws: WebSocket) -> None:
    """One host connection. Pages of unauthorized domains are refused before the handshake."""
    store: Store = ws.app.state.store
    origin = ws.headers.get("origin", "")
    site = await run_in_threadpool(store.site_for_host, hostname_of(origin)) if origin else None
    if site is None:
        await ws.close(CLOSE_BAD_ORIGIN, reason="origin not authorized")
        return
    await ws.accept()
    state = ws.app.state
    conn = HostSocket(
        ws, state.relay, state.settings, store, site, origin, state.invites, state.replays
    )
    await serve(conn.run, conn.closed, conn.peer)


class HostSocket:
    """Adapts one host socket to its :class:`HostCore`; does the store work of requests."""

    def __init__(
        self,
        ws: WebSocket,
        relay: Relay,
        settings: Settings,
        store: Store,
        site: Site,
        origin: str,
        invites: Invites,
        replays: ReplayService,
    ) -> None:
        self.ws, self.relay, self.settings, self.store = ws, relay, settings, store
        self.site, self.origin, self.invites, self.replays = site, origin, invites, replays
        self.watching: asyncio.Task[None] | None = None
        conn, self.peer = relay.connect(ws)
        self.core = HostCore(relay.core, conn)
        self._work: dict[type[Message], StoreWork] = {
            StartSession: self.start,
            ResumeSession: self.resume,
            AcceptHostInvite: self.accept_host_invite,
            CreateLink: self.create_link,
            CreatePublicLink: self.public_link,
            SetPublicLink: self.set_public_link,
            RemoveGuest: self.remove_guest,
            GetHostInvite: self.host_invite_info,
            WatchReplay: self.watch_replay,
            AbandonReplay: self.abandon_replay,
            InviteGuest: self.sending(self.invite),
            InviteToHost: self.sending(self.invite_to_host),
            SendVideo: self.sending(self.send_video),
        }

    async def run(self) -> bool:
        """Serve until the socket closes; True if this side closed it (bad frame)."""
        log = self.settings.frame_log
        on_text = (lambda frame: append_frame_log(log, frame)) if log is not None else None
        while True:
            try:
                message = await read_message(self.ws, self.peer, on_text)
            except SocketClosed as closed:
                return closed.by_us
            out = self.core.receive(message, self.relay.clock())
            await self.relay.carry_out(out)
            if out.work is not None:
                try:
                    out = await self._work[type(out.work)](out.work)
                except CwmnError as exc:
                    out = self.core.error(message.ref, exc)
                await self.relay.carry_out(out)

    def closed(self) -> None:
        if self.watching is not None:
            self.watching.cancel()
        self.relay.carry_out_soon(self.core.gone(self.peer.close_code, self.relay.clock()))
        self.relay.disconnect(self.core.conn)

    def _site_settings(self) -> dict[str, object]:
        settings: dict[str, object] = self.site.info(hostname_of(self.origin))["settings"]
        return settings

    def _base(self) -> str:
        return public_base(self.settings.public_url, str(self.ws.url))

    def _reply(self, message: Message) -> Outputs:
        out = Outputs()
        out.send(self.core.conn, message)
        return out

    # -- sessions ---------------------------------------------------------------------------
    async def start(self, message: StartSession) -> Outputs:
        record = await run_in_threadpool(
            self.store.create_session,
            self.site.id,
            message.host_name[:200],
            message.host_email[:254],
            message.is_replay,
            self.origin,
            self.core.page_url,
        )
        recording = await self._new_recording(record) if record.is_replay else None
        now = self.relay.clock()
        return self.core.started(message, record, self._site_settings(), now, recording)

    async def resume(self, message: ResumeSession) -> Outputs:
        """Take the session back (see :meth:`HostCore.resumed`)."""
        record: SessionRecord | None = None
        if 0 < len(message.resume_token) <= 200:
            record = await run_in_threadpool(
                self.store.session_by_resume_token, message.resume_token
            )
        if record is None or record.site_id != self.site.id:
            raise NotFound("no session has this resume token: start a new session")
        if await self.relay.end_if_expired(record):
            raise CwmnError("the session has ended: start a new session", ErrorCode.SESSION_ENDED)
        public = await run_in_threadpool(self.store.public_links_enabled, record.id)
        async with self.relay.opening(record.id):
            recording = None
            if record.is_replay:
                recording = self.relay.recording_of(record.id) or await run_in_threadpool(
                    open_recording, self.store, self.settings.data_dir, record
                )
            settings, now = self._site_settings(), self.relay.clock()
            return self.core.resumed(message, record, settings, public, now, recording)

    async def accept_host_invite(self, message: AcceptHostInvite) -> Outputs:
        """The invitee agreed: this connection hosts the session the invitation made (the
        inviter may be waiting in it)."""
        record = await accept_invitation(
            self.store, message.token, self.site.id, self.origin, self.core.page_url
        )
        if await self.relay.end_if_expired(record):  # it expired as it was accepted
            raise CwmnError("the invitation expired: ask for a new one", ErrorCode.LINK_INVALID)
        now = self.relay.clock()
        return self.core.accepted(message, record, self._site_settings(), now)

    async def _new_recording(self, record: SessionRecord) -> Recording:
        """A replay session's row (its render job to be) and its recording."""
        return await run_in_threadpool(
            new_recording, self.store, self.settings, record, self._site_settings(), self._base()
        )

    # -- links and guests -------------------------------------------------------------------
    async def create_link(self, message: CreateLink) -> Outputs:
        record = await run_in_threadpool(
            self.store.create_link, self.core.protocol.session_id, self.settings.link_ttl_seconds
        )
        url = join_url(self._base(), record.token)
        return self._reply(LinkCreated(ref=message.ref, url=url, expires_at=record.expires_at))

    async def public_link(self, message: CreatePublicLink) -> Outputs:
        await self._public_link()
        assert self.core.live is not None
        room = self.core.live.room
        return self._reply(
            LinkCreated(ref=message.ref, url=room.public_url, expires_at=room.public_expires)
        )

    async def set_public_link(self, message: SetPublicLink) -> Outputs:
        await self._public_link()  # its row holds the flag, also across restarts
        assert self.core.live is not None
        session_id = self.core.live.room.session_id
        await run_in_threadpool(self.store.set_public_links, session_id, message.enabled)
        return self.core.public_link_set(message)

    async def _public_link(self) -> None:
        """The session's public link: made once, then the same one (it lasts as long as
        the session may). Made while the link is off, it starts off."""
        if not self.core.needs_public_link():
            return
        assert self.core.live is not None
        room = self.core.live.room
        ends = room.started_at + self.settings.max_session_seconds
        record = await run_in_threadpool(
            self.store.create_link, room.session_id, max(ends - self.relay.clock(), 0.0), "public"
        )
        if not room.public_enabled:
            await run_in_threadpool(self.store.set_public_links, room.session_id, False)
        self.core.public_link_made(join_url(self._base(), record.token), record.expires_at)

    async def remove_guest(self, message: RemoveGuest) -> Outputs:
        """Remove a guest for good: its link stops admitting it, its viewer says so."""
        assert self.core.live is not None
        session_id = self.core.live.room.session_id
        await run_in_threadpool(self.store.remove_guest, session_id, message.guest_id)
        return self.core.guest_removed(message)

    # -- invites (answered when sent) -------------------------------------------------------
    def sending(
        self, send: Callable[[Any], Coroutine[Any, Any, Message]]
    ) -> Callable[[Message], Awaitable[Outputs]]:
        """Work answered when its sending is done, while this socket goes on reading."""

        async def start(message: Message) -> Outputs:
            self.relay.spawn(self.answer_later(message.ref, send(message)))
            return Outputs()

        return start

    async def answer_later(self, ref: int, work: Coroutine[Any, Any, Message]) -> None:
        """Send what ``work`` answers (an invite on its way), or its error."""
        reply: Message
        try:
            reply = await work
        except Exception as exc:
            reply = send_failed(ref, exc)
        await self.relay.carry_out(self.core.sent(reply))

    async def invite(self, message: InviteGuest) -> InviteSent:
        """Send an email or SMS invite to a guest of this session."""
        live = self.core.live
        assert live is not None
        room, settings = live.room, self._site_settings()
        inviter = Inviter.of(self.site.id, room.session_id, room.host_name, settings, self._base())
        sent = await self.invites.send(inviter, message)
        return InviteSent(
            ref=message.ref,
            invite_id=sent.invite_id,
            channel=sent.channel,
            to=sent.to,
            status=sent.status,
        )

    async def invite_to_host(self, message: InviteToHost) -> HostInviteSent:
        """Email an invitation to host a session on one of this site's pages."""
        sent = await send_host_invite(
            self.invites, self.site.id, self.site.domains, self.origin, self._base(), message
        )
        return HostInviteSent(
            ref=message.ref,
            invite_id=sent.invite_id,
            join_url=sent.join_url,
            expires_at=sent.expires_at,
            status=sent.status,
        )

    async def send_video(self, message: SendVideo) -> Message:
        record = await self.replays.find(message.resume_token, self.site.id)
        return await self.replays.send(record, message)

    async def host_invite_info(self, message: GetHostInvite) -> Outputs:
        """What an invitation to host says, for the invitee's page to show."""
        invite, session = await find_invitation(self.store, message.token, self.site.id)
        return self._reply(
            HostInviteInfo(
                ref=message.ref,
                invite_id=invite.invite_id,
                inviter_name=invite.inviter_name,
                host_name=session.host_name,
                host_email=session.host_email,
                message=invite.message,
                expires_at=invite.expires_at,
            )
        )

    # -- replays ----------------------------------------------------------------------------
    async def watch_replay(self, message: WatchReplay) -> Outputs:
        """The replay's state now; then a push whenever it changes, until it is done."""
        record = await self.replays.find(message.resume_token, self.site.id)
        if self.watching is not None:
            self.watching.cancel()
        first = replay_update(record, ref=message.ref)
        self.watching = self.relay.spawn(self._follow(record.id, first))
        return self._reply(first)

    async def _follow(self, replay_id: str, last: ReplayUpdate) -> None:
        """Push each change of the replay until nothing more can change (a final status,
        no email still to go); meanwhile send its queued email if this process wins it.
        The render worker is another process: its row is read every ``WATCH_INTERVAL``."""
        while self.peer.open and not settled(last.status, last.send_status):
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                record = await self.replays.settle_sends(replay_id)
            except Exception:
                log.exception("replay %s: watching failed", replay_id)
                continue
            update = replay_update(record, replay_id)
            if replay_changed(last, update):
                self.peer.send(update)
                last = update

    async def abandon_replay(self, message: AbandonReplay) -> Outputs:
        """Throw the replay away; a session still recording ends first."""
        record = await self.replays.find(message.resume_token, self.site.id)
        live = self.relay.rooms.get(record.id)
        if live is not None:
            await self.relay.end(live, EndReason.ENDED, tell_host=True)
        await self.replays.abandon(record)
        return self._reply(Ok(ref=message.ref))


def send_failed(ref: int, exc: Exception) -> ErrorReply:
    """The answer to request ``ref`` whose sending failed with ``exc`` (logged unless it
    is a :class:`CwmnError`, whose code the host hears)."""
    if isinstance(exc, CwmnError):
        return ErrorReply(ref=ref, code=exc.code, message=exc.message)
    log.error("invite failed", exc_info=exc)
    return ErrorReply(ref=ref, code=ErrorCode.SERVER_ERROR, message="the server failed to send it")


def append_frame_log(path: Path, frame: str) -> None:
    """Append ``frame`` to ``path`` as one line (``CWMN_FRAME_LOG``, a debugging aid).

    Raw line breaks can only sit between JSON tokens, where a space means the same; the
    separators ``str.splitlines`` also honours are written as JSON escapes instead."""
    line = frame.replace("\r", " ").replace("\n", " ")
    for char in ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"):
        line = line.replace(char, f"\\u{ord(char):04x}")
    with path.open("a", encoding="utf-8") as file:
        file.write(line + "\n")
