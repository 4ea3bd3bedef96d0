"""The call table: each Promise-returning CwmnAPI function's handler, and how a call is
judged (state, parameters), answered once, and held while boot settles."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from ..errors import CwmnError, ErrorCode, InvalidParams
from .spec import FUNCTIONS, check_state
from .validation import validate

if TYPE_CHECKING:
    from .controller import HostController

__all__ = ["INVITE_TIMEOUT", "Calls", "Handler", "Reply"]

#: An invite waits for a mail server or an SMS provider (the server gives each 20 s).
INVITE_TIMEOUT = 60.0

#: How a call's handler answers: with its value, or with the ``CwmnError`` it failed with.
Reply = Callable[[Any], None]
#: A call's handler: its validated parameters, and how to answer.
Handler = Callable[[dict[str, Any], Reply], None]


class Calls:
    """Runs the page's calls against the handlers of the host's parts."""

    def __init__(self, host: HostController) -> None:
        self.host = host
        #: Calls made before boot has settled wait here (the page may call as soon as the
        #: stub starts Python, before ``ready no session``); None: calls run at once.
        self._queued: list[tuple[Hashable, str, tuple[Any, ...]]] | None = None
        session, invites = host.lifecycle, host.host_invites
        guests, replay, control = host.guest_calls, host.replay_calls, host.control_calls
        self._handlers: dict[str, Handler] = {
            "session.start": session.start,
            "session.inviteToHost": invites.invite_to_host,
            "session.acceptHostInvite": invites.accept,
            "session.declineHostInvite": invites.decline,
            "session.endSession": session.end,
            "guest.inviteGuest": guests.invite_guest,
            "guest.getInviteLink": guests.invite_link,
            "guest.getJoinCode": guests.join_code,
            "guest.removeGuest": guests.remove_guest,
            "guest.muteGuest": guests.mute_guest,
            "guest.muteAllGuests": guests.mute_all,
            "publicLink.setEnabled": guests.set_public_link,
            "publicLink.generate": guests.public_link,
            "privacy.setEnabled": guests.set_privacy,
            "replay.muteAudio": replay.mute_audio,
            "replay.sendVideo": replay.send_video,
            "replay.getVideoURL": replay.video_url,
            "replay.abandonVideo": replay.abandon_video,
            "replay.getRenderingProgress": replay.rendering_progress,
            "replay.dismissError": replay.dismiss_error,
            # Extensions (docs/control/remote-control.md).
            "control.grant": control.grant,
            "control.decline": control.decline,
            "control.revoke": control.revoke,
            "control.setAllowed": control.set_allowed,
            "indicator.setEnabled": control.set_indicator,
            "indicator.showMasked": control.show_masked,
        }

    def hold(self) -> None:
        """Boot begins: asynchronous calls wait until :meth:`release`."""
        self._queued = []

    def release(self) -> None:
        """Boot has settled: run the calls that waited, in order."""
        queued, self._queued = self._queued or [], None
        for call_id, path, args in queued:
            self.run(call_id, path, args)

    def call(self, call_id: Hashable, path: str, args: tuple[Any, ...]) -> None:
        """Run the call now, or once boot has settled."""
        if self._queued is not None and path in FUNCTIONS and not FUNCTIONS[path].sync:
            self._queued.append((call_id, path, args))  # judged in the state boot settles in
            return
        self.run(call_id, path, args)

    def run(self, call_id: Hashable, path: str, args: tuple[Any, ...]) -> None:
        answered = False

        def reply(value: Any) -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            if isinstance(value, CwmnError):
                self.host.ports.result(call_id, error=value)
            else:
                self.host.ports.result(call_id, value=value)

        try:
            if path not in FUNCTIONS or FUNCTIONS[path].sync:
                raise InvalidParams(f"CwmnAPI.{path} is not an asynchronous function")
            check_state(path, self.host.state)
            params = validate(path, args)
            self._handlers[path](params, reply)
        except CwmnError as exc:
            reply(exc)
        except Exception as exc:  # a bug: the page's Promise still settles
            reply(CwmnError(f"internal error in {path}: {exc!r}", ErrorCode.SERVER_ERROR))
