"""A live hosted session: its link, the mirror stream, guests, and reconnecting.

Nothing lost on a dropped connection: frames stay in the :class:`~.outbox.Outbox` until the
server acknowledges them, and a reconnect re-sends what the server lacks. No ``js`` here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, Protocol

from ..errors import CwmnError
from ..protocol import codec
from ..protocol.messages import (
    Ack,
    GuestClick,
    GuestJoined,
    GuestLeft,
    GuestPointer,
    GuestUpdated,
    Message,
    ResumeSession,
    SessionEnded,
    SessionResumed,
    SnapshotRequest,
)
from ..timing import Throttle
from .link import Link
from .mirror import MirrorEncoder
from .outbox import Outbox
from .states import State, Trigger

__all__ = ["CONNECT_TIMEOUT", "RECONNECT_DELAYS", "HostSession", "SessionEvents"]

CONNECT_TIMEOUT = 10.0
#: Seconds between reconnect attempts; the last one repeats until RECONNECT_GIVE_UP.
RECONNECT_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
RECONNECT_GIVE_UP = 180.0
_GONE = ("session_ended", "not_found")


class SessionEvents(Protocol):
    """What a :class:`HostSession` needs from the controller that owns it."""

    @property
    def state(self) -> State: ...

    @property
    def config(self) -> Any: ...

    def emit(self, event: str, *args: Any, state: State | None = None) -> None: ...

    def publish(self) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...

    def start_capture(self) -> None: ...

    def overlay(self, message: dict[str, Any]) -> None: ...

    def now_ms(self) -> float:
        """Milliseconds since the epoch (the host's clock)."""
        ...

    async def open_link(self) -> Link: ...

    async def finish(self, session: HostSession, trigger: Trigger) -> None: ...


class HostSession:
    """The session this page hosts, from ``in session`` until it ends."""

    def __init__(self, owner: SessionEvents, link: Link, token: str, info: dict[str, Any]) -> None:
        self.owner = owner
        self.link = link
        self.token = token
        self.info = info
        self.guests: list[dict[str, Any]] = []
        self.outbox = Outbox()
        self.encoder = MirrorEncoder(owner.config.page_url)
        self.connected = True
        self.closed = False
        self.pointer: Throttle[tuple[dict[str, Any], Any]] = Throttle()
        self._pointer_timer: asyncio.TimerHandle | None = None

    # -- mirror stream ------------------------------------------------------------------
    def send_capture(self, kind: str, raw: dict[str, Any], t: Any = None) -> None:
        """Encode a raw capture frame, number it, keep it, and send it if connected.

        The host's pointer goes out at most ~30 times a second (the last position always)."""
        if kind == "pointer":
            loop = asyncio.get_running_loop()
            held = self.pointer.offer((raw, t), loop.time())
            if held is None:
                self._pointer_later(loop)
                return
        self.send_capture_now(kind, raw, t)

    def _pointer_later(self, loop: asyncio.AbstractEventLoop) -> None:
        due = self.pointer.next_due()
        if due is None or self._pointer_timer is not None:
            return

        def fire() -> None:
            self._pointer_timer = None
            # The loop may run a timer up to its clock resolution early: it is due anyway.
            held = self.pointer.due(max(loop.time(), due))
            if held is not None and not self.closed and self.owner.state is State.IN_SESSION:
                self.send_capture_now("pointer", *held)

        self._pointer_timer = loop.call_at(due, fire)

    def send_capture_now(self, kind: str, raw: dict[str, Any], t: Any = None) -> None:
        self.send_frame(kind, self.encoder.frame(kind, raw), t)

    def send_frame(self, kind: str, data: dict[str, Any], t: Any = None) -> None:
        """Number ``data`` (already encoded), keep it, and send it if connected; ``t`` is when
        the page captured it (ms since the epoch; now if missing or not a time)."""
        ok = isinstance(t, int | float) and not isinstance(t, bool) and 0 < t < 1e14
        frame = self.outbox.add(kind, data, t=round(t if ok else self.owner.now_ms()))
        if self.connected:
            self.owner.spawn(self._send(codec.encode(frame)))

    async def drain(self, timeout: float) -> bool:
        """Wait until the server holds every frame (True), or ``timeout`` seconds pass."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.outbox.pending and loop.time() < end:
            await asyncio.sleep(0.05)
        return not self.outbox.pending

    async def _send(self, text: str) -> None:
        # On failure the link reports the loss; the frame stays in the outbox.
        with contextlib.suppress(CwmnError):
            await self.link.send_text(text)

    # -- pushes from the server ---------------------------------------------------------
    def on_push(self, message: Message) -> None:
        if isinstance(message, Ack):
            self.outbox.ack(message.seq)
        elif isinstance(message, SnapshotRequest):
            self.owner.start_capture()
        elif isinstance(message, GuestJoined):
            self._guest_joined(dict(message.guest))
        elif isinstance(message, GuestLeft):
            self._guest_left(dict(message.guest))
        elif isinstance(message, GuestUpdated):
            self._guest_updated(dict(message.guest))
        elif isinstance(message, GuestPointer):
            self._guest_pointer(message)
        elif isinstance(message, GuestClick):
            self._guest_click(message)
        elif isinstance(message, SessionEnded):
            self.owner.spawn(self.owner.finish(self, self.end_trigger(message.reason)))

    def _guest_joined(self, guest: dict[str, Any]) -> None:
        guest_id = str(guest.get("guestId", ""))
        self.guests = [g for g in self.guests if g.get("guestId") != guest_id] + [guest]
        self.owner.publish()
        self.owner.emit("guest connected", guest_id, guest)
        self.room_changed()
        if guest.get("pointer") is not None:
            self.draw_cursors()

    def _guest_left(self, guest: dict[str, Any]) -> None:
        guest_id = str(guest.get("guestId", ""))
        known = next((g for g in self.guests if g.get("guestId") == guest_id), guest)
        self.guests = [g for g in self.guests if g.get("guestId") != guest_id]
        self.owner.publish()
        self.owner.emit("guest disconnected", guest_id, known)
        self.room_changed()
        if known.get("pointer") is not None:
            self.draw_cursors()

    def _find(self, guest_id: str) -> dict[str, Any] | None:
        return next((g for g in self.guests if g.get("guestId") == guest_id), None)

    def _guest_updated(self, guest: dict[str, Any]) -> None:
        known = self._find(str(guest.get("guestId", "")))
        if known is None:
            return
        known.update(guest)
        self.owner.publish()
        self.room_changed()
        self.draw_cursors()

    def mute_all_changed(self) -> None:
        """The room's mute-all flag changed: every guest's muted state may have."""
        self.owner.publish()
        self.room_changed()

    def _guest_pointer(self, message: GuestPointer) -> None:
        """A guest's pointer moved (the server relays ≤40/s, never a muted guest's)."""
        guest = self._find(message.guest_id)
        if guest is None:
            return
        guest["pointer"] = {"x": message.x, "y": message.y} if message.visible else None
        self.owner.publish()
        self.room_changed()
        self.draw_cursors()

    def _guest_click(self, message: GuestClick) -> None:
        if self._find(message.guest_id) is None:
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
                "x": g["pointer"]["x"],
                "y": g["pointer"]["y"],
            }
            for g in self.guests
            if g.get("pointer")
        ]
        self.owner.overlay({"op": "cursors", "cursors": cursors})

    def end_trigger(self, reason: str) -> Trigger:
        """The edge out of ``in session`` for an end with ``reason`` (``ended``/``expired``)."""
        replay = bool(self.info.get("isReplay"))
        if reason == "expired":
            return Trigger.EXPIRE_REPLAY if replay else Trigger.EXPIRE_REALTIME
        return Trigger.END_REPLAY if replay else Trigger.END_REALTIME

    # -- connection loss ----------------------------------------------------------------
    def on_lost(self, exc: CwmnError) -> None:
        if self.closed or not self.connected:
            return
        self.connected = False
        self.owner.emit("connection issue")
        self.owner.spawn(self._reconnect())

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + RECONNECT_GIVE_UP
        attempt = 0
        while not self.closed:
            await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            attempt += 1
            if self.closed:
                return
            try:
                link = await self.owner.open_link()
            except CwmnError:
                if loop.time() > give_up:
                    break
                continue
            try:
                request = ResumeSession(resume_token=self.token, page_id=self.owner.config.page_id)
                reply = await link.request(request)
            except CwmnError as exc:
                await link.close()
                if exc.code in _GONE:
                    break
                continue
            if not isinstance(reply, SessionResumed):
                await link.close()
                continue
            await self._resumed(link, reply)
            return
        await self.owner.finish(self, self.end_trigger("expired"))

    async def _resumed(self, link: Link, reply: SessionResumed) -> None:
        self.link = link
        self.connected = True
        if self.outbox.needs_snapshot or reply.acked_seq < self.outbox.acked:
            # Frames are missing (too many to keep, or a server that restarted lost them).
            self.owner.start_capture()
        else:
            for frame in self.outbox.unacked(reply.acked_seq):
                await self._send(codec.encode(frame))
        self.owner.emit("connection issue resolved")

    async def close(self) -> None:
        self.closed = True
        if self._pointer_timer is not None:
            self._pointer_timer.cancel()
        await self.link.close()
