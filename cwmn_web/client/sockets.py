"""The host core's sockets to the server, without I/O: which to open, close, and write.

The core asks for a socket with :meth:`Sockets.open` and gets it back greeted (the
hello/welcome handshake done) or an error; each socket carries a
:class:`~.requests.RequestChannel`. A driver (``cwmn_web.browser.driver``, or an in-memory
harness) opens what :meth:`Sockets.opens` lists, closes what :meth:`Sockets.closes` lists,
writes :meth:`Sockets.to_send`, and reports back with :meth:`Sockets.connected`,
:meth:`Sockets.receive` and :meth:`Sockets.lost`. Sockets are named ``ws1``, ``ws2``, …
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import CwmnError, NetworkError, Timeout
from ..protocol.messages import Message
from ..protocol.routes import with_route
from ..timing import Timers
from .host_token import HostTokens
from .requests import REQUEST_TIMEOUT, Done, Outcome, RequestChannel

__all__ = ["CONNECT_TIMEOUT", "ServerSocket", "Sockets"]

CONNECT_TIMEOUT = 10.0


def _ignore(_: object) -> None:
    pass


@dataclass(eq=False)
class ServerSocket:
    """One socket to the server: its requests, and who hears its pushes and its loss."""

    name: str
    owner: Sockets
    on_push: Callable[[Message], None] = _ignore
    on_lost: Callable[[CwmnError], None] = _ignore
    channel: RequestChannel = field(default_factory=RequestChannel)
    open: bool = False
    """Connected and greeted (until lost or closed)."""

    @property
    def closed(self) -> bool:
        return self.channel.closed

    @property
    def server_time(self) -> float:
        """The server's clock (seconds) when it welcomed this socket."""
        return self.channel.server_time

    def request(self, message: Message, done: Done, timeout: float = REQUEST_TIMEOUT) -> None:
        """Send ``message``; ``done`` gets the answer or the error, once."""
        self.channel.request(message, self.owner.clock(), done, timeout)

    def send(self, message: Message) -> None:
        """Send ``message``, expecting no answer (dropped unless open)."""
        if self.open:
            self.channel.send(message)

    def close(self) -> None:
        """Hang up: pending requests fail; ``on_lost`` is not called."""
        self.owner.close(self)


class Sockets:
    """The core's sockets by name; ``url`` is the server's, ``page_url`` goes in each hello."""

    def __init__(
        self,
        url: str,
        page_url: str,
        clock: Callable[[], float],
        tokens: HostTokens | None = None,
    ) -> None:
        self.url = url
        self.page_url = page_url
        self.clock = clock
        self.tokens = tokens
        """Where each hello's host token comes from (None: no token)."""
        self.route: tuple[str, str] | None = None
        """The route key new sockets carry: (kind, token) of the session they are for."""
        self._count = 0
        self._live: dict[str, ServerSocket] = {}
        self._ready: dict[str, Callable[[ServerSocket | CwmnError], None]] = {}
        self._connecting: Timers[str] = Timers()
        self._opens: list[str] = []
        self._closes: list[str] = []

    # -- for the core ---------------------------------------------------------------------
    def open(
        self,
        ready: Callable[[ServerSocket | CwmnError], None],
        on_push: Callable[[Message], None] = _ignore,
        on_lost: Callable[[CwmnError], None] = _ignore,
    ) -> ServerSocket:
        """Ask for a new socket; ``ready`` gets it once greeted, or the error (the socket is
        then closed). ``on_push`` hears its pushes; ``on_lost`` its loss once it was ready."""
        self._count += 1
        socket = ServerSocket(f"ws{self._count}", self, on_push, on_lost)
        self._live[socket.name] = socket
        self._ready[socket.name] = ready
        self._connecting.set(socket.name, self.clock() + CONNECT_TIMEOUT)
        self._opens.append(socket.name)
        return socket

    def close(self, socket: ServerSocket) -> None:
        if self._live.pop(socket.name, None) is None:
            return
        socket.open = False
        self._connecting.cancel(socket.name)
        self._ready.pop(socket.name, None)
        if socket.name in self._opens:
            self._opens.remove(socket.name)
        else:
            self._closes.append(socket.name)
        socket.channel.lost(NetworkError("the connection was closed"))

    # -- for the driver -------------------------------------------------------------------
    def url_now(self) -> str:
        """The URL a new socket opens: the server's, with the route key of the session
        this page hosts or is about to (:mod:`cwmn_web.protocol.routes`)."""
        return self.url if self.route is None else with_route(self.url, *self.route)

    def opens(self) -> list[str]:
        """Names of sockets to open now, at :attr:`url` (drains the list)."""
        out, self._opens = self._opens, []
        return out

    def closes(self) -> list[str]:
        """Names of sockets to close now (drains the list)."""
        out, self._closes = self._closes, []
        return out

    def to_send(self) -> list[tuple[str, Message]]:
        """``(socket name, message)`` to write, in order (drains the queues)."""
        return [
            (name, message)
            for name, socket in list(self._live.items())
            for message in socket.channel.to_send()
        ]

    def next_due(self) -> float | None:
        due = [self._connecting.next_due()]
        due += [socket.channel.next_due() for socket in self._live.values()]
        return min((d for d in due if d is not None), default=None)

    def connected(self, name: str) -> None:
        """The socket ``name`` is open: greet the server."""
        socket = self._live.get(name)
        if socket is None:
            return
        self._connecting.cancel(name)

        def welcomed(outcome: Outcome) -> None:
            ready = self._ready.pop(name, None)
            if isinstance(outcome, CwmnError):
                self.close(socket)
            else:
                socket.open = True
            if ready is not None:
                ready(outcome if isinstance(outcome, CwmnError) else socket)

        def greet(token: str | CwmnError) -> None:
            if self._live.get(name) is not socket:
                return  # closed while its token was being fetched
            if isinstance(token, CwmnError):
                welcomed(token)
            else:
                socket.channel.greet(self.page_url, self.clock(), welcomed, token)

        if self.tokens is None:
            greet("")
        else:
            self.tokens.get(greet)

    def receive(self, name: str, message: Message) -> None:
        socket = self._live.get(name)
        if socket is not None:
            push = socket.channel.receive(message)
            if push is not None:
                socket.on_push(push)

    def lost(self, name: str, error: CwmnError) -> None:
        """The socket ``name`` could not be opened, or it closed."""
        socket = self._live.pop(name, None)
        if socket is None:
            return
        was_open, socket.open = socket.open, False
        self._connecting.cancel(name)
        ready = self._ready.pop(name, None)
        socket.channel.lost(error)
        if ready is not None:
            ready(error)
        elif was_open:
            socket.on_lost(error)

    def tick(self, now: float) -> None:
        for name in self._connecting.due(now):
            socket = self._live.get(name)
            if socket is not None:
                ready = self._ready.pop(name, None)
                self.close(socket)
                if ready is not None:
                    ready(Timeout(f"could not connect to {self.url} in {CONNECT_TIMEOUT:g} s"))
        for socket in list(self._live.values()):
            socket.channel.tick(now)
