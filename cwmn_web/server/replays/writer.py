"""Recordings written off the event loop: :class:`RecordingWriter` runs each recording's
writes in a thread, in the order they were asked for, and reports each one's outcome back
on the event loop (the relay then sends the frame's ack, or refuses it).

A slow or stuck write (a shared file system that hangs) holds up only its own recording's
writes and one of :data:`WRITER_THREADS` threads: other rooms' frames go on being written
and acknowledged. The writes queued while one runs go to the thread together (one hop for
many frames).

When a frame's write fails, the frames of that recording queued behind it are not written
(reported as :class:`NotWritten`): the room refuses the failed frame, the host sends it and
every later one again, and none of them may be in the file twice. Writes that are not
frames (``droppable=False``: a privacy marker) are written all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

__all__ = ["WRITER_THREADS", "NotWritten", "RecordingWriter"]

log = logging.getLogger("cwmn_web.server.replays")
#: Recordings written at once (each recording's writes one after the other).
WRITER_THREADS = 8

Outcome = Any
"""What a write returned, or the exception it raised."""


class NotWritten(Exception):
    """Not written: an earlier write of its recording failed."""


@dataclass
class _Write:
    run: Callable[[], object]
    done: Callable[[Outcome], None]
    droppable: bool


@dataclass
class _Lane:
    """One recording's writes not yet reported, and the task that runs them."""

    writes: list[_Write] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class RecordingWriter:
    """Writes recordings in threads, each recording's writes in order (see the module)."""

    def __init__(self, threads: int = WRITER_THREADS) -> None:
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lanes: dict[object, _Lane] = {}

    def write(
        self,
        recording: object,
        run: Callable[[], object],
        done: Callable[[Outcome], None],
        droppable: bool = True,
    ) -> None:
        """Run ``run()`` in a thread after ``recording``'s earlier writes; then call
        ``done`` on the event loop with what it returned or the exception it raised
        (:class:`NotWritten` if it was dropped after an earlier write failed)."""
        lane = self._lanes.get(recording)
        if lane is None:
            lane = self._lanes[recording] = _Lane()
        lane.writes.append(_Write(run, done, droppable))
        if lane.task is None:
            lane.task = asyncio.get_running_loop().create_task(self._drain(recording, lane))

    async def drained(self, recording: object) -> None:
        """Wait until every write asked for ``recording`` so far is done and reported."""
        lane = self._lanes.get(recording)
        if lane is not None and lane.task is not None:
            await asyncio.shield(lane.task)

    async def close(self) -> None:
        """Finish every write asked for, then stop the threads."""
        while self._lanes:
            tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
            if not tasks:
                break
            await asyncio.gather(*(asyncio.shield(t) for t in tasks), return_exceptions=True)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    @property
    def pending(self) -> int:
        """Writes asked for and not reported yet."""
        return sum(len(lane.writes) for lane in self._lanes.values())

    async def _drain(self, recording: object, lane: _Lane) -> None:
        """Run the lane's writes, in batches, until none is left; then forget the lane."""
        try:
            while lane.writes:
                batch = list(lane.writes)
                try:
                    outcomes = await asyncio.wrap_future(self._threads_pool().submit(_run, batch))
                except Exception as exc:  # the threads are gone (shutting down)
                    outcomes = [exc] * len(batch)
                del lane.writes[: len(batch)]
                failed = any(
                    isinstance(o, BaseException) and w.droppable
                    for w, o in zip(batch, outcomes, strict=True)
                )
                dropped: list[_Write] = []
                if failed:  # what was queued meanwhile came before the room heard of it
                    dropped = [w for w in lane.writes if w.droppable]
                    lane.writes[:] = [w for w in lane.writes if not w.droppable]
                for write, outcome in zip(batch, outcomes, strict=True):
                    _report(write, outcome)
                for write in dropped:
                    _report(write, NotWritten())
        finally:
            lane.task = None
            if not lane.writes and self._lanes.get(recording) is lane:
                del self._lanes[recording]

    def _threads_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="cwmn-recording")
        return self._pool


def _run(batch: list[_Write]) -> list[Outcome]:
    """Run a batch in order (in a thread); after a frame's failure, the frames after it
    are not written."""
    outcomes: list[Outcome] = []
    failed = False
    for write in batch:
        if failed and write.droppable:
            outcomes.append(NotWritten())
            continue
        try:
            outcomes.append(write.run())
        except Exception as exc:
            outcomes.append(exc)
            failed = failed or write.droppable
    return outcomes


def _report(write: _Write, outcome: Outcome) -> None:
    try:
        write.done(outcome)
    except Exception:
        log.exception("reporting a recording's write failed")
