"""The WebSocket endpoint guests connect to (``/ws/guest``): same-origin only, then an
adapter between the socket and the guest's protocol core (:class:`~.live.guest.GuestCore`):
frames in, the core's outputs out, and the store work of a join."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from ..errors import CwmnError, ErrorCode
from ..protocol.messages import CLOSE_BAD_ORIGIN, Join
from ..protocol.routes import LINK
from .config import Settings
from .db import Store
from .guest_join import look_up, new_guest_id, take_seat
from .links import DEVICE_COOKIE
from .live.guest import JOIN_REFUSALS, GuestCore, JoinRefused
from .live.outputs import Outputs
from .peer import SocketClosed, serve
from .relay import Relay, room_elsewhere
from .sites import same_origin

__all__ = ["JOIN_REFUSALS", "GuestSocket", "guest_socket"]


async def guest_socket(ws: WebSocket) -> None:
    """One guest connection. Only pages of this server may open it (the viewer)."""
    settings: Settings = ws.app.state.settings
    origin, host = ws.headers.get("origin", ""), ws.headers.get("host", "")
    if not same_origin(origin, host, settings.public_url):
        await ws.close(CLOSE_BAD_ORIGIN, reason="origin not allowed")
        return
    cluster = ws.app.state.cluster
    if cluster is not None and await cluster.forwarded(ws, (LINK,)):
        return  # served by the process that holds its session's room
    await ws.accept()
    if not await ws.app.state.relay.let_in(ws):
        return
    conn = GuestSocket(ws, ws.app.state.relay, settings, ws.app.state.store)
    await serve(conn.run, conn.closed, conn.peer)


class GuestSocket:
    """Adapts one guest socket to its :class:`GuestCore`; reads and writes the store for a
    join. Frames reach the guest through the relay."""

    def __init__(self, ws: WebSocket, relay: Relay, settings: Settings, store: Store) -> None:
        self.ws, self.relay, self.settings, self.store = ws, relay, settings, store
        conn, self.peer = relay.connect(ws)
        self.core = GuestCore(relay.core, conn)
        self.peer.on_failed = self._failed

    async def run(self) -> bool:
        """Serve until the socket closes; True if this side closed it."""
        reader = self.relay.reader(self.ws, self.peer)
        while True:
            try:
                message, _ = await reader.next()
            except SocketClosed as closed:
                return closed.by_us
            out = self.core.receive(message, self.relay.clock())
            if isinstance(out.work, Join):
                try:
                    out = await self.join(out.work)
                except CwmnError as exc:
                    out = self.core.error(message.ref, exc)
            await self.relay.carry_out(out)
            if self.core.done:
                return True

    def _failed(self) -> None:
        """The peer was too slow or its socket broke: the guest is gone."""
        self.relay.carry_out_soon(self.core.gone())

    def closed(self) -> None:
        self.relay.carry_out_soon(self.core.gone())
        self.relay.disconnect(self.core.conn)

    async def join(self, message: Join) -> Outputs:
        """Look the link and the device up, bind a private link on first use, take a seat
        (each decision is the core's)."""
        store, clock, core = self.store, self.relay.clock, self.core
        cookie = self.ws.cookies.get(DEVICE_COOKIE)
        link, session, device, seated = await run_in_threadpool(
            look_up, store, message.token, cookie
        )
        core.admission(link, session, seated, device, clock(), self.settings.max_session_seconds)
        assert link is not None and session is not None and device is not None
        name = core.join_name(message, link, seated, clock())
        guest_id = new_guest_id(seated)
        if link.kind != "public":
            bound = await run_in_threadpool(
                store.bind_link, link.token_hash, device, guest_id, name
            )
            link, guest_id = core.bound(bound, device)
        if await self.relay.end_if_expired(session):
            raise JoinRefused(ErrorCode.SESSION_ENDED)
        if not await self.relay.hold(session.id):
            raise room_elsewhere()
        seat = await run_in_threadpool(take_seat, store, session, link, device, guest_id, name)
        try:
            # Nothing awaited between this check and taking the seat.
            if await self.relay.end_if_expired(session):
                raise JoinRefused(ErrorCode.SESSION_ENDED)
            return core.seat(message, session, seat.record, name, seat.max_guests, clock())
        except JoinRefused:
            if seat.created:  # a refused join leaves no guest row
                await run_in_threadpool(store.forget_guest, seat.record.guest_id)
            raise
