"""This process as one of many (:class:`Cluster`): its heartbeat, the rooms it holds, and
the sockets it pipes to the rooms' owners or serves for other processes.

Which process serves a socket is decided when it connects: a socket whose URL names a
session (``?resume=``, ``?invite=``, ``?link=``: the sha256 of the token it will use) whose
room a live process holds is piped to that process; any other is served here, and the room
it opens is taken here (``room_owners``). The owner is the one writer of the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from ..db.engine import Pool, open_engine
from .bus import Bus
from .owners import Owners
from .pipes import Held, Pipe, forward, scope_of
from .wire import OPEN, Envelope

__all__ = ["CLOSE_RESTARTING", "Cluster"]

log = logging.getLogger("cwmn_web.server")
#: The close code (Service Restart) of sockets whose room moves to another process.
CLOSE_RESTARTING = 1012
_HASH = re.compile(r"[0-9a-f]{64}")
#: Seconds a process that did not hear a pipe's opening is passed over as an owner.
UNREACHABLE_FOR = 10.0
#: Seconds a room's taking waits for this process's subscription to be back.
LISTEN_WAIT = 3.0
#: Route keys whose session this process remembers.
ROUTES_KEPT = 10_000
Endpoint = Callable[[WebSocket], Coroutine[Any, Any, None]]


class Cluster:
    """This process's part in many: beats, holds rooms, pipes sockets (``app.state.cluster``
    when ``CWMN_REDIS_URL`` is set)."""

    def __init__(
        self,
        owners: Owners,
        redis_url: str,
        endpoints: dict[str, Endpoint],
        drop_rooms: Callable[[set[str] | None], None],
        rooms: Callable[[], set[str]],
    ) -> None:
        self.owners, self.me, self.ttl = owners, owners.me, owners.ttl
        self.endpoints = endpoints
        """The socket endpoints by path (``/ws``, ``/ws/guest``), for piped sockets."""
        self._drop_rooms, self._rooms = drop_rooms, rooms
        self.bus = Bus(redis_url, self.me, self._heard, self._lost)
        self.app: Any = None
        self.alive: set[str] = set()
        self.pipes: dict[str, Pipe] = {}
        """Sockets other processes hold, served here (by pipe id)."""
        self.held: dict[str, Held] = {}
        """Sockets held here, piped to their rooms' owners (by pipe id)."""
        self._unreachable: dict[str, float] = {}
        self._takes: dict[str, int] = {}
        self._sessions: OrderedDict[tuple[str, str], str] = OrderedDict()
        """Route keys looked up (a stranger's unknown keys are not kept)."""
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[None]] = set()
        self._beating: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None
        self._last_beat = time.monotonic()

    @classmethod
    def make(
        cls, engine: Any, process_id: str, ttl: float, redis_url: str, **kwargs: Any
    ) -> Cluster:
        """A process's part, on ``engine``'s database (its beats on a connection of their
        own: a pool busy with requests must not stop the heartbeat)."""
        beats = engine
        if engine.dialect.name != "sqlite":
            beats = open_engine(
                engine.url.render_as_string(hide_password=False), Pool(size=1, max_overflow=1)
            )
        return cls(Owners(engine, process_id, ttl, beats), redis_url, **kwargs)

    # -- life -------------------------------------------------------------------------------
    async def start(self, app: Any) -> None:
        self.app = app
        self.alive = await run_in_threadpool(self.owners.beat)
        self._last_beat = time.monotonic()
        await self.bus.start()
        loop = asyncio.get_running_loop()
        self._beating = loop.create_task(self._beat())
        self._watching = loop.create_task(self._watch())
        log.info("cluster: process %s joined (%d live)", self.me, len(self.alive))

    async def stop(self) -> None:
        """Leave: rooms go to others at once (their sockets reconnect), pipes close."""
        for task in (self._beating, self._watching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for end in list(self.held.values()):
            end.cut(CLOSE_RESTARTING, "the server is restarting: reconnect")
        for pipe in list(self.pipes.values()):
            pipe.close(CLOSE_RESTARTING, "the server is restarting: reconnect")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.bus.stop()
        with contextlib.suppress(Exception):
            await run_in_threadpool(self.owners.leave)
        if self.owners.beats is not self.owners.engine:
            self.owners.beats.dispose()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _beat(self) -> None:
        """Every ``ttl/5`` s: beat; end pipes whose other end's process died; let go of
        rooms the database no longer says are ours. A beat runs in its own thread on its
        own connection (not waiting behind the requests' threads and pool), bounded by
        half the ttl; :meth:`_watch` lets go of every room when none succeeded lately."""
        rounds = 0
        while True:
            await asyncio.sleep(self.ttl / 5)
            rounds += 1
            started = time.monotonic()
            before = self._rooms()
            try:
                self.alive, mine = await asyncio.wait_for(
                    asyncio.to_thread(self._beat_once, rounds), self.ttl / 2
                )
            except Exception as exc:
                log.warning("cluster: heartbeat failed: %r", exc)
                continue
            self._last_beat = started
            self._ended_elsewhere()
            lost = before - mine
            if lost:
                log.warning("cluster: %d room(s) taken over by another process", len(lost))
                self._drop_rooms(lost)

    def _beat_once(self, rounds: int) -> tuple[set[str], set[str]]:
        alive = self.owners.beat()
        mine = self.owners.mine()
        if rounds % 300 == 0:
            self.owners.forget_dead(3600.0)
        return alive, mine

    async def _watch(self) -> None:
        """Let go of every room once the last beat that succeeded started more than 0.6 ttl
        ago (a beat that fails or hangs): others take this process for dead at the ttl, and
        by then it must hold nothing they may take."""
        while True:
            await asyncio.sleep(self.ttl / 10)
            if time.monotonic() - self._last_beat > self.ttl * 0.6 and self._rooms():
                log.warning(
                    "cluster: no heartbeat for %.1f s: letting go of every room",
                    time.monotonic() - self._last_beat,
                )
                self._drop_rooms(None)

    def _ended_elsewhere(self) -> None:
        for end in list(self.held.values()):
            if end.owner not in self.alive:
                end.cut(CLOSE_RESTARTING, "the server holding this session stopped: reconnect")
        for pipe in list(self.pipes.values()):
            if pipe.holder not in self.alive:
                pipe.cut(1006)

    # -- routing ----------------------------------------------------------------------------
    async def forwarded(self, ws: WebSocket, routes: tuple[str, ...]) -> bool:
        """Pipe ``ws`` to the owner of the session its URL names, if another live process
        holds it (True once the socket is done); False: serve it here."""
        if Pipe.of(ws) is not None:
            return False
        for route in routes:
            key = ws.query_params.get(route, "")
            if _HASH.fullmatch(key):
                break
        else:
            return False
        session_id = self._sessions.get((route, key))
        if session_id is None:
            session_id = await run_in_threadpool(self.owners.session_of, route, key)
            if session_id is None:
                return False
            self._sessions[(route, key)] = session_id  # a key's session never changes
            while len(self._sessions) > ROUTES_KEPT:
                self._sessions.popitem(last=False)
        owner = await run_in_threadpool(self.owners.owner_of, session_id)
        if owner is None or owner == self.me or self._passed_over(owner):
            return False
        if await forward(ws, owner, self.me, self.bus, self.held, self.spawn):
            return True
        self._unreachable[owner] = time.monotonic() + UNREACHABLE_FOR
        return False

    def _passed_over(self, owner: str) -> bool:
        until = self._unreachable.get(owner)
        if until is None:
            return False
        if time.monotonic() > until:
            del self._unreachable[owner]
            return False
        return True

    async def take(self, session_id: str) -> bool:
        """Hold the session's room here, unless another live (and reachable) process
        does: whether this process holds it now. Not while this process cannot hear the
        others (it would hold a room that others, finding it deaf, take over): it waits
        for its subscription a moment, else answers no."""
        try:
            await asyncio.wait_for(self.bus.listening.wait(), LISTEN_WAIT)
        except TimeoutError:
            return False
        unreachable = frozenset(p for p in list(self._unreachable) if self._passed_over(p))
        async with self._lock(session_id):
            owner = await run_in_threadpool(self.owners.take, session_id, unreachable)
            if owner == self.me:
                self._takes[session_id] = self._takes.get(session_id, 0) + 1
            return owner == self.me

    def taken(self, session_id: str) -> int:
        """How many times this process took the session's room (what :meth:`release`
        compares: a room let go of, then taken again, keeps its new lease)."""
        return self._takes.get(session_id, 0)

    async def release(self, session_id: str, taken: int | None = None) -> None:
        """Give the room's lease back, unless it was taken again since ``taken``
        (:meth:`taken` when the room was let go of; None: whatever it is now)."""
        async with self._lock(session_id):
            if taken is not None and self._takes.get(session_id, 0) != taken:
                return
            self._takes.pop(session_id, None)
            with contextlib.suppress(Exception):
                await run_in_threadpool(self.owners.release, session_id)

    def _lock(self, session_id: str) -> asyncio.Lock:
        """One take or release of a session at a time in this process (so a release
        running late cannot delete a lease taken again meanwhile)."""
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    # -- the bus ----------------------------------------------------------------------------
    def _heard(self, envelope: Envelope) -> None:
        if envelope.kind == OPEN:
            self._open(envelope)
            return
        for pipe_id in envelope.pipes:
            pipe = self.pipes.get(pipe_id)
            if pipe is not None:
                pipe.heard(envelope)
                continue
            end = self.held.get(pipe_id)
            if end is not None:
                end.heard(envelope)

    def _open(self, envelope: Envelope) -> None:
        """Another process pipes a socket here: serve it with the endpoint of its path."""
        pipe_id, holder = envelope.pipes[0], envelope.sender
        endpoint = self.endpoints.get(str(envelope.meta.get("path")))
        pipe = Pipe(self.bus, pipe_id, holder)
        if endpoint is None:
            pipe.close(1008, "no such socket endpoint")
            return
        self.pipes[pipe_id] = pipe
        ws = WebSocket(scope_of(envelope.meta, self.app, pipe), pipe.receive, pipe.send)

        async def serve() -> None:
            try:
                await endpoint(ws)
            except Exception:
                log.exception("cluster: a piped socket's endpoint failed")
                pipe.close(1011, "server error")
            finally:
                self.pipes.pop(pipe_id, None)
                pipe.close(1000, "")

        self.spawn(serve())

    def _lost(self) -> None:
        """The subscription broke (messages may be lost): every pipe ends, and every room
        goes (others may take them while this process cannot be reached)."""
        for end in list(self.held.values()):
            end.cut(CLOSE_RESTARTING, "the server lost its peers: reconnect")
        for pipe in list(self.pipes.values()):
            pipe.cut(1006)
        self._drop_rooms(None)
