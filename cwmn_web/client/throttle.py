"""A leading-and-trailing rate limit for pointer positions. No I/O, no clock of its own.

The first value goes out at once; values offered within ``interval`` of the last one sent
are held, and only the newest held value goes out once the interval has passed, so the
final position is never lost and at most ``1 / interval`` values go out per second.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["POINTER_INTERVAL", "Throttle"]

T = TypeVar("T")

#: At most ~30 pointer updates per second per pointer.
POINTER_INTERVAL = 1 / 30


class Throttle(Generic[T]):
    """Offer values with the time; send what :meth:`offer` and :meth:`due` return."""

    def __init__(self, interval: float = POINTER_INTERVAL) -> None:
        self.interval = interval
        self._last_sent = float("-inf")
        self._held: T | None = None
        self._has_held = False

    def offer(self, value: T, now: float) -> T | None:
        """``value`` if it may go out now; else it is held (replacing an older one)."""
        if now - self._last_sent >= self.interval:
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
        if due is None or now < due:
            return None
        value, self._held, self._has_held = self._held, None, False
        self._last_sent = now
        return value

    def reset(self) -> None:
        """Forget what is held and when the last value went out."""
        self._last_sent = float("-inf")
        self._held, self._has_held = None, False
