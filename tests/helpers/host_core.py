"""The real host core (``client.controller.HostController``) as a side of the in-memory live
harness (:mod:`tests.helpers.live_core`): its page is the shared :class:`RecordingPage`
(:mod:`tests.helpers.host_ports`), which records what the core asks of the page; its named
sockets are connections of the server core."""

from __future__ import annotations

from typing import Any

from cwmn_web.client.compat import REQUIRED_FEATURES
from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.errors import NetworkError
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import Message

from .host_ports import RecordingPage, exchange
from .live_core import ConnId, LiveHarness, MemoryServer

__all__ = ["PAGE_URL", "RealHost", "real_host"]

PAGE_URL = "https://shop.example.com/cart"


class RealHost:
    """A :class:`HostController` on a :class:`RecordingPage`, its sockets opened on the
    server core (it is the page's :class:`Network`). Drive it with :meth:`call` and
    :meth:`capture`; the harness pumps and ticks it."""

    def __init__(self, live: LiveHarness, resume: dict[str, Any] | None = None) -> None:
        self.live = live
        self.page = RecordingPage(lambda: live.clock.now)
        config = ClientConfig(
            server="http://cwmn.test",
            page_url=PAGE_URL,
            features={name: True for name in REQUIRED_FEATURES},
            resume=resume,
        )
        self.core = HostController(self.page, config)
        self.conns: dict[str, ConnId] = {}
        self._calls = 0

    # -- the harness's side -----------------------------------------------------------------
    def exchange(self, server: MemoryServer) -> bool:
        return exchange(self.core, self.page, self, self.live.clock.now)

    def next_due(self) -> float | None:
        return self.core.next_due()

    def tick(self, now: float) -> None:
        self.core.tick(now)

    # -- the page's network: the server core's connections ---------------------------------
    def open_socket(self, core: HostController, name: str, now: float) -> None:
        self.conns[name] = self.live.server.open_host()
        core.connected(name, now)

    def close_socket(self, name: str) -> None:
        self.live.server.gone(self.conns.pop(name))

    def send_socket(self, core: HostController, name: str, message: Message, now: float) -> None:
        self.live.server.receive(self.conns[name], codec.encode(message))

    def carry_back(self, core: HostController, now: float) -> bool:
        server, busy = self.live.server, False
        for name, conn in list(self.conns.items()):
            for text in server.take(conn):
                busy = True
                core.receive(name, codec.decode(text), now)
            if conn in server.closed:
                busy = True
                del self.conns[name]
                server.gone(conn)
                core.lost(name, NetworkError("the server closed the connection"), now)
        return busy

    # -- driving it -------------------------------------------------------------------------
    def call(self, path: str, *args: Any) -> Any:
        """Make the page's call ``path``; the value it settled with (raises its error)."""
        self._calls += 1
        self.core.call(self._calls, path, args, self.live.clock.now)
        self.live.pump()
        value, error = self.page.results[self._calls]
        if error is not None:
            raise error
        return value

    def drop(self) -> None:
        """The network breaks: the host's sockets are lost, and the server sees them go."""
        now = self.live.clock.now
        for name, conn in list(self.conns.items()):
            del self.conns[name]
            self.live.server.gone(conn, 1006)
            self.core.lost(name, NetworkError("the connection was closed"), now)
        self.live.pump()

    def unload(self) -> None:
        """The page goes away (the host moves to another page): its sockets close with
        1001 and it leaves the harness."""
        self.live.sides.remove(self)
        for conn in self.conns.values():
            self.live.server.gone(conn, 1001)
        self.conns.clear()
        self.live.pump()

    def capture(self, kind: str, raw: dict[str, Any]) -> None:
        """A frame from the page's capture code."""
        self.core.on_capture(kind, raw, self.live.clock.now * 1000, self.live.clock.now)
        self.live.pump()


def real_host(live: LiveHarness, resume: dict[str, Any] | None = None) -> RealHost:
    """A booted host core, wired into ``live`` (on a page that resumes ``resume``'s
    session, as a page the host moved to does)."""
    host = RealHost(live, resume)
    live.sides.append(host)
    host.core.boot(live.clock.now)
    live.pump()
    return host
