"""The host core's page in memory: :class:`RecordingPage` records every page operation the
core asks for (``client.ports.Ports``), and :func:`exchange` is the one pump step that carries
what is queued between the core, its page and a :class:`Network` (a server stand-in or the
real server core). The host harnesses build on these: :mod:`tests.helpers.live_page` and
:mod:`tests.helpers.host_core`, both on the real server core (:mod:`tests.helpers.live_core`)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol

from cwmn_web.client.bus import Delivery
from cwmn_web.client.controller import HostController
from cwmn_web.errors import CwmnError
from cwmn_web.protocol.messages import Message

__all__ = ["DOMAIN_INFO", "Network", "RecordingPage", "exchange"]

DOMAIN_INFO: dict[str, Any] = {
    "domain": "shop.example.com",
    "authorized": True,
    "site": {"id": 1, "name": "default"},
    "features": {"realtime": True},
    "settings": {"maxGuests": 10},
}
"""What the server's domain-info endpoint answers for the test site."""


class RecordingPage:
    """The host page (``client.ports.Ports``): records deliveries (with the view the page
    would see), published views, call results, captures, overlays, storage and warnings;
    echoes and fetches wait for :func:`exchange` to answer them."""

    def __init__(
        self,
        wall: Callable[[], float],
        domain_info: dict[str, Any] | None = None,
        fetch_error: CwmnError | None = None,
    ) -> None:
        self.wall = wall
        self.domain_info = dict(DOMAIN_INFO if domain_info is None else domain_info)
        self.fetch_error = fetch_error
        """Answer domain-info fetches with this error instead."""
        self.hold_fetches = False
        """True: domain-info fetches wait until :meth:`release_fetches`."""
        self.deliveries: list[tuple[str, tuple[Any, ...], str]] = []
        self.handles: list[tuple[str, tuple[Hashable, ...]]] = []
        self.views: list[dict[str, Any]] = []
        self.published: list[dict[str, Any]] = []
        self.fetched: list[str] = []
        self.captures: list[tuple[bool, dict[str, Any] | None]] = []
        self.overlays: list[dict[str, Any]] = []
        self.stored: dict[str, dict[str, Any] | None] = {}
        self.warnings: list[str] = []
        self.results: dict[Hashable, tuple[Any, CwmnError | None]] = {}
        self.settles = 0
        """Echoes answered so far."""
        #: What the page's callbacks do for an event; like the real page, it happens later
        #: (their subscriptions reach the worker after it), by the next echo.
        self.on_event: dict[str, Callable[[], None]] = {}
        self._page_work: list[Callable[[], None]] = []
        self._echoes: list[int] = []
        self._fetches: list[int] = []
        self._held: list[int] = []

    # -- Ports --------------------------------------------------------------------------
    def deliver(self, delivery: Delivery, view: dict[str, Any]) -> None:
        self.deliveries.append((delivery.event, delivery.args, view["state"]))
        self.handles.append((delivery.event, delivery.handles))
        self.views.append(view)
        if delivery.event in self.on_event:
            self._page_work.append(self.on_event[delivery.event])

    def publish(self, view: dict[str, Any]) -> None:
        self.published.append(view)

    def result(self, call_id: Hashable, value: Any = None, error: CwmnError | None = None) -> None:
        assert call_id not in self.results, "a call settles once"
        self.results[call_id] = (value, error)

    def capture(self, start: bool, config: dict[str, Any] | None) -> None:
        self.captures.append((start, config))

    def overlay(self, message: dict[str, Any]) -> None:
        self.overlays.append(message)

    def echo(self, echo_id: int) -> None:
        self._echoes.append(echo_id)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def store(self, key: str, value: dict[str, Any] | None) -> None:
        self.stored[key] = value

    def fetch(self, fetch_id: int, url: str) -> None:
        self.fetched.append(url)
        (self._held if self.hold_fetches else self._fetches).append(fetch_id)

    def now(self) -> float:
        """The page's wall clock (seconds since the epoch): frames carry it."""
        return self.wall()

    # -- what is pending, what the page saw -------------------------------------------------
    @property
    def echoes(self) -> list[int]:
        """Echoes asked for and not answered yet."""
        return list(self._echoes)

    @property
    def fetches(self) -> list[int]:
        """Fetches asked for and not answered yet."""
        return list(self._fetches)

    def release_held(self) -> None:
        """Stop holding fetches; those held so far are answered by the next exchange."""
        self.hold_fetches = False
        self._fetches += self._held
        self._held = []

    def answer_page(self, core: HostController, now: float) -> bool:
        """Answer the echoes (running the callbacks' page work first) and the fetches asked
        for; True if there were any."""
        echoes, self._echoes = self._echoes, []
        for echo_id in echoes:
            self.settles += 1
            work, self._page_work = self._page_work, []
            for action in work:
                action()
            core.echoed(echo_id, now)
        return self.answer_fetches(core, now) or bool(echoes)

    def answer_fetches(self, core: HostController, now: float) -> bool:
        """Answer the fetches asked for (only them); True if there were any."""
        fetches, self._fetches = self._fetches, []
        for fetch_id in fetches:
            core.fetched(fetch_id, self.fetch_error or dict(self.domain_info), now)
        return bool(fetches)

    def events(self) -> list[str]:
        """The events delivered to the page, in order."""
        return [event for event, _, _ in self.deliveries]

    def view_at(self, event: str) -> dict[str, Any]:
        """The view the page had when ``event`` was first delivered."""
        return next(
            v for (e, _, _), v in zip(self.deliveries, self.views, strict=True) if e == event
        )


class Network(Protocol):
    """The host core's sockets, by name: a server stand-in or the real server core."""

    def open_socket(self, core: HostController, name: str, now: float) -> None:
        """The core opens socket ``name``: answer ``connected`` or ``lost`` (or nothing)."""
        ...

    def close_socket(self, name: str) -> None:
        """The core closed socket ``name``."""
        ...

    def send_socket(self, core: HostController, name: str, message: Message, now: float) -> None:
        """The core sends ``message`` on socket ``name``."""
        ...

    def carry_back(self, core: HostController, now: float) -> bool:
        """Hand the core what the server sent (and its closes); True if anything moved."""
        ...


def exchange(core: HostController, page: RecordingPage, network: Network, now: float) -> bool:
    """One pump step: carry the core's opens, closes and frames to ``network``, the
    server's frames back and the page's answers to its echoes and fetches. True if anything
    moved (pump until False)."""
    busy = False
    for name in core.opens():
        busy = True
        network.open_socket(core, name, now)
    for name in core.closes():
        busy = True
        network.close_socket(name)
    for name, message in core.to_send():
        busy = True
        network.send_socket(core, name, message, now)
    busy = network.carry_back(core, now) or busy
    return page.answer_page(core, now) or busy
