"""The one asyncio loop of the package: runs a sans-I/O core over real sockets.

A core does no I/O and has no clock (:class:`Core`): it names the sockets it wants open or
closed, the frames to write on each, and when to be called back. The driver opens them (with
a timeout), feeds the core what each one reads and when one is lost, writes what it queues,
and calls :meth:`Core.tick` when :meth:`Core.next_due` comes. The host core
(``cwmn_web.client.controller``) is such a core through :class:`HostSockets`; a core over one
socket at a time that answers a reconnect delay (the viewer's ``GuestSession``) is one
through :class:`OneSocket`. No ``js`` here: the browser edge hands the driver a ``connect``
(a WebSocket), tests an in-memory socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..client.controller import HostController
from ..errors import CwmnError, NetworkError, ProtocolError
from ..protocol import codec

__all__ = [
    "CONNECT_TIMEOUT",
    "Core",
    "Driver",
    "HostSockets",
    "OneSocket",
    "SessionCore",
    "Socket",
]

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
    """What the driver runs: sockets by name, text frames, and deadlines."""

    @property
    def done(self) -> bool:
        """True once the core needs no socket any more (the driver returns)."""
        ...

    def opens(self) -> list[str]: ...

    def closes(self) -> list[str]: ...

    def to_send(self) -> list[tuple[str, str]]: ...

    def connected(self, name: str, now: float) -> None: ...

    def receive(self, name: str, frame: str, now: float) -> None: ...

    def lost(self, name: str, close_code: int | None, now: float) -> None: ...

    def next_due(self) -> float | None: ...

    def tick(self, now: float) -> None: ...


class Driver:
    """Runs ``core`` until it is done; ``connect(name)`` opens the socket ``name``.

    ``clock`` is the one the edge passes to the core's own inputs (the page's calls, the
    guest's pointer); after feeding the core such an input the edge calls :meth:`wake`.
    ``sleep`` waits for a deadline (tests pass one that moves a fake clock). A socket not
    open after ``connect_timeout`` seconds is lost (None: the core keeps that deadline)."""

    def __init__(
        self,
        core: Core,
        connect: Callable[[str], Awaitable[Socket]],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        connect_timeout: float | None = CONNECT_TIMEOUT,
    ) -> None:
        self.core = core
        self.connect = connect
        self.clock = clock
        self.sleep = sleep
        self.connect_timeout = connect_timeout
        self._woken = asyncio.Event()
        self._sockets: dict[str, Socket] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def wake(self) -> None:
        """The core got an input: write what it queued, open and close what it asks."""
        self._woken.set()

    async def run(self) -> None:
        """Serve the core until it is done."""
        try:
            while True:
                self._woken.clear()
                await self._flush()
                if self.core.done:
                    return
                if not self._woken.is_set():
                    await self._wait()
                self._woken.clear()
                try:
                    self.core.tick(self.clock())
                except Exception as exc:  # a bug in the core: report it, keep serving
                    print(f"cwmn_web: {exc!r} in tick", file=sys.stderr)
        finally:
            for task in self._tasks.values():
                task.cancel()
            for socket in self._sockets.values():
                with contextlib.suppress(CwmnError):
                    await socket.close()

    async def _wait(self) -> None:
        """Until the driver is woken or the core's deadline comes."""
        waking = asyncio.ensure_future(self._woken.wait())
        waits: set[asyncio.Future[Any]] = {waking}
        due = self.core.next_due()
        if due is not None:
            waits.add(asyncio.ensure_future(self.sleep(max(0.0, due - self.clock()))))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in waits:
                future.cancel()

    async def _flush(self) -> None:
        for name, frame in self.core.to_send():
            socket = self._sockets.get(name)
            if socket is not None:
                with contextlib.suppress(CwmnError):  # its loss is reported by _serve
                    await socket.send(frame)
        for name in self.core.closes():
            task = self._tasks.pop(name, None)
            if task is not None:
                task.cancel()
            socket = self._sockets.pop(name, None)
            if socket is not None:
                with contextlib.suppress(CwmnError):
                    await socket.close()
        for name in self.core.opens():
            self._tasks[name] = asyncio.ensure_future(self._serve(name))

    async def _serve(self, name: str) -> None:
        """Open the socket ``name`` and feed the core what it reads, until it is lost."""
        socket: Socket | None = None
        try:
            socket = await asyncio.wait_for(self.connect(name), self.connect_timeout)
            self._sockets[name] = socket
            self.core.connected(name, self.clock())
            self.wake()
            while True:
                frame = await socket.recv()
                self.core.receive(name, frame, self.clock())
                self.wake()
        except (CwmnError, TimeoutError):
            pass
        except Exception as exc:  # a bug in the core: report it, and treat it as a loss
            print(f"cwmn_web: {exc!r} on socket {name}", file=sys.stderr)
        if self._tasks.get(name) is not asyncio.current_task():
            return  # closed by the core (this task was cancelled or replaced)
        del self._tasks[name]
        if socket is not None:
            self._sockets.pop(name, None)
            with contextlib.suppress(CwmnError):
                await socket.close()
        self.core.lost(name, socket.close_code if socket is not None else None, self.clock())
        self.wake()


# -- cores -----------------------------------------------------------------------------------
class SessionCore(Protocol):
    """A session over one socket at a time, without I/O (the viewer's ``GuestSession``).

    Per socket: :meth:`connected`, then :meth:`receive` for each frame while :attr:`open`,
    then :meth:`lost` (the delay before the next socket, or None to stop). After every
    input it is ticked with the time; it queues frames (:meth:`to_send`) and page ops."""

    @property
    def open(self) -> bool:
        """False once the core is done with this socket (it is closed)."""
        ...

    def connected(self) -> None: ...

    def receive(self, frame: str) -> None: ...

    def lost(self, close_code: int | None = None) -> float | None: ...

    def to_send(self) -> list[str]: ...

    def page_ops(self) -> list[dict[str, Any]]: ...

    def next_due(self) -> float | None: ...

    def tick(self, now: float) -> None: ...


class OneSocket:
    """Runs a :class:`SessionCore` as a :class:`Core`: one socket, reopened after the delay
    the core answers; its page ops go to ``post`` as they come."""

    NAME = "socket"

    def __init__(self, core: SessionCore, post: Callable[[dict[str, Any]], None]) -> None:
        self.core = core
        self.post = post
        self.done = False
        self._opens = [self.NAME]
        self._live = False
        self._reopen_at: float | None = None
        self._now = 0.0

    def _posted(self) -> None:
        for op in self.core.page_ops():
            self.post(op)

    def opens(self) -> list[str]:
        out, self._opens = self._opens, []
        return out

    def closes(self) -> list[str]:
        if self._live and not self.core.open:
            self._live = False
            self.lost(self.NAME, None, self._now)  # the driver reports no socket it closes
            return [self.NAME]
        return []

    def to_send(self) -> list[tuple[str, str]]:
        self._posted()
        return [(self.NAME, frame) for frame in self.core.to_send()]

    def connected(self, name: str, now: float) -> None:
        self._live, self._now = True, now
        self.core.connected()
        self.core.tick(now)

    def receive(self, name: str, frame: str, now: float) -> None:
        self._now = now
        self.core.receive(frame)
        self.core.tick(now)

    def lost(self, name: str, close_code: int | None, now: float) -> None:
        self._live, self._now = False, now
        delay = self.core.lost(close_code)
        self._posted()
        if delay is None:
            self.done = True
        else:
            self._reopen_at = now + delay

    def next_due(self) -> float | None:
        due = [self.core.next_due() if self._live else None, self._reopen_at]
        return min((d for d in due if d is not None), default=None)

    def tick(self, now: float) -> None:
        self._now = now
        if self._live:
            self.core.tick(now)
        if self._reopen_at is not None and now >= self._reopen_at:
            self._reopen_at = None
            self._opens.append(self.NAME)


class HostSockets:
    """Runs the host core (:class:`HostController`) as a :class:`Core`: frames ⇄ messages."""

    done = False

    def __init__(self, host: HostController) -> None:
        self.host = host
        self._failed: list[str] = []

    def opens(self) -> list[str]:
        return self.host.opens()

    def closes(self) -> list[str]:
        out, self._failed = self._failed, []
        return out + self.host.closes()

    def to_send(self) -> list[tuple[str, str]]:
        return [(name, codec.encode(message)) for name, message in self.host.to_send()]

    def connected(self, name: str, now: float) -> None:
        self.host.connected(name, now)

    def receive(self, name: str, frame: str, now: float) -> None:
        try:
            message = codec.decode(frame)
        except ProtocolError as exc:  # a server that breaks the protocol: drop its socket
            self._failed.append(name)
            self.host.lost(name, exc, now)
            return
        self.host.receive(name, message, now)

    def lost(self, name: str, close_code: int | None, now: float) -> None:
        how = f" (code {close_code})" if close_code is not None else ""
        self.host.lost(name, NetworkError(f"the connection to the CWMN server closed{how}"), now)

    def next_due(self) -> float | None:
        return self.host.next_due()

    def tick(self, now: float) -> None:
        self.host.tick(now)
