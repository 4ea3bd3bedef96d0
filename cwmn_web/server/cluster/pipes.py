"""Sockets piped between processes.

On the owner: a :class:`Pipe` is an ASGI ``receive``/``send`` pair over the bus, so the
ordinary socket endpoints (``host_socket``, ``guest_socket``) serve a client connected to
another process with a Starlette ``WebSocket`` made from the handshake it forwarded; its
sending side is a :class:`PipedPeer` (no queue here: the holder's own :class:`Peer` queues,
and drops a slow client). On the holder: :func:`forward` pumps the real socket to the owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import Callable, MutableMapping
from typing import Any

from starlette.websockets import WebSocket

from ...protocol import codec
from ...protocol.messages import CLOSE_TRY_AGAIN_LATER, Message
from ..peer import MAX_QUEUED_CHARS, Peer, close_reason
from .bus import Bus
from .wire import ACCEPT, BINARY_IN, CLOSE, GONE, IN, OPEN, OUT, Envelope

__all__ = ["ACCEPT_TIMEOUT", "Held", "Pipe", "PipedPeer", "forward", "handshake", "scope_of"]

#: Seconds a holder waits for the owner to accept (or refuse) a piped socket.
ACCEPT_TIMEOUT = 5.0
PIPE_KEY = "cwmn.pipe"


def handshake(ws: WebSocket) -> dict[str, Any]:
    """What the owner needs to serve the socket as if it had reached it."""
    scope = ws.scope
    return {
        "path": scope["path"],
        "query": scope.get("query_string", b"").decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "client": list(scope["client"]) if scope.get("client") else None,
        "server": list(scope["server"]) if scope.get("server") else None,
        "scheme": scope.get("scheme", "ws"),
        "subprotocols": list(scope.get("subprotocols", [])),
    }


def scope_of(meta: dict[str, Any], app: Any, pipe: Pipe) -> dict[str, Any]:
    """The ASGI scope of a piped socket, from its holder's :func:`handshake`."""
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": str(meta.get("scheme") or "ws"),
        "path": str(meta["path"]),
        "raw_path": str(meta["path"]).encode(),
        "root_path": "",
        "query_string": str(meta.get("query") or "").encode("latin-1"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["headers"]],
        "client": tuple(meta["client"]) if meta.get("client") else None,
        "server": tuple(meta["server"]) if meta.get("server") else None,
        "subprotocols": list(meta.get("subprotocols") or []),
        "state": {},
        "app": app,
        PIPE_KEY: pipe,
    }


class Pipe:
    """The owner's end of a socket held by process ``holder``."""

    def __init__(self, bus: Bus, pipe_id: str, holder: str) -> None:
        self.bus, self.id, self.holder = bus, pipe_id, holder
        self._events: deque[dict[str, Any]] = deque([{"type": "websocket.connect"}])
        self._queued = 0
        self._ready = asyncio.Event()
        self._ready.set()
        self.closed = False
        self.gone = False

    @staticmethod
    def of(ws: WebSocket) -> Pipe | None:
        """The pipe a socket comes through (None: a socket of this process)."""
        pipe = ws.scope.get(PIPE_KEY)
        return pipe if isinstance(pipe, Pipe) else None

    # -- ASGI -------------------------------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        while not self._events:
            self._ready.clear()
            await self._ready.wait()
        event = self._events.popleft()
        self._queued -= len(event.get("text") or event.get("bytes") or "")
        return event

    async def send(self, message: MutableMapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self.bus.send(self.holder, Envelope(ACCEPT, [self.id]))
        elif kind == "websocket.send":
            self.out(message.get("text") or "")
        elif kind == "websocket.close":
            self.close(int(message.get("code") or 1000), str(message.get("reason") or ""))

    # -- the bus ----------------------------------------------------------------------------
    def out(self, text: str) -> None:
        if not self.closed and not self.gone:
            self.bus.out(self.holder, self.id, text)

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.bus.send(self.holder, Envelope(CLOSE, [self.id], code=code, text=reason))

    def heard(self, envelope: Envelope) -> None:
        """What the holder sent: a frame, or the client gone."""
        if envelope.kind == IN:
            self._push({"type": "websocket.receive", "text": envelope.text}, len(envelope.text))
        elif envelope.kind == BINARY_IN:
            self._push({"type": "websocket.receive", "bytes": envelope.data}, len(envelope.data))
        elif envelope.kind == GONE:
            self.cut(envelope.code)

    def cut(self, code: int = 1006) -> None:
        """The client is gone (its holder said so, or died)."""
        if not self.gone:
            self.gone = True
            self._events.append({"type": "websocket.disconnect", "code": code})
            self._ready.set()

    def _push(self, event: dict[str, Any], size: int) -> None:
        if self.gone:
            return
        self._queued += size
        if self._queued > MAX_QUEUED_CHARS:  # read far slower than it sends: let it go
            self.close(CLOSE_TRY_AGAIN_LATER, "too far behind: reconnect")
            self.cut(CLOSE_TRY_AGAIN_LATER)
            return
        self._events.append(event)
        self._ready.set()


class PipedPeer(Peer):
    """The sending side of a piped socket (what :class:`~..peer.Peer` is for a local one):
    sends go straight to the bus, in order; the holder queues them for its client, and
    drops it if it is too slow."""

    def __init__(self, pipe: Pipe) -> None:  # no queue nor writer task here
        self.pipe = pipe
        self.close_code = None
        self.on_failed = None
        self.max_queued = MAX_QUEUED_CHARS

    @property
    def open(self) -> bool:
        return not self.pipe.closed and not self.pipe.gone

    @open.setter
    def open(self, value: bool) -> None:
        if not value:
            self.pipe.closed = True

    def send(self, message: Message | str) -> bool:
        if not self.open:
            return False
        self.pipe.out(message if isinstance(message, str) else codec.encode(message))
        return True

    def close(self, code: int, reason: str) -> None:
        self.pipe.close(code, close_reason(reason))

    def abort(self, code: int, reason: str) -> None:
        self.close(code, reason)

    def discard(self) -> None:
        self.pipe.closed = True

    async def flush(self, timeout: float = 0.0) -> None:
        return None


class Held:
    """The holder's end: the client's real socket and the owner it is piped to."""

    def __init__(self, owner: str, peer: Peer) -> None:
        self.owner, self.peer = owner, peer
        self.accepted: asyncio.Future[tuple[int, str] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.closed_by_owner = False
        self.gone_sent = False
        """The owner was told the client left."""

    def heard(self, envelope: Envelope) -> None:
        """What the owner sent: accept, frames, or close."""
        if envelope.kind == ACCEPT:
            if not self.accepted.done():
                self.accepted.set_result(None)
        elif envelope.kind == OUT:
            self.peer.send(envelope.text)
        elif envelope.kind == CLOSE:
            self.closed_by_owner = True
            if not self.accepted.done():
                self.accepted.set_result((envelope.code, envelope.text))
            else:
                self.peer.close(envelope.code, envelope.text)

    def cut(self, code: int, reason: str) -> None:
        """The owner is gone: close the client's socket so that it reconnects."""
        self.closed_by_owner = True
        if not self.accepted.done():
            self.accepted.set_result((code, reason))
        else:
            self.peer.close(code, reason)


async def forward(
    ws: WebSocket,
    owner: str,
    me: str,
    bus: Bus,
    held: dict[str, Held],
    spawn: Callable[[Any], asyncio.Task[None]],
) -> bool:
    """Pipe the client's socket to process ``owner``, until either side closes. False if
    nobody listens on ``owner``'s channel (it is gone): the socket is then untouched. If
    this process cannot publish (its own connection to Redis is down) the client is told
    to try again (1013): that says nothing about the owner."""
    pipe_id = secrets.token_hex(8)
    peer = Peer(ws, spawn)
    end = held[pipe_id] = Held(owner, peer)
    opened = False
    try:
        heard = await bus.send_now(owner, Envelope(OPEN, [pipe_id], sender=me, meta=handshake(ws)))
        if heard == 0:
            peer.discard()
            return False
        if heard < 0:
            peer.discard()
            await ws.close(CLOSE_TRY_AGAIN_LATER, "the server cannot reach its peers: reconnect")
            return True
        opened = True
        try:
            refused = await asyncio.wait_for(asyncio.shield(end.accepted), ACCEPT_TIMEOUT)
        except TimeoutError:
            refused = (CLOSE_TRY_AGAIN_LATER, "the server holding this session did not answer")
        if refused is not None:
            peer.discard()
            await ws.close(refused[0], close_reason(refused[1]))
            return True
        await ws.accept()

        def failed() -> None:  # too slow, or its socket broke: the owner hears it left
            end.gone_sent = True
            bus.send(owner, Envelope(GONE, [pipe_id], code=1006))

        peer.on_failed = failed
        await _pump(ws, pipe_id, owner, bus, end)
    finally:
        held.pop(pipe_id, None)
        if opened and not end.closed_by_owner and not end.gone_sent:
            # Given up here (the owner answered late, or this side failed): the owner's
            # end must not wait for this client for ever (nor count its socket).
            bus.send(owner, Envelope(GONE, [pipe_id], code=1006))
    if end.closed_by_owner:
        await peer.flush()
    else:
        peer.discard()
    return True


async def _pump(ws: WebSocket, pipe_id: str, owner: str, bus: Bus, end: Held) -> None:
    """The client's frames to the owner, until its socket closes."""
    code = 1006
    with contextlib.suppress(Exception):
        while True:
            event = await ws.receive()
            if event["type"] == "websocket.disconnect":
                code = int(event.get("code") or 1005)
                break
            text = event.get("text")
            if text is not None:
                bus.send(owner, Envelope(IN, [pipe_id], text=text))
            else:
                bus.send(owner, Envelope(BINARY_IN, [pipe_id], data=event.get("bytes") or b""))
    if not end.closed_by_owner:
        end.gone_sent = True
        bus.send(owner, Envelope(GONE, [pipe_id], code=code))
