"""The live side in memory, on a fake clock: the real server core (``server/live``) with its
sockets as queues of encoded frames, a host side and real viewer cores (``GuestSession``).

Nothing runs by itself: each input is followed by :meth:`LiveHarness.pump`, which carries
every queued frame until all sides are quiet; time moves only with
:meth:`LiveHarness.advance`, which ticks every core at each deadline on the way. Frames go
through :mod:`cwmn_web.protocol.codec` both ways, so the wire format is exercised.

A host side is either :class:`HostWire` (the protocol messages a host sends, to test the
server's rules message by message) or the real host core (:mod:`tests.helpers.host_core`).
Any :class:`Side` (``exchange``, ``next_due``, ``tick``) can join.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Protocol

from cwmn_web.errors import CwmnError, ErrorCode
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    CreateLink,
    Hello,
    Join,
    LinkCreated,
    Message,
    MirrorFrame,
    RemoveGuest,
    ResumeSession,
    SessionStarted,
    StartSession,
)
from cwmn_web.server.db import Store
from cwmn_web.server.links import device_hash, usable_token
from cwmn_web.server.live.guest import GuestCore, JoinRefused
from cwmn_web.server.live.host import HostCore
from cwmn_web.server.live.outputs import Close, ConnId, Outputs, Send, SessionOver, StoreName
from cwmn_web.server.live.registry import LiveRooms
from cwmn_web.server.sites import DEFAULT_SETTINGS
from cwmn_web.viewer.session import GuestSession

__all__ = ["T0", "Clock", "ConnId", "HostWire", "LiveHarness", "MemoryServer", "Side", "Viewer"]

T0 = 1_800_000_000.0
"""Where the fake clock starts (wall-clock seconds: the store's records use them too)."""
SERVER_URL = "http://cwmn.test"
ORIGIN = "https://shop.example.com"


@dataclass
class Clock:
    """A clock that moves only when told."""

    now: float = T0


class MemoryServer:
    """The real server core over a real store, its edge done in memory and synchronously:
    what ``relay``, ``host_socket`` and ``guest_socket`` do, for the requests the live
    tests make (sessions, links, joins, removals, names, the end of a session)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        max_session_seconds: float = 3600.0,
        host_grace_seconds: float = 60.0,
        site_id: int = 1,
    ) -> None:
        self.store, self.clock, self.site_id = store, clock, site_id
        self.max_session_seconds = max_session_seconds
        self.rooms = LiveRooms(max_session_seconds, host_grace_seconds)
        self.cores: dict[ConnId, HostCore | GuestCore] = {}
        self.devices: dict[ConnId, str | None] = {}
        self.outbound: dict[ConnId, list[str]] = {}
        """Frames written to each connection, not yet taken."""
        self.closed: dict[ConnId, tuple[int, str]] = {}
        """Connections the server closed: code and reason."""

    # -- sockets ----------------------------------------------------------------------------
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
                out = self._work(core, out.work)
            except CwmnError as exc:
                out = core.error(message.ref, exc)
            self.carry_out(out)

    def gone(self, conn: ConnId, close_code: int | None = None) -> None:
        """``conn`` is closed (by the client with ``close_code``, or after the server did)."""
        core = self.cores.pop(conn, None)
        if core is None:
            return
        if isinstance(core, HostCore):
            self.carry_out(core.gone(close_code, self.clock.now))
        else:
            self.carry_out(core.gone())
        self.closed.setdefault(conn, (close_code or 1000, "closed by the client"))

    def tick(self) -> None:
        self.carry_out(self.rooms.tick(self.clock.now))

    def carry_out(self, out: Outputs) -> None:
        for item in out:
            if isinstance(item, Send):
                if item.to not in self.closed and item.to in self.outbound:
                    self.outbound[item.to].append(item.text)
            elif isinstance(item, Close):
                self.closed.setdefault(item.to, (item.code, item.reason))
            elif isinstance(item, SessionOver):
                self.store.end_session(item.session_id, item.reason, now=self.clock.now)
            elif isinstance(item, StoreName):
                self.store.rename_guest(item.guest_id, item.name)

    # -- the edge's store work --------------------------------------------------------------
    def _work(self, core: HostCore | GuestCore, message: Message) -> Outputs:
        now, store = self.clock.now, self.store
        if isinstance(core, GuestCore):
            assert isinstance(message, Join)
            return self._join(core, message)
        if isinstance(message, StartSession):
            record = store.create_session(
                self.site_id,
                message.host_name,
                message.host_email,
                message.is_replay,
                ORIGIN,
                core.page_url,
                now=now,
            )
            return core.started(message, record, dict(DEFAULT_SETTINGS), now)
        if isinstance(message, ResumeSession):
            found = store.session_by_resume_token(message.resume_token)
            if found is None:
                raise CwmnError("no session has this resume token", ErrorCode.NOT_FOUND)
            over, out = self.rooms.over(found, now)
            self.carry_out(out)
            if over:
                raise CwmnError("the session has ended", ErrorCode.SESSION_ENDED)
            public = store.public_links_enabled(found.id)
            return core.resumed(message, found, dict(DEFAULT_SETTINGS), public, now)
        if isinstance(message, CreateLink):
            link = store.create_link(core.protocol.session_id, 3600.0, now=now)
            out = Outputs()
            url = f"{SERVER_URL}/join/{link.token}"
            out.send(core.conn, LinkCreated(ref=message.ref, url=url, expires_at=link.expires_at))
            return out
        if isinstance(message, RemoveGuest):
            assert core.live is not None
            store.remove_guest(core.live.room.session_id, message.guest_id, now=now)
            return core.guest_removed(message)
        raise CwmnError(f"the harness does not do {message.type}", ErrorCode.SERVER_ERROR)

    def _join(self, core: GuestCore, message: Join) -> Outputs:
        """What ``GuestSocket.join`` does, without awaits."""
        store, now = self.store, self.clock.now
        link = store.link_by_token(message.token) if usable_token(message.token) else None
        session = store.get_session(link.session_id) if link is not None else None
        device = device_hash(self.devices[core.conn])
        seated = store.guest_on_link(link, device) if link else None
        core.admission(link, session, seated, device, now, self.max_session_seconds)
        assert link is not None and session is not None and device is not None
        name = core.join_name(message, link, seated, now)
        guest_id = seated.guest_id if seated else secrets.token_urlsafe(12)
        if link.kind != "public":
            bound = store.bind_link(link.token_hash, device, guest_id, name)
            link, guest_id = core.bound(bound, device)
        over, out = self.rooms.over(session, now)
        self.carry_out(out)
        if over:
            raise JoinRefused(ErrorCode.SESSION_ENDED)
        site = store.site_by_id(session.site_id)
        limit = int({**DEFAULT_SETTINGS, **(site.settings if site else {})}["maxGuests"])
        record = store.seat_guest(session.id, link, device, guest_id, name, now=now)
        return core.seat(message, session, record, name, limit, now)


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
        dues = [self.server.rooms.next_due(), *(side.next_due() for side in self.sides)]
        return min((d for d in dues if d is not None), default=None)

    def _tick(self) -> None:
        self.server.tick()
        for side in self.sides:
            side.tick(self.clock.now)
        self.pump()
