"""Time rules shared by the host, the viewer and the server: backoff, throttle, rate gate and
named deadlines. No I/O and no clock of their own: every call is given ``now`` (seconds), and a
driver asks :meth:`Timers.next_due` when to call back.

The server's ``now`` is the wall clock, which may step back: a ``now`` earlier than the last
event counts as the interval having passed, so a step back never holds or refuses anything.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = [
    "POINTER_INTERVAL",
    "RECONNECT_FIRST",
    "RECONNECT_LIMIT",
    "Backoff",
    "RateGate",
    "Throttle",
    "Timers",
]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

#: At most ~30 pointer updates per second per pointer.
POINTER_INTERVAL = 1 / 30
#: The first delay before a reconnect, doubled at each failure up to the limit (seconds).
RECONNECT_FIRST = 0.25
RECONNECT_LIMIT = 8.0


class Backoff:
    """Delays between connection attempts: ``first`` doubling up to ``limit`` seconds."""

    def __init__(self, first: float = RECONNECT_FIRST, limit: float = RECONNECT_LIMIT) -> None:
        self.first, self.limit = first, limit
        self._next = first

    def next(self) -> float:
        """The delay before the next attempt (and the one after doubles)."""
        delay = self._next
        self._next = min(self._next * 2, self.limit)
        return delay

    def reset(self) -> None:
        """A connection succeeded: the next failure starts from ``first`` again."""
        self._next = self.first


class Throttle(Generic[T]):
    """A leading-and-trailing rate limit: the first value goes out at once; values offered
    within ``interval`` of the last one sent are held, and only the newest held value goes
    out once the interval has passed, so the final value is never lost."""

    def __init__(self, interval: float = POINTER_INTERVAL) -> None:
        self.interval = interval
        self._last_sent = float("-inf")
        self._held: T | None = None
        self._has_held = False

    def offer(self, value: T, now: float) -> T | None:
        """``value`` if it may go out now; else it is held (replacing an older one)."""
        elapsed = now - self._last_sent
        if elapsed >= self.interval or elapsed < 0:
            self._last_sent = now
            self._held, self._has_held = None, False
            return value
        self._held, self._has_held = value, True
        return None

    def next_due(self) -> float | None:
        """When the held value may go out (None: nothing is held)."""
        return self._last_sent + self.interval if self._has_held else None

    def due(self, now: float) -> T | None:
        """The held value, if its time has come (it then counts as sent)."""
        due = self.next_due()
        if due is None or self._last_sent <= now < due:
            return None
        value, self._held, self._has_held = self._held, None, False
        self._last_sent = now
        return value

    def drop(self) -> None:
        """Forget what is held (the interval since the last value sent still counts)."""
        self._held, self._has_held = None, False

    def reset(self) -> None:
        """Forget what is held and when the last value went out."""
        self._last_sent = float("-inf")
        self._held, self._has_held = None, False


class RateGate(Generic[K]):
    """At most one event per ``interval`` per key; what comes sooner is refused (dropped)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[K, float] = {}

    def allow(self, key: K, now: float) -> bool:
        """True (and the event counts) if ``key``'s last allowed event is ``interval`` old."""
        if 0 <= now - self._last.get(key, float("-inf")) < self.interval:
            return False
        self._last[key] = now
        return True

    def forget(self, key: K) -> None:
        self._last.pop(key, None)


class Timers(Generic[K]):
    """Named deadlines: set, cancel, and take those that are due."""

    def __init__(self) -> None:
        self._at: dict[K, float] = {}

    def set(self, key: K, at: float) -> None:
        """(Re)arm ``key`` for ``at``."""
        self._at[key] = at

    def cancel(self, key: K) -> None:
        self._at.pop(key, None)

    def armed(self, key: K) -> bool:
        return key in self._at

    def next_due(self) -> float | None:
        """The earliest deadline, or None when nothing is armed."""
        return min(self._at.values(), default=None)

    def due(self, now: float) -> list[K]:
        """Disarm and return each key whose deadline has come, earliest first."""
        due = [(at, n, key) for n, (key, at) in enumerate(self._at.items()) if at <= now]
        keys = [key for _, _, key in sorted(due)]
        for key in keys:
            del self._at[key]
        return keys
