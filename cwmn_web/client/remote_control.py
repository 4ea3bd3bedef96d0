"""Remote control with consent and guests' drawing, on the host's side (extensions,
docs/control/remote-control.md). No I/O.

The room (the server) decides who controls the page; this part keeps what it last said
(who, and whether the page takes requests), asks the visitor when a guest requests control
(the site's ``control request`` listener, else the default dialog), hands the controller's
inputs to the page's ``control`` module with the capture's masking rules, and refuses the
inputs of anyone else. The guests' strokes go to the page's overlay; a muted or departed
guest's are cleared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ErrorCode
from ..protocol.guests import GuestObject
from ..protocol.messages import (
    CONTROL_KINDS,
    ControlChanged,
    ControlInput,
    ControlRefused,
    ControlRequested,
    GuestDraw,
    SetControlAllowed,
)

if TYPE_CHECKING:
    from .controller import HostController
    from .hosting import HostSession

__all__ = ["RemoteControl"]


class RemoteControl:
    """Who controls the host's page, the visitor's pending answer, and the guests' drawing."""

    def __init__(self, host: HostController) -> None:
        self.host = host
        self.controller = ""
        """The guest that controls the page ("" for nobody), as the server last said."""
        self.controller_name = ""
        self.allowed = True
        """The page takes control requests (``control.setAllowed``)."""
        self.asking: str | None = None
        """The guest the default dialog asks about (None: no dialog)."""
        self._drawn: set[str] = set()
        """Guests whose strokes may still be on the page."""
        self._halted: dict[str, int] = {}
        """Controllers the visitor took control from, with the calls that did it still
        unanswered: their inputs are refused at once, before the room's push confirms."""

    # -- the session ----------------------------------------------------------------------
    def begin(self, controller: str = "", allowed: bool = True) -> None:
        """A session begins on this page: control as the server holds it (granted on the
        site's previous page, or nobody)."""
        self.controller, self.controller_name = controller, ""
        self.allowed = allowed
        self.asking = None
        self._drawn = set()
        self._halted = {}

    def halt(self, keep: str = "") -> Callable[[], None]:
        """The visitor takes control from the controller (``control.revoke``,
        ``setAllowed(false)``, a grant to ``keep``, another guest): its inputs are refused
        from now on, not once the room's ``control_changed`` arrives (inputs it relayed
        before it heard the call would still be applied). Returns what to call once the
        room answered the call (its push came first: from then on the room's word holds)."""
        guest_id = self.controller
        if not guest_id or guest_id == keep:
            return lambda: None
        self._halted[guest_id] = self._halted.get(guest_id, 0) + 1
        halted = self._halted

        def answered() -> None:
            left = halted.get(guest_id, 0) - 1
            if left > 0:
                halted[guest_id] = left
            else:
                halted.pop(guest_id, None)

        return answered

    def end(self) -> None:
        """The session ended: nobody controls, the dialog and strokes go."""
        if self.asking is not None:
            self.host.overlay({"op": "control ask", "request": None})
        for guest_id in sorted(self._drawn):
            self.host.overlay({"op": "draw clear", "guestId": guest_id})
        self.begin()

    def remember(self, entry: dict[str, Any]) -> None:
        """Add the visitor's refusal of control (``setAllowed(false)``) to the resume entry:
        the session's next page, or a reconnect to a server that lost it, says it again."""
        if not self.allowed:
            entry["controlAllowed"] = False

    def view(self, guests: list[GuestObject]) -> dict[str, Any]:
        """The view's ``controller`` (a copy of the guest, or None) and ``controlAllowed``."""
        return {"controller": self._controller_guest(guests), "controlAllowed": self.allowed}

    def _controller_guest(self, guests: list[GuestObject]) -> dict[str, Any] | None:
        if not self.controller:
            return None
        for guest in guests:
            if guest.get("guestId") == self.controller:
                return dict(guest)
        # Not in the list yet (a resumed session's guests arrive after its answer).
        return {"guestId": self.controller, "name": self.controller_name, "controlling": True}

    def badge_controller(self, guests: list[GuestObject]) -> dict[str, Any] | None:
        """The controller as the sharing badge shows it."""
        guest = self._controller_guest(guests)
        if guest is None:
            return None
        return {
            "guestId": guest.get("guestId", ""),
            "name": guest.get("name", ""),
            "color": guest.get("color", ""),
        }

    # -- the server's pushes --------------------------------------------------------------
    def requested(self, session: HostSession, message: ControlRequested) -> None:
        """A guest asks for control: the site's listener asks the visitor, else the default
        dialog does (its buttons call ``control.grant`` / ``control.decline``). A withdrawn
        request closes the dialog about that guest."""
        if message.withdrawn:
            self.close_dialog(message.guest_id)
            return
        guest = session.find(message.guest_id)
        if guest is None or not self.allowed or self._muted(guest):
            return
        if message.guest_id == self.controller:
            return
        if self.host.bus.listeners("control request"):
            self.host.emit("control request", message.guest_id, dict(guest))
            return
        self.asking = message.guest_id
        request = {
            "guestId": message.guest_id,
            "name": guest.get("name", ""),
            "color": guest.get("color", ""),
        }
        self.host.overlay({"op": "control ask", "request": request})

    def changed(self, session: HostSession, message: ControlChanged) -> None:
        """The server says who controls the page now, and whether it takes requests."""
        before, was_allowed = self.controller, self.allowed
        self.controller, self.controller_name = message.guest_id, message.name
        self.allowed = message.allowed
        if was_allowed != self.allowed and self.host.session is session:
            self.host.lifecycle.remember(session)  # the next page keeps a refusal
        for guest in session.guests:
            guest["controlling"] = guest.get("guestId") == message.guest_id != ""
        if self.asking is not None and (self.asking == message.guest_id or not self.allowed):
            self.close_dialog()
        if before != self.controller:
            session.room_changed()
            self.host.emit("control change", self._controller_guest(session.guests))
        else:
            self.host.publish()

    def resumed(self, session: HostSession, controller: str, allowed: bool) -> None:
        """The session's socket came back: control as the room holds it now, but a visitor
        who refused control still does (a room that lost it, after a restart or a handover,
        is told again)."""
        if allowed and not self.allowed:
            session.socket.request(SetControlAllowed(allowed=False), lambda _: None)
            controller, allowed = "", False
        if (controller, allowed) != (self.controller, self.allowed):
            guest = session.find(controller)
            name = str(guest.get("name", "")) if guest else ""
            self.changed(session, ControlChanged(guest_id=controller, name=name, allowed=allowed))

    def guests_changed(self, session: HostSession) -> None:
        """A guest joined, left or changed (muted): a dialog about one that is gone or
        muted closes, and the strokes of a muted or departed guest are cleared."""
        if self.asking is not None:
            guest = session.find(self.asking)
            if guest is None or self._muted(guest):
                self.close_dialog()
        for guest_id in sorted(self._drawn):
            guest = session.find(guest_id)
            if guest is None or self._muted(guest):
                self._drawn.discard(guest_id)
                self.host.overlay({"op": "draw clear", "guestId": guest_id})

    def close_dialog(self, guest_id: str | None = None) -> None:
        """Close the default dialog (only if it asks about ``guest_id``, when given)."""
        if self.asking is None or (guest_id is not None and guest_id != self.asking):
            return
        self.asking = None
        self.host.overlay({"op": "control ask", "request": None})

    def input(self, session: HostSession, message: ControlInput) -> None:
        """One input of the controller: to the page (which may still refuse it), unless it
        comes from a guest that does not control the page, or host privacy is on."""
        guest = session.find(message.guest_id) if message.guest_id else None
        halted = message.guest_id in self._halted
        if guest is None or message.guest_id != self.controller or halted or self._muted(guest):
            self.refuse(
                session,
                message.guest_id,
                ErrorCode.NOT_CONTROLLER,
                "this guest does not control the page: ask for control, and wait until the "
                "visitor grants it",
            )
            return
        if self.host.privacy_enabled:
            self.refuse(
                session,
                message.guest_id,
                ErrorCode.CONTROL_REFUSED,
                "the visitor turned host privacy on: nothing is controlled until it is off",
            )
            return
        if message.kind not in CONTROL_KINDS:
            self.refuse(
                session,
                message.guest_id,
                ErrorCode.CONTROL_REFUSED,
                f"unknown input kind {message.kind!r}; one of {', '.join(sorted(CONTROL_KINDS))}",
            )
            return
        self.host.overlay(
            {
                "op": "control",
                "guestId": message.guest_id,
                "input": {
                    "kind": message.kind,
                    "x": message.x,
                    "y": message.y,
                    "key": message.key,
                    "text": message.text,
                    "dx": message.dx,
                    "dy": message.dy,
                    "mods": message.mods,
                },
                "rules": self.host.capture.config(),
            }
        )

    def refuse(self, session: HostSession, guest_id: str, code: str, why: str) -> None:
        """Tell the guest (through the server) that its input was not applied."""
        session.socket.send(ControlRefused(guest_id=guest_id, code=code, message=why[:300]))

    def draw(self, session: HostSession, message: GuestDraw) -> None:
        """A guest's stroke (or laser trail) goes to the page's overlay."""
        guest = session.find(message.guest_id)
        if guest is None or self._muted(guest):
            return
        self._drawn.add(message.guest_id)
        self.host.overlay(
            {
                "op": "draw",
                "guestId": message.guest_id,
                "name": message.name or guest.get("name", ""),
                "color": message.color or guest.get("color", ""),
                "stroke": message.stroke,
                "tool": message.tool,
                "points": list(message.points),
                "done": message.done,
            }
        )

    def _muted(self, guest: GuestObject) -> bool:
        return bool(guest.get("muted")) or self.host.mute_all
