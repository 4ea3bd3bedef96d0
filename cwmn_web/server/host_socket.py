"""The WebSocket endpoint hosts connect to (``/ws``): the Origin check, then an adapter
between the socket and the host's protocol core (:class:`~.live.host.HostCore`): frames
in, the core's outputs out, and the store work its requests need (sessions, links,
invites, invitations to host, replays)."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from ..errors import CwmnError, ErrorCode, Unauthorized
from ..protocol.messages import (
    CLOSE_BAD_ORIGIN,
    AbandonReplay,
    AcceptHostInvite,
    CreateJoinCode,
    CreateLink,
    CreatePublicLink,
    ErrorReply,
    GetHostInvite,
    Hello,
    InviteGuest,
    InviteToHost,
    LinkCreated,
    Message,
    RemoveGuest,
    ResumeSession,
    SendVideo,
    SetPublicLink,
    StartSession,
    WatchReplay,
)
from ..protocol.routes import INVITE, RESUME
from .config import Settings
from .db import EndReason, SessionRecord, Store
from .db.locks import held
from .host_invites import accept_invitation
from .host_protocol import HostPhase
from .host_tokens import HostIdentity, token_error, verify_host_token
from .host_work import (
    abandon_replay,
    check_invitee,
    host_invite_info,
    invitation_expired,
    invite_guest,
    invite_to_host,
    new_join_code,
    new_link,
    new_public_link,
    new_session,
    reply,
    send_video,
    session_ended,
    session_to_resume,
)
from .invites.sender import Sender
from .invites.service import Invites
from .links import public_base
from .live.host import HostCore
from .live.outputs import Outputs
from .page_assets.core import AssetLimits, session_assets
from .page_assets.tokens import READ, UPLOAD, asset_token
from .peer import SocketClosed, serve
from .relay import Relay, room_elsewhere
from .replay_watch import WATCH_INTERVAL, ReplayWatchers
from .replays.recording import Recording
from .replays.service import ReplayService
from .replays.sessions import check_replay_room, new_recording, open_recording
from .sites import Site, hostname_of

__all__ = ["WATCH_INTERVAL", "HostSocket", "append_frame_log", "host_socket", "send_failed"]

#: A hello's host token, kept out of the frame log (a bearer credential).
_HOST_TOKEN = re.compile(r'("host_token"\s*:\s*)"[^"]+"')
log = logging.getLogger("cwmn_web.server")
StoreWork = Callable[[Any], Awaitable[Outputs]]


async def host_socket(ws: WebSocket) -> None:
    """One host connection. Pages of unauthorized domains are refused before the handshake."""
    store: Store = ws.app.state.store
    cluster = ws.app.state.cluster
    if cluster is not None and await cluster.forwarded(ws, (RESUME, INVITE)):
        return  # served by the process that holds its session's room
    origin = ws.headers.get("origin", "")
    site = await run_in_threadpool(store.site_for_host, hostname_of(origin)) if origin else None
    if site is None:
        await ws.close(CLOSE_BAD_ORIGIN, reason="origin not authorized")
        return
    keys = await run_in_threadpool(store.host_keys, site.id) if site.host_tokens else None
    state = ws.app.state
    await ws.accept()
    if not await state.relay.let_in(ws):
        return
    conn = HostSocket(
        ws, state.relay, state.settings, store, site, origin, state.invites, state.replays
    )
    conn.keys = keys
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
        self.keys: dict[str, str] | None = None
        """The site's host-token keys (None: the site does not require host tokens)."""
        self.identity: HostIdentity | None = None
        """Who the host's token vouched for (after its hello)."""
        self.client = relay.client_of(ws)
        """The client's key (its address as uvicorn gives it, proxies only if trusted; an
        IPv6 one by its network): what per-client limits, invites' too, count under."""
        self.watchers: ReplayWatchers = ws.app.state.watchers
        conn, self.peer = relay.connect(ws)
        self.core = HostCore(relay.core, conn, site.id, self.client)
        self._work: dict[type[Message], StoreWork] = {
            StartSession: self.start,
            ResumeSession: self.resume,
            AcceptHostInvite: self.accept_host_invite,
            CreateLink: self.create_link,
            CreatePublicLink: self.public_link,
            CreateJoinCode: self.join_code,
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
        reader = self.relay.reader(self.ws, self.peer, on_text)
        while True:
            try:
                message, relay_text = await reader.next()
            except SocketClosed as closed:
                return closed.by_us
            if isinstance(message, Hello) and self._awaiting_token():
                refused = self._check_token(message)
                if refused is not None:
                    await self.relay.carry_out(refused)
                    return True
            out = self.core.receive(message, self.relay.clock(), relay_text)
            await self.relay.carry_out(out)
            if out.work is not None:
                try:
                    await self.relay.admit_session(self.core, out.work)  # a start's quotas
                    out = await self._work[type(out.work)](out.work)
                except CwmnError as exc:
                    out = self.core.error(message.ref, exc)
                finally:
                    self.core.release_slot()  # a start that failed counts no more
                await self.relay.carry_out(out)

    def _awaiting_token(self) -> bool:
        """Whether a hello now is the one whose token names this connection's host: only
        the first, on a site that requires tokens (a later hello is the core's
        ``invalid_state`` and never touches the identity)."""
        return self.keys is not None and self.core.protocol.phase is HostPhase.AWAITING_HELLO

    def _check_token(self, hello: Hello) -> Outputs | None:
        """Keep the identity the hello's host token vouches for; or the refusal (an error
        reply, then the socket closed) of a host without a valid token."""
        assert self.keys is not None
        try:
            self.identity = verify_host_token(
                hello.host_token,
                self.keys,
                self.site.name,
                self.relay.clock(),
                max_lifetime=self.settings.host_token_max_lifetime,
                leeway=self.settings.host_token_leeway,
            )
        except CwmnError as exc:
            out = self.core.error(hello.ref, exc)
            out.close(self.core.conn, CLOSE_BAD_ORIGIN, exc.code.value)
            return out
        return None

    def closed(self) -> None:
        self.watchers.unwatch(self.core.conn)
        self.relay.carry_out_soon(self.core.gone(self.peer.close_code, self.relay.clock()))
        self.relay.disconnect(self.core.conn)

    def _site_settings(self) -> dict[str, object]:
        settings: dict[str, object] = self.site.info(hostname_of(self.origin))["settings"]
        return settings

    def _base(self) -> str:
        """The base of the links this socket's requests get (``public_url_required``
        without a public URL, unless this socket came to a loopback name)."""
        return public_base(self.settings.public_url, str(self.ws.url))

    def _assets(self, session_id: str) -> dict[str, object]:
        """``SessionStarted.assets`` of the session: empty if the site's assets load
        directly, or this server has no public URL to give (``public_url_required``)."""
        try:
            public = self._base()
        except CwmnError:
            return {}
        key = self.invites.key
        return session_assets(
            self._site_settings(),
            public,
            asset_token(key, READ, session_id),
            asset_token(key, UPLOAD, session_id),
            AssetLimits.of(self.settings),
        )

    # -- sessions ---------------------------------------------------------------------------
    async def start(self, message: StartSession) -> Outputs:
        if not message.is_replay:
            record = await self._new_session(message)
            await self._hold(record.id)
            settings, now = self._site_settings(), self.relay.clock()
            assets = self._assets(record.id)
            return self.core.started(message, record, settings, now, assets=assets)
        base = self._base()  # its video link's, checked first
        async with self.relay.starting_replay(self.site.id):  # in this process, no thread waits
            record, recording = await run_in_threadpool(self._start_replay, message, base)
        await self._hold(record.id)
        now, assets = self.relay.clock(), self._assets(record.id)
        return self.core.started(message, record, self._site_settings(), now, recording, assets)

    async def _hold(self, session_id: str) -> None:
        """Hold the session's room in this process (with many: unless another does)."""
        if not await self.relay.hold(session_id):
            raise room_elsewhere()

    async def _new_session(self, message: StartSession) -> SessionRecord:
        return await run_in_threadpool(self._session_row, message)

    def _session_row(self, message: StartSession) -> SessionRecord:
        return new_session(
            self.store,
            self.site.id,
            message,
            self.origin,
            self.core.page_url,
            None,
            self.identity,
        )

    def _start_replay(self, message: StartSession, base: str) -> tuple[SessionRecord, Recording]:
        """The replay caps' check, then its session and its recording, as one step for every
        process of this server (a lock on the site held across the three): concurrent starts
        in several processes cannot all pass the check (in a thread)."""
        with held(self.store.engine, f"replay-start:{self.site.id}"):
            check_replay_room(self.store, self.settings, self.site.id, self.client)
            record = self._session_row(message)
            return record, self._recording_row(record, base)

    async def resume(self, message: ResumeSession) -> Outputs:
        """Take the session back (see :meth:`HostCore.resumed`)."""
        record = await run_in_threadpool(
            session_to_resume, self.store, message.resume_token, self.site.id
        )
        check_same_host(record, self.identity)
        if await self.relay.end_if_expired(record):
            raise session_ended()
        public = await run_in_threadpool(self.store.public_links_enabled, record.id)
        await self._hold(record.id)
        async with self.relay.opening(record.id):
            recording = None
            if record.is_replay:
                recording = self.relay.recording_of(record.id) or await run_in_threadpool(
                    open_recording, self.store, self.settings.data_dir, record
                )
            settings, now, assets = (
                self._site_settings(),
                self.relay.clock(),
                self._assets(record.id),
            )
            return self.core.resumed(message, record, settings, public, now, recording, assets)

    async def accept_host_invite(self, message: AcceptHostInvite) -> Outputs:
        """The invitee agreed: this connection hosts the session the invitation made (the
        inviter may be waiting in it)."""
        tokens = self.keys is not None
        await check_invitee(self.store, self.site.id, message.token, tokens, self.identity)
        code = (message.code, self.invites.key)
        record = await accept_invitation(
            self.store,
            message.token,
            self.site.id,
            self.origin,
            self.core.page_url,
            code,
            host=self.identity,
        )
        if await self.relay.end_if_expired(record):  # it expired as it was accepted
            raise invitation_expired()
        await self._hold(record.id)
        now, assets = self.relay.clock(), self._assets(record.id)
        return self.core.accepted(message, record, self._site_settings(), now, assets)

    def _recording_row(self, record: SessionRecord, base: str) -> Recording:
        """A replay session's row (its render job to be) and its recording."""
        return new_recording(
            self.store,
            self.settings,
            record,
            self._site_settings(),
            base,
            self.replays.key,
            self.client,
        )

    # -- links and guests -------------------------------------------------------------------
    async def create_link(self, message: CreateLink) -> Outputs:
        session_id, ttl = self.core.protocol.session_id, self.settings.link_ttl_seconds
        created = await run_in_threadpool(
            new_link, self.store, session_id, ttl, self._base(), message
        )
        return reply(self.core.conn, created)

    async def public_link(self, message: CreatePublicLink) -> Outputs:
        await self._public_link()
        assert self.core.live is not None
        room = self.core.live.room
        created = LinkCreated(ref=message.ref, url=room.public_url, expires_at=room.public_expires)
        return reply(self.core.conn, created)

    async def join_code(self, message: CreateJoinCode) -> Outputs:
        """A code a guest types on ``/join`` (:mod:`.join_codes`)."""
        assert self.core.live is not None
        room, key, now = self.core.live.room, self.invites.key, self.relay.clock()
        make = new_join_code(self.store, room, key, self.settings, self._base(), message, now)
        return reply(self.core.conn, await run_in_threadpool(make))

    async def set_public_link(self, message: SetPublicLink) -> Outputs:
        await self._public_link()  # its row holds the flag, also across restarts
        assert self.core.live is not None
        session_id = self.core.live.room.session_id
        await run_in_threadpool(self.store.set_public_links, session_id, message.enabled)
        return self.core.public_link_set(message)

    async def _public_link(self) -> None:
        """The session's public link: made once (:func:`new_public_link`), then the same."""
        if not self.core.needs_public_link():
            return
        assert self.core.live is not None
        room, max_seconds = self.core.live.room, self.settings.max_session_seconds
        make = new_public_link(self.store, room, max_seconds, self._base(), self.relay.clock())
        url, expires_at = await run_in_threadpool(make)
        self.core.public_link_made(url, expires_at)

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

    async def invite(self, message: InviteGuest) -> Message:
        live = self.core.live
        assert live is not None
        settings, base, sender = self._site_settings(), self._base(), self._sender()
        return await invite_guest(
            self.invites, self.site.id, live.room, settings, base, message, sender
        )

    async def invite_to_host(self, message: InviteToHost) -> Message:
        sender = self._sender()
        return await invite_to_host(
            self.invites, self.site, self.origin, self._base(), message, sender, self.identity
        )

    async def send_video(self, message: SendVideo) -> Message:
        return await send_video(self.replays, self.site.id, message, self._sender())

    def _sender(self) -> Sender:
        """Who sends: this client, and its verified host on a site that requires tokens
        (where a host without one never got past its hello)."""
        if self.keys is not None and self.identity is None:
            raise Unauthorized("sending needs a host with a valid host token on this site")
        return Sender(self.client, self.identity)

    async def host_invite_info(self, message: GetHostInvite) -> Outputs:
        info = await host_invite_info(self.store, self.site.id, message)
        return reply(self.core.conn, info)

    # -- replays ----------------------------------------------------------------------------
    async def watch_replay(self, message: WatchReplay) -> Outputs:
        """The replay's state now; then a push whenever it changes, until it is done."""
        record = await self.replays.find(message.resume_token, self.site.id)
        first = self.replays.update(record, ref=message.ref)
        await self.watchers.watch(self.core.conn, self.client, self.peer, record.id, first)
        return reply(self.core.conn, first)

    async def abandon_replay(self, message: AbandonReplay) -> Outputs:
        done = await abandon_replay(self.replays, self.site.id, message, self._end_live)
        return reply(self.core.conn, done)

    async def _end_live(self, session_id: str) -> None:
        await self.relay.end(session_id, EndReason.ENDED, tell_host=True)


def send_failed(ref: int, exc: Exception) -> ErrorReply:
    """The answer to request ``ref`` whose sending failed with ``exc`` (logged unless it
    is a :class:`CwmnError`, whose code the host hears)."""
    if isinstance(exc, CwmnError):
        return ErrorReply(ref=ref, code=exc.code, message=exc.message)
    log.error("invite failed", exc_info=exc)
    return ErrorReply(ref=ref, code=ErrorCode.SERVER_ERROR, message="the server failed to send it")


def check_same_host(record: SessionRecord, identity: HostIdentity | None) -> None:
    """A session a verified host started is resumed only by a token of the same ``sub``."""
    if identity is not None and record.host_subject not in (None, identity.subject):
        raise token_error(
            ErrorCode.HOST_TOKEN_INVALID,
            "this session was started by another host (the token's sub differs)",
        )


def append_frame_log(path: Path, frame: str) -> None:
    """Append ``frame`` to ``path`` as one line (``CWMN_FRAME_LOG``, a debugging aid).

    Raw line breaks can only sit between JSON tokens, where a space means the same; the
    separators ``str.splitlines`` also honours are written as JSON escapes instead."""
    line = _HOST_TOKEN.sub(r'\1"(not logged)"', frame).replace("\r", " ").replace("\n", " ")
    for char in ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"):
        line = line.replace(char, f"\\u{ord(char):04x}")
    with path.open("a", encoding="utf-8") as file:
        file.write(line + "\n")
