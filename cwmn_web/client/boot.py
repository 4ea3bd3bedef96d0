"""Boot: fire ``init``, learn the domain's info, then settle in the first state (or resume the
session or replay this tab had); whether this page's domain may use CWMN."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import CwmnError, Unauthorized
from .calls import Reply
from .compat import missing_features
from .states import State, Trigger

if TYPE_CHECKING:
    from .controller import HostController

__all__ = ["Boot"]


class Boot:
    """The host core's boot, and the domain info it loads."""

    def __init__(self, host: HostController) -> None:
        self.host = host
        #: Who waits for the domain info the boot asked for; None once it is in.
        self._info_waiting: list[Callable[[], None]] | None = None

    def start(self) -> None:
        """Fire ``init``, then settle in ``no session``, ``incompatible`` or ``unauthorized``
        (or resume the session this tab was hosting on the previous page); then offer the
        invitation to host the page was opened through, if any. Calls made meanwhile wait."""
        host = self.host
        events = host.machine.boot()
        host.calls.hold()
        for event in events:
            host.emit(event)
        if not missing_features(host.config.features):
            # Asked at once: its round trip overlaps the page's 'init' callbacks.
            self._info_waiting = []
            self.load_domain_info(self._info_loaded)
        # The listeners the page's 'init' callbacks add are known before anything else
        # fires (a resume moves on at once, without waiting for the domain info).
        host.settled(self._settle)

    def _info_loaded(self) -> None:
        waiting, self._info_waiting = self._info_waiting or [], None
        for then in waiting:
            then()

    def _when_info(self, then: Callable[[], None]) -> None:
        """``then`` once the domain info the boot asked for is in."""
        if self._info_waiting is None:
            then()
        else:
            self._info_waiting.append(then)

    def _settle(self) -> None:
        host = self.host
        if missing_features(host.config.features):
            host.step(Trigger.INCOMPATIBLE)
            self._booted()
            return
        resume = host.config.resume
        token = resume.get("token") if resume else None
        if isinstance(token, str) and resume and not resume.get("replay"):
            # The resume goes out as soon as the socket is open; domain info meanwhile (the
            # server refuses unauthorized origins, and its answer carries the settings).
            waiting = {"info", "resume"}

            def done(part: str) -> None:
                waiting.discard(part)
                if not waiting:
                    host.publish()
                    self._booted()

            self._when_info(lambda: done("info"))
            host.lifecycle.resume(token, lambda: done("resume"))
            return

        def loaded() -> None:
            if host.domain_info.get("authorized") is False:
                host.step(Trigger.UNAUTHORIZED)
            elif isinstance(token, str):
                host.step(Trigger.RESUME_REPLAY)
                host.lifecycle.watch_replay(
                    token, str(resume.get("sessionId", "")) if resume else ""
                )
            else:
                host.step(Trigger.READY)
            self._booted()

        self._when_info(loaded)

    def _booted(self) -> None:
        host = self.host
        host.capture.drop_early()  # no session took the early capture over
        if host.config.host_invite and host.state is State.NO_SESSION:
            host.host_invites.offer(host.config.host_invite)
        host.calls.release()

    def load_domain_info(self, then: Callable[[], None]) -> None:
        host = self.host

        def loaded(info: dict[str, Any] | CwmnError) -> None:
            if isinstance(info, CwmnError):
                # Authorization is checked again by the server on connect; keep going.
                host.domain_info = {
                    "domain": host.config.domain,
                    "authorized": None,
                    "error": info.to_dict(),
                }
            else:
                host.domain_info = info
            then()

        host.fetch(f"{host.config.server.rstrip('/')}/api/domain-info", loaded)

    def authorized(self, reply: Reply, then: Callable[[], None]) -> None:
        """``then`` if this page's domain may use CWMN (loading domain info if unknown),
        else refuse the call."""
        host = self.host

        def check() -> None:
            if host.domain_info.get("authorized") is False:
                reply(
                    Unauthorized(f"the domain {host.config.domain} is not authorized to use CWMN")
                )
            else:
                then()

        if host.domain_info.get("authorized") is None:
            self.load_domain_info(check)
        else:
            check()
