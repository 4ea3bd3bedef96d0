"""What the host core tells the page, as one narrow protocol. No I/O here.

Every method only hands something over and returns at once: the core never waits on the
page. What the page answers comes back as inputs of the core (``echoed``, ``fetched``). The
browser edge (``cwmn_web.browser.worker``) implements it with postMessage and fetch; tests
record what the page would see.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Protocol

from ..errors import CwmnError
from .bus import Delivery

__all__ = ["Ports"]


class Ports(Protocol):
    """The page operations the host core asks for."""

    def deliver(self, delivery: Delivery, view: dict[str, Any]) -> None:
        """Call the page's callbacks listed in ``delivery`` after applying ``view``."""
        ...

    def publish(self, view: dict[str, Any]) -> None:
        """Make ``view`` the answer of the page's synchronous getters."""
        ...

    def result(self, call_id: Hashable, value: Any = None, error: CwmnError | None = None) -> None:
        """Settle the page's call ``call_id``: resolve it with ``value``, or reject it."""
        ...

    def capture(self, start: bool, config: dict[str, Any] | None) -> None:
        """Start capturing the page (a fresh snapshot first) with ``config``, or stop."""
        ...

    def overlay(self, message: dict[str, Any]) -> None:
        """Draw on the host page: ``{op: "cursors", cursors: [{id, name, color, x, y}]}``
        (guests' pointers, document coordinates), ``{op: "ripple", x, y, color, name}``,
        ``{op: "consent", invite}`` (the default dialog for an invitation to host, which
        answers with ``session.acceptHostInvite({code})`` or ``session.declineHostInvite()``),
        ``{op: "record", action, muted?}`` (the replay's microphone), or the extensions'
        (docs/control/): ``{op: "control", guestId, input, rules}`` (apply the controller's
        input; a refused one comes back as ``on_control_refused``), ``{op: "control ask",
        request}`` (the default consent dialog; ``request`` None closes it), ``{op: "badge",
        ...}`` (:mod:`.badge`), ``{op: "draw", guestId, ...}`` and ``{op: "draw clear",
        guestId}`` (guests' strokes)."""
        ...

    def echo(self, echo_id: int) -> None:
        """Ask the page to answer ``echoed(echo_id)`` once it has handled everything posted
        to it so far (so every callback its event callbacks subscribed is known)."""
        ...

    def warn(self, message: str) -> None:
        """Report ``message`` on the page's console."""
        ...

    def store(self, key: str, value: dict[str, Any] | None) -> None:
        """Keep ``value`` in the tab's sessionStorage under ``key`` (None removes it)."""
        ...

    def fetch(self, fetch_id: int, url: str) -> None:
        """GET ``url`` (with the page's Origin), then answer ``fetched(fetch_id, json)`` or
        ``fetched(fetch_id, NetworkError)``."""
        ...

    def now(self) -> float:
        """Seconds since the epoch (the page's wall clock: frames carry it)."""
        ...
