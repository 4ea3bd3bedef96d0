"""The calls that manage a live session's guests and settings: join links and codes, guest
invites, remove, mute, mute all, the public link and host privacy."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import CwmnError, NotFound, ProtocolError
from ..protocol.guests import GuestObject
from ..protocol.messages import (
    CreateJoinCode,
    CreateLink,
    CreatePublicLink,
    InviteGuest,
    InviteSent,
    JoinCodeCreated,
    LinkCreated,
    Message,
    MuteAll,
    MuteGuest,
    RemoveGuest,
    SetPrivacy,
    SetPublicLink,
)
from .calls import INVITE_TIMEOUT, Reply
from .requests import Outcome

if TYPE_CHECKING:
    from .controller import HostController

__all__ = ["GuestCalls"]


class GuestCalls:
    """Asks the server on the session's socket; the host keeps the settings' values."""

    def __init__(self, host: HostController) -> None:
        self.host = host

    def _request(
        self,
        request: Message,
        reply: Reply,
        then: Callable[[Message], Any],
        timeout: float | None = None,
    ) -> None:
        """Ask ``request`` on the session's socket; reply with what ``then`` makes of the
        answer (or with the error)."""
        socket = self.host.lifecycle.require_session().socket

        def answered(answer: Outcome) -> None:
            if isinstance(answer, CwmnError):
                reply(answer)
                return
            try:
                reply(then(answer))
            except CwmnError as exc:
                reply(exc)

        if timeout is None:
            socket.request(request, answered)
        else:
            socket.request(request, answered, timeout)

    def invite_link(self, params: dict[str, Any], reply: Reply) -> None:
        self._request(CreateLink(), reply, _link_url)

    def join_code(self, params: dict[str, Any], reply: Reply) -> None:
        """Extension: a code a guest types on the server's ``/join`` page."""

        def made(answer: Message) -> dict[str, Any]:
            if not isinstance(answer, JoinCodeCreated):
                raise ProtocolError(f"expected join_code, got {answer.type}")
            return {"code": answer.code, "url": answer.url, "expiresAt": answer.expires_at}

        self._request(CreateJoinCode(), reply, made)

    def invite_guest(self, params: dict[str, Any], reply: Reply) -> None:
        """The server checks again, sends (or keeps in its outbox) and answers once the mail
        server or SMS provider took the invite."""
        email = params["channel"] == "email"
        request = InviteGuest(
            guest_name=params.get("guestName") or "",
            guest_email=params["guestEmail"] if email else "",
            guest_phone="" if email else params["guestPhone"],
            message=params.get("message") or "",
        )

        def sent(answer: Message) -> dict[str, Any]:
            if not isinstance(answer, InviteSent):
                raise ProtocolError(f"expected invite_sent, got {answer.type}")
            return {
                "inviteId": answer.invite_id,
                "channel": answer.channel,
                "to": answer.to,
                "status": answer.status,
            }

        self._request(request, reply, sent, INVITE_TIMEOUT)

    def public_link(self, params: dict[str, Any], reply: Reply) -> None:
        self._request(CreatePublicLink(), reply, _link_url)

    def remove_guest(self, params: dict[str, Any], reply: Reply) -> None:
        """The server removes the guest; its ``guest_left`` push updates the list first."""
        self.host.lifecycle.require_session()
        guest_id = self._guest(params["guestId"])["guestId"]
        self._request(RemoveGuest(guest_id=guest_id), reply, lambda _: None)

    def mute_guest(self, params: dict[str, Any], reply: Reply) -> None:
        """The server mutes the guest; its ``guest_updated`` push updates the list first."""
        self.host.lifecycle.require_session()
        guest_id = self._guest(params["guestId"])["guestId"]
        self._request(MuteGuest(guest_id=guest_id, muted=params["muted"]), reply, lambda _: None)

    def _guest(self, guest_id: str) -> GuestObject:
        for guest in self.host.guests:
            if guest["guestId"] == guest_id:
                return guest
        raise NotFound(
            f"no guest with id {guest_id!r} in this session; "
            "CwmnAPI.guest.getGuestList() lists the guests"
        )

    #: The same request and guest lookup for the extensions' calls (:mod:`.control_calls`).
    request = _request
    guest = _guest

    def mute_all(self, params: dict[str, Any], reply: Reply) -> None:
        host = self.host
        session = host.lifecycle.require_session()
        status = params["status"]

        def done(_: Message) -> bool:
            if status != host.mute_all:
                host.mute_all = status
                session.mute_all_changed()
            return host.mute_all

        self._request(MuteAll(muted=status), reply, done)

    def set_public_link(self, params: dict[str, Any], reply: Reply) -> None:
        host = self.host
        enabled = params["enabled"]

        def done(_: Message) -> bool:
            host.public_link_enabled = enabled
            host.publish()
            return host.public_link_enabled

        self._request(SetPublicLink(enabled=enabled), reply, done)

    def set_privacy(self, params: dict[str, Any], reply: Reply) -> None:
        """Privacy on: capture stops in the page at once, so nothing more leaves it."""
        host = self.host
        session = host.lifecycle.require_session()
        enabled = bool(params["enabled"])  # validated as a boolean
        if enabled == host.privacy_enabled:
            reply(enabled)
            return
        if enabled:
            host.privacy_enabled = True
            host.ports.capture(False, None)
            host.lifecycle.remember(session)  # the next page captures nothing early either

        def done(_: Message) -> bool:
            if not enabled:
                host.privacy_enabled = False
                host.lifecycle.remember(session)
                host.capture.start()
            host.publish()
            return enabled

        self._request(SetPrivacy(enabled=enabled), reply, done)


def _link_url(answer: Message) -> str:
    if not isinstance(answer, LinkCreated):
        raise ProtocolError(f"expected link_created, got {answer.type}")
    return answer.url
