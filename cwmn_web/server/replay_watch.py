"""Hosts watching their replays (``WatchReplay``): one task follows every watched replay.

The render worker is another process, so a watched replay's row is read again every
``WATCH_INTERVAL``. One task does it for the whole process: each round reads each watched
replay once, however many connections watch it, one read after the other (never a flood
of the thread pool), and pushes what changed to each watcher. A connection watches one
replay at a time; a client address at most ``CWMN_MAX_WATCHERS_PER_CLIENT``, counted in
the relay's quotas (every process's with ``CWMN_REDIS_URL``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ..protocol.messages import ReplayUpdate
from .db.replays import settled
from .live.limits import client_watches, limit_reached
from .live.outputs import ConnId
from .peer import Peer
from .quotas import MemoryQuotas, Quotas
from .replays.service import ReplayService, replay_changed

__all__ = ["WATCH_INTERVAL", "ReplayWatchers"]

#: How often a watched replay's row is read (its render worker is another process).
WATCH_INTERVAL = 0.3
log = logging.getLogger("cwmn_web.server")


@dataclass
class _Watch:
    replay_id: str
    peer: Peer
    last: ReplayUpdate
    client: str


class ReplayWatchers:
    """Every replay watched on this process, and the task that follows them."""

    def __init__(
        self,
        replays: ReplayService,
        per_client: int,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        interval: float = WATCH_INTERVAL,
        quotas: Quotas | None = None,
    ) -> None:
        self.replays, self.per_client, self.interval = replays, per_client, interval
        self._spawn = spawn
        self._watches: dict[ConnId, _Watch] = {}
        self._quotas: Quotas = quotas or MemoryQuotas()
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        """Rounds done (each reads every watched replay once)."""
        self.reads = 0
        """Replay rows read by the rounds."""

    def __len__(self) -> int:
        return len(self._watches)

    async def watch(
        self, conn: ConnId, client: str, peer: Peer, replay_id: str, first: ReplayUpdate
    ) -> None:
        """``conn`` follows ``replay_id`` (instead of what it followed), having heard
        ``first``; ``rate_limited`` if ``client`` watches as many replays as it may."""
        self.unwatch(conn)
        if settled(first.status, first.send_status):
            return  # nothing more can change
        if not await self._quotas.take(client_watches(client), self.per_client):
            what = "this address watches as many replays as it may"
            raise limit_reached(what, self.per_client, "CWMN_MAX_WATCHERS_PER_CLIENT")
        self._watches[conn] = _Watch(replay_id, peer, first, client)
        if self._task is None or self._task.done():
            self._task = self._spawn(self._run())

    def unwatch(self, conn: ConnId) -> None:
        watch = self._watches.pop(conn, None)
        if watch is not None:
            self._quotas.give(client_watches(watch.client))

    async def _run(self) -> None:
        while self._watches:
            await asyncio.sleep(self.interval)
            self.rounds += 1
            watched: dict[str, list[ConnId]] = {}
            for conn, watch in self._watches.items():
                watched.setdefault(watch.replay_id, []).append(conn)
            for replay_id, conns in watched.items():
                try:
                    record = await self.replays.settle_sends(replay_id)
                except Exception:
                    log.exception("replay %s: watching failed", replay_id)
                    continue
                self.reads += 1
                self._tell(conns, self.replays.update(record, replay_id))

    def _tell(self, conns: list[ConnId], update: ReplayUpdate) -> None:
        """Push ``update`` to each watcher that has not heard it; drop finished watches."""
        for conn in conns:
            watch = self._watches.get(conn)
            if watch is None:
                continue
            if not watch.peer.open:
                self.unwatch(conn)
                continue
            if replay_changed(watch.last, update):
                watch.peer.send(update)
                watch.last = update
            if settled(update.status, update.send_status):
                self.unwatch(conn)
