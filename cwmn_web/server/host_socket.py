"""The WebSocket endpoint hosts connect to: Origin check, handshake, session start/end."""

from __future__ import annotations

import contextlib
import time

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import CwmnError
from ..protocol import codec
from ..protocol.messages import (
    CLOSE_BAD_ORIGIN,
    CLOSE_PROTOCOL,
    EndSession,
    ErrorReply,
    Hello,
    Message,
    Ping,
    Pong,
    SessionEnded,
    SessionStarted,
    StartSession,
    Welcome,
)
from .host_protocol import HostProtocol
from .sites import Site, hostname_of
from .store import Store

__all__ = ["host_socket"]


async def host_socket(ws: WebSocket) -> None:
    """One host connection. Pages of unauthorized domains are refused before the handshake."""
    store: Store = ws.app.state.store
    origin = ws.headers.get("origin", "")
    site = await run_in_threadpool(store.site_for_host, hostname_of(origin)) if origin else None
    if site is None:
        await ws.close(CLOSE_BAD_ORIGIN, reason="origin not authorized")
        return
    await ws.accept()
    conn = HostConnection(ws, store, site, origin)
    with contextlib.suppress(WebSocketDisconnect):
        await conn.run()


class HostConnection:
    def __init__(self, ws: WebSocket, store: Store, site: Site, origin: str) -> None:
        self.ws, self.store, self.site, self.origin = ws, store, site, origin
        self.protocol = HostProtocol()
        self.page_url = ""

    async def run(self) -> None:
        while True:
            event = await self.ws.receive()
            if event["type"] == "websocket.disconnect":
                return
            frame = event.get("text")
            if frame is None:
                await self.ws.close(CLOSE_PROTOCOL, reason="frames must be text (JSON)")
                return
            try:
                message = codec.decode(frame)
            except CwmnError as exc:
                await self.ws.close(CLOSE_PROTOCOL, reason=exc.message[:120])
                return
            try:
                self.protocol.check(message)
                reply = await self.handle(message)
            except CwmnError as exc:
                reply = ErrorReply(ref=message.ref, code=exc.code, message=exc.message)
            await self.ws.send_text(codec.encode(reply))

    async def handle(self, message: Message) -> Message:
        if isinstance(message, Hello):
            self.page_url = message.page_url[:2048]
            self.protocol.greeted()
            return Welcome(ref=message.ref, server_time=time.time())
        if isinstance(message, StartSession):
            record = await run_in_threadpool(
                self.store.create_session,
                self.site.id,
                message.host_name[:200],
                message.host_email[:254],
                message.is_replay,
                self.origin,
                self.page_url,
            )
            self.protocol.started(record.id)
            return SessionStarted(
                ref=message.ref,
                session_id=record.id,
                resume_token=record.resume_token,
                started_at=record.created_at,
                is_replay=record.is_replay,
                host_name=record.host_name,
                host_email=record.host_email,
                settings=self.site.info(hostname_of(self.origin))["settings"],
            )
        if isinstance(message, EndSession):
            session_id = self.protocol.session_id
            await run_in_threadpool(self.store.end_session, session_id, "ended")
            self.protocol.ended()
            return SessionEnded(ref=message.ref, session_id=session_id, reason="ended")
        assert isinstance(message, Ping)
        return Pong(ref=message.ref)
