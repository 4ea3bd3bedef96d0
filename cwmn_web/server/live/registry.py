"""Every live room of a process, with its timers: opening, the host's attach and departure,
seating guests, the mirror stream's fan-out, pointers, mutes and the end of a session.

Sans-I/O: each call takes ``now`` (wall-clock seconds) and returns :class:`Outputs`; a
driver calls :meth:`LiveRooms.tick` at :meth:`LiveRooms.next_due`. Store work is the
edge's: a session's end comes out as :class:`SessionOver`; so are a replay's writes
(:class:`RecordFrame`, :class:`RecordPrivacy`), whose outcome the edge reports back
(:meth:`LiveRooms.recorded`) before the frame is acked. So is counting: the edge's
quotas admit a session (:meth:`LiveRooms.admit_session` records it), and what the rooms
stop or start counting for a site and a client address waits in :meth:`LiveRooms.recounts`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import count

from ...errors import NotFound
from ...protocol.messages import (
    CLOSE_GOING_AWAY,
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
from ...timing import Timers
from ..db import EndReason, SessionRecord
from ..links import session_ends_at, session_expired
from ..replays.recording import Recording
from ..replays.sessions import replay_limit
from ..rooms import Guest, HostReturn, Room, RoomLog
from . import control
from .activity import ACTIVITY_RESOLUTION, session_idle_timeout
from .fanout import HeldAck, LiveRoom, RoomHost, pointer_of, to_everyone, to_guests, to_host
from .limits import Limits, Recount, client_sessions, site_sessions
from .outputs import (
    ConnId,
    Outputs,
    RecordFrame,
    RecordPrivacy,
    SessionOver,
    StoreControls,
    StoreName,
)

__all__ = ["ENDED_MEMORY", "LiveRooms", "SessionSlot"]

log = logging.getLogger("cwmn_web.server")

ENDED_MEMORY = 10_000
GRACE, EXPIRY, POINTER, IDLE = "grace", "expiry", "pointer", "idle"
TimerKey = tuple[str, str, str]
"""(session id, what, guest id or "")."""


@dataclass
class SessionSlot:
    """A session counted for its site and client address (``""``: none) from its
    admission on, before the store makes it: a room takes it over, or
    :meth:`LiveRooms.release` gives it back."""

    site_id: int
    client: str
    held: bool = True


class LiveRooms:
    """The rooms of this process and their deadlines: a host's grace, a session's expiry
    and idle timeout, a guest's held pointer move."""

    def __init__(
        self, max_session_seconds: float, host_grace_seconds: float, limits: Limits | None = None
    ) -> None:
        self.max_session_seconds = max_session_seconds
        self.host_grace_seconds = host_grace_seconds
        self.limits = limits or Limits()
        self.rooms: dict[str, LiveRoom] = {}
        self._owners: dict[str, tuple[int, str]] = {}
        """Each room's site and client address, as counted."""
        self._recounts: list[Recount] = []
        """What the rooms started or stopped counting, for the edge's quotas."""
        self.timers: Timers[TimerKey] = Timers()
        self._ended: OrderedDict[str, None] = OrderedDict()
        """Sessions ended here whose store update may still be on its way."""
        self._conns = count(1)

    def connect(self) -> ConnId:
        """A number for a new connection (the edge maps it to its socket)."""
        return next(self._conns)

    # -- time -------------------------------------------------------------------------------
    def next_due(self) -> float | None:
        return self.timers.next_due()

    def tick(self, now: float) -> Outputs:
        """Whatever is due: held pointer moves go out, sessions expire or end idle."""
        out = Outputs()
        for session_id, what, guest_id in self.timers.due(now):
            live = self.rooms.get(session_id)
            if live is None:
                continue
            if what == IDLE:
                out.extend(self._idle(live, now))
            elif what == POINTER:
                # A timer may run up to its clock's resolution early: due all the same.
                due = live.room.pointer_due_at(guest_id)
                if due is not None and live.room.pointer_due(guest_id, max(now, due)):
                    self._send_pointer(live, guest_id, out)
            else:
                out.extend(self.end(live, EndReason.EXPIRED, tell_host=True))
        return out

    # -- opening ----------------------------------------------------------------------------
    def admit_session(self, site_id: int, client: str) -> SessionSlot:
        """A live session the edge's quotas counted for the site and the client address
        (``""``: none) before the store makes it (so concurrent starts cannot all pass the
        limits). The room that opens takes the slot over; a start that fails or a
        connection that goes :meth:`release` it."""
        return SessionSlot(site_id, client)

    def release(self, slot: SessionSlot | None) -> None:
        """Give back a slot no room took over (nothing for one already given or taken)."""
        if slot is None or not slot.held:
            return
        slot.held = False
        self._recount(site_sessions(slot.site_id), -1)
        if slot.client:
            self._recount(client_sessions(slot.client), -1)

    def recounts(self) -> list[Recount]:
        """What the rooms started or stopped counting since the last call, in order: the
        edge applies it to its quotas before it admits another session."""
        done, self._recounts = self._recounts, []
        return done

    def _recount(self, key: str, delta: int) -> None:
        self._recounts.append(Recount(key, delta))

    def start(
        self,
        record: SessionRecord,
        host: RoomHost,
        page_id: str,
        now: float,
        recording: Recording | None = None,
        slot: SessionSlot | None = None,
        idle_timeout: float = 0.0,
    ) -> LiveRoom:
        """A new session's room, its host attached and on page ``page_id``; a replay
        session's frames go to ``recording``; ``slot``: its admission (taken over);
        ``idle_timeout``: the session's own (shorter) idle timeout, 0: the server's."""
        live = self._open(record, host, recording, slot)
        live.room.start_page(page_id)
        live.room.idle_timeout = session_idle_timeout(self.limits.idle_timeout, idle_timeout)
        self._arm_idle(live, now)
        return live

    def resume(
        self,
        record: SessionRecord,
        page_id: str,
        host: RoomHost,
        now: float,
        recording: Recording | None = None,
        slot: SessionSlot | None = None,
    ) -> tuple[LiveRoom, HostReturn, Outputs]:
        """Attach ``host`` to the session's room (recreated after a restart): the room,
        what the host must learn (``acked_seq``, guest changes), and what to send others.
        ``slot``: an accepting host's admission, taken over (or given back)."""
        out = Outputs()
        live = self.rooms.get(record.id)
        if live is None:
            live = self._open(record, None, recording, slot)
        elif slot is not None:
            self._adopt(record.id, slot)
        if live.recording is None and recording is not None:
            live.recording = recording
            self._expire(live, record)
        elif recording is not None and recording is not live.recording:
            recording.close()  # another resume opened it first (both found none)
        old = live.host
        if old is not None and old is not host:
            old.session_over()
            out.close(old.conn, CLOSE_REPLACED, "the session was resumed by another connection")
        self.timers.cancel((record.id, GRACE, ""))
        was_away = not live.room.host_connected
        back = live.room.attach_host(page_id)
        unwritten = _first_unwritten(live)
        if unwritten is not None:  # held: the host keeps them until they are written
            back = replace(back, acked_seq=min(back.acked_seq, unwritten - 1))
        live.host = host
        if was_away:
            to_guests(live, HostStatus(connected=True), out)
        self._arm_idle(live, now)
        return live, back, out

    def accept(
        self,
        record: SessionRecord,
        page_id: str,
        host: RoomHost,
        now: float,
        slot: SessionSlot | None = None,
    ) -> tuple[LiveRoom, HostReturn, Outputs]:
        """The invited host arrives (``AcceptHostInvite``): the room the inviter may be
        waiting in starts now, its maximum duration counted from ``record.created_at``, and
        hosted as ``record`` names its host (on a token site: the accepting host's signed
        name; guests joining from now on see it)."""
        live = self.rooms.get(record.id)
        if live is not None:
            live.room.host_accepted(record.created_at)
            live.room.host_name, live.room.host_verified = (
                record.host_name,
                record.host_name_verified,
            )
            self._expire(live, record)
        return self.resume(record, page_id, host, now, slot=slot)

    def room_for_guest(self, record: SessionRecord, now: float) -> LiveRoom:
        """The session's room; after a restart, one waiting for its host (grace timer on),
        or for the host it invited (until the invitation expires)."""
        live = self.rooms.get(record.id)
        if live is None:
            live = self._open(record, None)
            if not live.room.waiting:
                self._start_grace(live, now)
            self._arm_idle(live, now)
        return live

    def recording_of(self, session_id: str) -> Recording | None:
        """The recording of the session's live room, if it has one here."""
        live = self.rooms.get(session_id)
        return live.recording if live is not None else None

    def _open(
        self,
        record: SessionRecord,
        host: RoomHost | None,
        recording: Recording | None = None,
        slot: SessionSlot | None = None,
    ) -> LiveRoom:
        if slot is not None and slot.held:
            slot.held = False  # counted since its admission
            self._owners[record.id] = (slot.site_id, slot.client)
        else:  # resumed, or opened for a guest: it counts for its site, whatever the limit
            self._owners[record.id] = (record.site_id, "")
            self._recount(site_sessions(record.site_id), 1)
        room = Room(
            record.id,
            host_name=record.host_name,
            host_verified=record.host_name_verified,
            started_at=record.created_at,
            host_connected=host is not None,
            waiting=record.waiting_until is not None,
            replay=record.is_replay,
            privacy=record.privacy,
            mute_all=record.mute_all,
            _muted=set(record.muted),
            log=RoomLog(max_bytes=self.limits.log_bytes),
            idle_timeout=session_idle_timeout(self.limits.idle_timeout, 0),
        )
        live = LiveRoom(room, host=host, recording=recording)
        self._expire(live, record)
        self.rooms[record.id] = live
        return live

    # -- idleness (extension) ----------------------------------------------------------------
    @staticmethod
    def touch(
        live: LiveRoom, message: Message, acted: Callable[[Message], bool], now: float
    ) -> None:
        """``message`` came from the host (``acted``: ``activity.host_acted``) or a guest
        (``guest_acted``): if it is activity, the idle timeout starts over. Looked at no
        more than once per ``ACTIVITY_RESOLUTION``; the timer moves on only when it falls
        due."""
        room = live.room
        if now - room.active_at >= ACTIVITY_RESOLUTION and acted(message):
            room.touch(now)

    def _arm_idle(self, live: LiveRoom, now: float) -> None:
        """Start the room's idle timer, once (a resume or a page change keeps it). A replay
        has none, nor a session waiting for the host it invited (until it arrives)."""
        room = live.room
        key = (room.session_id, IDLE, "")
        if room.replay or room.waiting or self.timers.armed(key):
            return
        if not room.active_at:
            room.touch(now)
        due = room.idle_due()
        if due is not None:
            self.timers.set(key, due)

    def _idle(self, live: LiveRoom, now: float) -> Outputs:
        """The idle timer fell due: end the session if nothing happened since it was set,
        else set it again for the time the last activity gives."""
        due = live.room.idle_due()
        if due is None:
            return Outputs()
        if due > now:
            self.timers.set((live.room.session_id, IDLE, ""), due)
            return Outputs()
        return self.end(live, EndReason.IDLE, tell_host=True)

    def _adopt(self, session_id: str, slot: SessionSlot) -> None:
        """An accepting host's slot for a room already open (counted for its site): the
        room counts for the host's address from now on, unless it counts for one already."""
        owner = self._owners.get(session_id)
        if slot.held and owner is not None and not owner[1] and slot.client:
            slot.held = False
            self._owners[session_id] = (owner[0], slot.client)
            self._recount(site_sessions(slot.site_id), -1)
        self.release(slot)

    def _expire(self, live: LiveRoom, record: SessionRecord) -> None:
        """End the session when ``record`` says it expires (a replay: past its length)."""
        ends = session_ends_at(record, self.max_session_seconds)
        if live.recording is not None:
            ends = min(ends, record.created_at + replay_limit(live.recording.max_seconds))
        self.timers.set((record.id, EXPIRY, ""), ends)

    def over(self, record: SessionRecord, now: float) -> tuple[bool, Outputs]:
        """Whether the session is over; one past its maximum duration is ended now (its
        outputs say so)."""
        out = Outputs()
        if record.ended_at is not None or record.id in self._ended:
            return True, out
        if not session_expired(record, self.max_session_seconds, now):
            return False, out
        live = self.rooms.get(record.id)
        if live is not None:
            out.extend(self.end(live, EndReason.EXPIRED, tell_host=True))
        else:
            self._remember_ended(record.id)
            out.add(SessionOver(record.id, EndReason.EXPIRED, finish=record.is_replay))
        return True, out

    # -- the host ---------------------------------------------------------------------------
    def frame(
        self, live: LiveRoom, frame: MirrorFrame, now: float, text: str | None = None
    ) -> Outputs:
        """One mirror frame from the host: record (a replay), relay, acknowledge, ask for
        a snapshot. A replay's frame goes out to be written (:class:`RecordFrame`) and its
        ack waits until it is (:meth:`recorded`), as do the acks of the frames after it:
        acks go out in frame order."""
        out = Outputs()
        host = live.host
        assert host is not None
        result = live.room.receive_frame(frame, text)
        room = live.room
        if result.relay is not None:
            to_guests(live, result.relay, out)
        if result.ack is not None and result.record and live.recording is not None:
            live.tickets += 1
            live.held.append(HeldAck(live.tickets, result.ack, room.page_generation))
            page = room.page_generation
            record = RecordFrame(
                room.session_id, live.tickets, live.recording, frame, page, now * 1000
            )
            out.add(record)
        elif result.ack is not None and live.held:
            live.held.append(HeldAck(0, result.ack, room.page_generation, written=True))
        elif result.ack is not None:
            out.send(host.conn, Ack(seq=result.ack))
        if result.request_snapshot:
            out.send(host.conn, SnapshotRequest())
        return out

    def recorded(self, session_id: str, ticket: int, error: BaseException | None) -> Outputs:
        """A replay frame's write (``ticket``) is done (``error``: it failed, or was not
        made after an earlier one failed). Written: its ack goes out, with those of the
        frames after it that wait for nothing more. Failed (disk full, folder gone, file
        closed): no ack; the room takes nothing more and the host, told to reconnect,
        sends it and every later frame again. Nothing for a room gone or a write whose
        room already refused it."""
        out = Outputs()
        live = self.rooms.get(session_id)
        held = next((h for h in live.held if h.ticket == ticket), None) if live else None
        if live is None or held is None:
            return out
        room = live.room
        if error is not None:
            log.error(
                "session %s: could not record frame %d: not acknowledged: %r",
                session_id,
                held.seq,
                error,
            )
            unwritten = _first_unwritten(live)
            live.held.clear()  # the frames after it were not written either
            if unwritten is not None:
                room.refuse(unwritten)
                if live.host is not None:
                    reason = "the frame could not be recorded"
                    out.close(live.host.conn, CLOSE_TRY_AGAIN_LATER, reason)
            return out
        held.written = True
        while live.held and live.held[0].written:
            done = live.held.popleft()
            if live.host is not None and done.generation == room.page_generation:
                out.send(live.host.conn, Ack(seq=done.seq))
        return out

    def set_privacy(self, live: LiveRoom, enabled: bool, now: float) -> Outputs:
        out = Outputs()
        if live.room.set_privacy(enabled):
            _store_controls(live, out)
            to_guests(live, Paused(paused=enabled), out)
            if live.recording is not None:
                room = live.room
                page = room.page_generation
                out.add(RecordPrivacy(room.session_id, live.recording, enabled, page, now * 1000))
        return out

    def host_gone(
        self, live: LiveRoom, host: RoomHost, close_code: int | None, now: float
    ) -> Outputs:
        """The host's socket closed without EndSession: tell guests, wait for a resume.

        Closed "going away" (1001), as a browser closes a page's sockets when it navigates:
        guests hear ``navigating`` and keep the page while the next one resumes."""
        out = Outputs()
        if self.rooms.get(live.room.session_id) is not live or live.host is not host:
            return out  # ended, or another connection took over
        live.host = None
        navigating = close_code == CLOSE_GOING_AWAY
        live.room.detach_host(navigating)
        to_guests(live, HostStatus(connected=False, navigating=navigating), out)
        self._start_grace(live, now)
        return out

    def _start_grace(self, live: LiveRoom, now: float) -> None:
        key = (live.room.session_id, GRACE, "")
        if not self.timers.armed(key):
            self.timers.set(key, now + self.host_grace_seconds)

    def grace_armed(self, session_id: str) -> bool:
        """Whether the session waits for its host to come back."""
        return self.timers.armed((session_id, GRACE, ""))

    def close_all(self) -> None:
        """Forget every live room, closing its recording (the sessions stay in the store:
        hosts resume them on another process or after a restart)."""
        for live in self.rooms.values():
            if live.recording is not None:
                live.recording.close()
        self.rooms.clear()
        for session_id in list(self._owners):
            self._disown(session_id)

    def drop(self, session_id: str, code: int, reason: str) -> Outputs:
        """Let go of the session's room without ending the session (another process holds
        it now, or will): its sockets close with ``code`` (they reconnect, to that process).
        Its recording is the edge's to close, once its writes are done."""
        out = Outputs()
        live = self.rooms.pop(session_id, None)
        if live is None:
            return out
        self._disown(session_id)
        for key in [(session_id, GRACE, ""), (session_id, EXPIRY, ""), (session_id, IDLE, "")]:
            self.timers.cancel(key)
        for guest_id in live.room.guests:
            self.timers.cancel((session_id, POINTER, guest_id))
        for conn in live.guests.values():
            out.close(conn, code, reason)
        live.guests.clear()
        if live.host is not None:
            live.host.session_over()
            out.close(live.host.conn, code, reason)
        return out

    def _disown(self, session_id: str) -> None:
        """The room is gone: it no longer counts for its site and client address."""
        owner = self._owners.pop(session_id, None)
        if owner is not None:
            self._recount(site_sessions(owner[0]), -1)
            if owner[1]:
                self._recount(client_sessions(owner[1]), -1)

    def end_live(self, session_id: str, reason: EndReason, tell_host: bool) -> Outputs:
        """:meth:`end` the session if it has a live room here (nothing otherwise)."""
        live = self.rooms.get(session_id)
        return Outputs() if live is None else self.end(live, reason, tell_host)

    def end(self, live: LiveRoom, reason: EndReason, tell_host: bool) -> Outputs:
        """End the session: guests (and the host if ``tell_host``) get ``SessionEnded``, the
        room goes, the store records ``reason``. Nothing if it had already ended."""
        out = Outputs()
        session_id = live.room.session_id
        if self.rooms.get(session_id) is not live:
            return out
        del self.rooms[session_id]
        self._disown(session_id)
        self._remember_ended(session_id)
        for key in [(session_id, GRACE, ""), (session_id, EXPIRY, ""), (session_id, IDLE, "")]:
            self.timers.cancel(key)
        for guest_id in live.room.guests:
            self.timers.cancel((session_id, POINTER, guest_id))
        ended = SessionEnded(session_id=session_id, reason=reason)
        for conn in live.guests.values():
            out.send(conn, ended)
            out.close(conn, CLOSE_SESSION_ENDED, "session ended")
        live.guests.clear()
        if live.host is not None:
            live.host.session_over()
            if tell_host:
                out.send(live.host.conn, ended)
        recording = live.recording
        out.add(SessionOver(session_id, reason, recording is not None, recording))
        return out

    def _remember_ended(self, session_id: str) -> None:
        self._ended[session_id] = None
        while len(self._ended) > ENDED_MEMORY:
            self._ended.popitem(last=False)

    # -- guests -----------------------------------------------------------------------------
    def join(self, live: LiveRoom, guest: Guest, conn: ConnId, last_seq: int, ref: int) -> Outputs:
        """Seat ``guest`` on ``conn`` (replacing its older connection): ``Joined``, then the
        frames it needs (or ``Paused``); the host hears of a guest that was not present."""
        out = Outputs()
        room = live.room
        old = live.guests.get(guest.guest_id)
        if old is not None and old != conn:
            out.close(old, CLOSE_REPLACED, "replaced by a newer connection of this guest")
        before = room.guests.get(guest.guest_id)
        new = room.add_guest(guest)
        renamed = before is not None and before.name != guest.name
        live.guests[guest.guest_id] = conn
        seated = room.guests[guest.guest_id]
        out.send(
            conn,
            Joined(
                ref=ref,
                guest_id=guest.guest_id,
                session_id=room.session_id,
                host_name=room.host_name,
                paused=room.privacy,
                host_connected=room.host_connected,
                muted=room.muted(guest.guest_id),
                color=seated.color,
                waiting=room.waiting,
                name=guest.name,
                navigating=room.host_navigating,
                host_verified=room.host_verified,
                controller=room.controller,
                control_allowed=room.control_allowed,
            ),
        )
        if room.privacy:
            out.send(conn, Paused(paused=True))
        for text in room.backlog(guest.guest_id, last_seq):
            out.send(conn, text)
        for other in room.guests.values():  # where the others point now
            if (
                other.guest_id != guest.guest_id
                and other.pointer
                and not room.muted(other.guest_id)
            ):
                out.send(conn, pointer_of(other))
        if live.host is not None:
            if new:
                out.send(live.host.conn, GuestJoined(guest=seated.to_dict()))
            elif renamed:
                out.send(live.host.conn, GuestUpdated(guest=seated.to_dict()))
            if room.request_snapshot_for_guest():
                out.send(live.host.conn, SnapshotRequest())
        return out

    def guest_gone(self, live: LiveRoom, guest_id: str, conn: ConnId) -> Outputs:
        """``conn`` closed or failed; the host hears of it unless a newer one took over."""
        out = Outputs()
        if live.guests.get(guest_id) != conn:
            return out
        del live.guests[guest_id]
        self.timers.cancel((live.room.session_id, POINTER, guest_id))
        control.lose(live, guest_id, out)
        live.pace.forget(guest_id)
        guest = live.room.remove_guest(guest_id)
        if guest is not None:
            self._left(live, guest, out)
        return out

    def _left(self, live: LiveRoom, guest: Guest, out: Outputs) -> None:
        """The host hears that ``guest`` left; the other guests stop drawing its pointer."""
        to_host(live, GuestLeft(guest=guest.to_dict()), out)
        if guest.pointer is not None:
            hidden = GuestPointer(guest_id=guest.guest_id, name=guest.name, visible=False)
            to_guests(live, hidden, out, but=guest.guest_id)

    # -- pointers, clicks and names ---------------------------------------------------------
    def guest_pointer(
        self, live: LiveRoom, guest_id: str, move: PointerMove, now: float
    ) -> Outputs:
        """A guest's pointer moved: tell the host and the others, unless it is muted.

        Moves that come too fast are held and the newest goes out when its time comes."""
        out = Outputs()
        room = live.room
        if room.move_pointer(guest_id, move.x, move.y, move.visible, now):
            self._send_pointer(live, guest_id, out)
            return out
        due = room.pointer_due_at(guest_id)
        key = (room.session_id, POINTER, guest_id)
        if due is not None and not self.timers.armed(key):
            self.timers.set(key, due)
        return out

    def _send_pointer(self, live: LiveRoom, guest_id: str, out: Outputs) -> None:
        to_everyone(live, pointer_of(live.room.guests[guest_id]), out, but=guest_id)

    def guest_click(
        self, live: LiveRoom, guest_id: str, click: PointerClick, now: float
    ) -> Outputs:
        """A guest clicked: the host (a ``click`` event and a ripple) and the others see it."""
        out = Outputs()
        room = live.room
        if room.click(guest_id, now):
            guest = room.guests[guest_id]
            message = GuestClick(
                guest_id=guest_id, name=guest.name, color=guest.color, x=click.x, y=click.y
            )
            to_everyone(live, message, out, but=guest_id)
        return out

    def rename_guest(self, live: LiveRoom, guest_id: str, name: str, now: float) -> Outputs:
        """A guest chose ``name`` (cleaned): the host gets ``GuestUpdated``, the other
        guests its labelled pointer if they draw one, and the store the name. Raises
        ``rate_limited`` when it renames too often."""
        out = Outputs()
        room = live.room
        if not room.rename(guest_id, name, now):
            return out
        guest = room.guests[guest_id]
        to_host(live, GuestUpdated(guest=guest.to_dict()), out)
        if guest.pointer is not None and not room.muted(guest_id):
            to_guests(live, pointer_of(guest), out, but=guest_id)
        control.renamed(live, guest_id, out)
        out.add(StoreName(guest_id, name))
        return out

    def join_name(self, session_id: str, guest_id: str, before: str, name: str, now: float) -> str:
        """The name a guest known as ``before`` joins with when it asks for ``name``: that
        one, unless it is a rename sooner than the room's limit allows (one limit for
        ``set_name`` and joins): then ``before``."""
        live = self.rooms.get(session_id)
        if live is None or name == before or live.room.take_rename(guest_id, now):
            return name
        return before

    # -- the host's controls ----------------------------------------------------------------
    @staticmethod
    def present(live: LiveRoom, guest_id: str) -> Guest:
        """The guest; raises ``not_found`` if it is not in the room."""
        guest = live.room.guests.get(guest_id)
        if guest is None:
            raise NotFound(
                f"no guest with id {guest_id!r} in this session; "
                "CwmnAPI.guest.getGuestList() lists the guests"
            )
        return guest

    def mute_guest(self, live: LiveRoom, guest_id: str, muted: bool) -> Outputs:
        """Set a guest's own mute flag; the host gets ``GuestUpdated`` (before its answer)."""
        out = Outputs()
        self.present(live, guest_id)
        changed = live.room.set_muted(guest_id, muted)
        _store_controls(live, out)
        to_host(live, GuestUpdated(guest=live.room.guests[guest_id].to_dict()), out)
        if changed:
            self._mute_changed(live, [guest_id], out)
        return out

    def mute_all(self, live: LiveRoom, muted: bool) -> Outputs:
        out = Outputs()
        changed = live.room.set_mute_all(muted)
        _store_controls(live, out)
        self._mute_changed(live, changed, out)
        return out

    def _mute_changed(self, live: LiveRoom, guest_ids: list[str], out: Outputs) -> None:
        """Tell each guest whether it is muted now; a muted guest's pointer disappears, and
        it loses control of the page."""
        room = live.room
        for guest_id in guest_ids:
            muted = room.muted(guest_id)
            conn = live.guests.get(guest_id)
            if conn is not None:
                out.send(conn, Muted(muted=muted))
            if muted:
                control.lose(live, guest_id, out)
            hidden = room.hide_pointer(guest_id) if muted else None
            if hidden is not None:
                gone = GuestPointer(
                    guest_id=guest_id, name=hidden.name, color=hidden.color, visible=False
                )
                to_everyone(live, gone, out, but=guest_id)

    def removing(self, live: LiveRoom, guest_id: str) -> None:
        """The host removes a guest (raises ``not_found``): from now on, a join under way
        must not seat it (the store learns it next, then :meth:`removed`)."""
        self.present(live, guest_id)
        live.room.mark_removed(guest_id)

    def removed(self, live: LiveRoom, guest_id: str) -> Outputs:
        """The removal is stored: the guest's viewer says so, the others forget it."""
        out = Outputs()
        conn = live.guests.pop(guest_id, None)
        control.lose(live, guest_id, out)
        live.pace.forget(guest_id)
        guest = live.room.remove_guest(guest_id)
        self.timers.cancel((live.room.session_id, POINTER, guest_id))
        if conn is not None:
            out.send(conn, Removed())
            out.close(conn, CLOSE_REMOVED, "removed by the host")
        if guest is not None:
            self._left(live, guest, out)
        return out


def _first_unwritten(live: LiveRoom) -> int | None:
    """The seq of the first frame of the host's current page whose ack is held."""
    page = live.room.page_generation
    return next((h.seq for h in live.held if h.generation == page), None)


def _store_controls(live: LiveRoom, out: Outputs) -> None:
    """Have the store keep the room's controls (before the host's answer goes out)."""
    room = live.room
    out.add(StoreControls(room.session_id, room.privacy, room.mute_all, room.muted_guests()))
