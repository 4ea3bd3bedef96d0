"""The live core's edge: numbers each socket's :class:`Peer`, carries out what the core
(:class:`~cwmn_web.server.live.registry.LiveRooms`) returns, runs its deadlines and does
its store work (a session's end, a guest's new name, the host's controls). No protocol rules here.

Sockets per client address and sessions per site and per client address are counted in
the relay's :class:`~.quotas.Quotas`: this process's, or every process's with
``CWMN_REDIS_URL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from ..errors import NetworkError
from ..protocol.messages import CLOSE_TRY_AGAIN_LATER, AcceptHostInvite, StartSession
from .client_key import client_key, forwarded_ignored
from .cluster.node import CLOSE_RESTARTING, Cluster
from .cluster.pipes import Pipe, PipedPeer
from .config import Settings
from .db import EndReason, SessionRecord, Store
from .live.fanout import LiveRoom
from .live.host import HostCore
from .live.limits import (
    Limits,
    client_sessions,
    client_sockets,
    limit_reached,
    site_sessions,
)
from .live.outputs import (
    Close,
    ConnId,
    Outputs,
    RecordFrame,
    RecordPrivacy,
    Send,
    SessionOver,
    StoreControls,
    StoreName,
)
from .live.registry import LiveRooms
from .peer import TOO_MANY_CONNECTIONS, Peer, Reader
from .quotas import Quotas, QuotasUnavailable, quotas_for
from .replays.recording import Recording
from .replays.sessions import finish_recording
from .replays.writer import RecordingWriter

__all__ = [
    "HEAVY_AT_ONCE",
    "Relay",
    "limits_of",
    "room_elsewhere",
    "store_change",
    "store_session_over",
]

log = logging.getLogger("cwmn_web.server")
#: Long frames parsed at once (each in a worker thread; see :class:`Reader`). One: a parse
#: holds the interpreter up to ~20 ms, and with two the event loop could wait for both
#: (bench/stall.py on a quiet machine: p99 33-53 ms with two, 40-42 ms with one).
HEAVY_AT_ONCE = 1


def limits_of(settings: Settings) -> Limits:
    """The live relay's limits, from the server's settings."""
    return Limits(
        log_bytes=settings.max_log_bytes,
        sessions_per_site=settings.max_sessions_per_site,
        sessions_per_client=settings.max_sessions_per_client,
        connections_per_client=settings.max_connections_per_client,
        frames_per_second=settings.max_frames_per_second,
        frame_values=settings.max_frame_values,
        watchers_per_client=settings.max_watchers_per_client,
        idle_timeout=settings.idle_timeout,
    )


def room_elsewhere() -> NetworkError:
    """The error of a request for a room another process holds (it took it meanwhile):
    the client reconnects, and its socket is then piped to that process."""
    return NetworkError("this session is served by another server process: reconnect")


def store_session_over(
    store: Store, data_dir: Path, over: SessionOver, stamp: float | None = None
) -> None:
    """The store's part of a session's end: its row, then (``over.finish``) its replay's
    recording finished and its render job queued."""
    store.end_session(over.session_id, over.reason, now=stamp)
    if over.finish:
        ended_now = over.recording is not None and over.reason == EndReason.ENDED
        finish_recording(store, data_dir, over.session_id, over.recording, ended_now)


def store_change(store: Store, change: StoreName | StoreControls) -> None:
    """Keep what the core changed: a guest's new name, or the host's controls."""
    if isinstance(change, StoreName):
        store.rename_guest(change.guest_id, change.name)
    else:
        store.store_controls(change.session_id, change.privacy, change.mute_all, change.muted)


class Relay:
    """Every live room of this process (kept in ``app.state.relay``), over the sockets."""

    def __init__(self, settings: Settings, store: Store, quotas: Quotas | None = None) -> None:
        self.settings = settings
        self.store = store
        self.limits = limits_of(settings)
        self.core = LiveRooms(
            settings.max_session_seconds, settings.host_grace_seconds, self.limits
        )
        self.quotas = quotas or quotas_for(settings)
        """Open sockets and live sessions counted (also replays watched: ``app.py``)."""
        self.peers: dict[ConnId, Peer] = {}
        self.cluster: Cluster | None = None
        self._letting_go: dict[str, asyncio.Task[None]] = {}
        """Dropped rooms whose recording is still being closed (a reopen waits)."""
        """This process's part in many (``CWMN_REDIS_URL``), or None: rooms live here."""
        self._clients: dict[ConnId, str] = {}
        self._warned_forwarded = False
        """Forwarded headers from an untrusted peer were logged (once per process)."""
        self._heavy = asyncio.Semaphore(HEAVY_AT_ONCE)
        #: The core's clock: wall-clock seconds (tests move it on).
        self.clock: Callable[[], float] = time.time
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._waiting_until: float | None = None  # the deadline the timer task waits for
        self._stopped = False
        #: Replays' recordings, written off the event loop (:meth:`_record`).
        self.writer = RecordingWriter()
        #: One resume at a time per replay session opens (and attaches) its recording.
        self._opening: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @property
    def rooms(self) -> dict[str, LiveRoom]:
        return self.core.rooms

    # -- tasks and sockets ------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def client_of(self, ws: WebSocket) -> str:
        """The socket's client key (:func:`client_key` of its address: the proxy's
        client's, from a trusted proxy), which every per-client limit counts under."""
        address = ws.client.host if ws.client is not None else ""
        if not self._warned_forwarded:
            forwarded = ws.headers.get("x-forwarded-for", "")
            if forwarded_ignored(forwarded, address):
                self._warned_forwarded = True
                log.warning(
                    "X-Forwarded-For from %s, which is not in CWMN_TRUSTED_PROXIES: every "
                    "client behind it counts as that one address in the per-client limits "
                    "(add the proxy's address to CWMN_TRUSTED_PROXIES)",
                    address,
                )
        return client_key(address, self.settings.client_ipv6_prefix)

    async def admit(self, ws: WebSocket) -> bool:
        """Count a new socket for its client address; False if that address has
        ``CWMN_MAX_CONNECTIONS_PER_CLIENT`` open (the socket is then to be closed)."""
        key = client_sockets(self.client_of(ws))
        return await self.quotas.take(key, self.limits.connections_per_client)

    async def let_in(self, ws: WebSocket) -> bool:
        """:meth:`admit` an accepted socket, or close it (1013) and say False: over its
        address's limit, or the quotas cannot be counted now (Redis down: try again)."""
        try:
            if await self.admit(ws):
                return True
            reason = TOO_MANY_CONNECTIONS
        except QuotasUnavailable:
            reason = "the server cannot count connections now: try again"
        await ws.close(CLOSE_TRY_AGAIN_LATER, reason=reason)
        return False

    async def admit_session(self, core: HostCore, work: object) -> None:
        """Before a start's or an acceptance's store work (``work``; anything else passes):
        count the session for the site and the client address and give ``core`` its slot;
        raise ``rate_limited`` if either has as many live sessions as its limit allows."""
        if not isinstance(work, StartSession | AcceptHostInvite):
            return
        self.recount()  # sessions that ended are given back first
        limits, quotas = self.limits, self.quotas
        site = site_sessions(core.site_id)
        if not await quotas.take(site, limits.sessions_per_site):
            what = "this site has as many live sessions as it may"
            raise limit_reached(what, limits.sessions_per_site, "CWMN_MAX_SESSIONS_PER_SITE")
        try:
            taken = not core.client or await quotas.take(
                client_sessions(core.client), limits.sessions_per_client
            )
        except BaseException:
            quotas.give(site)
            raise
        if not taken:
            quotas.give(site)
            what = "this address hosts as many live sessions as it may"
            raise limit_reached(what, limits.sessions_per_client, "CWMN_MAX_SESSIONS_PER_CLIENT")
        core.admitted()

    def connect(self, ws: WebSocket) -> tuple[ConnId, Peer]:
        """A new (admitted) socket's number and its sending side."""
        conn = self.core.connect()
        pipe = Pipe.of(ws)
        peer = self.peers[conn] = PipedPeer(pipe) if pipe is not None else Peer(ws, self.spawn)
        self._clients[conn] = self.client_of(ws)
        return conn, peer

    def disconnect(self, conn: ConnId) -> None:
        self.peers.pop(conn, None)
        self.recount()
        client = self._clients.pop(conn, None)
        if client is not None:
            self.quotas.give(client_sockets(client))

    def recount(self) -> None:
        """Apply what the core's rooms started or stopped counting, in its order."""
        for change in self.core.recounts():
            if change.delta > 0:
                self.quotas.add(change.key)
            else:
                self.quotas.give(change.key)

    def reader(
        self, ws: WebSocket, peer: Peer, on_text: Callable[[str], None] | None = None
    ) -> Reader:
        """The reading side of a socket, within the limits."""
        return Reader(ws, peer, self.limits, self._heavy, on_text)

    async def shutdown(self) -> None:
        """Stop every timer and writer (sessions stay open in the store: hosts resume)."""
        self._stopped = True  # a socket closing from here on starts no timer task again
        tasks = [*self._tasks, *([self._timers] if self._timers else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.writer.close()  # what was taken is written before the files close
        self.core.close_all()
        self.recount()
        await self.quotas.close()

    # -- carrying out -----------------------------------------------------------------------
    async def carry_out(self, out: Outputs, rearm: bool = True) -> None:
        """Send, close and store what ``out`` says, in its order (a session's end is in the
        store before what follows it is sent); then the timer task takes the core's next
        deadline (``rearm``)."""
        self.recount()  # before any await: in the order the core counted
        for item in out:
            if isinstance(item, Send | Close):
                self._write(item)
            elif isinstance(item, RecordFrame | RecordPrivacy):
                self._record(item)
            elif isinstance(item, SessionOver):
                self._sent()
                await self._session_over(item)
            else:
                self._sent()
                await run_in_threadpool(store_change, self.store, item)
        self._sent()
        if rearm:
            self._rearm()

    def _sent(self) -> None:
        """What went to sockets of other processes leaves now, not a loop turn later (it
        was gathered per process: one message for the guests of each)."""
        if self.cluster is not None:
            self.cluster.bus.flush()

    def carry_out_soon(self, out: Outputs) -> None:
        """:meth:`carry_out` from synchronous code: writes now, store work in a task."""
        self.recount()
        rest = Outputs()
        for item in out:
            if isinstance(item, Send | Close):
                self._write(item)
            elif isinstance(item, RecordFrame | RecordPrivacy):
                self._record(item)
            else:
                rest.add(item)
        self._sent()
        if rest.items:
            self.spawn(self.carry_out(rest))
        self._rearm()

    def _write(self, item: Send | Close) -> None:
        peer = self.peers.get(item.to)
        if peer is None:
            return
        if isinstance(item, Send):
            peer.send(item.text)
        else:
            peer.close(item.code, item.reason)

    def _record(self, item: RecordFrame | RecordPrivacy) -> None:
        """Queue a replay's write (:class:`RecordingWriter`); a frame's outcome goes back
        to the core, whose answer (its ack, or the refusal) is carried out then."""
        recording = item.recording
        if isinstance(item, RecordPrivacy):
            marker = item

            def privacy() -> None:
                recording.privacy(marker.enabled, marker.page, marker.now_ms)

            self.writer.write(recording, privacy, _logged(marker.session_id), droppable=False)
            return
        frame = item

        def take() -> bool:
            return recording.take(frame.frame, frame.page, frame.now_ms)

        def done(outcome: object) -> None:
            error = outcome if isinstance(outcome, BaseException) else None
            self.carry_out_soon(self.core.recorded(frame.session_id, frame.ticket, error))

        self.writer.write(recording, take, done)

    async def _session_over(self, over: SessionOver) -> None:
        if over.recording is not None:  # its writes first, then it is closed and finished
            await self.writer.drained(over.recording)
        await run_in_threadpool(store_session_over, self.store, self.settings.data_dir, over)
        if self.cluster is not None:
            await self.cluster.release(over.session_id)

    # -- many processes ---------------------------------------------------------------------
    async def hold(self, session_id: str) -> bool:
        """Whether this process holds (now) the session's room: always with one process;
        with many, unless another live process holds it (the socket should then reconnect:
        it will be piped there)."""
        if self.cluster is None or session_id in self.core.rooms:
            return True
        return await self.cluster.take(session_id)

    def drop_rooms(self, session_ids: set[str] | None) -> None:
        """Let go of these rooms (None: all) without ending their sessions: another process
        holds them now, or will; their sockets close with 1012 and reconnect there."""
        chosen = set(self.core.rooms) if session_ids is None else session_ids
        for session_id in chosen:
            recording = self.core.recording_of(session_id)
            out = self.core.drop(session_id, CLOSE_RESTARTING, "the session moved: reconnect")
            self.carry_out_soon(out)
            taken = self.cluster.taken(session_id) if self.cluster is not None else 0
            task = self._letting_go[session_id] = self.spawn(
                self._let_go(session_id, recording, taken)
            )
            task.add_done_callback(functools.partial(self._forget_let_go, session_id))

    def _forget_let_go(self, session_id: str, task: asyncio.Task[None]) -> None:
        if self._letting_go.get(session_id) is task:
            del self._letting_go[session_id]

    async def _let_go(self, session_id: str, recording: Recording | None, taken: int) -> None:
        """A dropped room's recording is closed once what it took is written; its lease
        is given back (unless this process took the room again meanwhile)."""
        if recording is not None:
            await self.writer.drained(recording)
            recording.close()
        if self.cluster is not None:
            await self.cluster.release(session_id, taken)

    # -- deadlines --------------------------------------------------------------------------
    def _rearm(self) -> None:
        """Wake the timer task if the core's next deadline is sooner than the one it waits
        for (a frame that moves no deadline costs no wake-up)."""
        if self._stopped:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to drive yet
            if self._timers is None or self._timers.done():
                self._wake = asyncio.Event()
                self._timers = asyncio.get_running_loop().create_task(self._run_timers())
            assert self._wake is not None
            due = self.core.next_due()
            if due is not None and (self._waiting_until is None or due < self._waiting_until):
                self._wake.set()

    async def _run_timers(self) -> None:
        assert self._wake is not None
        wake = self._wake
        while True:
            due = self._waiting_until = self.core.next_due()
            timeout = None if due is None else max(due - self.clock(), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
            wake.clear()
            try:
                await self.carry_out(self.core.tick(self.clock()), rearm=False)
            except Exception:
                log.exception("a live timer failed")

    # -- sessions ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def opening(self, session_id: str) -> AsyncIterator[None]:
        """Hold the session's recording lock: a second resume racing this one (after a
        restart) waits, then finds the recording this one opened, instead of reopening the
        files (whose recovery would truncate what this one writes)."""
        async with self._lock(session_id):
            recording = self.recording_of(session_id)
            if recording is not None:  # the resume learns what is written: no write pending
                await self.writer.drained(recording)
            letting_go = self._letting_go.get(session_id)
            if letting_go is not None:  # a dropped room's recording closes before a reopen
                await asyncio.shield(letting_go)
            yield

    @contextlib.asynccontextmanager
    async def starting_replay(self, site_id: int) -> AsyncIterator[None]:
        """Hold the site's replay-start lock: the replay caps are checked and the new replay's
        row written as one step, so concurrent starts cannot all pass the check."""
        async with self._lock(f"replay-start:{site_id}"):
            yield

    def _lock(self, key: str) -> asyncio.Lock:
        """The lock named ``key`` (kept while someone holds or waits for it)."""
        lock = self._opening.get(key)
        if lock is None:
            lock = self._opening[key] = asyncio.Lock()
        return lock

    def recording_of(self, session_id: str) -> Recording | None:
        """The recording of the session's live room, if it has one here."""
        return self.core.recording_of(session_id)

    async def end_if_expired(self, record: SessionRecord) -> bool:
        """End the session if it is past its maximum duration (in the store too); True if
        it is over, whether it ended now or before."""
        over, out = self.core.over(record, self.clock())
        await self.carry_out(out)
        return over

    async def end(self, session_id: str, reason: EndReason, tell_host: bool) -> None:
        """End the session now if it is live here (e.g. its replay is abandoned)."""
        out = self.core.end_live(session_id, reason, tell_host)
        if out:  # nothing live here: nothing to carry out (nor a timer to re-arm)
            await self.carry_out(out)


def _logged(session_id: str) -> Callable[[object], None]:
    """A privacy marker's outcome: a failure is logged (the recording goes on)."""

    def done(outcome: object) -> None:
        if isinstance(outcome, BaseException):
            log.error("session %s: could not record privacy: %r", session_id, outcome)

    return done
