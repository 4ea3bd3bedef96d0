"""cwmn_web.browser.driver: the viewer's GuestSession and the host core run over in-memory
sockets, on a fake clock.

The server's side is a script per connection; time moves only when a test fires a sleep the
driver is waiting on (:meth:`FakeClock.fire`), so nothing depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import pytest

from cwmn_web.browser.driver import Driver, HostSockets, OneSocket
from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.client.states import State
from cwmn_web.errors import CwmnError, NetworkError
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    CLOSE_REMOVED,
    CLOSE_SESSION_ENDED,
    EndSession,
    ErrorReply,
    Hello,
    HostStatus,
    Join,
    Joined,
    Message,
    Muted,
    PointerClick,
    PointerMove,
    Removed,
    SessionEnded,
    SessionStarted,
    StartSession,
    Welcome,
)
from cwmn_web.timing import POINTER_INTERVAL, RECONNECT_FIRST
from cwmn_web.viewer.session import JOIN_TIMEOUT, NAVIGATION_GRACE, GuestSession
from tests.helpers.aio import run_on_own_loop
from tests.helpers.host_ports import DOMAIN_INFO, RecordingPage
from tests.helpers.live_page import FEATURES, HOST, PAGE, SERVER
from tests.helpers.viewer_frames import SAFE_NODES, frame

_CLOSED = "\x00closed"


class FakeClock:
    """A clock that moves only when a test fires one of the sleeps the driver waits on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.fired: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._changed = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        entry = (delay, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        self._changed.set()
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    async def fire(self, delay: float) -> None:
        """Wait until the driver sleeps for ``delay`` seconds, then let that time pass."""
        while True:
            for slept, future in self._sleepers:
                if abs(slept - delay) < 1e-9 and not future.done():
                    self.now += slept
                    self.fired.append(delay)
                    future.set_result(None)
                    return
            self._changed.clear()
            await self._changed.wait()

    @property
    def sleeping(self) -> bool:
        return bool(self._sleepers)


class WireSocket:
    """The guest's end of an in-memory socket; the server end closes it with a code."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.outbox: asyncio.Queue[str] = asyncio.Queue()
        self.close_code: int | None = None
        self.closed = False

    async def send(self, frame: str) -> None:
        if self.closed:
            raise NetworkError("send on a closed connection")
        await self.outbox.put(frame)

    async def recv(self) -> str:
        frame = await self.inbox.get()
        if frame == _CLOSED:
            self.closed = True
            raise NetworkError("the connection was closed")
        return frame

    async def close(self) -> None:
        self.closed = True
        await self.outbox.put(_CLOSED)

    # the server's side
    async def push(self, message: Message | str) -> None:
        await self.inbox.put(message if isinstance(message, str) else codec.encode(message))

    async def server_close(self, code: int) -> None:
        self.close_code = code
        await self.inbox.put(_CLOSED)

    async def expect(self) -> Message:
        return codec.decode(await self.outbox.get())


Script = Callable[[WireSocket], Awaitable[None]]


class Wire:
    """Hands out sockets (``script`` plays the server on each one, in order) and keeps the
    page ops the driver posts."""

    def __init__(self, session: GuestSession, *scripts: Script) -> None:
        self.scripts = list(scripts)
        self.ops: list[dict[str, Any]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.clock = FakeClock()
        self._posted = asyncio.Event()
        self.connect: Callable[[], Awaitable[WireSocket]] = self.accept
        self.driver = Driver(
            OneSocket(session, self.post), self._open, self.clock, self.clock.sleep
        )

    async def _open(self, name: str) -> WireSocket:
        return await self.connect()

    async def accept(self) -> WireSocket:
        if not self.scripts:
            raise NetworkError("connection refused")
        socket = WireSocket()
        self.tasks.append(asyncio.ensure_future(self.scripts.pop(0)(socket)))
        return socket

    def post(self, op: dict[str, Any]) -> None:
        self.ops.append(op)
        self._posted.set()

    async def posted(self, op: dict[str, Any]) -> None:
        """Wait until the driver has posted an op with (at least) the items of ``op``."""
        while not any(op.items() <= posted.items() for posted in self.ops):
            self._posted.clear()
            await self._posted.wait()

    async def run(self, *delays: float) -> None:
        """Run the driver to its end, letting ``delays`` pass as it sleeps on them."""

        async def keeper() -> None:
            for delay in delays:
                await self.clock.fire(delay)

        keeping = asyncio.ensure_future(keeper())
        await asyncio.wait_for(self.driver.run(), 10)
        await asyncio.wait_for(keeping, 1)  # every delay expected was slept
        for task in self.tasks:
            await task  # a failed server-side assertion fails the test
        assert not self.clock.sleeping


R = RECONNECT_FIRST  # the first reconnect delay; each next one doubles


async def greet(socket: WireSocket, last_seq: int) -> None:
    hello, join = await socket.expect(), await socket.expect()
    assert hello == Hello(ref=1, role="guest")
    assert join == Join(ref=2, token="tok", name="Ann", last_seq=last_seq)
    await socket.push(Welcome(ref=1))
    await socket.push(Joined(ref=2, guest_id="g1", session_id="s1", host_name="Hal"))


def test_the_driver_reconnects_and_resumes_until_the_session_ends() -> None:
    async def first(socket: WireSocket) -> None:
        await greet(socket, last_seq=0)
        await socket.push(frame(1, "snapshot"))
        await socket.push(frame(2, "scroll", id=0, x=5, y=6))
        await socket.server_close(1006)  # the network drops

    async def refused(socket: WireSocket) -> None:
        await socket.expect()
        await socket.expect()
        await socket.server_close(1011)  # the server restarts before answering

    async def second(socket: WireSocket) -> None:
        await greet(socket, last_seq=2)
        await socket.push(frame(2, "scroll", id=0, x=5, y=6))  # already applied: ignored
        await socket.push(frame(3, "scroll", id=0, x=0, y=100))
        await socket.push(HostStatus(connected=False))
        await socket.push(SessionEnded(session_id="s1", reason="expired"))
        assert await socket.outbox.get() == _CLOSED  # the guest hangs up

    async def body() -> None:
        session = GuestSession("tok", "Ann")
        wire = Wire(session, first, refused, second)
        await wire.run(R, 2 * R)
        summary = [(op["op"], op.get("seq") or next(k for k in op if k != "op")) for op in wire.ops]
        assert summary == [
            ("joined", "guestId"),
            ("frame", 1),
            ("frame", 2),
            ("status", "reconnecting"),
            ("status", "reconnecting"),
            ("joined", "guestId"),
            ("frame", 3),
            ("status", "hostConnected"),
            ("status", "ended"),
        ]
        assert wire.ops[1]["data"]["nodes"] == SAFE_NODES
        assert wire.clock.fired == [R, 2 * R]
        assert session.done and session.last_seq == 3

    run_on_own_loop(body)


def test_the_driver_retries_a_server_that_is_down_then_stops_on_a_refusal() -> None:
    async def refuse(socket: WireSocket) -> None:
        await socket.expect()
        await socket.expect()
        await socket.push(ErrorReply(ref=2, code="link_used", message="Used on another device."))
        await socket.server_close(1000)

    async def body() -> None:
        wire = Wire(GuestSession("tok", "Ann"))
        attempts = 0

        async def connect() -> WireSocket:
            nonlocal attempts
            attempts += 1
            if attempts < 4:
                raise NetworkError("connection refused")
            wire.scripts.append(refuse)
            return await wire.accept()

        wire.connect = connect
        await wire.run(R, 2 * R, 4 * R)
        assert wire.clock.fired == [R, 2 * R, 4 * R]
        assert wire.ops == [
            {"op": "status", "reconnecting": True},
            {"op": "status", "reconnecting": True},
            {"op": "status", "reconnecting": True},
            {"op": "status", "error": {"code": "link_used", "message": "Used on another device."}},
        ]

    run_on_own_loop(body)


def test_a_connect_that_hangs_times_out_and_is_retried() -> None:
    async def ends(socket: WireSocket) -> None:
        await greet(socket, last_seq=0)
        await socket.server_close(CLOSE_SESSION_ENDED)

    async def body() -> None:
        wire = Wire(GuestSession("tok", "Ann"), ends)
        hung = asyncio.Event()

        async def hangs_first() -> WireSocket:
            if not hung.is_set():
                hung.set()
                await asyncio.Event().wait()  # never opens
            return await wire.accept()

        wire.connect = hangs_first
        wire.driver.connect_timeout = 0.01
        await wire.run(R)
        assert [op["op"] for op in wire.ops] == ["status", "joined", "status"]

    run_on_own_loop(body)


def test_a_socket_that_never_says_joined_is_dropped() -> None:
    async def silent(socket: WireSocket) -> None:
        await socket.expect()
        await socket.expect()

    async def ends(socket: WireSocket) -> None:
        await greet(socket, last_seq=0)
        await socket.server_close(CLOSE_SESSION_ENDED)

    async def body() -> None:
        wire = Wire(GuestSession("tok", "Ann"), silent, ends)
        await wire.run(JOIN_TIMEOUT, R)
        assert [op["op"] for op in wire.ops] == ["status", "joined", "status"]
        assert wire.ops[0] == {"op": "status", "reconnecting": True}
        assert wire.ops[2] == {"op": "status", "ended": "ended"}
        assert wire.clock.now == JOIN_TIMEOUT + R

    run_on_own_loop(body)


def test_the_driver_sends_the_pointer_at_any_time_and_stops_when_removed() -> None:
    """No frame needs to arrive for the guest's pointer to go out, the trailing position
    comes on time, and after ``removed`` (and its close) nothing reconnects."""
    session = GuestSession("tok", "Ann")

    async def server(socket: WireSocket) -> None:
        await greet(socket, last_seq=0)
        await wire.posted({"op": "joined"})
        clock, driver = wire.clock, wire.driver
        start = clock.now
        session.pointer(10, 20, True, clock.now)
        driver.wake()
        assert await socket.expect() == PointerMove(x=10, y=20, visible=True)
        # The driver is idle now (nothing to send, nothing arriving): a held move must
        # still go out on time.
        session.pointer(11, 21, True, clock.now)  # held: the server gets nothing yet
        session.pointer(12, 22, True, clock.now)
        driver.wake()
        await clock.fire(POINTER_INTERVAL)
        assert await socket.expect() == PointerMove(x=12, y=22, visible=True)
        assert clock.now == pytest.approx(start + POINTER_INTERVAL)
        session.click(5, 6, clock.now)  # the first click: no wait
        driver.wake()
        assert await socket.expect() == PointerClick(x=5, y=6)
        await socket.push(Muted(muted=True))
        await wire.posted({"op": "status", "muted": True})
        session.pointer(1, 1, True, clock.now)  # muted: dropped
        driver.wake()
        await socket.push(Removed())
        await socket.server_close(CLOSE_REMOVED)
        assert await socket.outbox.get() == _CLOSED  # nothing else first

    wire: Wire

    async def body() -> None:
        nonlocal wire
        wire = Wire(session, server)
        await wire.run()  # the server script lets the time pass
        assert wire.ops[1:] == [
            {"op": "status", "muted": True},
            {"op": "status", "removed": True},
        ]
        assert wire.clock.fired == [POINTER_INTERVAL] and session.done

    run_on_own_loop(body)


def test_the_driver_closes_a_removed_guest_without_a_removed_message() -> None:
    async def server(socket: WireSocket) -> None:
        await greet(socket, last_seq=0)
        await socket.server_close(CLOSE_REMOVED)

    async def body() -> None:
        wire = Wire(GuestSession("tok", "Ann"), server)
        await wire.run()
        assert wire.ops[-1] == {"op": "status", "removed": True}
        assert wire.clock.fired == []

    run_on_own_loop(body)


def test_the_driver_ends_a_page_change_on_the_cores_clock() -> None:
    async def server(socket: WireSocket) -> None:
        await greet(socket, last_seq=0)
        await socket.push(HostStatus(connected=False, navigating=True))
        await wire.posted({"op": "status", "navigating": False})
        await socket.push(SessionEnded(session_id="s1"))

    wire: Wire

    async def body() -> None:
        nonlocal wire
        wire = Wire(GuestSession("tok", "Ann"), server)
        await wire.run(NAVIGATION_GRACE)

    run_on_own_loop(body)
    statuses = [op for op in wire.ops if op["op"] == "status"]
    assert statuses[:2] == [
        {"op": "status", "hostConnected": False, "navigating": True},
        {"op": "status", "navigating": False},
    ]


# -- the host core through the driver --------------------------------------------------------
class ResultsPage(RecordingPage):
    """The in-memory host page, telling a waiting test when a call settles."""

    def __init__(self) -> None:
        super().__init__(lambda: 1000.0)
        self.settled = asyncio.Event()
        self.host: HostController | None = None

    def result(self, call_id: Hashable, value: Any = None, error: CwmnError | None = None) -> None:
        super().result(call_id, value, error)
        self.settled.set()

    async def outcome_of(self, call_id: str) -> Any:
        while call_id not in self.results:
            self.settled.clear()
            await self.settled.wait()
        value, error = self.results[call_id]
        if error is not None:
            raise error
        return value


def test_the_driver_runs_the_host_core_over_named_sockets() -> None:
    """A session starts and ends over the socket the host core names (the page's echo and
    domain-info answers come from the test, as the page would send them)."""
    names: list[str] = []

    async def server(socket: WireSocket) -> None:
        hello = await socket.expect()
        assert isinstance(hello, Hello) and hello.page_url == PAGE
        await socket.push(Welcome(ref=hello.ref, server_time=1000.0))
        start = await socket.expect()
        assert isinstance(start, StartSession) and start.host_name == "Host Name"
        await socket.push(
            SessionStarted(ref=start.ref, session_id="s1", resume_token="tok", started_at=1.0)
        )
        end = await socket.expect()
        assert isinstance(end, EndSession)
        await socket.push(SessionEnded(ref=end.ref, session_id="s1", reason="ended"))
        assert await socket.outbox.get() == _CLOSED  # the host hangs up

    async def body() -> None:
        page = ResultsPage()
        host = page.host = HostController(page, ClientConfig(SERVER, PAGE, FEATURES))
        clock = FakeClock()
        tasks: list[asyncio.Task[None]] = []

        async def connect(name: str) -> WireSocket:
            names.append(name)
            socket = WireSocket()
            tasks.append(asyncio.ensure_future(server(socket)))
            return socket

        driver = Driver(HostSockets(host), connect, clock, clock.sleep)
        running = asyncio.ensure_future(driver.run())
        host.boot(clock.now)
        (echo,) = page.echoes
        host.echoed(echo, clock.now)  # the page handled init
        (fetch,) = page.fetches
        host.fetched(fetch, dict(DOMAIN_INFO), clock.now)
        assert host.state is State.NO_SESSION
        host.call("c1", "session.start", (dict(HOST),), clock.now)
        driver.wake()
        assert (await page.outcome_of("c1"))["sessionId"] == "s1"
        assert host.view()["state"] == "in session"
        host.call("c2", "session.endSession", (), clock.now)
        driver.wake()
        assert await page.outcome_of("c2") == {"sessionId": "s1", "reason": "ended"}
        for task in tasks:
            await asyncio.wait_for(task, 5)
        running.cancel()
        assert names == ["ws1"] and host.state is State.NO_SESSION

    run_on_own_loop(body)
