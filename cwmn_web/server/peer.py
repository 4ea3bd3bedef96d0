"""Socket plumbing of the live side: reading frames, one writer task per socket, closing.

A :class:`Peer` is the sending side of one socket, so a slow or dead guest never holds up
the host or the other guests. No protocol rules here (see ``server/live``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import CwmnError
from ..protocol import codec
from ..protocol.messages import CLOSE_PROTOCOL, CLOSE_TRY_AGAIN_LATER, Message, MirrorFrame
from .live.limits import Limits, TokenBucket

__all__ = [
    "FLUSH_TIMEOUT",
    "MAX_QUEUED_CHARS",
    "THREAD_ABOVE",
    "TOO_MANY_CONNECTIONS",
    "Peer",
    "Reader",
    "SocketClosed",
    "close_reason",
    "decode_heavy",
    "serve",
]

#: Text a peer may have waiting before it counts as too slow (frames are shared strings,
#: so this bounds latency more than memory). Above the room log's 16 MB, which a joining
#: guest receives at once.
MAX_QUEUED_CHARS = 64 * 1024 * 1024
FLUSH_TIMEOUT = 5.0
ENDED_MEMORY = 10_000
TOO_MANY_CONNECTIONS = "too many sockets from this address (CWMN_MAX_CONNECTIONS_PER_CLIENT)"
"""The close reason (with 1013) of a socket over its address's limit."""
#: Frames longer than this (characters) are parsed in a worker thread (see :class:`Reader`).
THREAD_ABOVE = 64 * 1024


def close_reason(text: str) -> str:
    """A close reason cut to the protocol's 123 bytes (whole characters)."""
    return text.encode()[:120].decode(errors="ignore")


class SocketClosed(Exception):
    """The socket is done: ``by_us`` when this side closed it (a bad frame)."""

    def __init__(self, by_us: bool) -> None:
        super().__init__("closed by us" if by_us else "closed by the peer")
        self.by_us = by_us


class _CollectorPause:
    """Python's cycle collector off while any long frame is parsed: a parse allocates up
    to ``max_values`` containers, and each full collection it set off (in whatever thread
    allocated, holding the interpreter) walked every object of the process: 100 ms for a
    16 ms parse. The frame's objects are freed by reference counting once handled. Parses
    back to back (several sockets) could keep it off for good: then one full collection runs
    every ``MAX_PAUSE`` seconds all the same, so cyclic garbage stays bounded."""

    MAX_PAUSE = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._was_enabled = False
        self._since = 0.0

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._was_enabled = gc.isenabled()
                self._since = time.monotonic()
                gc.disable()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    if self._was_enabled:
                        gc.enable()
                elif self._was_enabled and time.monotonic() - self._since > self.MAX_PAUSE:
                    self._since = time.monotonic()
                    gc.collect()


_collector_paused = _CollectorPause()


def decode_heavy(frame: str, max_values: int) -> tuple[Message, str | None]:
    """Parse a long frame (in a worker thread) and, for a mirror frame, write the text
    guests receive, in slices (``codec.encode_sliced``). Parsing holds the interpreter for
    up to ~30 ms at the default ``max_values``; writing, never long at a time."""
    with _collector_paused():
        message = codec.decode(frame, max_values)
    if not isinstance(message, MirrorFrame):
        return message, None
    return message, codec.encode_sliced(replace(message, ref=0))


class Reader:
    """Reads one socket's frames within its limits (:class:`Limits`): on average at most
    ``frames_per_second`` (a faster peer is read later: TCP holds it back), each of at
    most ``frame_values`` JSON values. A frame longer than :data:`THREAD_ABOVE` is parsed
    in a worker thread, at most as many at once as ``heavy`` allows, so no frame holds the
    event loop (and the other connections) for long."""

    def __init__(
        self,
        ws: WebSocket,
        peer: Peer,
        limits: Limits,
        heavy: asyncio.Semaphore,
        on_text: Callable[[str], None] | None = None,
    ) -> None:
        self.ws, self.peer, self.heavy, self.on_text = ws, peer, heavy, on_text
        self.max_values = limits.frame_values
        rate = limits.frames_per_second
        self.bucket = TokenBucket(rate, max(rate, 1.0), time.monotonic())

    async def next(self) -> tuple[Message, str | None]:
        """The next message, and for a long mirror frame the text guests receive (else
        None); a binary or malformed frame closes the socket with 4400.

        Raises :class:`SocketClosed` when the socket is done."""
        wait = self.bucket.take(time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)
        event = await self.ws.receive()
        if event["type"] == "websocket.disconnect":
            self.peer.close_code = event.get("code")
            raise SocketClosed(by_us=False)
        frame = event.get("text")
        if frame is None:
            self.peer.close(CLOSE_PROTOCOL, "frames must be text (JSON)")
            raise SocketClosed(by_us=True)
        if self.on_text is not None:
            self.on_text(frame)
        try:
            if len(frame) <= THREAD_ABOVE:
                return codec.decode(frame, self.max_values), None
            async with self.heavy:
                return await asyncio.to_thread(decode_heavy, frame, self.max_values)
        except CwmnError as exc:
            self.peer.close(CLOSE_PROTOCOL, exc.message)
            raise SocketClosed(by_us=True) from None


async def serve(
    run: Callable[[], Coroutine[Any, Any, bool]], closed: Callable[[], None], peer: Peer
) -> None:
    """Run a connection until its socket is done, then tidy up: ``closed()`` always runs
    (even when the task is cancelled); what is still queued is flushed only when this side
    closed the socket (a peer that left cannot read it)."""
    closed_by_us = False
    try:
        with contextlib.suppress(WebSocketDisconnect):
            closed_by_us = await run()
    finally:
        closed()  # synchronous: it must run even when the task is being cancelled
    if closed_by_us:
        await peer.flush()
    else:
        peer.discard()


class Peer:
    """The sending side of one socket: a queue drained by its own task.

    :meth:`send` never waits. A peer whose queue grows past ``max_queued`` characters is
    closed with 1013; a failed write stops the peer. Either way ``on_failed`` is called once.
    """

    def __init__(
        self,
        ws: WebSocket,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        max_queued: int = MAX_QUEUED_CHARS,
    ) -> None:
        self.ws = ws
        self.open = True
        self.close_code: int | None = None
        """The code the client closed its socket with (once :func:`read_message` saw it)."""
        self.on_failed: Callable[[], None] | None = None
        self.max_queued = max_queued
        self._spawn = spawn
        self._queue: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue()
        self._queued = 0
        self._writer = spawn(self._drain())

    def send(self, message: Message | str) -> bool:
        """Queue ``message`` (or an already encoded frame); False if the peer is closed."""
        if not self.open:
            return False
        text = message if isinstance(message, str) else codec.encode(message)
        if self._queued + len(text) > self.max_queued:
            self.abort(CLOSE_TRY_AGAIN_LATER, "too far behind: reconnect")
            return False
        self._queued += len(text)
        self._queue.put_nowait(text)
        return True

    def close(self, code: int, reason: str) -> None:
        """Close the socket once what is queued has been sent."""
        if self.open:
            self.open = False
            self._queue.put_nowait((code, close_reason(reason)))

    def abort(self, code: int, reason: str) -> None:
        """Close now, dropping what is queued."""
        self.open = False
        self._writer.cancel()
        self._spawn(self._close_after(self._writer, code, close_reason(reason)))
        self._failed()

    def discard(self) -> None:
        """The client is gone: stop writing."""
        self.open = False
        self._writer.cancel()

    async def flush(self, timeout: float = FLUSH_TIMEOUT) -> None:
        """Wait (bounded) until the queue and a pending close are written."""
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._writer), timeout)

    async def _drain(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, tuple):
                    await self.ws.close(*item)
                    return
                self._queued -= len(item)
                await self.ws.send_text(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket is gone; its reader sees the disconnect
            self.open = False
            self._failed()

    async def _close_after(self, writer: asyncio.Task[None], code: int, reason: str) -> None:
        with contextlib.suppress(BaseException):
            await writer
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)

    def _failed(self) -> None:
        callback, self.on_failed = self.on_failed, None
        if callback is not None:
            callback()
