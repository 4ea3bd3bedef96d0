"""The extensions' calls about remote control and the visitor's indicator
(docs/control/remote-control.md): ``control.grant``, ``control.decline``, ``control.revoke``,
``control.setAllowed``, ``indicator.setEnabled`` and ``indicator.showMasked``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..protocol.messages import DeclineControl, Message, SetControl, SetControlAllowed
from .calls import Reply
from .states import State

if TYPE_CHECKING:
    from .controller import HostController

__all__ = ["ControlCalls"]


class ControlCalls:
    """Asks the room on the session's socket; the room's ``control_changed`` push is what
    changes who controls (:mod:`.remote_control`), but a call that takes control from a
    guest stops obeying it at once."""

    def __init__(self, host: HostController) -> None:
        self.host = host

    def grant(self, params: dict[str, Any], reply: Reply) -> None:
        """Give control to the guest (the visitor agreed): ``not_found``, ``guest_muted``
        or ``control_disabled`` from the room otherwise."""
        host = self.host
        guest_id = host.guest_calls.guest(params["guestId"])["guestId"]
        host.control.close_dialog(guest_id)
        self._taking(SetControl(guest_id=guest_id), reply, lambda _: None, keep=guest_id)

    def decline(self, params: dict[str, Any], reply: Reply) -> None:
        """Turn the guest's request down (the guest hears ``control_declined``)."""
        host = self.host
        guest_id = host.guest_calls.guest(params["guestId"])["guestId"]
        host.control.close_dialog(guest_id)
        host.guest_calls.request(DeclineControl(guest_id=guest_id), reply, lambda _: None)

    def revoke(self, params: dict[str, Any], reply: Reply) -> None:
        """Take control back (resolves even when nobody had it)."""
        self.host.lifecycle.require_session()
        self._taking(SetControl(guest_id=""), reply, lambda _: None)

    def set_allowed(self, params: dict[str, Any], reply: Reply) -> None:
        """``False`` refuses every request for the rest of the session and takes control
        back; resolves with the new value."""
        host = self.host
        host.lifecycle.require_session()
        allowed = bool(params["allowed"])
        if not allowed:
            host.control.close_dialog()

        def done(_: Any) -> bool:
            if host.control.allowed != allowed:
                host.control.allowed = allowed
                self._changed()  # the session's next page keeps a refusal
            return allowed

        if allowed:
            host.guest_calls.request(SetControlAllowed(allowed=allowed), reply, done)
        else:
            self._taking(SetControlAllowed(allowed=allowed), reply, done)

    def _taking(
        self, request: Message, reply: Reply, then: Callable[[Message], Any], keep: str = ""
    ) -> None:
        """Send a call that takes control from the controller (unless it is ``keep``): its
        inputs stop at once (:meth:`RemoteControl.halt`), the room's answer confirms."""
        answered = self.host.control.halt(keep)

        def settled(result: Any) -> None:
            answered()
            reply(result)

        try:
            self.host.guest_calls.request(request, settled, then)
        except BaseException:
            answered()
            raise

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
