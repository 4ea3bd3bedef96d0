"""The extensions' calls about remote control and the visitor's indicator
(docs/control/remote-control.md): ``control.grant``, ``control.decline``, ``control.revoke``,
``control.setAllowed``, ``indicator.setEnabled`` and ``indicator.showMasked``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol.messages import DeclineControl, SetControl, SetControlAllowed
from .calls import Reply
from .states import State

if TYPE_CHECKING:
    from .controller import HostController

__all__ = ["ControlCalls"]


class ControlCalls:
    """Asks the room on the session's socket; the room's ``control_changed`` push is what
    changes who controls (:mod:`.remote_control`)."""

    def __init__(self, host: HostController) -> None:
        self.host = host

    def grant(self, params: dict[str, Any], reply: Reply) -> None:
        """Give control to the guest (the visitor agreed): ``not_found``, ``guest_muted``
        or ``control_disabled`` from the room otherwise."""
        host = self.host
        guest_id = host.guest_calls.guest(params["guestId"])["guestId"]
        host.control.close_dialog(guest_id)
        host.guest_calls.request(SetControl(guest_id=guest_id), reply, lambda _: None)

    def decline(self, params: dict[str, Any], reply: Reply) -> None:
        """Turn the guest's request down (the guest hears ``control_declined``)."""
        host = self.host
        guest_id = host.guest_calls.guest(params["guestId"])["guestId"]
        host.control.close_dialog(guest_id)
        host.guest_calls.request(DeclineControl(guest_id=guest_id), reply, lambda _: None)

    def revoke(self, params: dict[str, Any], reply: Reply) -> None:
        """Take control back (resolves even when nobody had it)."""
        self.host.guest_calls.request(SetControl(guest_id=""), reply, lambda _: None)

    def set_allowed(self, params: dict[str, Any], reply: Reply) -> None:
        """``False`` refuses every request for the rest of the session and takes control
        back; resolves with the new value."""
        host = self.host
        allowed = bool(params["allowed"])
        if not allowed:
            host.control.close_dialog()

        def done(_: Any) -> bool:
            if host.control.allowed != allowed:
                host.control.allowed = allowed
                host.publish()
            return allowed

        host.guest_calls.request(SetControlAllowed(allowed=allowed), reply, done)

    def set_indicator(self, params: dict[str, Any], reply: Reply) -> None:
        """Show CWMN's sharing badge, or not (the site shows its own)."""
        self.host.badge.enabled = bool(params["enabled"])
        self._changed()
        reply(self.host.badge.enabled)

    def show_masked(self, params: dict[str, Any], reply: Reply) -> None:
        """Outline, for the visitor only, what guests cannot see."""
        self.host.badge.masked = bool(params["enabled"])
        self._changed()
        reply(self.host.badge.masked)

    def _changed(self) -> None:
        host = self.host
        if host.session is not None and host.state is State.IN_SESSION:
            host.lifecycle.remember(host.session)  # the session's next page keeps it
        host.publish()
