"""A live hosted session: its socket, the mirror stream, guests, and reconnecting. No I/O.

Nothing lost on a dropped connection: frames stay in the :class:`~.unacked.UnackedFrames`
until the server acknowledges them, and a reconnect re-sends what the server lacks. Time
comes in as ``now`` (:meth:`HostSession.tick`); reconnects wait a :class:`~cwmn_web.timing
.Backoff` delay, and the host gives up :data:`RECONNECT_GIVE_UP` seconds after the loss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import CwmnError, ErrorCode
from ..protocol import codec
from ..protocol.guests import GuestObject
from ..protocol.messages import (
    Ack,
    ControlChanged,
    ControlInput,
    ControlRequested,
    GuestClick,
    GuestDraw,
    GuestJoined,
    GuestLeft,
    GuestPointer,
    GuestUpdated,
    Message,
    MirrorFrame,
    ResumeSession,
    SessionEnded,
    SessionResumed,
    SnapshotRequest,
)
from ..timing import Backoff, Throttle, Timers
from .mirror import MirrorEncoder
from .page_assets import PageAssets
from .requests import Outcome
from .sockets import ServerSocket
from .states import State, Trigger
from .unacked import UnackedFrames

if TYPE_CHECKING:
    from .remote_control import RemoteControl

__all__ = ["RECONNECT_GIVE_UP", "HostSession", "SessionEvents"]

#: Seconds after a loss at which the host stops trying to take the session back.
RECONNECT_GIVE_UP = 180.0
_GONE = (ErrorCode.SESSION_ENDED, ErrorCode.NOT_FOUND)
#: Frames that carry the page (the others are small by construction).
_PAGE_KINDS = ("snapshot", "mutations")


class SessionEvents(Protocol):
    """What a :class:`HostSession` needs from the controller that owns it."""

    @property
    def state(self) -> State: ...

    @property
    def config(self) -> Any: ...

    @property
    def now(self) -> float:
        """The time of the input being handled (seconds, the driver's monotonic clock)."""
        ...

    @property
    def control(self) -> RemoteControl: ...

    def emit(self, event: str, *args: Any, state: State | None = None) -> None: ...

    def publish(self) -> None: ...

    def start_capture(self) -> None: ...

    def overlay(self, message: dict[str, Any]) -> None: ...

    def now_ms(self) -> float:
        """Milliseconds since the epoch (the host's clock)."""
        ...

    def open_socket(
        self,
        ready: Callable[[ServerSocket | CwmnError], None],
        on_push: Callable[[Message], None] | None = None,
        on_lost: Callable[[CwmnError], None] | None = None,
    ) -> ServerSocket:
        """A new socket to the server (see :meth:`.sockets.Sockets.open`)."""
        ...

    def finish(self, session: HostSession, trigger: Trigger) -> None: ...

    def page_too_large(self, session: HostSession, reason: str) -> None: ...


class HostSession:
    """The session this page hosts, from ``in session`` until it ends."""

    def __init__(
        self,
        owner: SessionEvents,
        socket: ServerSocket,
        token: str,
        info: dict[str, Any],
        assets: Mapping[str, Any] | None = None,
    ) -> None:
        self.owner = owner
        self.socket = socket
        self.token = token
        self.info = info
        self.guests: list[GuestObject] = []
        self.unacked = UnackedFrames()
        self.assets = PageAssets(assets or {}, owner.config.page_url)
        """The page's asset routing (the session's ``assets``; off when empty): the worker's
        edge fetches and uploads what it queues."""
        self.encoder = MirrorEncoder(owner.config.page_url, self.assets)
        self.connected = True
        self.closed = False
        self.pointer: Throttle[tuple[dict[str, Any], Any]] = Throttle()
        self.backoff = Backoff()
        #: ``reconnect``: the next attempt; ``give up``: the end of trying.
        self._timers: Timers[str] = Timers()
        self._attempt: ServerSocket | None = None
        self.too_large = False
        """A frame was past the server's caps: nothing more goes out (the session ends)."""

    # -- time ---------------------------------------------------------------------------
    def next_due(self) -> float | None:
        due = [self.pointer.next_due(), self._timers.next_due()]
        return min((d for d in due if d is not None), default=None)

    def tick(self, now: float) -> None:
        held = self.pointer.due(now)
        if held is not None and not self.closed and self.owner.state is State.IN_SESSION:
            self.send_capture_now("pointer", *held)
        for key in self._timers.due(now):
            if self.closed:
                return
            if key == "give up":
                self._give_up()
            elif key == "reconnect":
                self._try_resume()

    # -- mirror stream ------------------------------------------------------------------
    def send_capture(self, kind: str, raw: dict[str, Any], t: Any, now: float) -> None:
        """Encode a raw capture frame, number it, keep it, and send it if connected.

        The host's pointer goes out at most ~30 times a second (the last position always:
        :meth:`tick` sends it when its time comes)."""
        if kind == "pointer" and self.pointer.offer((raw, t), now) is None:
            return
        self.send_capture_now(kind, raw, t)

    def send_capture_now(self, kind: str, raw: dict[str, Any], t: Any = None) -> None:
        self.send_frame(kind, self.encoder.frame(kind, raw), t)

    def send_frame(self, kind: str, data: dict[str, Any], t: Any = None) -> None:
        """Number ``data`` (already encoded), keep it, and send it if connected; ``t`` is when
        the page captured it (ms since the epoch; now if missing or not a time)."""
        ok = isinstance(t, int | float) and not isinstance(t, bool) and 0 < t < 1e14
        when = round(t if ok else self.owner.now_ms())
        if self.too_large:
            return
        if kind in _PAGE_KINDS:  # the server would close the socket, and again on resume
            trial = MirrorFrame(seq=self.unacked.seq + 1, kind=kind, data=data, t=when)
            refusal = codec.too_large(codec.encode(trial))
            if refusal is not None:
                self.too_large = True
                self.owner.page_too_large(self, refusal)
                return
        frame = self.unacked.add(kind, data, t=when)
        if self.connected:
            self.socket.send(frame)

    @property
    def drained(self) -> bool:
        """The server holds every frame."""
        return not self.unacked.pending

    # -- pushes from the server ---------------------------------------------------------
    def on_push(self, message: Message) -> None:
        """A message the server pushed on the session's socket (by its type; others are
        not for a live session)."""
        handle = _PUSHES.get(type(message))
        if handle is not None:
            handle(self, message)

    def _guest_joined(self, guest: GuestObject) -> None:
        guest_id = str(guest.get("guestId", ""))
        self.guests = [g for g in self.guests if g.get("guestId") != guest_id] + [guest]
        self.owner.publish()
        self.owner.emit("guest connected", guest_id, guest)
        self.room_changed()
        self.owner.control.guests_changed(self)
        if guest.get("pointer") is not None:
            self.draw_cursors()

    def _guest_left(self, guest: GuestObject) -> None:
        guest_id = str(guest.get("guestId", ""))
        known = next((g for g in self.guests if g.get("guestId") == guest_id), guest)
        self.guests = [g for g in self.guests if g.get("guestId") != guest_id]
        self.owner.publish()
        self.owner.emit("guest disconnected", guest_id, known)
        self.room_changed()
        self.owner.control.guests_changed(self)
        if known.get("pointer") is not None:
            self.draw_cursors()

    def find(self, guest_id: str) -> GuestObject | None:
        """The guest ``guest_id`` of this session, or None."""
        return next((g for g in self.guests if g.get("guestId") == guest_id), None)

    def _guest_updated(self, guest: GuestObject) -> None:
        known = self.find(str(guest.get("guestId", "")))
        if known is None:
            return
        known.update(guest)
        self.owner.publish()
        self.room_changed()
        self.draw_cursors()
        self.owner.control.guests_changed(self)

    def mute_all_changed(self) -> None:
        """The room's mute-all flag changed: every guest's muted state may have."""
        self.owner.publish()
        self.room_changed()
        self.owner.control.guests_changed(self)

    def _guest_pointer(self, message: GuestPointer) -> None:
        """A guest's pointer moved (the server relays ≤40/s, never a muted guest's)."""
        guest = self.find(message.guest_id)
        if guest is None:
            return
        guest["pointer"] = {"x": message.x, "y": message.y} if message.visible else None
        self.owner.publish()
        self.room_changed()
        self.draw_cursors()

    def _guest_click(self, message: GuestClick) -> None:
        if self.find(message.guest_id) is None:
            return
        self.owner.overlay(
            {
                "op": "ripple",
                "x": message.x,
                "y": message.y,
                "color": message.color,
                "name": message.name,
            }
        )
        self.owner.emit("click", message.guest_id)

    def room_changed(self) -> None:
        self.owner.emit("roomdata update", [dict(g) for g in self.guests])

    def draw_cursors(self) -> None:
        """Show the guests' pointers on the host page, at document coordinates."""
        cursors = [
            {
                "id": g["guestId"],
                "name": g.get("name", ""),
                "color": g.get("color", ""),
                "x": pointer["x"],
                "y": pointer["y"],
            }
            for g in self.guests
            if (pointer := g.get("pointer"))
        ]
        self.owner.overlay({"op": "cursors", "cursors": cursors})

    def end_trigger(self, reason: str) -> Trigger:
        """The edge out of ``in session`` for an end with ``reason`` (``ended``, ``expired``,
        or the extension's ``idle``, which ends as ``expired`` does)."""
        replay = bool(self.info.get("isReplay"))
        if reason in ("expired", "idle"):
            return Trigger.EXPIRE_REPLAY if replay else Trigger.EXPIRE_REALTIME
        return Trigger.END_REPLAY if replay else Trigger.END_REALTIME

    # -- connection loss ----------------------------------------------------------------
    def on_lost(self, exc: CwmnError, now: float) -> None:
        if self.closed or not self.connected:
            return
        self.connected = False
        self.owner.emit("connection issue")
        self.backoff.reset()
        self._timers.set("give up", now + RECONNECT_GIVE_UP)
        self._timers.set("reconnect", now + self.backoff.next())

    def _try_resume(self) -> None:
        """One attempt at taking the session back on a new socket."""

        def ready(socket: ServerSocket | CwmnError) -> None:
            if isinstance(socket, CwmnError):
                self._retry()
                return
            request = ResumeSession(resume_token=self.token, page_id=self.owner.config.page_id)
            socket.request(request, lambda outcome: answered(socket, outcome))

        def answered(socket: ServerSocket, outcome: Outcome) -> None:
            if self.closed:
                return
            if isinstance(outcome, SessionResumed):
                self._resumed(socket, outcome)
                return
            socket.close()
            if isinstance(outcome, CwmnError) and outcome.code in _GONE:
                self._give_up()
            else:
                self._retry()

        self._attempt = self.owner.open_socket(ready, self._on_push, self._on_lost)

    def _on_push(self, message: Message) -> None:
        if not self.closed:
            self.on_push(message)

    def _on_lost(self, exc: CwmnError) -> None:
        self.on_lost(exc, self.owner.now)

    def _retry(self) -> None:
        self._attempt = None
        if self.closed:
            return
        if not self._timers.armed("give up"):
            return
        # The give-up deadline ends the attempts; until then, the next after the backoff.
        self._timers.set("reconnect", self.owner.now + self.backoff.next())

    def _give_up(self) -> None:
        self._timers.cancel("reconnect")
        self._timers.cancel("give up")
        if self._attempt is not None:
            self._attempt.close()
            self._attempt = None
        self.owner.finish(self, self.end_trigger("expired"))

    def _resumed(self, socket: ServerSocket, reply: SessionResumed) -> None:
        self._timers.cancel("give up")
        self._attempt = None
        self.socket = socket
        self.connected = True
        if self.unacked.needs_snapshot or reply.acked_seq < self.unacked.acked:
            # Frames are missing (too many to keep, or a server that restarted lost them).
            self.owner.start_capture()
        else:
            for frame in self.unacked.unacked(reply.acked_seq):
                socket.send(frame)
        self.owner.emit("connection issue resolved")
        # Control may have changed while the socket was down (the controller left).
        self.owner.control.resumed(self, reply.controller, reply.control_allowed)

    def close(self) -> None:
        self.closed = True
        self._timers = Timers()
        self.pointer.reset()
        if self._attempt is not None:
            self._attempt.close()
            self._attempt = None
        self.socket.close()


#: What a live session does with each message the server pushes.
_PUSHES: dict[type[Message], Callable[[HostSession, Any], None]] = {
    Ack: lambda session, m: session.unacked.ack(m.seq),
    SnapshotRequest: lambda session, m: session.owner.start_capture(),
    GuestJoined: lambda session, m: session._guest_joined(m.guest.copy()),
    GuestLeft: lambda session, m: session._guest_left(m.guest.copy()),
    GuestUpdated: lambda session, m: session._guest_updated(m.guest.copy()),
    GuestPointer: lambda session, m: session._guest_pointer(m),
    GuestClick: lambda session, m: session._guest_click(m),
    SessionEnded: lambda session, m: session.owner.finish(session, session.end_trigger(m.reason)),
    # Extensions (docs/control/remote-control.md).
    ControlRequested: lambda session, m: session.owner.control.requested(session, m),
    ControlChanged: lambda session, m: session.owner.control.changed(session, m),
    ControlInput: lambda session, m: session.owner.control.input(session, m),
    GuestDraw: lambda session, m: session.owner.control.draw(session, m),
}
