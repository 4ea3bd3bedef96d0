"""Capture wiring: the selectors the page masks and blocks, when it captures, and where its
frames go (the capture the stub started early included, :mod:`.handover`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .handover import EarlyCapture
from .hosting import HostSession
from .states import State

if TYPE_CHECKING:
    from .controller import HostController

__all__ = ["DEFAULT_BLOCK", "DEFAULT_MASK", "Capture"]

DEFAULT_MASK = ("[data-cwmn-mask]", ".cwmn-mask")
DEFAULT_BLOCK = ("[data-cwmn-block]",)


class Capture:
    """Starts and stops the page's capture and sends its frames to the session."""

    def __init__(self, host: HostController) -> None:
        self.host = host
        self.handover = EarlyCapture(host.config.early_capture)

    def start(self) -> None:
        """Have the page capture again from a fresh snapshot, unless host privacy is on."""
        if not self.host.privacy_enabled:
            self.host.ports.capture(True, self.config())

    def take_over(self, session: HostSession) -> None:
        """A session begins on this page: adopt the capture the stub started early (its held
        frames go out first) if it runs with the rules wanted now, else (re)start capture."""
        if self.handover.pending:
            wanted = None if self.host.privacy_enabled else self.config()
            frames = self.handover.adopt(wanted)
            if frames is not None:
                for kind, raw, t in frames:
                    session.send_capture(kind, raw, t, self.host.now)
                return
            if wanted is None:
                self.host.ports.capture(False, None)
                return
        self.start()

    def drop_early(self) -> None:
        """Boot has settled: an early capture no session took over stops."""
        if self.handover.pending:
            self.handover.drop()
            self.host.ports.capture(False, None)

    def site_config(self) -> dict[str, list[str]]:
        """The site's mask and block selectors (defaults and site settings), which hold on
        every page of the site; the resume entry keeps them for the next page."""
        settings = {**(self.host.domain_info.get("settings") or {}), **self.host.settings}
        mask = [*DEFAULT_MASK, *settings.get("maskSelectors", ())]
        block = [*DEFAULT_BLOCK, *settings.get("blockSelectors", ())]
        return {"mask": list(dict.fromkeys(mask)), "block": list(dict.fromkeys(block))}

    def config(self) -> dict[str, Any]:
        """Mask and block selectors: the site's settings, plus the script tag's own."""
        site = self.site_config()
        mask = [*site["mask"], *self.host.config.mask]
        block = [*site["block"], *self.host.config.block]
        return {"mask": list(dict.fromkeys(mask)), "block": list(dict.fromkeys(block))}

    def on_frame(self, kind: str, raw: dict[str, Any], t: Any, early: bool) -> None:
        """A raw frame from the page (see :meth:`HostController.on_capture`)."""
        if early and self.handover.pending:
            self.handover.hold(kind, raw, t)
            return
        if early and not self.handover.adopted:  # dropped, failed, or never valid
            return
        host = self.host
        session = host.session
        if session is None or host.privacy_enabled or host.state is not State.IN_SESSION:
            return
        session.send_capture(kind, raw, t, host.now)

    def failed(self, early: bool) -> None:
        """The page's capture did not start (see :meth:`HostController.on_capture_failed`)."""
        if not early:
            return
        if self.handover.fail() and self.host.state is State.IN_SESSION:
            self.start()
