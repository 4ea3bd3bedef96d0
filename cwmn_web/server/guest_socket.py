"""The WebSocket endpoint guests connect to (``/ws/guest``): same-origin only, then an
adapter between the socket and the guest's protocol core (:class:`~.live.guest.GuestCore`):
frames in, the core's outputs out, and the store work of a join."""

from __future__ import annotations

import secrets

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from ..errors import CwmnError, ErrorCode
from ..protocol.messages import CLOSE_BAD_ORIGIN, Join
from .config import Settings
from .db import LinkRecord, SessionRecord, Store
from .links import DEVICE_COOKIE, device_hash, usable_token
from .live.guest import JOIN_REFUSALS, GuestCore, JoinRefused
from .live.outputs import Outputs
from .peer import SocketClosed, read_message, serve
from .relay import Relay
from .sites import DEFAULT_SETTINGS, same_origin

__all__ = ["JOIN_REFUSALS", "GuestSocket", "guest_socket"]


async def guest_socket(ws: WebSocket) -> None:
    """One guest connection. Only pages of this server may open it (the viewer)."""
    settings: Settings = ws.app.state.settings
    origin, host = ws.headers.get("origin", ""), ws.headers.get("host", "")
    if not same_origin(origin, host, settings.public_url):
        await ws.close(CLOSE_BAD_ORIGIN, reason="origin not allowed")
        return
    await ws.accept()
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
        while True:
            try:
                message = await read_message(self.ws, self.peer)
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
        link: LinkRecord | None = None
        session: SessionRecord | None = None
        if usable_token(message.token):
            link = await run_in_threadpool(store.link_by_token, message.token)
        if link is not None:
            session = await run_in_threadpool(store.get_session, link.session_id)
        device = device_hash(self.ws.cookies.get(DEVICE_COOKIE))
        seated = await run_in_threadpool(store.guest_on_link, link, device) if link else None
        core.admission(link, session, seated, device, clock(), self.settings.max_session_seconds)
        assert link is not None and session is not None and device is not None
        name = core.join_name(message, link, seated, clock())
        guest_id = seated.guest_id if seated else secrets.token_urlsafe(12)
        if link.kind != "public":
            bound = await run_in_threadpool(
                store.bind_link, link.token_hash, device, guest_id, name
            )
            link, guest_id = core.bound(bound, device)
        if await self.relay.end_if_expired(session):
            raise JoinRefused(ErrorCode.SESSION_ENDED)
        site = await run_in_threadpool(store.site_by_id, session.site_id)
        limit = int({**DEFAULT_SETTINGS, **(site.settings if site else {})}["maxGuests"])
        record = await run_in_threadpool(store.seat_guest, session.id, link, device, guest_id, name)
        # Nothing awaited between this check and taking the seat.
        if await self.relay.end_if_expired(session):
            raise JoinRefused(ErrorCode.SESSION_ENDED)
        return core.seat(message, session, record, name, limit, clock())
