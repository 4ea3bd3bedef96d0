"""Live sessions at the socket edge: each room's sockets, the fan-out and the timers.

Feeds the sans-I/O :class:`~cwmn_web.server.rooms.Room` and carries out what it decides.
Every socket sends through its own :class:`Peer` queue, so a slow or dead guest never holds
up the host or the other guests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import CwmnError, NotFound
from ..protocol import codec
from ..protocol.messages import (
    CLOSE_GOING_AWAY,
    CLOSE_PROTOCOL,
    CLOSE_REMOVED,
    CLOSE_REPLACED,
    CLOSE_SESSION_ENDED,
    CLOSE_TRY_AGAIN_LATER,
    Ack,
    GuestClick,
    GuestJoined,
    GuestLeft,
    GuestPointer,
    GuestUpdated,
    HostStatus,
    Joined,
    Message,
    MirrorFrame,
    Muted,
    Paused,
    PointerClick,
    PointerMove,
    Removed,
    SessionEnded,
    SnapshotRequest,
)
from .config import Settings
from .db import SessionRecord, Store
from .host_protocol import HostProtocol
from .links import session_ends_at, session_expired
from .replays.recording import Recording
from .replays.sessions import finish_recording, replay_limit
from .rooms import Guest, HostReturn, Room

__all__ = ["HostLink", "LiveRoom", "Peer", "Relay", "close_reason"]

log = logging.getLogger("cwmn_web.server")

#: Text a peer may have waiting before it counts as too slow (frames are shared strings,
#: so this bounds latency more than memory). Above the room log's 16 MB, which a joining
#: guest receives at once.
MAX_QUEUED_CHARS = 64 * 1024 * 1024
FLUSH_TIMEOUT = 5.0
ENDED_MEMORY = 10_000


def close_reason(text: str) -> str:
    """A close reason cut to the protocol's 123 bytes (whole characters)."""
    return text.encode()[:120].decode(errors="ignore")


class SocketClosed(Exception):
    """The socket is done: ``by_us`` when this side closed it (a bad frame)."""

    def __init__(self, by_us: bool) -> None:
        super().__init__("closed by us" if by_us else "closed by the peer")
        self.by_us = by_us


async def read_message(
    ws: WebSocket, peer: Peer, on_text: Callable[[str], None] | None = None
) -> Message:
    """The next message on ``ws``; a binary or malformed frame closes it with 4400.

    Raises :class:`SocketClosed` when the socket is done."""
    event = await ws.receive()
    if event["type"] == "websocket.disconnect":
        peer.close_code = event.get("code")
        raise SocketClosed(by_us=False)
    frame = event.get("text")
    if frame is None:
        peer.close(CLOSE_PROTOCOL, "frames must be text (JSON)")
        raise SocketClosed(by_us=True)
    if on_text is not None:
        on_text(frame)
    try:
        return codec.decode(frame)
    except CwmnError as exc:
        peer.close(CLOSE_PROTOCOL, exc.message)
        raise SocketClosed(by_us=True) from None


async def serve(
    run: Callable[[], Coroutine[Any, Any, bool]], closed: Callable[[], None], peer: Peer
) -> None:
    """Run a connection until its socket is done, then tidy up: ``closed()`` always runs
    (even when the task is cancelled); what is still queued is flushed only when this side
    closed the socket (a peer that left cannot read it)."""
    closed_by_us = False
    try:
        with contextlib.suppress(WebSocketDisconnect):
            closed_by_us = await run()
    finally:
        closed()  # synchronous: it must run even when the task is being cancelled
    if closed_by_us:
        await peer.flush()
    else:
        peer.discard()


class Peer:
    """The sending side of one socket: a queue drained by its own task.

    :meth:`send` never waits. A peer whose queue grows past ``max_queued`` characters is
    closed with 1013; a failed write stops the peer. Either way ``on_failed`` is called once.
    """

    def __init__(
        self,
        ws: WebSocket,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        max_queued: int = MAX_QUEUED_CHARS,
    ) -> None:
        self.ws = ws
        self.open = True
        self.close_code: int | None = None
        """The code the client closed its socket with (once :func:`read_message` saw it)."""
        self.on_failed: Callable[[], None] | None = None
        self.max_queued = max_queued
        self._spawn = spawn
        self._queue: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue()
        self._queued = 0
        self._writer = spawn(self._drain())

    def send(self, message: Message | str) -> bool:
        """Queue ``message`` (or an already encoded frame); False if the peer is closed."""
        if not self.open:
            return False
        text = message if isinstance(message, str) else codec.encode(message)
        if self._queued + len(text) > self.max_queued:
            self.abort(CLOSE_TRY_AGAIN_LATER, "too far behind: reconnect")
            return False
        self._queued += len(text)
        self._queue.put_nowait(text)
        return True

    def close(self, code: int, reason: str) -> None:
        """Close the socket once what is queued has been sent."""
        if self.open:
            self.open = False
            self._queue.put_nowait((code, close_reason(reason)))

    def abort(self, code: int, reason: str) -> None:
        """Close now, dropping what is queued."""
        self.open = False
        self._writer.cancel()
        self._spawn(self._close_after(self._writer, code, close_reason(reason)))
        self._failed()

    def discard(self) -> None:
        """The client is gone: stop writing."""
        self.open = False
        self._writer.cancel()

    async def flush(self, timeout: float = FLUSH_TIMEOUT) -> None:
        """Wait (bounded) until the queue and a pending close are written."""
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._writer), timeout)

    async def _drain(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, tuple):
                    await self.ws.close(*item)
                    return
                self._queued -= len(item)
                await self.ws.send_text(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket is gone; its reader sees the disconnect
            self.open = False
            self._failed()

    async def _close_after(self, writer: asyncio.Task[None], code: int, reason: str) -> None:
        with contextlib.suppress(BaseException):
            await writer
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)

    def _failed(self) -> None:
        callback, self.on_failed = self.on_failed, None
        if callback is not None:
            callback()


@dataclass(eq=False)
class HostLink:
    """A host connection as the relay sees it: where to send, and its phase to move."""

    peer: Peer
    protocol: HostProtocol


@dataclass(eq=False)
class LiveRoom:
    """A room with its sockets and timers."""

    room: Room
    host: HostLink | None = None
    guests: dict[str, Peer] = field(default_factory=dict)
    grace: asyncio.Task[None] | None = None
    expiry: asyncio.Task[None] | None = None
    held_pointers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    """Timers sending a guest's held pointer move (see ``Room.move_pointer``)."""
    recording: Recording | None = None
    """A replay session's recording (None: a realtime session, nothing is recorded)."""


class Relay:
    """Every live room of this process (kept in ``app.state.relay``)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.rooms: dict[str, LiveRoom] = {}
        #: The clock of the rooms' rename limit (tests move it on).
        self.clock: Callable[[], float] = time.monotonic
        self._tasks: set[asyncio.Task[None]] = set()
        # Sessions ended here whose store update may still be on its way.
        self._ended: OrderedDict[str, None] = OrderedDict()
        #: One resume at a time per replay session opens (and attaches) its recording.
        self._opening: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    # -- tasks ------------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def peer(self, ws: WebSocket) -> Peer:
        return Peer(ws, self.spawn)

    async def shutdown(self) -> None:
        """Stop every timer and writer (sessions stay open in the store: hosts resume)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for live in self.rooms.values():
            if live.recording is not None:
                live.recording.close()
        self.rooms.clear()

    # -- opening ----------------------------------------------------------------------------
    def start(
        self,
        record: SessionRecord,
        host: HostLink,
        page_id: str = "",
        recording: Recording | None = None,
    ) -> LiveRoom:
        """A new session's room, its host attached and on page ``page_id``; a replay
        session's frames go to ``recording``."""
        live = self._open(record, host, recording)
        live.room.page_id = page_id
        return live

    @contextlib.asynccontextmanager
    async def opening(self, session_id: str) -> AsyncIterator[None]:
        """Hold the session's recording lock: a second resume racing this one (after a
        restart) waits, then finds the recording this one opened, instead of reopening the
        files (whose recovery would truncate what this one writes)."""
        lock = self._opening.get(session_id)
        if lock is None:
            lock = self._opening[session_id] = asyncio.Lock()
        async with lock:
            yield

    def recording_of(self, session_id: str) -> Recording | None:
        """The recording of the session's live room, if it has one here."""
        live = self.rooms.get(session_id)
        return live.recording if live is not None else None

    def resume(
        self,
        record: SessionRecord,
        page_id: str,
        host: HostLink,
        recording: Recording | None = None,
    ) -> tuple[LiveRoom, HostReturn]:
        """Attach ``host`` to the session's room (recreated after a restart); returns the
        room and what the host must learn (``acked_seq``, guest changes)."""
        live = self.rooms.get(record.id) or self._open(record, None, recording)
        if live.recording is None and recording is not None:
            live.recording = recording
            if live.expiry is not None:
                live.expiry.cancel()
            self._expire(live, record)
        elif recording is not None and recording is not live.recording:
            recording.close()  # another resume opened it first (both found none)
        old = live.host
        if old is not None and old is not host:
            old.protocol.ended()
            old.peer.close(CLOSE_REPLACED, "the session was resumed by another connection")
        if live.grace is not None:
            live.grace.cancel()
            live.grace = None
        was_away = not live.room.host_connected
        back = live.room.attach_host(page_id)
        live.host = host
        if was_away:
            self._to_guests(live, HostStatus(connected=True))
        return live, back

    def accept(
        self, record: SessionRecord, page_id: str, host: HostLink
    ) -> tuple[LiveRoom, HostReturn]:
        """The invited host arrives (``AcceptHostInvite``): the room the inviter may be
        waiting in starts now, its maximum duration counted from ``record.created_at``."""
        live = self.rooms.get(record.id)
        if live is not None:
            live.room.started_at = record.created_at
            live.room.waiting = False
            if live.expiry is not None:
                live.expiry.cancel()
            self._expire(live, record)
        return self.resume(record, page_id, host)

    def room_for_guest(self, record: SessionRecord) -> LiveRoom:
        """The session's room; after a restart, one waiting for its host (grace timer on),
        or for the host it invited (until the invitation expires)."""
        live = self.rooms.get(record.id)
        if live is None:
            live = self._open(record, None)
            if not live.room.waiting:
                self._start_grace(live)
        return live

    def _open(
        self, record: SessionRecord, host: HostLink | None, recording: Recording | None = None
    ) -> LiveRoom:
        room = Room(
            record.id,
            host_name=record.host_name,
            started_at=record.created_at,
            host_connected=host is not None,
            waiting=record.waiting_until is not None,
            replay=record.is_replay,
        )
        live = LiveRoom(room, host=host, recording=recording)
        self._expire(live, record)
        self.rooms[record.id] = live
        return live

    def _expire(self, live: LiveRoom, record: SessionRecord) -> None:
        """End the session when ``record`` says it expires (a replay: past its length)."""
        ends = session_ends_at(record, self.settings.max_session_seconds)
        if live.recording is not None:
            ends = min(ends, record.created_at + replay_limit(live.recording.max_seconds))
        live.expiry = self.spawn(self._end_later(live, max(ends - time.time(), 0.0)))

    async def check_open(self, record: SessionRecord) -> bool:
        """False if the session is over; one past its maximum duration is ended now."""
        if record.ended_at is not None or record.id in self._ended:
            return False
        if not session_expired(record, self.settings.max_session_seconds, time.time()):
            return True
        live = self.rooms.get(record.id)
        if live is not None:
            await self.end(live, "expired", tell_host=True)
        else:
            self._remember_ended(record.id)
            await run_in_threadpool(self.store.end_session, record.id, "expired")
            if record.is_replay:
                data_dir = self.settings.data_dir
                await run_in_threadpool(finish_recording, self.store, data_dir, record.id)
        return False

    # -- the host ---------------------------------------------------------------------------
    def frame(self, live: LiveRoom, frame: MirrorFrame, host: HostLink) -> None:
        """One mirror frame from the host: record (a replay), relay, acknowledge, ask for
        a snapshot. A replay's frame is written before its ack goes out; one that cannot be
        written (disk full, folder gone, file closed) is not acked: the room takes nothing
        more and the host, told to reconnect, sends it again."""
        result = live.room.receive_frame(frame)
        if result.record and live.recording is not None:
            try:
                live.recording.take(frame, live.room.page_generation, time.time() * 1000)
            except (OSError, ValueError):
                log.exception(
                    "session %s: could not record frame %d: not acknowledged",
                    live.room.session_id,
                    frame.seq,
                )
                live.room.refuse(frame.seq)
                host.peer.close(CLOSE_TRY_AGAIN_LATER, "the frame could not be recorded")
                return
        if result.relay is not None:
            for peer in list(live.guests.values()):
                peer.send(result.relay)
        if result.ack is not None:
            host.peer.send(Ack(seq=result.ack))
        if result.request_snapshot:
            host.peer.send(SnapshotRequest())

    def set_privacy(self, live: LiveRoom, enabled: bool) -> None:
        if live.room.set_privacy(enabled):
            self._to_guests(live, Paused(paused=enabled))
            if live.recording is not None:
                page, now = live.room.page_generation, time.time() * 1000
                try:
                    live.recording.privacy(enabled, page, now)
                except (OSError, ValueError):
                    log.exception("session %s: could not record privacy", live.room.session_id)

    @staticmethod
    def roster(back: HostReturn) -> list[Message]:
        """The guest pushes for a host that is back (after its ``SessionResumed``)."""
        return [
            *(GuestLeft(guest=g.to_dict()) for g in back.left),
            *(GuestJoined(guest=g.to_dict()) for g in back.joined),
            *(GuestUpdated(guest=g.to_dict()) for g in back.renamed),
        ]

    def host_gone(self, live: LiveRoom, host: HostLink) -> None:
        """The host's socket closed without EndSession: tell guests, wait for a resume.

        Closed "going away" (1001), as a browser closes a page's sockets when it navigates:
        guests hear ``navigating`` and keep the page while the next one resumes."""
        if self.rooms.get(live.room.session_id) is not live or live.host is not host:
            return  # ended, or another connection took over
        live.host = None
        navigating = host.peer.close_code == CLOSE_GOING_AWAY
        live.room.detach_host(navigating)
        self._to_guests(live, HostStatus(connected=False, navigating=navigating))
        self._start_grace(live)

    def _start_grace(self, live: LiveRoom) -> None:
        if live.grace is None:
            live.grace = self.spawn(self._end_later(live, self.settings.host_grace_seconds))

    async def _end_later(self, live: LiveRoom, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await self.end(live, "expired", tell_host=True)
        except Exception:
            log.exception("could not expire session %s", live.room.session_id)

    async def end(self, live: LiveRoom, reason: str, tell_host: bool) -> bool:
        """End the session: guests (and the host if ``tell_host``) get ``SessionEnded``, the
        room goes, the store records ``reason``. False if it had already ended."""
        session_id = live.room.session_id
        if self.rooms.get(session_id) is not live:
            return False
        del self.rooms[session_id]
        self._remember_ended(session_id)
        current = asyncio.current_task()
        for task in (live.grace, live.expiry):
            if task is not None and task is not current:
                task.cancel()
        for timer in live.held_pointers.values():
            timer.cancel()
        ended = SessionEnded(session_id=session_id, reason=reason)
        for peer in live.guests.values():
            peer.on_failed = None
            peer.send(ended)
            peer.close(CLOSE_SESSION_ENDED, "session ended")
        live.guests.clear()
        if live.host is not None:
            live.host.protocol.ended()
            if tell_host:
                live.host.peer.send(ended)
        await run_in_threadpool(self.store.end_session, session_id, reason)
        if live.recording is not None:
            data_dir, recording = self.settings.data_dir, live.recording
            await run_in_threadpool(
                finish_recording, self.store, data_dir, session_id, recording, reason == "ended"
            )
        return True

    def _remember_ended(self, session_id: str) -> None:
        self._ended[session_id] = None
        while len(self._ended) > ENDED_MEMORY:
            self._ended.popitem(last=False)

    # -- guests -----------------------------------------------------------------------------
    def join(self, live: LiveRoom, guest: Guest, peer: Peer, last_seq: int, ref: int) -> None:
        """Seat ``guest`` on ``peer`` (replacing its older socket): ``Joined``, then the
        frames it needs (or ``Paused``); the host hears of a guest that was not present."""
        room = live.room
        old = live.guests.get(guest.guest_id)
        if old is not None and old is not peer:
            old.on_failed = None
            old.close(CLOSE_REPLACED, "replaced by a newer connection of this guest")
        before = room.guests.get(guest.guest_id)
        new = room.add_guest(guest)
        renamed = before is not None and before.name != guest.name
        live.guests[guest.guest_id] = peer
        peer.on_failed = lambda: self.guest_gone(live, guest.guest_id, peer)
        peer.send(
            Joined(
                ref=ref,
                guest_id=guest.guest_id,
                session_id=room.session_id,
                host_name=room.host_name,
                paused=room.privacy,
                host_connected=room.host_connected,
                muted=room.muted(guest.guest_id),
                color=room.guests[guest.guest_id].color,
                waiting=room.waiting,
                name=guest.name,
                navigating=room.host_navigating,
            )
        )
        if room.privacy:
            peer.send(Paused(paused=True))
        for text in room.backlog(guest.guest_id, last_seq):
            peer.send(text)
        for other in room.guests.values():  # where the others point now
            if (
                other.guest_id != guest.guest_id
                and other.pointer
                and not room.muted(other.guest_id)
            ):
                peer.send(self._pointer_of(other))
        if live.host is not None:
            if new:
                live.host.peer.send(GuestJoined(guest=room.guests[guest.guest_id].to_dict()))
            elif renamed:
                live.host.peer.send(GuestUpdated(guest=room.guests[guest.guest_id].to_dict()))
            if room.request_snapshot_for_guest():
                live.host.peer.send(SnapshotRequest())

    def guest_gone(self, live: LiveRoom, guest_id: str, peer: Peer) -> None:
        """``peer`` closed or failed; the host hears of it unless a newer socket took over."""
        if live.guests.get(guest_id) is not peer:
            return
        del live.guests[guest_id]
        guest = live.room.remove_guest(guest_id)
        if guest is not None:
            self._left(live, guest)

    def _left(self, live: LiveRoom, guest: Guest) -> None:
        """The host hears that ``guest`` left; the other guests stop drawing its pointer."""
        if live.host is not None:
            live.host.peer.send(GuestLeft(guest=guest.to_dict()))
        if guest.pointer is not None:
            hidden = GuestPointer(guest_id=guest.guest_id, name=guest.name, visible=False)
            self._to_guests(live, hidden, but=guest.guest_id)

    # -- pointers and clicks ----------------------------------------------------------------
    def guest_pointer(self, live: LiveRoom, guest_id: str, move: PointerMove) -> None:
        """A guest's pointer moved: tell the host and the others, unless it is muted.

        Moves that come too fast are held and the newest goes out when its time comes."""
        room = live.room
        now = time.monotonic()
        if room.move_pointer(guest_id, move.x, move.y, move.visible, now):
            self._send_pointer(live, guest_id)
            return
        due = room.pointer_due_at(guest_id)
        if due is not None and guest_id not in live.held_pointers:
            loop = asyncio.get_running_loop()
            live.held_pointers[guest_id] = loop.call_later(
                due - now, self._held_pointer, live, guest_id
            )

    def _held_pointer(self, live: LiveRoom, guest_id: str) -> None:
        live.held_pointers.pop(guest_id, None)
        due = live.room.pointer_due_at(guest_id)
        if due is None or self.rooms.get(live.room.session_id) is not live:
            return
        # The loop may run a timer up to its clock resolution early: it is due all the same.
        if live.room.pointer_due(guest_id, max(time.monotonic(), due)):
            self._send_pointer(live, guest_id)

    def _send_pointer(self, live: LiveRoom, guest_id: str) -> None:
        self._to_everyone(live, self._pointer_of(live.room.guests[guest_id]), but=guest_id)

    @staticmethod
    def _pointer_of(guest: Guest) -> GuestPointer:
        pointer = guest.pointer
        return GuestPointer(
            guest_id=guest.guest_id,
            name=guest.name,
            color=guest.color,
            x=pointer["x"] if pointer else 0.0,
            y=pointer["y"] if pointer else 0.0,
            visible=pointer is not None,
        )

    def guest_click(self, live: LiveRoom, guest_id: str, click: PointerClick) -> None:
        """A guest clicked: the host (a ``click`` event and a ripple) and the others see it."""
        room = live.room
        if not room.click(guest_id, time.monotonic()):
            return
        guest = room.guests[guest_id]
        message = GuestClick(
            guest_id=guest_id, name=guest.name, color=guest.color, x=click.x, y=click.y
        )
        self._to_everyone(live, message, but=guest_id)

    def rename_guest(self, live: LiveRoom, guest_id: str, name: str) -> bool:
        """A guest chose ``name`` (cleaned): the host gets ``GuestUpdated`` and the other
        guests its labelled pointer, if they draw one. False if nothing changed; raises
        ``rate_limited`` when it renames too often."""
        room = live.room
        if not room.rename(guest_id, name, self.clock()):
            return False
        guest = room.guests[guest_id]
        if live.host is not None:
            live.host.peer.send(GuestUpdated(guest=guest.to_dict()))
        if guest.pointer is not None and not room.muted(guest_id):
            self._to_guests(live, self._pointer_of(guest), but=guest_id)
        return True

    def join_name(self, session_id: str, guest_id: str, before: str, name: str) -> str:
        """The name a guest known as ``before`` joins with when it asks for ``name``: that
        one, unless it is a rename sooner than the room's limit allows (one limit for
        ``set_name`` and joins): then ``before``."""
        live = self.rooms.get(session_id)
        if live is None or name == before or live.room.take_rename(guest_id, self.clock()):
            return name
        return before

    def _to_everyone(self, live: LiveRoom, message: Message, but: str) -> None:
        text = codec.encode(message)
        if live.host is not None:
            live.host.peer.send(text)
        self._to_guests(live, text, but)

    @staticmethod
    def _to_guests(live: LiveRoom, message: Message | str, but: str = "") -> None:
        text = message if isinstance(message, str) else codec.encode(message)
        for guest_id, peer in list(live.guests.items()):
            if guest_id != but:
                peer.send(text)

    # -- the host's controls ----------------------------------------------------------------
    def _present(self, live: LiveRoom, guest_id: str) -> Guest:
        guest = live.room.guests.get(guest_id)
        if guest is None:
            raise NotFound(
                f"no guest with id {guest_id!r} in this session; "
                "CwmnAPI.guest.getGuestList() lists the guests"
            )
        return guest

    def mute_guest(self, live: LiveRoom, guest_id: str, muted: bool, host: HostLink) -> None:
        """Set a guest's own mute flag; the host gets ``GuestUpdated`` before its answer."""
        self._present(live, guest_id)
        changed = live.room.set_muted(guest_id, muted)
        host.peer.send(GuestUpdated(guest=live.room.guests[guest_id].to_dict()))
        if changed:
            self._mute_changed(live, [guest_id])

    def mute_all(self, live: LiveRoom, muted: bool) -> None:
        self._mute_changed(live, live.room.set_mute_all(muted))

    def _mute_changed(self, live: LiveRoom, guest_ids: list[str]) -> None:
        """Tell each guest whether it is muted now; a muted guest's pointer disappears."""
        room = live.room
        for guest_id in guest_ids:
            muted = room.muted(guest_id)
            peer = live.guests.get(guest_id)
            if peer is not None:
                peer.send(Muted(muted=muted))
            guest = room.guests.get(guest_id)
            if muted and guest is not None and guest.pointer is not None:
                room.guests[guest_id] = replace(guest, pointer=None)
                hidden = GuestPointer(
                    guest_id=guest_id, name=guest.name, color=guest.color, visible=False
                )
                self._to_everyone(live, hidden, but=guest_id)

    async def remove_guest(self, live: LiveRoom, guest_id: str) -> None:
        """Remove a guest for good: its link stops admitting it, its viewer says so."""
        self._present(live, guest_id)
        live.room.mark_removed(guest_id)  # before the await: a join under way must not seat it
        await run_in_threadpool(self.store.remove_guest, live.room.session_id, guest_id)
        guest = live.room.remove_guest(guest_id)
        peer = live.guests.pop(guest_id, None)
        if peer is not None:
            peer.on_failed = None
            peer.send(Removed())
            peer.close(CLOSE_REMOVED, "removed by the host")
        if guest is not None:
            self._left(live, guest)
