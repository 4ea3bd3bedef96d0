"""Reads waiting for a key's upload, woken when this process records it (an upload to
another process is seen by polling the database: :func:`.core.wait_time`), and how many
may wait: in all, per session and per client, so one client's reads cannot take every
other session's room to wait."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass

__all__ = ["WaitCaps", "Waiters"]


@dataclass(frozen=True)
class WaitCaps:
    """Reads that may wait at once in one process: in all, of one session, of one client."""

    total: int = 1024
    per_session: int = 64
    per_client: int = 128


class Waiters:
    """The events of the reads waiting in this process, by (session id, key), and the
    reads holding a place to wait, by session and by client key."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], set[asyncio.Event]] = {}
        self._sessions: Counter[str] = Counter()
        self._clients: Counter[str] = Counter()

    def hold(self, session_id: str, client: str, caps: WaitCaps) -> bool:
        """Take a place for a read of ``session_id`` from ``client`` to wait (True), or
        None is left (False: the read answers at once); :meth:`release` gives it back."""
        if (
            self._sessions.total() >= caps.total
            or self._sessions[session_id] >= caps.per_session
            or self._clients[client] >= caps.per_client
        ):
            return False
        self._sessions[session_id] += 1
        self._clients[client] += 1
        return True

    def release(self, session_id: str, client: str) -> None:
        for counter, name in ((self._sessions, session_id), (self._clients, client)):
            counter[name] -= 1
            if counter[name] <= 0:
                del counter[name]

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
