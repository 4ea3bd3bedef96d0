"""What the host core needs from its surroundings, as narrow protocols. No I/O here.

The browser edge (``cwmn_web.browser``) implements them with the page's WebSocket, fetch and
postMessage; tests implement them in memory or with a real server.
"""

from __future__ import annotations

from typing import Any, Protocol

from .bus import Delivery

__all__ = ["Connection", "Ports"]


class Connection(Protocol):
    """An open WebSocket carrying text frames."""

    async def send(self, frame: str) -> None: ...

    async def recv(self) -> str:
        """The next frame; raises ``NetworkError`` once the socket is closed."""
        ...

    async def close(self) -> None: ...


class Ports(Protocol):
    """The effects the host core asks for."""

    def deliver(self, delivery: Delivery, view: dict[str, Any]) -> None:
        """Call the page's callbacks listed in ``delivery`` after applying ``view``."""
        ...

    def publish(self, view: dict[str, Any]) -> None:
        """Make ``view`` the answer of the page's synchronous getters."""
        ...

    def capture(self, start: bool, config: dict[str, Any] | None) -> None:
        """Start capturing the page (a fresh snapshot first) with ``config``, or stop."""
        ...

    def overlay(self, message: dict[str, Any]) -> None:
        """Draw on the host page: ``{op: "cursors", cursors: [{id, name, color, x, y}]}``
        (guests' pointers, document coordinates), ``{op: "ripple", x, y, color, name}``, or
        ``{op: "consent", invite}`` (the default dialog for an invitation to host, which
        answers with ``session.acceptHostInvite()`` or ``session.declineHostInvite()``)."""
        ...

    async def settled(self) -> None:
        """Return once the page has handled everything posted to it so far (so every
        callback its event callbacks subscribed is known)."""
        ...

    def warn(self, message: str) -> None:
        """Report ``message`` on the page's console."""
        ...

    def store(self, key: str, value: dict[str, Any] | None) -> None:
        """Keep ``value`` in the tab's sessionStorage under ``key`` (None removes it)."""
        ...

    async def fetch_json(self, url: str) -> dict[str, Any]:
        """GET ``url`` (with the page's Origin); raise ``NetworkError`` if unreachable."""
        ...

    async def connect(self, url: str) -> Connection:
        """Open a WebSocket; raise ``NetworkError`` if it cannot be opened."""
        ...

    def now(self) -> float:
        """Seconds since the epoch."""
        ...
