"""Reads waiting for a key's upload, woken when this process records it (an upload to
another process is seen by polling the database: :func:`.core.wait_time`)."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["Waiters"]


class Waiters:
    """The events of the reads waiting in this process, by (session id, key)."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], set[asyncio.Event]] = {}

    async def wait(self, session_id: str, key: str, timeout: float) -> None:
        """Return when the key is recorded here, or after ``timeout`` seconds."""
        event = asyncio.Event()
        slot = (session_id, key)
        self._events.setdefault(slot, set()).add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            events = self._events.get(slot)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._events[slot]

    def wake(self, session_id: str, key: str) -> None:
        for event in self._events.get((session_id, key), ()):
            event.set()

    def __len__(self) -> int:
        """How many reads are waiting."""
        return sum(len(events) for events in self._events.values())
