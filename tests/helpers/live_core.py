"""The live side in memory, on a fake clock: the real server core (``server/live``) with its
sockets as queues of encoded frames, a host side and real viewer cores (``GuestSession``).

Nothing runs by itself: each input is followed by :meth:`LiveHarness.pump`, which carries
every queued frame until all sides are quiet; time moves only with
:meth:`LiveHarness.advance`, which ticks every core at each deadline on the way. Frames go
through :mod:`cwmn_web.protocol.codec` both ways, so the wire format is exercised.

A host side is either :class:`HostWire` (the protocol messages a host sends, to test the
server's rules message by message) or the real host core (:mod:`tests.helpers.host_core`,
and its page with the network's faults: :mod:`tests.helpers.live_page`). Any :class:`Side`
(``exchange``, ``next_due``, ``tick``) can join. :class:`MemoryServer` does every request
a host or a viewer sends, with the real services over a real store (invites go to its
outbox; a replay's render worker, another process, is played by writing its row).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cwmn_web.errors import CwmnError, ErrorCode
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    AbandonReplay,
    AcceptHostInvite,
    CreateJoinCode,
    CreateLink,
    CreatePublicLink,
    GetHostInvite,
    Hello,
    HostInviteSent,
    InviteGuest,
    InviteSent,
    InviteToHost,
    Join,
    LinkCreated,
    Message,
    MirrorFrame,
    RemoveGuest,
    ReplayUpdate,
    ResumeSession,
    SendVideo,
    SessionStarted,
    SetPublicLink,
    StartSession,
    WatchReplay,
)
from cwmn_web.server import guest_join, host_work
from cwmn_web.server.config import Settings
from cwmn_web.server.db import EndReason, SessionRecord, Store
from cwmn_web.server.db.replays import settled
from cwmn_web.server.host_invites import accept_invitation
from cwmn_web.server.host_socket import WATCH_INTERVAL, send_failed
from cwmn_web.server.invites.service import Invites
from cwmn_web.server.invites.transports import OutboxTransport
from cwmn_web.server.live.guest import GuestCore, JoinRefused
from cwmn_web.server.live.host import HostCore
from cwmn_web.server.live.limits import Limits
from cwmn_web.server.live.outputs import (
    Close,
    ConnId,
    Outputs,
    RecordFrame,
    RecordPrivacy,
    Send,
    SessionOver,
)
from cwmn_web.server.live.registry import LiveRooms
from cwmn_web.server.page_assets.core import AssetLimits, session_assets
from cwmn_web.server.page_assets.tokens import READ, UPLOAD, asset_token
from cwmn_web.server.relay import store_change, store_session_over
from cwmn_web.server.replays.service import ReplayService
from cwmn_web.server.replays.sessions import new_recording, open_recording
from cwmn_web.server.sites import Site, hostname_of
from cwmn_web.viewer.session import GuestSession
from tests.helpers.aio import run_coroutine

__all__ = [
    "T0",
    "Clock",
    "ConnId",
    "HostWire",
    "LiveHarness",
    "MemoryServer",
    "Side",
    "Viewer",
    "run_coroutine",
    "scratch_dir",
]

T0 = 1_800_000_000.0
"""Where the fake clock starts (wall-clock seconds: the store's records use them too)."""
SERVER_URL = "http://cwmn.test"
ORIGIN = "https://shop.example.com"


T = TypeVar("T")
_scratch: list[Path] = []
_ADMITTED = (StartSession, AcceptHostInvite)
"""Requests whose session the relay admits with its quotas before their store work."""


@dataclass
class Clock:
    """A clock that moves only when told."""

    now: float = T0


def scratch_dir() -> Path:
    """A new empty folder (a server's data dir), removed when the process exits."""
    if not _scratch:
        _scratch.append(Path(tempfile.mkdtemp(prefix="cwmn-live-")))
        atexit.register(shutil.rmtree, _scratch[0], True)
    return Path(tempfile.mkdtemp(dir=_scratch[0]))


@dataclass
class Watch:
    """A host connection following a replay (``HostSocket.watch_replay``): the update it
    last heard, and when the row is read next."""

    replay_id: str
    last: ReplayUpdate
    due: float


class MemoryServer:
    """The real server core over a real store, its edge done in memory and synchronously
    (a replay's frames are written at once, where the relay writes them in a thread):
    what ``relay``, ``host_socket`` and ``guest_socket`` do, for every request a host or a
    viewer sends (sessions, links, joins, removals, names, invites through the real
    :class:`Invites` into the store's outbox, invitations to host, replays through the real
    :class:`ReplayService`, the end of a session). The render worker is another process: a
    test moves a replay along by writing its row (``store.replays``) as it does; a watching
    host reads it every ``WATCH_INTERVAL``, as the edge does."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        max_session_seconds: float = 3600.0,
        host_grace_seconds: float = 60.0,
        site_id: int = 1,
        data_dir: Path | None = None,
        idle_timeout: float = 0.0,
    ) -> None:
        """``idle_timeout``: the server's (``CWMN_IDLE_TIMEOUT``); off unless a test asks."""
        self.store, self.clock, self.site_id = store, clock, site_id
        self.max_session_seconds = max_session_seconds
        self.settings = Settings(
            data_dir=data_dir or scratch_dir(),
            max_session_seconds=max_session_seconds,
            host_grace_seconds=host_grace_seconds,
            public_url=SERVER_URL,
            frame_log=None,
        )
        outbox = OutboxTransport(store)
        self.invites = Invites(self.settings, store, outbox, outbox)
        self.replays = ReplayService(self.settings, store, self.invites)
        if store.site_for_host(hostname_of(ORIGIN)) is None:
            store.add_domain(hostname_of(ORIGIN))
        limits = Limits(idle_timeout=idle_timeout)
        self.rooms = LiveRooms(max_session_seconds, host_grace_seconds, limits)
        self.cores: dict[ConnId, HostCore | GuestCore] = {}
        self.devices: dict[ConnId, str | None] = {}
        self.outbound: dict[ConnId, list[str]] = {}
        """Frames written to each connection, not yet taken."""
        self.closed: dict[ConnId, tuple[int, str]] = {}
        """Connections the server closed: code and reason."""
        self.watching: dict[ConnId, Watch] = {}

    def shutdown(self) -> None:
        """What ``Relay.shutdown`` does: close the recordings; sessions stay in the store."""
        self.rooms.close_all()

    @property
    def site(self) -> Site:
        site = self.store.site_by_id(self.site_id)
        assert site is not None
        return site

    # -- sockets ----------------------------------------------------------------------------
    def admits(self, origin: str) -> bool:
        """``host_socket``'s check before the handshake: a site has ``origin``'s domain."""
        return self.store.site_for_host(hostname_of(origin)) is not None

    def open_host(self) -> ConnId:
        conn = self.rooms.connect()
        self.cores[conn] = HostCore(self.rooms, conn)
        self.outbound[conn] = []
        return conn

    def open_guest(self, device: str | None) -> ConnId:
        conn = self.rooms.connect()
        self.cores[conn] = GuestCore(self.rooms, conn)
        self.devices[conn] = device
        self.outbound[conn] = []
        return conn

    def take(self, conn: ConnId) -> list[str]:
        out, self.outbound[conn] = self.outbound[conn], []
        return out

    def receive(self, conn: ConnId, text: str) -> None:
        """A frame from connection ``conn`` (dropped once the server closed it)."""
        if conn in self.closed:
            return
        core, now = self.cores[conn], self.clock.now
        message = codec.decode(text)
        out = core.receive(message, now)
        self.carry_out(out)
        if out.work is not None:
            try:
                if isinstance(core, HostCore) and isinstance(out.work, _ADMITTED):
                    core.admitted()  # the relay's quotas admit it first (no limits here)
                out = self._work(core, out.work)
            except CwmnError as exc:
                out = core.error(message.ref, exc)
            finally:
                if isinstance(core, HostCore):
                    core.release_slot()
            self.carry_out(out)

    def gone(self, conn: ConnId, close_code: int | None = None) -> None:
        """``conn`` is closed (by the client with ``close_code``, or after the server did)."""
        core = self.cores.pop(conn, None)
        self.watching.pop(conn, None)
        if core is None:
            return
        if isinstance(core, HostCore):
            self.carry_out(core.gone(close_code, self.clock.now))
        else:
            self.carry_out(core.gone())
        self.closed.setdefault(conn, (close_code or 1000, "closed by the client"))

    def next_due(self) -> float | None:
        """The next deadline: the live core's, or a watched replay's next read."""
        dues = [self.rooms.next_due(), *(w.due for w in self.watching.values())]
        return min((d for d in dues if d is not None), default=None)

    def tick(self) -> None:
        self.carry_out(self.rooms.tick(self.clock.now))
        for conn, watch in list(self.watching.items()):
            if watch.due <= self.clock.now:
                self._follow(conn, watch)

    def carry_out(self, out: Outputs) -> None:
        for item in out:
            if isinstance(item, Send):
                if item.to not in self.closed and item.to in self.outbound:
                    self.outbound[item.to].append(item.text)
            elif isinstance(item, Close):
                self.closed.setdefault(item.to, (item.code, item.reason))
            elif isinstance(item, RecordFrame):
                self.carry_out(self.rooms.recorded(item.session_id, item.ticket, _write(item)))
            elif isinstance(item, RecordPrivacy):
                item.recording.privacy(item.enabled, item.page, item.now_ms)
            elif isinstance(item, SessionOver):
                store_session_over(self.store, self.settings.data_dir, item, self.clock.now)
            else:
                store_change(self.store, item)

    def _site_settings(self) -> dict[str, object]:
        settings: dict[str, object] = self.site.info(hostname_of(ORIGIN))["settings"]
        return settings

    def _assets(self, session_id: str) -> dict[str, object]:
        """``SessionStarted.assets``, as ``HostSocket._assets`` makes it."""
        key = self.invites.key
        return session_assets(
            self._site_settings(),
            SERVER_URL,
            asset_token(key, READ, session_id),
            asset_token(key, UPLOAD, session_id),
            AssetLimits.of(self.settings),
        )

    # -- the edge in memory: each step is the function the edge runs (``host_work``,
    # ``guest_join``, the relay's); the order of the steps is written here again, as
    # ``HostSocket``/``GuestSocket`` write it with their awaits ------------------------------
    def _work(self, core: HostCore | GuestCore, message: Message) -> Outputs:
        if isinstance(core, GuestCore):
            assert isinstance(message, Join)
            return self._join(core, message)
        work: dict[type[Message], Callable[[HostCore, Any], Outputs]] = {
            StartSession: self._start,
            ResumeSession: self._resume,
            AcceptHostInvite: self._accept_host_invite,
            CreateLink: self._create_link,
            CreateJoinCode: self._join_code,
            CreatePublicLink: self._public_link,
            SetPublicLink: self._set_public_link,
            RemoveGuest: self._remove_guest,
            GetHostInvite: self._host_invite_info,
            WatchReplay: self._watch_replay,
            AbandonReplay: self._abandon_replay,
            InviteGuest: self._sending(self._invite),
            InviteToHost: self._sending(self._invite_to_host),
            SendVideo: self._sending(self._send_video),
        }
        return work[type(message)](core, message)

    def _start(self, core: HostCore, message: StartSession) -> Outputs:
        record = host_work.new_session(
            self.store, self.site_id, message, ORIGIN, core.page_url, self.clock.now
        )
        recording = None
        if record.is_replay:
            settings = self._site_settings()
            recording = new_recording(
                self.store, self.settings, record, settings, SERVER_URL, self.replays.key
            )
        settings, assets = self._site_settings(), self._assets(record.id)
        return core.started(message, record, settings, self.clock.now, recording, assets)

    def _resume(self, core: HostCore, message: ResumeSession) -> Outputs:
        store, now = self.store, self.clock.now
        record = host_work.session_to_resume(store, message.resume_token, self.site_id)
        if self._end_if_expired(record):
            raise host_work.session_ended()
        public = store.public_links_enabled(record.id)
        # The edge does this under ``Relay.opening`` (a lock across its awaits, so two
        # resumes racing after a restart open the files once); here nothing interleaves.
        recording = None
        if record.is_replay:
            recording = self.rooms.recording_of(record.id) or open_recording(
                store, self.settings.data_dir, record
            )
        settings, assets = self._site_settings(), self._assets(record.id)
        return core.resumed(message, record, settings, public, now, recording, assets)

    def _accept_host_invite(self, core: HostCore, message: AcceptHostInvite) -> Outputs:
        record = run_coroutine(
            accept_invitation(
                self.store,
                message.token,
                self.site_id,
                ORIGIN,
                core.page_url,
                (message.code, self.invites.key),
            )
        )
        if self._end_if_expired(record):
            raise host_work.invitation_expired()
        settings, assets = self._site_settings(), self._assets(record.id)
        return core.accepted(message, record, settings, self.clock.now, assets)

    def _create_link(self, core: HostCore, message: CreateLink) -> Outputs:
        session_id, ttl = core.protocol.session_id, self.settings.link_ttl_seconds
        link = host_work.new_link(self.store, session_id, ttl, SERVER_URL, message, self.clock.now)
        return host_work.reply(core.conn, link)

    def _join_code(self, core: HostCore, message: CreateJoinCode) -> Outputs:
        assert core.live is not None
        key, now = self.invites.key, self.clock.now
        make = host_work.new_join_code(
            self.store, core.live.room, key, self.settings, SERVER_URL, message, now
        )
        return host_work.reply(core.conn, make())

    def _public_link(self, core: HostCore, message: CreatePublicLink) -> Outputs:
        self._make_public_link(core)
        assert core.live is not None
        room = core.live.room
        created = LinkCreated(ref=message.ref, url=room.public_url, expires_at=room.public_expires)
        return host_work.reply(core.conn, created)

    def _set_public_link(self, core: HostCore, message: SetPublicLink) -> Outputs:
        self._make_public_link(core)
        assert core.live is not None
        self.store.set_public_links(core.live.room.session_id, message.enabled, now=self.clock.now)
        return core.public_link_set(message)

    def _make_public_link(self, core: HostCore) -> None:
        """``HostSocket._public_link``: made once, then the same one."""
        if not core.needs_public_link():
            return
        assert core.live is not None
        room, max_seconds, now = core.live.room, self.settings.max_session_seconds, self.clock.now
        url, expires_at = host_work.new_public_link(
            self.store, room, max_seconds, SERVER_URL, now, now
        )()
        core.public_link_made(url, expires_at)

    def _remove_guest(self, core: HostCore, message: RemoveGuest) -> Outputs:
        assert core.live is not None
        self.store.remove_guest(core.live.room.session_id, message.guest_id, now=self.clock.now)
        return core.guest_removed(message)

    def _host_invite_info(self, core: HostCore, message: GetHostInvite) -> Outputs:
        info = run_coroutine(host_work.host_invite_info(self.store, self.site_id, message))
        return host_work.reply(core.conn, info)

    # -- sending (answered when sent: here, at once) ------------------------------------------
    def _sending(
        self, send: Callable[[HostCore, Any], Coroutine[Any, Any, Message]]
    ) -> Callable[[HostCore, Message], Outputs]:
        """``HostSocket.sending`` and ``answer_later``: the sending runs to its end now."""

        def start(core: HostCore, message: Message) -> Outputs:
            reply: Message
            try:
                reply = run_coroutine(send(core, message))
            except Exception as exc:
                reply = send_failed(message.ref, exc)
            return core.sent(reply)

        return start

    async def _invite(self, core: HostCore, message: InviteGuest) -> InviteSent:
        assert core.live is not None
        room, settings = core.live.room, self._site_settings()
        return await host_work.invite_guest(
            self.invites, self.site_id, room, settings, SERVER_URL, message
        )

    async def _invite_to_host(self, core: HostCore, message: InviteToHost) -> HostInviteSent:
        return await host_work.invite_to_host(self.invites, self.site, ORIGIN, SERVER_URL, message)

    async def _send_video(self, core: HostCore, message: SendVideo) -> Message:
        return await host_work.send_video(self.replays, self.site_id, message)

    # -- replays ------------------------------------------------------------------------------
    def _watch_replay(self, core: HostCore, message: WatchReplay) -> Outputs:
        record = run_coroutine(self.replays.find(message.resume_token, self.site_id))
        first = self.replays.update(record, ref=message.ref)
        watch = Watch(record.id, first, self.clock.now + WATCH_INTERVAL)
        self.watching.pop(core.conn, None)  # a new watch replaces the last, as on the edge
        if not settled(first.status, first.send_status):
            self.watching[core.conn] = watch
        return host_work.reply(core.conn, first)

    def _follow(self, conn: ConnId, watch: Watch) -> None:
        """One round of ``HostSocket._follow``: what is due of the replay's email, then its
        row; a change is pushed; a settled replay is no longer read."""
        news = run_coroutine(host_work.replay_news(self.replays, watch.replay_id, watch.last))
        if news is not None:
            self.carry_out(host_work.reply(conn, news))
            watch.last = news
        watch.due = self.clock.now + WATCH_INTERVAL
        if settled(watch.last.status, watch.last.send_status):
            del self.watching[conn]

    def _abandon_replay(self, core: HostCore, message: AbandonReplay) -> Outputs:
        done = run_coroutine(
            host_work.abandon_replay(self.replays, self.site_id, message, self._end_live)
        )
        return host_work.reply(core.conn, done)

    async def _end_live(self, session_id: str) -> None:
        self.carry_out(self.rooms.end_live(session_id, EndReason.ENDED, tell_host=True))

    def _end_if_expired(self, record: SessionRecord) -> bool:
        """``Relay.end_if_expired``: end the session if it is past its maximum duration
        (the same core call, ``LiveRooms.over``; the relay awaits carrying it out)."""
        over, out = self.rooms.over(record, self.clock.now)
        self.carry_out(out)
        return over

    def _join(self, core: GuestCore, message: Join) -> Outputs:
        """What ``GuestSocket.join`` does, without awaits (so one check of the session's
        end, where the edge checks again after its last await)."""
        store, now = self.store, self.clock.now
        link, session, device, seated = guest_join.look_up(
            store, message.token, self.devices[core.conn]
        )
        core.admission(link, session, seated, device, now, self.max_session_seconds)
        assert link is not None and session is not None and device is not None
        name = core.join_name(message, link, seated, now)
        guest_id = guest_join.new_guest_id(seated)
        if link.kind != "public":
            bound = store.bind_link(link.token_hash, device, guest_id, name)
            link, guest_id = core.bound(bound, device)
        if self._end_if_expired(session):
            raise JoinRefused(ErrorCode.SESSION_ENDED)
        seat = guest_join.take_seat(store, session, link, device, guest_id, name, now)
        try:
            return core.seat(message, session, seat.record, name, seat.max_guests, now)
        except JoinRefused:
            if seat.created:  # as the edge does: a refused join leaves no guest row
                store.forget_guest(seat.record.guest_id)
            raise


def _write(item: RecordFrame) -> BaseException | None:
    """What the relay's writer thread does with a frame to record, at once: the error
    that stops its ack, if any (each write is done before the next: none is left queued
    behind a failed one)."""
    try:
        item.recording.take(item.frame, item.page, item.now_ms)
    except (OSError, ValueError) as exc:
        return exc
    return None


class Side(Protocol):
    """One client of the server: the seam a host core or a viewer core plugs into."""

    def exchange(self, server: MemoryServer) -> bool:
        """Carry this side's frames to the server and the server's back (and its closes);
        True if anything moved."""
        ...

    def next_due(self) -> float | None: ...

    def tick(self, now: float) -> None: ...


def exchange_one(side: OneSocket, server: MemoryServer) -> bool:
    """:meth:`Side.exchange` for a side with one socket."""
    busy = False
    for text in side.to_send():
        busy = True
        server.receive(side.conn, text)
    for text in server.take(side.conn):
        busy = True
        side.deliver(text)
    closed = server.closed.get(side.conn)
    if closed is not None and not side.done:
        busy = side.done = True
        side.lost(closed[0])
        server.gone(side.conn, closed[0])
    return busy


class OneSocket(Protocol):
    conn: ConnId
    done: bool

    def to_send(self) -> list[str]: ...

    def deliver(self, text: str) -> None: ...

    def lost(self, close_code: int) -> None: ...


_refs = count(100)


@dataclass(eq=False)
class HostWire:
    """A host as the server sees it: the protocol messages a host sends; what comes back
    is kept (decoded) in :attr:`received`."""

    conn: ConnId
    received: list[Message] = field(default_factory=list)
    close_code: int | None = None
    """The code the server closed this socket with."""
    done: bool = False
    _outgoing: list[str] = field(default_factory=list)

    def send(self, message: Message) -> None:
        self._outgoing.append(codec.encode(message))

    def deliver(self, text: str) -> None:
        self.received.append(codec.decode(text))

    def to_send(self) -> list[str]:
        out, self._outgoing = self._outgoing, []
        return out

    def exchange(self, server: MemoryServer) -> bool:
        return exchange_one(self, server)

    def next_due(self) -> float | None:
        return None

    def tick(self, now: float) -> None:
        pass

    def lost(self, close_code: int) -> None:
        self.close_code = close_code

    def take(self) -> list[Message]:
        """What the server sent since the last take."""
        out, self.received = self.received, []
        return out

    def answer(self, ref: int) -> Message:
        """The answer to request ``ref`` (taken out of :attr:`received`)."""
        found = next(m for m in self.received if m.ref == ref)
        self.received.remove(found)
        return found


@dataclass(eq=False)
class Viewer:
    """A real viewer core (``GuestSession``) on one connection."""

    conn: ConnId
    session: GuestSession
    ops: list[dict[str, Any]] = field(default_factory=list)
    """Everything the core asked the viewer page to do."""
    retry_in: float | None = None
    """After the server closed the socket: the core's delay before it reconnects."""
    done: bool = False

    def deliver(self, text: str) -> None:
        self.session.receive(text)
        self.ops.extend(self.session.page_ops())

    def to_send(self) -> list[str]:
        return self.session.to_send()

    def exchange(self, server: MemoryServer) -> bool:
        return exchange_one(self, server)

    def next_due(self) -> float | None:
        return self.session.next_due()

    def tick(self, now: float) -> None:
        self.session.tick(now)
        self.ops.extend(self.session.page_ops())

    def lost(self, close_code: int) -> None:
        self.retry_in = self.session.lost(close_code)
        self.ops.extend(self.session.page_ops())

    def take_ops(self, op: str | None = None) -> list[dict[str, Any]]:
        """The page ops since the last take (only those named ``op``, if given)."""
        out, self.ops = self.ops, []
        return [o for o in out if op is None or o.get("op") == op]


class LiveHarness:
    """A server core, hosts and viewers wired in memory, on one fake clock."""

    def __init__(self, store: Store, **server: Any) -> None:
        self.clock = Clock()
        self.server = MemoryServer(store, self.clock, **server)
        self.sides: list[Side] = []
        self.resume_tokens: dict[str, str] = {}
        """Each session's resume token (the store keeps only its hash)."""

    @property
    def now(self) -> float:
        return self.clock.now

    def host(self) -> HostWire:
        wire = HostWire(self.server.open_host())
        self.sides.append(wire)
        return wire

    def viewer(self, token: str, name: str = "Bob", device: str | None = "device-a") -> Viewer:
        """A viewer that opens ``token``'s link (joined once :meth:`pump` has run)."""
        viewer = Viewer(self.server.open_guest(device), GuestSession(token, name))
        viewer.session.connected()
        self.sides.append(viewer)
        self.pump()
        return viewer

    def started(self, host: HostWire, page_id: str = "p1") -> SessionStarted:
        """Greet and start a session on ``host``."""
        host.send(Hello(ref=1, page_url=ORIGIN + "/shop"))
        host.send(
            StartSession(ref=2, host_name="Ann", host_email="ann@example.com", page_id=page_id)
        )
        self.pump()
        host.answer(1)
        reply = host.answer(2)
        assert isinstance(reply, SessionStarted), reply
        self.resume_tokens[reply.session_id] = reply.resume_token
        return reply

    def link(self, host: HostWire) -> str:
        """A new private link's token."""
        ref = next(_refs)
        host.send(CreateLink(ref=ref))
        self.pump()
        reply = host.answer(ref)
        assert isinstance(reply, LinkCreated), reply
        return reply.url.rsplit("/join/", 1)[1]

    def mirror(self, host: HostWire, seq: int, kind: str = "mutations", **data: Any) -> None:
        host.send(MirrorFrame(seq=seq, kind=kind, data=data))
        self.pump()

    def close(self, side: HostWire | Viewer, code: int | None = None) -> None:
        """The client closes its socket."""
        self.sides.remove(side)
        side.done = True
        self.server.gone(side.conn, code)
        self.pump()

    def pump(self) -> None:
        """Carry frames both ways until every side is quiet."""
        while any([side.exchange(self.server) for side in self.sides]):
            pass

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: every core is ticked at each deadline on the way."""
        end = self.clock.now + seconds
        while (due := self._next_due()) is not None and due <= end:
            self.clock.now = max(self.clock.now, due)
            self._tick()
        self.clock.now = end
        self._tick()

    def _next_due(self) -> float | None:
        dues = [self.server.next_due(), *(side.next_due() for side in self.sides)]
        return min((d for d in dues if d is not None), default=None)

    def _tick(self) -> None:
        self.server.tick()
        for side in self.sides:
            side.tick(self.clock.now)
        self.pump()
