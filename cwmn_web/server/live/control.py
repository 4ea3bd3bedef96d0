"""Remote control with consent and drawing in a live room (extensions, docs/control/server.md).

Who controls the host's page (one guest at most, the room's ``controller``), whether the
page takes requests (``control_allowed``), and what guests' requests, inputs and strokes
make the room send. The host's page asks its visitor and applies the inputs; the server
only relays, to the right side, what the rules let through:

- a guest asks (``request_control``): the host hears ``control_requested``; refused
  ``control_disabled``, ``guest_muted``, ``rate_limited`` (again within a few seconds, or,
  after the visitor declined it, within 30 s, doubled at each decline up to 10 min); a
  guest that withdraws its request (``release_control`` before the answer) makes the host
  hear ``control_requested{withdrawn}``;
- the host grants (``set_control``), declines (``decline_control``), takes control back
  (``set_control`` ""), or refuses control for the session (``set_control_allowed``);
  every change of who controls, or of ``allowed``, reaches the host and every guest as
  ``control_changed``, and the host hears ``guest_updated`` for the guests whose
  ``controlling`` flag changed;
- only the controller's ``control_input`` reaches the host (with its ``guest_id``); any
  other guest's is refused ``not_controller``. A muted, removed or departed controller
  loses control;
- a guest's ``draw`` reaches the host and the other guests as ``guest_draw``, unless muted.

No I/O: each function takes the room and ``now`` and returns :class:`Outputs`; refusals
are raised as :class:`~cwmn_web.errors.CwmnError` (the core answers them to the sender).
"""

from __future__ import annotations

import math
from dataclasses import replace

from ...errors import CODES, CwmnError, ErrorCode, InvalidParams, InvalidState, RateLimited
from ...protocol.messages import (
    CONTROL_KINDS,
    DRAW_TOOLS,
    ControlChanged,
    ControlDeclined,
    ControlInput,
    ControlRefused,
    ControlRequested,
    Draw,
    GuestDraw,
    GuestUpdated,
)
from .fanout import LiveRoom, to_everyone, to_guests, to_host
from .outputs import Outputs
from .pace import (
    DRAW_BURST,
    DRAW_NUMBERS_BURST,
    DRAW_NUMBERS_RATE,
    DRAW_RATE,
    INPUT_BURST,
    INPUT_RATE,
    MIN_REQUEST_INTERVAL,
)

__all__ = [
    "MAX_COORDINATE",
    "MAX_MODS",
    "control_changed",
    "decline",
    "grant",
    "lose",
    "refused",
    "relay_draw",
    "relay_input",
    "release",
    "renamed",
    "request",
    "set_allowed",
]

C = ErrorCode
#: Coordinates and scroll amounts (CSS px) beyond this are refused ``invalid_params``.
MAX_COORDINATE = 1e6
#: ``ControlInput.mods``: shift 1, ctrl 2, alt 4, meta 8.
MAX_MODS = 15
PAUSED = "the host paused sharing (privacy): inputs are refused until it resumes"


def _muted(guest_id: str) -> CwmnError:
    return CwmnError(
        f"guest {guest_id!r} is muted by the host: no control or drawing until it is unmuted",
        C.GUEST_MUTED,
    )


def _disabled() -> CwmnError:
    return CwmnError(
        "the host's page refuses remote control for this session (control.setAllowed(false))",
        C.CONTROL_DISABLED,
    )


def control_changed(live: LiveRoom) -> ControlChanged:
    """Who controls the page now, as the host and the guests hear it."""
    room = live.room
    guest = room.guests.get(room.controller)
    return ControlChanged(
        guest_id=room.controller,
        name=guest.name if guest is not None else "",
        allowed=room.control_allowed,
    )


def _give(live: LiveRoom, guest_id: str, out: Outputs, changed_allowed: bool = False) -> None:
    """Control goes to ``guest_id`` ("": nobody); everyone hears it if anything changed."""
    changed = live.room.set_controller(guest_id)
    for guest in changed:
        to_host(live, GuestUpdated(guest=guest.to_dict()), out)
    if changed or changed_allowed:
        message = control_changed(live)
        to_host(live, message, out)
        to_guests(live, message, out)


def lose(live: LiveRoom, guest_id: str, out: Outputs) -> None:
    """``guest_id`` was muted, removed or left: it loses control if it had it (call it
    while the guest is still in the room, so the host hears its flag drop)."""
    live.pace.asking.discard(guest_id)
    if live.room.controller == guest_id and guest_id:
        _give(live, "", out)


def renamed(live: LiveRoom, guest_id: str, out: Outputs) -> None:
    """``guest_id`` changed its name: if it controls, everyone hears the new one."""
    if live.room.controller == guest_id and guest_id:
        message = control_changed(live)
        to_host(live, message, out)
        to_guests(live, message, out)


# -- guests ---------------------------------------------------------------------------------
def request(live: LiveRoom, guest_id: str, now: float) -> Outputs:
    """A guest asks for control: the host hears ``control_requested`` (nothing for the
    guest that has it already)."""
    out = Outputs()
    room = live.room
    if not room.control_allowed:
        raise _disabled()
    if room.muted(guest_id):
        raise _muted(guest_id)
    if room.controller == guest_id:
        return out
    if live.host is None:
        raise InvalidState(
            "the host's page is not connected (it may be changing pages): ask again in a moment"
        )
    wait = live.pace.request(guest_id, now)
    if wait and guest_id in live.pace.declined:
        raise RateLimited(
            f"the visitor declined this guest's request for control: it may ask again in "
            f"{math.ceil(wait)} s"
        )
    if wait:
        raise RateLimited(
            f"a guest may ask for control at most once every {MIN_REQUEST_INTERVAL:g} s: "
            f"wait for the visitor's answer (ask again in {math.ceil(wait)} s)"
        )
    live.pace.asking.add(guest_id)
    to_host(live, ControlRequested(guest_id=guest_id), out)
    return out


def release(live: LiveRoom, guest_id: str) -> Outputs:
    """A guest gives control back, or withdraws its request the visitor has not answered
    (the host hears ``control_requested{withdrawn}``); nothing otherwise."""
    out = Outputs()
    if guest_id in live.pace.asking and live.room.controller != guest_id:
        to_host(live, ControlRequested(guest_id=guest_id, withdrawn=True), out)
    lose(live, guest_id, out)
    return out


def _finite(*values: float) -> bool:
    return all(-MAX_COORDINATE <= v <= MAX_COORDINATE for v in values)


def relay_input(live: LiveRoom, guest_id: str, message: ControlInput, now: float) -> Outputs:
    """One input of the controller, relayed to the host's page with its ``guest_id``."""
    out = Outputs()
    room = live.room
    if room.controller != guest_id or not guest_id:
        raise CwmnError(
            "this guest does not control the host's page: ask for control "
            "(request_control) and wait for the visitor to grant it",
            C.NOT_CONTROLLER,
        )
    if message.kind not in CONTROL_KINDS:
        kinds = ", ".join(sorted(CONTROL_KINDS))
        raise InvalidParams(f"control_input.kind must be one of {kinds}, not {message.kind!r}")
    if not _finite(message.x, message.y, message.dx, message.dy):
        raise InvalidParams(f"control_input coordinates must be within ±{MAX_COORDINATE:g} px")
    if not 0 <= message.mods <= MAX_MODS:
        raise InvalidParams(f"control_input.mods must be a bit mask from 0 to {MAX_MODS}")
    if room.privacy:
        raise CwmnError(PAUSED, C.CONTROL_REFUSED)
    if live.host is None:
        raise CwmnError(
            "the host's page is not connected (it may be changing pages): the input was "
            "not applied",
            C.CONTROL_REFUSED,
        )
    if not live.pace.input(guest_id, now):
        raise RateLimited(
            f"a guest may send at most {INPUT_RATE:g} control inputs a second "
            f"({INPUT_BURST:g} at once): this one was dropped"
        )
    to_host(live, replace(message, ref=0, guest_id=guest_id), out)
    return out


def relay_draw(live: LiveRoom, guest_id: str, message: Draw, now: float) -> Outputs:
    """Part of a guest's stroke: the host and the other guests draw it (nothing while the
    host has privacy on: they see no page to draw on)."""
    out = Outputs()
    room = live.room
    if room.muted(guest_id):
        raise _muted(guest_id)
    if message.tool not in DRAW_TOOLS:
        tools = ", ".join(sorted(DRAW_TOOLS))
        raise InvalidParams(f"draw.tool must be one of {tools}, not {message.tool!r}")
    if not message.stroke:
        raise InvalidParams("draw.stroke must name the stroke (the guest's id for it)")
    if len(message.points) % 2:
        raise InvalidParams("draw.points must be x, y pairs: an even count of numbers")
    if not _finite(*message.points):
        raise InvalidParams(f"draw.points must be within ±{MAX_COORDINATE:g} px")
    if room.privacy:
        return out
    refused = live.pace.draw(guest_id, len(message.points), now)
    if refused == "messages":
        raise RateLimited(
            f"a guest may send at most {DRAW_RATE:g} draw messages a second "
            f"({DRAW_BURST:g} at once): this one was dropped"
        )
    if refused:
        raise RateLimited(
            f"a guest may draw at most {DRAW_NUMBERS_RATE // 2} points a second "
            f"({DRAW_NUMBERS_BURST // 2} at once, across its strokes): this message was "
            "dropped; draw slower"
        )
    guest = room.guests.get(guest_id)
    if guest is None:
        return out  # removed from the room, its socket not closed yet: nobody to draw for
    relayed = GuestDraw(
        guest_id=guest_id,
        name=guest.name,
        color=guest.color,
        stroke=message.stroke,
        tool=message.tool,
        points=list(message.points),
        done=message.done,
    )
    to_everyone(live, relayed, out, but=guest_id)
    return out


# -- the host -------------------------------------------------------------------------------
def grant(live: LiveRoom, guest_id: str) -> Outputs:
    """The visitor gives control to ``guest_id`` (replacing any controller), or takes it
    back (``""``). Raises ``not_found``, ``guest_muted``, ``control_disabled``."""
    out = Outputs()
    room = live.room
    if guest_id:
        if guest_id not in room.guests:
            raise CwmnError(
                f"no guest with id {guest_id!r} in this session (it may have left); "
                "CwmnAPI.guest.getGuestList() lists the guests",
                C.NOT_FOUND,
            )
        if room.muted(guest_id):
            raise _muted(guest_id)
        if not room.control_allowed:
            raise _disabled()
        live.pace.asking.discard(guest_id)
    _give(live, guest_id, out)
    return out


def decline(live: LiveRoom, guest_id: str, now: float) -> Outputs:
    """The visitor turned down ``guest_id``'s request: that guest hears it (nothing if it
    is gone), and may ask again only after a wait that grows with each decline."""
    out = Outputs()
    live.pace.asking.discard(guest_id)
    live.pace.decline(guest_id, now)
    conn = live.guests.get(guest_id)
    if conn is not None:
        out.send(conn, ControlDeclined())
    return out


def set_allowed(live: LiveRoom, allowed: bool) -> Outputs:
    """Whether the page takes requests; refusing takes control back."""
    out = Outputs()
    room = live.room
    changed = room.control_allowed != allowed
    room.control_allowed = allowed
    _give(live, room.controller if allowed else "", out, changed_allowed=changed)
    return out


def refused(live: LiveRoom, message: ControlRefused) -> Outputs:
    """The page did not apply an input: its guest hears why (``control_refused`` unless
    the page named another known code)."""
    out = Outputs()
    conn = live.guests.get(message.guest_id)
    if conn is not None:
        code = message.code if message.code in CODES else C.CONTROL_REFUSED
        text = message.message or "the host's page refused this input"
        out.send(conn, ControlRefused(guest_id=message.guest_id, code=code, message=text))
    return out
