"""The event bus: who listens to what, once-semantics and the before-init rule. No I/O.

Listeners are opaque handles: the page's callbacks live in JavaScript (they cannot cross into
the worker), so the bridge registers an integer per callback and calls the handles the bus
returns. Python code may register plain callables the same way.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParams, InvalidState
from .events import EVENTS

__all__ = ["Bus", "Delivery"]


@dataclass(frozen=True)
class Delivery:
    """Call each of ``handles`` with ``args``, in order, for event ``event``."""

    event: str
    args: tuple[Any, ...]
    handles: tuple[Hashable, ...]


@dataclass
class _Subscription:
    event: str
    handle: Hashable
    once: bool


@dataclass
class Bus:
    """Subscriptions in registration order; knows whether ``init`` has fired."""

    init_fired: bool = False
    _subs: list[_Subscription] = field(default_factory=list)

    @staticmethod
    def check_event(event: object) -> str:
        """Return ``event`` if it is a known event name, else raise ``invalid_params``."""
        if not isinstance(event, str) or event not in EVENTS:
            names = ", ".join(f"'{n}'" for n in EVENTS)
            raise InvalidParams(f"unknown event {event!r}; known events: {names}")
        return event

    def subscribe(self, event: object, handle: Hashable, once: bool = False) -> Delivery | None:
        """Register ``handle`` for ``event``.

        Before ``init`` has fired only ``init`` may be subscribed to (``invalid_state``).
        Subscribing to ``init`` after it fired returns a delivery to make at once.
        """
        name = self.check_event(event)
        if not self.init_fired and name != "init":
            raise InvalidState(
                f"cannot subscribe to '{name}' before 'init' has fired; subscribe inside "
                "your CwmnAPI.on('init', ...) callback"
            )
        if name == "init" and self.init_fired:
            if not once:
                self._subs.append(_Subscription(name, handle, once))
            return Delivery("init", (), (handle,))
        self._subs.append(_Subscription(name, handle, once))
        return None

    def unsubscribe(self, handle: Hashable, event: str | None = None) -> bool:
        """Remove every subscription of ``handle`` (for ``event`` only, if given)."""
        before = len(self._subs)
        self._subs = [
            s
            for s in self._subs
            if not (s.handle == handle and (event is None or s.event == event))
        ]
        return len(self._subs) != before

    def emit(self, event: str, *args: Any) -> Delivery:
        """Return who to call for ``event``; drops ``once`` subscriptions it delivers."""
        self.check_event(event)
        if event == "init":
            self.init_fired = True
        handles = tuple(s.handle for s in self._subs if s.event == event)
        self._subs = [s for s in self._subs if not (s.event == event and s.once)]
        return Delivery(event, args, handles)

    def listeners(self, event: str) -> int:
        return sum(1 for s in self._subs if s.event == event)
