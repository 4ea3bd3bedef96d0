"""The WebSocket endpoint hosts connect to (``/ws``): Origin check, handshake, the session
(start, resume, end), links, invites, invitations to host, privacy, and the mirror frames
the relay fans out to guests."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from ..errors import CwmnError, InvalidState, NotFound, RateLimited
from ..protocol.messages import (
    CLOSE_BAD_ORIGIN,
    DEFAULT_REPLAY_MAX_SECONDS,
    AbandonReplay,
    AcceptHostInvite,
    CreateLink,
    CreatePublicLink,
    EndSession,
    ErrorReply,
    GetHostInvite,
    Hello,
    HostInviteInfo,
    HostInviteSent,
    InviteGuest,
    InviteSent,
    InviteToHost,
    LinkCreated,
    Message,
    MirrorFrame,
    MuteAll,
    MuteGuest,
    Ok,
    Ping,
    Pong,
    RemoveGuest,
    ReplayUpdate,
    ResumeSession,
    SendVideo,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    SetPrivacy,
    SetPublicLink,
    StartSession,
    WatchReplay,
    Welcome,
)
from .config import Settings
from .db import SessionRecord, Store
from .db.replays import settled
from .host_invites import accept_invitation, find_invitation
from .host_protocol import HostProtocol
from .invites.host import send_host_invite
from .invites.service import Inviter, Invites
from .links import join_url, public_base
from .relay import HostLink, LiveRoom, Relay, SocketClosed, read_message, serve
from .replays.recording import Recording, recording_dir
from .replays.service import ReplayService, replay_update
from .replays.sessions import open_recording
from .rooms import Room
from .sites import DEFAULT_SETTINGS, Site, hostname_of

__all__ = ["append_frame_log", "host_socket"]

MAX_PAGE_ID = 200
#: Invites one host connection may have on their way at once.
MAX_INVITES_IN_FLIGHT = 4
#: How often a watched replay's row is read (its render worker is another process).
WATCH_INTERVAL = 0.3
NO_GUESTS = "a replay recording has no guests"
log = logging.getLogger("cwmn_web.server")


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
    conn = HostConnection(
        ws, state.relay, state.settings, store, site, origin, state.invites, state.replays
    )
    await serve(conn.run, conn.closed, conn.link.peer)


class HostConnection:
    """Reads one host socket, answers requests, and hands the session work to the relay."""

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
        self.protocol = HostProtocol()
        self.link = HostLink(relay.peer(ws), self.protocol)
        self.live: LiveRoom | None = None
        self.page_url = ""
        self.inviting = 0

    async def run(self) -> bool:
        """Serve until the socket closes; True if this side closed it (bad frame)."""
        log = self.settings.frame_log
        on_text = (lambda frame: append_frame_log(log, frame)) if log is not None else None
        while True:
            try:
                message = await read_message(self.ws, self.link.peer, on_text)
            except SocketClosed as closed:
                return closed.by_us
            try:
                if not self.protocol.check(message):
                    continue
                replies = await self.handle(message)
            except CwmnError as exc:
                replies = [ErrorReply(ref=message.ref, code=exc.code, message=exc.message)]
            for reply in replies:
                self.link.peer.send(reply)

    def closed(self) -> None:
        if self.watching is not None:
            self.watching.cancel()
        if self.live is not None:
            self.relay.host_gone(self.live, self.link)

    async def handle(self, message: Message) -> list[Message]:
        """The answers to one checked message (a reply first, then any pushes)."""
        if isinstance(message, MirrorFrame):
            assert self.live is not None
            self.relay.frame(self.live, message, self.link)
            return []
        if isinstance(message, Hello):
            self.page_url = message.page_url[:2048]
            self.protocol.greeted()
            return [Welcome(ref=message.ref, server_time=time.time())]
        guests_only = (CreateLink, CreatePublicLink, InviteGuest, SetPublicLink)
        if isinstance(message, guests_only) and self.live and self.live.recording:
            raise InvalidState(NO_GUESTS)
        if isinstance(message, StartSession):
            return [await self.start(message)]
        if isinstance(message, ResumeSession):
            return await self.resume(message)
        if isinstance(message, CreateLink):
            return [await self.create_link(message)]
        if isinstance(message, CreatePublicLink):
            return [await self.public_link(message)]
        if isinstance(message, (InviteGuest, InviteToHost, SendVideo)):
            # Sending takes a while (a mail server, an SMS provider): answered when done,
            # while this loop goes on taking mirror frames.
            if self.inviting >= MAX_INVITES_IN_FLIGHT:
                raise RateLimited(
                    f"{MAX_INVITES_IN_FLIGHT} invites are already on their way: wait for their "
                    "answers, then try again"
                )
            self.inviting += 1
            work: Coroutine[Any, Any, Message]
            if isinstance(message, InviteGuest):
                work = self.invite(message)
            elif isinstance(message, SendVideo):
                work = self.send_video(message)
            else:
                work = self.invite_to_host(message)
            self.relay.spawn(self.answer_later(message.ref, work))
            return []
        if isinstance(message, GetHostInvite):
            return [await self.host_invite_info(message)]
        if isinstance(message, WatchReplay):
            return [await self.watch_replay(message)]
        if isinstance(message, AbandonReplay):
            await self.abandon_replay(message)
            return [Ok(ref=message.ref)]
        if isinstance(message, AcceptHostInvite):
            return await self.accept_host_invite(message)
        if isinstance(message, (SetPrivacy, SetPublicLink, MuteGuest, MuteAll, RemoveGuest)):
            await self.control(message)
            return [Ok(ref=message.ref)]
        if isinstance(message, EndSession):
            assert self.live is not None
            session_id = self.protocol.session_id
            await self.relay.end(self.live, "ended", tell_host=False)
            self.protocol.ended()
            return [SessionEnded(ref=message.ref, session_id=session_id, reason="ended")]
        assert isinstance(message, Ping)
        return [Pong(ref=message.ref)]

    def _site_settings(self) -> dict[str, object]:
        settings: dict[str, object] = self.site.info(hostname_of(self.origin))["settings"]
        return settings

    async def start(self, message: StartSession) -> SessionStarted:
        record = await run_in_threadpool(
            self.store.create_session,
            self.site.id,
            message.host_name[:200],
            message.host_email[:254],
            message.is_replay,
            self.origin,
            self.page_url,
        )
        recording = await self._new_recording(record) if record.is_replay else None
        page_id = message.page_id[:MAX_PAGE_ID]
        self.live = self.relay.start(record, self.link, page_id, recording)
        self.protocol.started(record.id)
        return SessionStarted(
            ref=message.ref,
            session_id=record.id,
            resume_token=record.resume_token,
            started_at=record.created_at,
            is_replay=record.is_replay,
            host_name=record.host_name,
            host_email=record.host_email,
            settings=self._site_settings(),
        )

    async def resume(self, message: ResumeSession) -> list[Message]:
        """Take the session back: same page → the server's last seq, new page → 0."""
        record: SessionRecord | None = None
        if 0 < len(message.resume_token) <= 200:
            record = await run_in_threadpool(
                self.store.session_by_resume_token, message.resume_token
            )
        if record is None or record.site_id != self.site.id:
            raise NotFound("no session has this resume token: start a new session")
        if not await self.relay.check_open(record):
            raise CwmnError("the session has ended: start a new session", "session_ended")
        page_id = message.page_id[:MAX_PAGE_ID]
        async with self.relay.opening(record.id):
            recording = None
            if record.is_replay:
                recording = self.relay.recording_of(record.id) or await run_in_threadpool(
                    open_recording, self.store, self.settings.data_dir, record
                )
            self.live, back = self.relay.resume(record, page_id, self.link, recording)
        self.protocol.started(record.id)
        room = self.live.room
        room.public_enabled = await run_in_threadpool(self.store.public_links_enabled, record.id)
        reply = SessionResumed(
            ref=message.ref,
            session_id=record.id,
            started_at=record.created_at,
            is_replay=record.is_replay,
            host_name=record.host_name,
            host_email=record.host_email,
            acked_seq=back.acked_seq,
            settings=self._site_settings(),
            privacy=room.privacy,
            mute_all=room.mute_all,
            public_link=room.public_enabled,
        )
        return [reply, *self.relay.roster(back)]

    async def _new_recording(self, record: SessionRecord) -> Recording:
        """A replay session's row (its render job to be) and its recording."""
        limit = self._site_settings().get("replayMaxSeconds")
        default = float(DEFAULT_REPLAY_MAX_SECONDS)
        seconds = float(limit) if isinstance(limit, (int, float)) and limit > 0 else default
        seconds = min(seconds, self.settings.max_session_seconds)
        await run_in_threadpool(
            lambda: self.store.replays.create(
                record.id,
                record.site_id,
                record.host_name,
                record.host_email,
                max_seconds=seconds,
                base_url=self._base(),
                retention_seconds=self.settings.replay_retention_days * 86400,
                now=record.created_at,
            )
        )
        folder = recording_dir(self.settings.data_dir, record.id)
        return await run_in_threadpool(Recording, folder, seconds)

    async def watch_replay(self, message: WatchReplay) -> ReplayUpdate:
        """The replay's state now; then a push whenever it changes, until it is done."""
        record = await self.replays.find(message.resume_token, self.site.id)
        if self.watching is not None:
            self.watching.cancel()
        first = replay_update(record, ref=message.ref)
        self.watching = self.relay.spawn(self._follow(record.id, first))
        return first

    async def _follow(self, replay_id: str, last: ReplayUpdate) -> None:
        """Push each change of the replay until nothing more can change (a final status,
        no email still to go); meanwhile send its queued email if this process wins it."""

        def key(u: ReplayUpdate) -> tuple[object, ...]:
            return (u.status, u.percent, u.stage, u.send_status)

        while self.link.peer.open and not settled(last.status, last.send_status):
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                record = await self.replays.settle_sends(replay_id)
            except Exception:
                log.exception("replay %s: watching failed", replay_id)
                continue
            update = replay_update(record, replay_id)
            if key(update) != key(last):
                self.link.peer.send(update)
                last = update

    async def send_video(self, message: SendVideo) -> Message:
        record = await self.replays.find(message.resume_token, self.site.id)
        return await self.replays.send(record, message)

    async def abandon_replay(self, message: AbandonReplay) -> None:
        """Throw the replay away; a session still recording ends first."""
        record = await self.replays.find(message.resume_token, self.site.id)
        live = self.relay.rooms.get(record.id)
        if live is not None:
            await self.relay.end(live, "ended", tell_host=True)
        await self.replays.abandon(record)

    async def create_link(self, message: CreateLink) -> LinkCreated:
        record = await run_in_threadpool(
            self.store.create_link, self.protocol.session_id, self.settings.link_ttl_seconds
        )
        return LinkCreated(
            ref=message.ref, url=join_url(self._base(), record.token), expires_at=record.expires_at
        )

    async def answer_later(self, ref: int, work: Coroutine[Any, Any, Message]) -> None:
        """Send what ``work`` answers (an invite on its way), or its error."""
        reply: Message
        try:
            reply = await work
        except CwmnError as exc:
            reply = ErrorReply(ref=ref, code=exc.code, message=exc.message)
        except Exception:
            log.exception("invite failed")
            reply = ErrorReply(ref=ref, code="server_error", message="the server failed to send it")
        finally:
            self.inviting -= 1
        self.link.peer.send(reply)

    async def invite(self, message: InviteGuest) -> InviteSent:
        """Send an email or SMS invite to a guest of this session."""
        live = self.live
        assert live is not None
        region = self._site_settings().get("defaultRegion") or DEFAULT_SETTINGS["defaultRegion"]
        inviter = Inviter(
            site_id=self.site.id,
            session_id=live.room.session_id,
            host_name=live.room.host_name,
            region=str(region),
            base_url=self._base(),
        )
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

    async def host_invite_info(self, message: GetHostInvite) -> HostInviteInfo:
        """What an invitation to host says, for the invitee's page to show."""
        invite, session = await find_invitation(self.store, message.token, self.site.id)
        return HostInviteInfo(
            ref=message.ref,
            invite_id=invite.invite_id,
            inviter_name=invite.inviter_name,
            host_name=session.host_name,
            host_email=session.host_email,
            message=invite.message,
            expires_at=invite.expires_at,
        )

    async def accept_host_invite(self, message: AcceptHostInvite) -> list[Message]:
        """The invitee agreed: this connection hosts the session the invitation made (the
        inviter may be waiting in it)."""
        record = await accept_invitation(
            self.store, message.token, self.site.id, self.origin, self.page_url
        )
        if not await self.relay.check_open(record):  # it expired as it was accepted
            raise CwmnError("the invitation expired: ask for a new one", "link_invalid")
        self.live, back = self.relay.accept(record, message.page_id[:MAX_PAGE_ID], self.link)
        self.protocol.started(record.id)
        reply = SessionStarted(
            ref=message.ref,
            session_id=record.id,
            resume_token=record.resume_token,
            started_at=record.created_at,
            is_replay=False,
            host_name=record.host_name,
            host_email=record.host_email,
            settings=self._site_settings(),
        )
        return [reply, *self.relay.roster(back)]

    def _base(self) -> str:
        return public_base(self.settings.public_url, str(self.ws.url))

    async def control(
        self, message: SetPrivacy | SetPublicLink | MuteGuest | MuteAll | RemoveGuest
    ) -> None:
        """A host setting; what it changes is pushed before the ``Ok``."""
        live = self.live
        assert live is not None
        if isinstance(message, SetPrivacy):
            self.relay.set_privacy(live, message.enabled)
        elif isinstance(message, SetPublicLink):
            await self._public_link()  # its row holds the flag, also across restarts
            await run_in_threadpool(
                self.store.set_public_links, live.room.session_id, message.enabled
            )
            live.room.public_enabled = message.enabled
        elif isinstance(message, MuteGuest):
            self.relay.mute_guest(live, message.guest_id, message.muted, self.link)
        elif isinstance(message, MuteAll):
            self.relay.mute_all(live, message.muted)
        else:
            await self.relay.remove_guest(live, message.guest_id)

    async def public_link(self, message: CreatePublicLink) -> LinkCreated:
        room = await self._public_link()
        return LinkCreated(ref=message.ref, url=room.public_url, expires_at=room.public_expires)

    async def _public_link(self) -> Room:
        """The session's public link: made once, then the same one (it lasts as long as
        the session may). Made while the link is off, it starts off."""
        live = self.live
        assert live is not None
        room = live.room
        if not room.public_url:
            ends = room.started_at + self.settings.max_session_seconds
            record = await run_in_threadpool(
                self.store.create_link, room.session_id, max(ends - time.time(), 0.0), "public"
            )
            if not room.public_enabled:
                await run_in_threadpool(self.store.set_public_links, room.session_id, False)
            room.public_url = join_url(self._base(), record.token)
            room.public_expires = record.expires_at
        return room


def append_frame_log(path: Path, frame: str) -> None:
    """Append ``frame`` to ``path`` as one line (``CWMN_FRAME_LOG``, a debugging aid).

    Raw line breaks can only sit between JSON tokens, where a space means the same; the
    separators ``str.splitlines`` also honours are written as JSON escapes instead."""
    line = frame.replace("\r", " ").replace("\n", " ")
    for char in ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"):
        line = line.replace(char, f"\\u{ord(char):04x}")
    with path.open("a", encoding="utf-8") as file:
        file.write(line + "\n")
