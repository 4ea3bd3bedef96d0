"""The real host core (``client.controller.HostController``) as a side of the in-memory live
harness (:mod:`tests.helpers.live_core`): its page is :class:`HostPage`, which records what
the core asks of the page; its named sockets are connections of the server core."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from cwmn_web.client.bus import Delivery
from cwmn_web.client.compat import REQUIRED_FEATURES
from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.errors import CwmnError, NetworkError
from cwmn_web.protocol import codec

from .live_core import Clock, ConnId, LiveHarness, MemoryServer

__all__ = ["DOMAIN_INFO", "HostPage", "RealHost", "real_host"]

PAGE_URL = "https://shop.example.com/cart"
DOMAIN_INFO: dict[str, Any] = {
    "domain": "shop.example.com",
    "authorized": True,
    "site": {"id": 1, "name": "default"},
    "features": {"realtime": True},
    "settings": {"maxGuests": 10},
}


class HostPage:
    """The host page (``client.ports.Ports``): records deliveries, calls' results, captures
    and overlays; echoes and domain-info fetches are answered by :meth:`RealHost.exchange`."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.events: list[str] = []
        self.view: dict[str, Any] = {}
        self.results: dict[Hashable, tuple[Any, CwmnError | None]] = {}
        self.captures: list[tuple[bool, dict[str, Any] | None]] = []
        self.overlays: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.stored: dict[str, dict[str, Any] | None] = {}
        self.echoes: list[int] = []
        self.fetches: list[int] = []

    def deliver(self, delivery: Delivery, view: dict[str, Any]) -> None:
        self.events.append(delivery.event)
        self.view = view

    def publish(self, view: dict[str, Any]) -> None:
        self.view = view

    def result(self, call_id: Hashable, value: Any = None, error: CwmnError | None = None) -> None:
        self.results[call_id] = (value, error)

    def capture(self, start: bool, config: dict[str, Any] | None) -> None:
        self.captures.append((start, config))

    def overlay(self, message: dict[str, Any]) -> None:
        self.overlays.append(message)

    def echo(self, echo_id: int) -> None:
        self.echoes.append(echo_id)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def store(self, key: str, value: dict[str, Any] | None) -> None:
        self.stored[key] = value

    def fetch(self, fetch_id: int, url: str) -> None:
        self.fetches.append(fetch_id)

    def now(self) -> float:
        return self.clock.now


class RealHost:
    """A :class:`HostController` on a :class:`HostPage`, its sockets opened on the server
    core. Drive it with :meth:`call` and :meth:`capture`; the harness pumps and ticks it."""

    def __init__(self, live: LiveHarness) -> None:
        self.live = live
        self.page = HostPage(live.clock)
        config = ClientConfig(
            server="http://cwmn.test",
            page_url=PAGE_URL,
            features={name: True for name in REQUIRED_FEATURES},
        )
        self.core = HostController(self.page, config)
        self.conns: dict[str, ConnId] = {}
        self._calls = 0

    # -- the harness's side -----------------------------------------------------------------
    def exchange(self, server: MemoryServer) -> bool:
        core, now, busy = self.core, self.live.clock.now, False
        for name in core.opens():
            busy = True
            self.conns[name] = server.open_host()
            core.connected(name, now)
        for name in core.closes():
            busy = True
            server.gone(self.conns.pop(name))
        for name, message in core.to_send():
            busy = True
            server.receive(self.conns[name], codec.encode(message))
        for name, conn in list(self.conns.items()):
            for text in server.take(conn):
                busy = True
                core.receive(name, codec.decode(text), now)
            if conn in server.closed:
                busy = True
                del self.conns[name]
                server.gone(conn)
                core.lost(name, NetworkError("the server closed the connection"), now)
        echoes, self.page.echoes = self.page.echoes, []
        for echo_id in echoes:
            busy = True
            core.echoed(echo_id, now)
        fetches, self.page.fetches = self.page.fetches, []
        for fetch_id in fetches:
            busy = True
            core.fetched(fetch_id, dict(DOMAIN_INFO), now)
        return busy

    def next_due(self) -> float | None:
        return self.core.next_due()

    def tick(self, now: float) -> None:
        self.core.tick(now)

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

    def capture(self, kind: str, raw: dict[str, Any]) -> None:
        """A frame from the page's capture code."""
        self.core.on_capture(kind, raw, self.live.clock.now * 1000, self.live.clock.now)
        self.live.pump()


def real_host(live: LiveHarness) -> RealHost:
    """A booted host core, wired into ``live``."""
    host = RealHost(live)
    live.sides.append(host)
    host.core.boot(live.clock.now)
    live.pump()
    return host
