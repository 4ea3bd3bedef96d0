"""The one asyncio loop of the package: runs a sans-I/O session core over real sockets.

The core does no I/O and has no clock (:class:`Core`); this driver connects (with a timeout),
feeds it what arrives, sends what it queues, posts its page ops, calls it back when
:meth:`Core.next_due` comes, and reconnects after the delay :meth:`Core.lost` answers. It
imports no ``js``: the browser edge hands it a ``connect`` (a WebSocket) and a ``post`` (to
the page), tests an in-memory socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..errors import CwmnError

__all__ = ["CONNECT_TIMEOUT", "Core", "Driver", "Socket"]

CONNECT_TIMEOUT = 10.0


class Socket(Protocol):
    """An open WebSocket of text frames that knows the close code the server sent."""

    close_code: int | None

    async def send(self, frame: str) -> None: ...

    async def recv(self) -> str:
        """The next frame; raises ``NetworkError`` once the socket is closed."""
        ...

    async def close(self) -> None: ...


class Core(Protocol):
    """A session over one socket at a time, without I/O (e.g. the viewer's ``GuestSession``).

    Per socket: :meth:`connected`, then :meth:`receive` for each frame while :attr:`open`,
    then :meth:`lost` (the delay before the next socket, or None to stop). After every input
    the driver calls :meth:`tick` with the time, sends :meth:`to_send` and posts
    :meth:`page_ops`."""

    @property
    def open(self) -> bool:
        """False once the core is done with this socket (the driver closes it)."""
        ...

    def connected(self) -> None: ...

    def receive(self, frame: str) -> None: ...

    def lost(self, close_code: int | None = None) -> float | None: ...

    def to_send(self) -> list[str]: ...

    def page_ops(self) -> list[dict[str, Any]]: ...

    def next_due(self) -> float | None: ...

    def tick(self, now: float) -> None: ...


class Driver:
    """Runs ``core`` until it is over: ``connect`` opens a socket, ``post`` takes a page op.

    ``clock`` is the one the edge passes to the core's own inputs (e.g. the guest's pointer);
    after feeding the core such an input the edge calls :meth:`wake`. ``sleep`` waits for a
    deadline or a reconnect (tests pass one that moves a fake clock)."""

    def __init__(
        self,
        core: Core,
        connect: Callable[[], Awaitable[Socket]],
        post: Callable[[dict[str, Any]], None],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.core = core
        self.connect = connect
        self.post = post
        self.clock = clock
        self.sleep = sleep
        self.connect_timeout = connect_timeout
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """The edge fed the core an input: tick it and send what it queued."""
        self._woken.set()

    async def run(self) -> None:
        """Connect, serve and reconnect (after the core's delay) until the core stops."""
        while True:
            socket: Socket | None = None
            try:
                socket = await asyncio.wait_for(self.connect(), self.connect_timeout)
                self.core.connected()
                await self._serve(socket)
            except (CwmnError, TimeoutError):
                pass  # the socket failed: lost() decides what comes next
            finally:
                if socket is not None:
                    with contextlib.suppress(CwmnError):
                        await socket.close()
            delay = self.core.lost(socket.close_code if socket is not None else None)
            self._post()
            if delay is None:
                return
            await self.sleep(delay)

    async def _serve(self, socket: Socket) -> None:
        """Feed the core what arrives and send what it queues, while it keeps the socket."""
        receiving = asyncio.ensure_future(socket.recv())
        waking: asyncio.Future[Any] | None = None
        try:
            self.core.tick(self.clock())
            await self._flush(socket)
            while self.core.open:
                if not self._woken.is_set():
                    if waking is None or waking.done():
                        waking = asyncio.ensure_future(self._woken.wait())
                    await self._wait(receiving, waking)
                # Woken during the flush below: the next turn does not wait.
                self._woken.clear()
                if receiving.done():
                    self.core.receive(receiving.result())  # raises once the socket is closed
                    receiving = asyncio.ensure_future(socket.recv())
                self.core.tick(self.clock())
                await self._flush(socket)
        finally:
            for task in (receiving, waking):
                if task is not None:
                    task.cancel()

    async def _wait(self, receiving: asyncio.Future[str], waking: asyncio.Future[Any]) -> None:
        """Until a frame arrives, the edge wakes the driver, or the core's deadline comes."""
        due = self.core.next_due()
        timer = None
        if due is not None:
            timer = asyncio.ensure_future(self.sleep(max(0.0, due - self.clock())))
        waits: set[asyncio.Future[Any]] = {receiving, waking}
        if timer is not None:
            waits.add(timer)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if timer is not None:
                timer.cancel()

    def _post(self) -> None:
        for op in self.core.page_ops():
            self.post(op)

    async def _flush(self, socket: Socket) -> None:
        self._post()
        for frame in self.core.to_send():
            await socket.send(frame)
