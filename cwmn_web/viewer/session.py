"""The guest's side of a session: join, frame order, sanitizing, reconnects, page ops.

:class:`GuestSession` does no I/O: frames go in, and frames to send, ops for the viewer page
and the delay before the next attempt come out. :meth:`GuestSession.run` drives it over
connections the caller opens (the browser edge, or an in-memory wire in tests). No ``js``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..errors import CwmnError, ProtocolError
from ..protocol import codec
from ..protocol.messages import (
    CLOSE_BAD_ORIGIN,
    CLOSE_PROTOCOL,
    CLOSE_REPLACED,
    CLOSE_SESSION_ENDED,
    CLOSE_UNSUPPORTED_VERSION,
    PROTOCOL_VERSION,
    ErrorReply,
    Hello,
    HostStatus,
    Join,
    Joined,
    Message,
    MirrorFrame,
    Paused,
    Ping,
    Pong,
    SessionEnded,
    Welcome,
)
from .sanitize import Sanitizer

__all__ = [
    "GUEST_PATH",
    "TRANSIENT_CODES",
    "Backoff",
    "GuestConnection",
    "GuestSession",
    "guest_ws_url",
]

GUEST_PATH = "/ws/guest"
#: Error codes worth another try; any other error reply ends the guest's session.
TRANSIENT_CODES = frozenset({"server_error", "rate_limited", "timeout", "network"})
#: Close codes after which reconnecting cannot help.
FINAL_CLOSES: dict[int, tuple[str, str]] = {
    CLOSE_BAD_ORIGIN: ("unauthorized", "This page may not connect to the CWMN server."),
    CLOSE_UNSUPPORTED_VERSION: ("protocol", "This viewer is out of date: reload the page."),
    CLOSE_PROTOCOL: ("protocol", "The server refused a message from this viewer."),
    CLOSE_REPLACED: ("network", "This session is now open in another tab or window."),
}
HELLO_REF, JOIN_REF = 1, 2
CONNECT_TIMEOUT = 10.0
JOIN_TIMEOUT = 15.0  # an open socket that never says "joined" is treated as lost


class GuestConnection(Protocol):
    """An open WebSocket of text frames that knows the close code the server sent."""

    close_code: int | None

    async def send(self, frame: str) -> None: ...

    async def recv(self) -> str:
        """The next frame; raises ``NetworkError`` once the socket is closed."""
        ...

    async def close(self) -> None: ...


def guest_ws_url(server: str) -> str:
    """``http(s)://host[:port]`` → ``ws(s)://host[:port]/ws/guest``."""
    scheme = "wss" if server.startswith("https:") else "ws"
    return f"{scheme}://{server.split('://', 1)[-1].rstrip('/')}{GUEST_PATH}"


class Backoff:
    """Delays between connection attempts: ``start`` doubling up to ``limit`` seconds."""

    def __init__(self, start: float = 0.5, limit: float = 8.0) -> None:
        self.start, self.limit = start, limit
        self._next = start

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.limit)
        return delay

    def reset(self) -> None:
        self._next = self.start


class GuestSession:
    """One guest's session across any number of connections.

    Per connection: :meth:`connected`, then :meth:`receive` for each frame, then
    :meth:`lost` (which answers the delay before the next attempt, or ``None`` to stop).
    After each call, send :meth:`to_send` and post :meth:`page_ops` to the viewer.
    """

    def __init__(self, token: str, name: str) -> None:
        self.token, self.name = token, name
        self.last_seq = 0
        self.joined = False
        self.done = False  # ended, or failed for good: never reconnect
        self.drop = False  # the server asked for another try: close this connection
        self.sanitizer = Sanitizer()
        self.backoff = Backoff()
        self._send: list[Message] = []
        self._ops: list[dict[str, Any]] = []

    # -- outputs -------------------------------------------------------------------------
    def to_send(self) -> list[str]:
        """Text frames to write, in order (drains the queue)."""
        out, self._send = self._send, []
        return [codec.encode(message) for message in out]

    def page_ops(self) -> list[dict[str, Any]]:
        """Messages for the viewer page (drains the queue); see docs of ``viewer_worker``."""
        out, self._ops = self._ops, []
        return out

    # -- inputs --------------------------------------------------------------------------
    def connected(self) -> None:
        """A new connection is open: greet the server and (re)join after ``last_seq``."""
        self.joined = self.drop = False
        self._send += [
            Hello(ref=HELLO_REF, role="guest"),
            Join(ref=JOIN_REF, token=self.token, name=self.name, last_seq=self.last_seq),
        ]

    def receive(self, frame: str) -> None:
        """Handle one text frame from the server."""
        try:
            message = codec.decode(frame)
        except ProtocolError as exc:
            self._fail(exc)
            return
        self.handle(message)

    def handle(self, message: Message) -> None:
        if self.done:
            return
        if isinstance(message, MirrorFrame):
            self._frame(message)
        elif isinstance(message, Welcome):
            if message.version != PROTOCOL_VERSION:
                self._fail(
                    ProtocolError(
                        f"the server speaks protocol {message.version}, "
                        f"this viewer {PROTOCOL_VERSION}: reload the page"
                    )
                )
        elif isinstance(message, Joined):
            self.joined = True
            self.backoff.reset()
            self._ops.append(
                {
                    "op": "joined",
                    "guestId": message.guest_id,
                    "sessionId": message.session_id,
                    "hostName": message.host_name,
                    "paused": message.paused,
                    "hostConnected": message.host_connected,
                }
            )
        elif isinstance(message, Paused):
            self._ops.append({"op": "status", "paused": message.paused})
        elif isinstance(message, HostStatus):
            self._ops.append({"op": "status", "hostConnected": message.connected})
        elif isinstance(message, SessionEnded):
            self.done = True
            self._ops.append({"op": "status", "ended": message.reason or "ended"})
        elif isinstance(message, ErrorReply):
            if message.code in TRANSIENT_CODES:
                self.drop = True
            else:
                self._fail(CwmnError.from_dict({"code": message.code, "message": message.message}))
        elif isinstance(message, Ping):
            self._send.append(Pong(ref=message.ref))
        # Anything else (pong, ok, a push this viewer does not know) is not for guests.

    def lost(self, close_code: int | None = None) -> float | None:
        """The connection closed (``close_code`` if the server sent one): the seconds to
        wait before reconnecting, or ``None`` when the session is over."""
        self.joined = False
        if self.done:
            return None
        if close_code == CLOSE_SESSION_ENDED:
            self.done = True
            self._ops.append({"op": "status", "ended": "ended"})
            return None
        if close_code in FINAL_CLOSES:
            code, text = FINAL_CLOSES[close_code]
            self._fail(CwmnError(text, code))
            return None
        self._ops.append({"op": "status", "reconnecting": True})
        return self.backoff.next()

    # -- driving it ---------------------------------------------------------------------
    async def run(
        self,
        connect: Callable[[], Awaitable[GuestConnection]],
        post: Callable[[dict[str, Any]], None],
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        """Connect, read and reconnect (after the backoff) until the session is over."""
        while True:
            conn: GuestConnection | None = None
            try:
                conn = await asyncio.wait_for(connect(), CONNECT_TIMEOUT)
                self.connected()
                await self._flush(conn, post)
                while not (self.done or self.drop):
                    timeout = None if self.joined else JOIN_TIMEOUT
                    self.receive(await asyncio.wait_for(conn.recv(), timeout))
                    await self._flush(conn, post)
            except (CwmnError, TimeoutError):
                pass  # the socket failed or went quiet: lost() decides what comes next
            finally:
                if conn is not None:
                    with contextlib.suppress(CwmnError):
                        await conn.close()
            delay = self.lost(conn.close_code if conn is not None else None)
            for op in self.page_ops():
                post(op)
            if delay is None:
                return
            await sleep(delay)

    async def _flush(self, conn: GuestConnection, post: Callable[[dict[str, Any]], None]) -> None:
        for op in self.page_ops():
            post(op)
        for frame in self.to_send():
            await conn.send(frame)

    # -- internals -----------------------------------------------------------------------
    def _frame(self, message: MirrorFrame) -> None:
        # A snapshot starts a page (and the host's seq starts over on each page load), so
        # it is always taken; anything else already applied is a replay after a reconnect.
        if message.kind != "snapshot" and message.seq <= self.last_seq:
            return
        self.last_seq = message.seq
        try:
            data = self.sanitizer.frame(message.kind, message.data)
        except ProtocolError as exc:
            self._ops.append({"op": "warning", "message": f"frame {message.seq}: {exc.message}"})
            return
        self._ops.append({"op": "frame", "seq": message.seq, "kind": message.kind, "data": data})

    def _fail(self, exc: CwmnError) -> None:
        self.done = True
        self._ops.append({"op": "status", "error": exc.to_dict()})
