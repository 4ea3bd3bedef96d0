"""What the visitor is told while the page is shared (extension, docs/control/): the
sharing badge and the overlay of what guests cannot see. No I/O.

The page's ``badge`` module draws them from one message, ``{op: "badge", sharing, replay,
guests, privacy, controller, badge, masked, rules}``: the badge while ``sharing`` and
``badge``, the masked overlay while ``masked``. The message goes out whenever something it
shows changed, and only then. ``indicator.setEnabled`` (the site shows its own badge) and
``indicator.showMasked`` are this tab's choices: the resume entry keeps them for the
session's next page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .states import State

if TYPE_CHECKING:
    from .controller import HostController

__all__ = ["Badge"]


class Badge:
    """The visitor's choices about the badge, and the last badge message sent."""

    def __init__(self, host: HostController) -> None:
        self.host = host
        entry = host.config.resume or {}
        self.enabled = entry.get("indicator") is not False
        """CWMN's badge is shown while sharing (False: the site shows its own)."""
        self.masked = bool(entry.get("masked"))
        """The overlay outlines what guests cannot see (masked and blocked elements)."""
        self._last: dict[str, Any] | None = None

    def remember(self, entry: dict[str, Any]) -> None:
        """Add this tab's choices to the resume entry (only where not the defaults)."""
        if not self.enabled:
            entry["indicator"] = False
        if self.masked:
            entry["masked"] = True

    def message(self) -> dict[str, Any]:
        host = self.host
        session = host.session if host.state is State.IN_SESSION else None
        guests = session.guests if session is not None else []
        controller = host.control.badge_controller(guests) if session is not None else None
        return {
            "op": "badge",
            "sharing": session is not None,
            "replay": bool(session is not None and session.info.get("isReplay")),
            "guests": len(guests),
            "privacy": session is not None and host.privacy_enabled,
            "controller": controller,
            "badge": self.enabled,
            "masked": self.masked,
            "rules": host.capture.config(),
        }

    def refresh(self) -> None:
        """Send the badge message if what it shows changed (nothing before the page first
        shares or asks for the masked overlay: the page module is not even loaded)."""
        message = self.message()
        if message == self._last:
            return
        if self._last is None and not (message["sharing"] or message["masked"]):
            return
        self._last = message
        self.host.overlay(message)
