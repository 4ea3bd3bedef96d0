"""The guest's side of a session: join, frame order, sanitizing, reconnects, page ops.

:class:`GuestSession` does no I/O: frames go in, and frames to send, ops for the viewer page
and the delay before the next attempt come out. :class:`cwmn_web.browser.driver.Driver` runs
it over real sockets (the browser edge, or an in-memory socket in tests). No ``js``.

The guest's own pointer goes the other way: the viewer page reports it with :meth:`pointer`
and :meth:`click`; moves are throttled (leading and trailing, ≤30/s), clicks limited to 10/s,
and nothing is sent before joining or while the host has muted this guest.

The guest may also ask for control of the host's page (:meth:`request_control`); once the
server says it controls (``ControlChanged``, or ``Joined.controller`` after a reconnect), its
clicks, keys, text and scrolls go out with :meth:`control_input` (text and scrolls coalesced,
≤30 messages a second). It may draw (:meth:`draw`): points of a stroke are coalesced into
messages of at most :data:`MAX_DRAW_NUMBERS` numbers, ≤25 a second, never while muted.
Refusals become plain-words ``notice`` ops for the page (see :data:`NOTICES`).

The guest may join before it chose a name (the server then picks one) and choose it later
(:meth:`set_name`). When the host's page navigates (``host_status`` with ``navigating``),
the viewer keeps the last picture with a quiet note until the next page's snapshot, or until
:data:`NAVIGATION_GRACE` seconds have passed: then the host's drop is shown as any other.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import CwmnError, ErrorCode, ProtocolError
from ..protocol import codec
from ..protocol.constants import DEFAULT_GUEST_COLOR
from ..protocol.messages import (
    CLOSE_BAD_ORIGIN,
    CLOSE_PROTOCOL,
    CLOSE_REMOVED,
    CLOSE_REPLACED,
    CLOSE_SESSION_ENDED,
    CLOSE_UNSUPPORTED_VERSION,
    CONTROL_KINDS,
    DRAW_TOOLS,
    MAX_DRAW_NUMBERS,
    PROTOCOL_VERSION,
    ControlChanged,
    ControlDeclined,
    ControlInput,
    ControlRefused,
    Draw,
    ErrorReply,
    GuestClick,
    GuestDraw,
    GuestPointer,
    Hello,
    HostStatus,
    Join,
    Joined,
    Message,
    MirrorFrame,
    Muted,
    Paused,
    Ping,
    PointerClick,
    PointerMove,
    Pong,
    ReleaseControl,
    Removed,
    RequestControl,
    SessionEnded,
    SetName,
    Welcome,
)
from ..protocol.names import clean_guest_name
from ..protocol.routes import LINK, with_route
from ..timing import POINTER_INTERVAL, Backoff, RateGate, Throttle
from .sanitize import Sanitizer

__all__ = [
    "CLICK_INTERVAL",
    "CONTROL_INTERVAL",
    "DRAW_INTERVAL",
    "GUEST_PATH",
    "JOIN_TIMEOUT",
    "NAVIGATION_GRACE",
    "NOTICES",
    "TRANSIENT_CODES",
    "GuestSession",
    "guest_ws_url",
]

GUEST_PATH = "/ws/guest"
#: Error codes worth another try; any other error reply ends the guest's session.
TRANSIENT_CODES = frozenset(
    {ErrorCode.SERVER_ERROR, ErrorCode.RATE_LIMITED, ErrorCode.TIMEOUT, ErrorCode.NETWORK}
)
#: Close codes after which reconnecting cannot help.
FINAL_CLOSES: dict[int, tuple[ErrorCode, str]] = {
    CLOSE_BAD_ORIGIN: (ErrorCode.UNAUTHORIZED, "This page may not connect to the CWMN server."),
    CLOSE_UNSUPPORTED_VERSION: (ErrorCode.PROTOCOL, "This viewer is out of date: reload the page."),
    CLOSE_PROTOCOL: (ErrorCode.PROTOCOL, "The server refused a message from this viewer."),
    CLOSE_REPLACED: (ErrorCode.NETWORK, "This session is now open in another tab or window."),
}
HELLO_REF, JOIN_REF, NAME_REF = 1, 2, 3
#: Refs of the extensions' requests: an error answering one is a notice, never the end.
CONTROL_REF, INPUT_REF, DRAW_REF = 4, 5, 6
_EXTENSION_REFS = frozenset({CONTROL_REF, INPUT_REF, DRAW_REF})
#: Codes that are about control or drawing, whatever request they answer.
_CONTROL_CODES = frozenset(
    {
        ErrorCode.NOT_CONTROLLER,
        ErrorCode.CONTROL_DISABLED,
        ErrorCode.CONTROL_REFUSED,
        ErrorCode.GUEST_MUTED,
    }
)
#: Codes after which a request for control is no longer waiting.
_ENDS_REQUEST = frozenset({ErrorCode.GUEST_MUTED, ErrorCode.CONTROL_DISABLED})
_MAX_KEY = ControlInput.max_chars["key"]
#: Coalesced control inputs (text, scrolls) go out at most once per this many seconds.
CONTROL_INTERVAL = 1 / 30
#: At most one ``draw`` message per this many seconds (~25 a second).
DRAW_INTERVAL = 1 / 25
#: Typed or pasted text kept at most per input (longer goes in 256-character messages).
MAX_TEXT_CHARS = 4096
#: Numbers of strokes held at most while they wait for their turn (more are dropped).
MAX_HELD_DRAW_NUMBERS = 4096
#: What the guest reads when the page or the server refuses (plain words; by code).
NOTICES: dict[str, str] = {
    ErrorCode.NOT_CONTROLLER: "You no longer control the page.",
    ErrorCode.CONTROL_DISABLED: "The visitor\u2019s page does not allow remote control.",
    ErrorCode.CONTROL_REFUSED: "That part of the page is private: your input was not applied.",
    ErrorCode.GUEST_MUTED: "The host muted you: you cannot draw or take control.",
    ErrorCode.RATE_LIMITED: "Too fast: wait a moment and try again.",
    "control_declined": "The visitor declined your request for control.",
}
_DRAW_TOO_FAST = "You are drawing too fast: some of your drawing was dropped."
#: Seconds the viewer waits for the host's next page before showing the host's drop.
NAVIGATION_GRACE = 8.0
JOIN_TIMEOUT = 15.0  # an open socket that never says "joined" is treated as lost
#: At most one click per this many seconds goes out (the server relays no more either).
CLICK_INTERVAL = 1 / 10
#: Colours the page may use as CSS: ``#rgb``, ``#rgba``, ``#rrggbb`` or ``#rrggbbaa``.
_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_DEFAULT_COLOR = DEFAULT_GUEST_COLOR


def guest_ws_url(server: str, token: str = "") -> str:
    """``http(s)://host[:port]`` → ``ws(s)://host[:port]/ws/guest``, with the route key of
    the link ``token`` (any server process then pipes the socket to the session's)."""
    scheme = "wss" if server.startswith("https:") else "ws"
    url = f"{scheme}://{server.split('://', 1)[-1].rstrip('/')}{GUEST_PATH}"
    return with_route(url, LINK, token)


class GuestSession:
    """One guest's session across any number of connections.

    Per connection: :meth:`connected`, then :meth:`receive` for each frame while
    :attr:`open`, then :meth:`lost` (which answers the delay before the next attempt, or
    ``None`` to stop). After each input, call :meth:`tick` with the time, send
    :meth:`to_send` and post :meth:`page_ops` to the viewer; when :meth:`next_due` is a
    time, call :meth:`tick` then (a held pointer position is due, or the join is late).
    """

    def __init__(self, token: str, name: str) -> None:
        self.token = token
        #: The name to join with, cleaned as the server will ("": the server's choice).
        self.name = clean_guest_name(name) if name.strip() else ""
        self.last_seq = 0
        self.joined = False
        self.done = False  # ended, or failed for good: never reconnect
        self.drop = False  # the server asked for another try: close this connection
        self.muted = False  # the host muted this guest: its pointer and clicks stay here
        self.guest_id = ""
        self.color = ""
        self.navigating = False  # the host's page is changing: keep the picture, quietly
        self.host_connected = True
        self._navigation_ends: float | None = None
        #: Until joined, a frame must arrive by then (set by :meth:`tick`, reset by a frame).
        self._quiet_until: float | None = None
        self.sanitizer = Sanitizer()
        self.backoff = Backoff()  # the one reconnect policy (cwmn_web.timing)
        self._send: list[Message] = []
        self._ops: list[dict[str, Any]] = []
        self._moves: Throttle[PointerMove] = Throttle(POINTER_INTERVAL)
        self._clicks: RateGate[str] = RateGate(CLICK_INTERVAL)
        #: Who controls the host's page ("": nobody), as the server last said.
        self.controller = ""
        self.controller_name = ""
        self.control_allowed = True  # the host's page takes requests
        self.control_pending = False  # asked; the visitor has not answered yet
        self._held_input: ControlInput | None = None  # text or a scroll, coalescing
        self._input_sent = float("-inf")
        self._strokes: dict[str, _HeldStroke] = {}  # stroke id → points not sent yet
        self._draw_sent = float("-inf")

    @property
    def open(self) -> bool:
        """False once this connection is of no more use (the session is over, or the
        server asked for another try)."""
        return not (self.done or self.drop)

    # -- outputs -------------------------------------------------------------------------
    def to_send(self) -> list[str]:
        """Text frames to write, in order (drains the queue)."""
        out, self._send = self._send, []
        return [codec.encode(message) for message in out]

    def page_ops(self) -> list[dict[str, Any]]:
        """Messages for the viewer page (drains the queue); see docs of ``viewer_worker``."""
        out, self._ops = self._ops, []
        return out

    # -- inputs --------------------------------------------------------------------------
    def connected(self) -> None:
        """A new connection is open: greet the server and (re)join after ``last_seq``."""
        self.joined = self.drop = False
        self._quiet_until = None
        self._moves.reset()
        self._forget_control()
        self._send = [  # nothing of an earlier connection goes before the greeting
            Hello(ref=HELLO_REF, role="guest"),
            Join(ref=JOIN_REF, token=self.token, name=self.name, last_seq=self.last_seq),
        ]

    def receive(self, frame: str) -> None:
        """Handle one text frame from the server."""
        self._quiet_until = None
        try:
            message = codec.decode(frame)
        except ProtocolError as exc:
            self._fail(exc)
            return
        self.handle(message)

    def pointer(self, x: Any, y: Any, visible: Any, now: float) -> None:
        """The guest's pointer moved to (``x``, ``y``) in the host page's document (CSS px),
        or left it (``visible`` False). Dropped unless joined, not muted and well-formed."""
        if not (self._may_point() and _finite(x) and _finite(y) and isinstance(visible, bool)):
            return
        move = self._moves.offer(PointerMove(x=float(x), y=float(y), visible=visible), now)
        if move is not None:
            self._send.append(move)

    def click(self, x: Any, y: Any, now: float | None = None) -> None:
        """The guest clicked at (``x``, ``y``), document coordinates. At most one click per
        :data:`CLICK_INTERVAL` (``now``: ``time.monotonic()`` when not given)."""
        if not (self._may_point() and _finite(x) and _finite(y)):
            return
        if self._clicks.allow("click", time.monotonic() if now is None else now):
            self._send.append(PointerClick(x=float(x), y=float(y)))

    def set_name(self, name: Any) -> None:
        """The guest chose ``name``: sent now if joined, else with the next join."""
        if not isinstance(name, str):
            return
        self.name = clean_guest_name(name)
        if self.joined and not (self.done or self.drop):
            self._send.append(SetName(ref=NAME_REF, name=self.name))

    # -- control and drawing (extensions) ------------------------------------------------
    @property
    def controlling(self) -> bool:
        """This guest controls the host's page (the server said so)."""
        return bool(self.guest_id) and self.controller == self.guest_id

    def request_control(self) -> None:
        """Ask the host's visitor for control; the page shows "waiting" until the answer
        (``ControlChanged``, ``ControlDeclined`` or an error: a ``notice``)."""
        if not self._may_point() or not self.control_allowed:
            return
        if self.controlling or self.control_pending:
            return
        self.control_pending = True
        self._send.append(RequestControl(ref=CONTROL_REF))
        self._control_op()

    def release_control(self) -> None:
        """Give control back, or withdraw a request still waiting for the visitor."""
        if not (self.joined and self.open and (self.controlling or self.control_pending)):
            return
        if self.controlling:
            self.controller = self.controller_name = ""
        self.control_pending = False
        self._held_input = None
        self._send.append(ReleaseControl(ref=CONTROL_REF))
        self._control_op()

    def control_input(self, data: Any, now: float) -> None:
        """One input of the guest for the host's page (``data`` as ``ControlInput``'s
        fields); dropped unless this guest controls and it is well-formed. Text and scrolls
        are coalesced (≤ one message per :data:`CONTROL_INTERVAL`); clicks and keys go at
        once, after anything held, so the order is kept."""
        message = _control_message(data)
        if message is None or not (self.controlling and self._may_point()):
            return
        if message.kind not in ("text", "scroll"):
            self._flush_input(now)
            self._emit_input(message, now)
            return
        held = self._held_input
        if held is not None and held.kind == message.kind:
            self._held_input = _merge_inputs(held, message)
            return
        self._flush_input(now)
        if _passed(now, self._input_sent, CONTROL_INTERVAL):
            self._emit_input(message, now)
        else:
            self._held_input = message

    def draw(self, stroke: Any, tool: Any, points: Any, done: Any, now: float) -> None:
        """More of the guest's stroke ``stroke`` (``points`` flat x, y pairs in document
        coordinates; ``done``: it ended). Coalesced per stroke into messages of at most
        :data:`MAX_DRAW_NUMBERS` numbers, one per :data:`DRAW_INTERVAL`; never while muted."""
        if not (self._may_point() and _stroke_id(stroke) and tool in DRAW_TOOLS):
            return
        if not (isinstance(done, bool) and _points(points)):
            return
        held = self._strokes.get(stroke)
        if held is None:
            held = self._strokes[stroke] = _HeldStroke(str(tool))
        room = MAX_HELD_DRAW_NUMBERS - sum(len(h.points) for h in self._strokes.values())
        held.points.extend(float(v) for v in points[: max(0, room - room % 2)])
        held.done = held.done or done
        self._draw_due(now)

    def next_due(self) -> float | None:
        """When :meth:`tick` has something to do (a held pointer position, the end of a
        page change's grace, a join that is late), or None."""
        quiet = None if self.joined or not self.open else self._quiet_until
        due = [self._moves.next_due() if self._may_point() else None, self._navigation_ends, quiet]
        if self._held_input is not None:
            due.append(self._input_sent + CONTROL_INTERVAL)
        if self._strokes:
            due.append(self._draw_sent + DRAW_INTERVAL)
        return min((d for d in due if d is not None), default=None)

    def tick(self, now: float) -> None:
        """Queue the held pointer position if its time has come; start or end the grace
        of a page change; give up on a socket that says nothing before joining (the driver
        ticks after every input: the wait for the next frame starts at the first tick)."""
        move = self._moves.due(now) if self._may_point() else None
        if move is not None:
            self._send.append(move)
        if self._held_input is not None and _passed(now, self._input_sent, CONTROL_INTERVAL):
            self._flush_input(now)
        self._draw_due(now)
        if not self.joined and self.open:
            if self._quiet_until is None:
                self._quiet_until = now + JOIN_TIMEOUT
            elif now >= self._quiet_until:
                self.drop = True
        if self.navigating and self._navigation_ends is None:
            self._navigation_ends = now + NAVIGATION_GRACE
        elif self._navigation_ends is not None and now >= self._navigation_ends:
            self._navigated()

    def handle(self, message: Message) -> None:
        if self.done:
            return
        if isinstance(message, MirrorFrame):
            self._frame(message)
        elif isinstance(message, Welcome):
            if message.version != PROTOCOL_VERSION:
                self._fail(
                    ProtocolError(
                        f"the server speaks protocol {message.version}, "
                        f"this viewer {PROTOCOL_VERSION}: reload the page"
                    )
                )
        elif isinstance(message, Joined):
            self.joined = True
            self.backoff.reset()
            self.guest_id, self.muted = message.guest_id, message.muted
            self.color = _color(message.color)
            self.host_connected = message.host_connected
            # Joined while the host's page changes: the note, not the drop (its grace goes
            # on from before a reconnect, else tick starts it).
            if not (message.navigating and not message.host_connected):
                self.navigating, self._navigation_ends = False, None
            elif not self.navigating:
                self.navigating, self._navigation_ends = True, None
            if self.name and message.name and message.name != self.name:
                self._send.append(SetName(ref=NAME_REF, name=self.name))  # chosen meanwhile
            self._ops.append(
                {
                    "op": "joined",
                    "guestId": message.guest_id,
                    "sessionId": message.session_id,
                    "hostName": message.host_name,
                    "hostVerified": message.host_verified,
                    "paused": message.paused,
                    "hostConnected": message.host_connected,
                    "navigating": self.navigating,
                    "muted": message.muted,
                    "color": self.color,
                    "waiting": message.waiting,
                    "name": message.name or self.name,
                }
            )
            # Control is re-learnt from each join (a lost connection forgot it, and told the
            # page): only news is told.
            self.controller, self.controller_name = message.controller, ""
            self.control_allowed, self.control_pending = message.control_allowed, False
            if self.controller or not self.control_allowed:
                self._control_op()
        elif isinstance(message, GuestPointer):
            self._other_guest("pointer", message, visible=message.visible)
        elif isinstance(message, GuestClick):
            self._other_guest("click", message)
        elif isinstance(message, ControlChanged):
            self.controller, self.controller_name = message.guest_id, message.name
            self.control_allowed = message.allowed
            if self.controlling or not self.control_allowed:
                self.control_pending = False
            if not self.controlling:
                self._held_input = None
            self._control_op()
        elif isinstance(message, ControlDeclined):
            self.control_pending = False
            self._control_op()
            self._notice("control_declined", "")
        elif isinstance(message, ControlRefused):
            self._notice(ErrorCode.CONTROL_REFUSED, "")
        elif isinstance(message, GuestDraw):
            self._guest_draw(message)
        elif isinstance(message, Muted):
            self.muted = message.muted
            self._moves.reset()  # a position held from before must not go out later
            self._strokes.clear()
            self._held_input = None
            if message.muted and self.control_pending:
                self.control_pending = False
                self._control_op()
            self._ops.append({"op": "status", "muted": message.muted})
        elif isinstance(message, Removed):
            self._removed()
        elif isinstance(message, Paused):
            self._ops.append({"op": "status", "paused": message.paused})
        elif isinstance(message, HostStatus):
            self.host_connected = message.connected
            if not message.connected:  # a page change, or a drop that shows at once
                self.navigating, self._navigation_ends = message.navigating, None
            status = {"op": "status", "hostConnected": message.connected}
            self._ops.append({**status, "navigating": self.navigating})
        elif isinstance(message, SessionEnded):
            self.done = True
            self._ops.append({"op": "status", "ended": message.reason or "ended"})
        elif isinstance(message, ErrorReply):
            if message.ref in _EXTENSION_REFS or message.code in _CONTROL_CODES:
                self._refused(message)
            elif message.ref == NAME_REF:  # the name stays as it was; the session goes on
                self._ops.append({"op": "warning", "message": f"name: {message.message}"})
            elif message.code in TRANSIENT_CODES:
                self.drop = True
            else:
                self._fail(CwmnError.from_dict({"code": message.code, "message": message.message}))
        elif isinstance(message, Ping):
            self._send.append(Pong(ref=message.ref))
        # Anything else (pong, ok, a push this viewer does not know) is not for guests.

    def lost(self, close_code: int | None = None) -> float | None:
        """The connection closed (``close_code`` if the server sent one): the seconds to
        wait before reconnecting, or ``None`` when the session is over."""
        self.joined = False
        self._moves.reset()
        told = self.controller or self.control_pending or not self.control_allowed
        self._forget_control()
        if told:  # the page shows nothing of it while away
            self._control_op()
        if self.done:
            return None
        if close_code == CLOSE_REMOVED:
            self._removed()
            return None
        if close_code == CLOSE_SESSION_ENDED:
            self.done = True
            self._ops.append({"op": "status", "ended": "ended"})
            return None
        if close_code in FINAL_CLOSES:
            code, text = FINAL_CLOSES[close_code]
            self._fail(CwmnError(text, code))
            return None
        self._ops.append({"op": "status", "reconnecting": True})
        return self.backoff.next()

    # -- internals -----------------------------------------------------------------------
    def _frame(self, message: MirrorFrame) -> None:
        # A snapshot starts a page (and the host's seq starts over on each page load), so
        # it is always taken; anything else already applied is a replay after a reconnect.
        # The host's pointer is not kept in the server's log: a joining guest gets the last
        # one after the log, whatever its seq, and it is never what a reconnect resumes from.
        if message.kind == "pointer":
            pass
        elif message.kind != "snapshot" and message.seq <= self.last_seq:
            return
        else:
            self.last_seq = message.seq
        try:
            data = self.sanitizer.frame(message.kind, message.data)
        except ProtocolError as exc:
            self._ops.append({"op": "warning", "message": f"frame {message.seq}: {exc.message}"})
            return
        self._ops.append({"op": "frame", "seq": message.seq, "kind": message.kind, "data": data})
        # After the frame: the note goes with the new page in place. While the host is
        # away a snapshot is the old page's (what a guest joining then is sent first).
        if message.kind == "snapshot" and self.navigating and self.host_connected:
            self._navigated()

    def _navigated(self) -> None:
        """The page change is over (the next page came, or its grace ran out)."""
        self.navigating, self._navigation_ends = False, None
        self._ops.append({"op": "status", "navigating": False})

    def _other_guest(self, op: str, message: GuestPointer | GuestClick, **extra: Any) -> None:
        """Another guest's pointer or click, for the page to draw (never our own)."""
        if message.guest_id != self.guest_id and _finite(message.x) and _finite(message.y):
            self._ops.append(
                {
                    "op": op,
                    "guestId": message.guest_id,
                    "name": message.name,
                    "color": _color(message.color),
                    "x": message.x,
                    "y": message.y,
                    **extra,
                }
            )

    def _control_op(self) -> None:
        self._ops.append(
            {
                "op": "control",
                "controller": self.controller,
                "name": self.controller_name,
                "you": self.controlling,
                "allowed": self.control_allowed,
                "pending": self.control_pending,
            }
        )

    def _notice(self, code: str, message: str, ref: int = 0) -> None:
        """Tell the guest, in plain words, why something did not happen."""
        text = _DRAW_TOO_FAST if (ref == DRAW_REF and code == ErrorCode.RATE_LIMITED) else None
        text = text or NOTICES.get(code) or message or "The server refused that."
        self._ops.append({"op": "notice", "code": code, "message": text})

    def _refused(self, message: ErrorReply) -> None:
        """An error answering a control or draw message: the session goes on."""
        code, changed = message.code, message.ref == CONTROL_REF and self.control_pending
        if message.ref == CONTROL_REF or code in (
            ErrorCode.GUEST_MUTED,
            ErrorCode.CONTROL_DISABLED,
        ):
            self.control_pending = False
        if code == ErrorCode.CONTROL_DISABLED:
            changed = changed or self.control_allowed
            self.control_allowed = False
        if code in (ErrorCode.NOT_CONTROLLER, ErrorCode.CONTROL_DISABLED) and self.controlling:
            self.controller = self.controller_name = ""
            self._held_input, changed = None, True
        if changed:
            self._control_op()
        self._notice(code, message.message, message.ref)

    def _forget_control(self) -> None:
        self.controller = self.controller_name = ""
        self.control_pending, self.control_allowed = False, True
        self._held_input, self._input_sent = None, float("-inf")
        self._strokes.clear()
        self._draw_sent = float("-inf")

    def _flush_input(self, now: float) -> None:
        held, self._held_input = self._held_input, None
        if held is not None:
            self._emit_input(held, now)

    def _emit_input(self, message: ControlInput, now: float) -> None:
        self._input_sent = now
        if message.kind != "text":
            self._send.append(message)
            return
        size = ControlInput.max_chars["text"]
        for start in range(0, len(message.text), size):
            self._send.append(replace(message, text=message.text[start : start + size]))

    def _draw_due(self, now: float) -> None:
        """Send the next part of the oldest stroke waiting, if a message may go now."""
        if not self._strokes or not _passed(now, self._draw_sent, DRAW_INTERVAL):
            return
        self._draw_sent = now
        stroke, held = next(iter(self._strokes.items()))
        points, held.points = held.points[:MAX_DRAW_NUMBERS], held.points[MAX_DRAW_NUMBERS:]
        if not held.points:
            del self._strokes[stroke]
        done = held.done and not held.points
        self._send.append(
            Draw(ref=DRAW_REF, stroke=stroke, tool=held.tool, points=points, done=done)
        )

    def _guest_draw(self, message: GuestDraw) -> None:
        """Another guest's drawing, for the page to draw (never our own)."""
        if message.guest_id == self.guest_id or message.tool not in DRAW_TOOLS:
            return
        if not (_points(message.points) and len(message.points) <= MAX_DRAW_NUMBERS):
            return
        self._ops.append(
            {
                "op": "draw",
                "guestId": message.guest_id,
                "name": message.name,
                "color": _color(message.color),
                "stroke": message.stroke,
                "tool": message.tool,
                "points": list(message.points),
                "done": message.done,
            }
        )

    def _fail(self, exc: CwmnError) -> None:
        self.done = True
        self._ops.append({"op": "status", "error": exc.to_dict()})

    def _removed(self) -> None:
        self.done = True
        self._ops.append({"op": "status", "removed": True})

    def _may_point(self) -> bool:
        return self.joined and not (self.muted or self.done or self.drop)


@dataclass
class _HeldStroke:
    """A stroke's points not sent yet (and whether it ended)."""

    tool: str
    points: list[float] = field(default_factory=list)
    done: bool = False


def _passed(now: float, last: float, interval: float) -> bool:
    """``interval`` has passed since ``last`` (a clock that stepped back counts as passed)."""
    return now >= last + interval or now < last  # as next_due computes it: no rounding gap


def _stroke_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= Draw.max_chars["stroke"]


def _points(value: Any) -> bool:
    """Flat x, y pairs of finite numbers."""
    return isinstance(value, list) and len(value) % 2 == 0 and all(_finite(v) for v in value)


def _control_message(data: Any) -> ControlInput | None:
    """``data`` (from the page) as a :class:`ControlInput`, or None if it is not one."""
    if not isinstance(data, dict) or data.get("kind") not in CONTROL_KINDS:
        return None
    kind: str = data["kind"]
    # Where: a click's or a scroll's point (a key or a text has none, 0 then).
    needed = {"click": ("x", "y"), "dblclick": ("x", "y"), "scroll": ("x", "y", "dx", "dy")}
    at = {name: data.get(name) for name in needed.get(kind, ())}
    if not all(_finite(value) for value in at.values()):
        return None
    x, y = float(at.get("x") or 0), float(at.get("y") or 0)
    dx, dy = float(at.get("dx") or 0), float(at.get("dy") or 0)
    key, text, mods = data.get("key", ""), data.get("text", ""), data.get("mods", 0)
    if kind == "key" and not (isinstance(key, str) and 0 < len(key) <= _MAX_KEY):
        return None
    if kind == "text" and not (isinstance(text, str) and text):
        return None
    if not (isinstance(mods, int) and not isinstance(mods, bool) and 0 <= mods <= 15):
        return None
    return ControlInput(
        ref=INPUT_REF,
        kind=kind,
        x=x,
        y=y,
        key=key if kind == "key" else "",
        text=text[:MAX_TEXT_CHARS] if kind == "text" else "",
        dx=dx,
        dy=dy,
        mods=mods if kind == "key" else 0,
    )


def _merge_inputs(held: ControlInput, new: ControlInput) -> ControlInput:
    """Two texts typed in a row, or two scrolls (summed, at the newer point), as one."""
    if held.kind == "text":
        return replace(held, text=(held.text + new.text)[:MAX_TEXT_CHARS])
    return replace(new, dx=held.dx + new.dx, dy=held.dy + new.dy)


def _finite(value: Any) -> bool:
    """A real, finite number (not a bool, not NaN or infinite)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _color(value: str) -> str:
    """``value`` if it is a plain hex colour, else the default (it ends up in CSS)."""
    return value if _COLOR.fullmatch(value) else _DEFAULT_COLOR
