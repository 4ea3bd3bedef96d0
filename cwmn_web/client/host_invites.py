"""Invitations to host: invite someone to host a page (``inviteToHost``), and on the page
opened through one, offer it, accept it (host its session) or decline it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import CwmnError, ErrorCode, NotFound, ProtocolError
from ..protocol.messages import (
    AcceptHostInvite,
    GetHostInvite,
    HostInviteInfo,
    HostInviteSent,
    InviteToHost,
    Message,
    SessionStarted,
)
from .calls import INVITE_TIMEOUT, Reply
from .requests import Outcome
from .sockets import ServerSocket
from .states import State, Trigger

if TYPE_CHECKING:
    from .controller import HostController

__all__ = ["HostInvites"]


class HostInvites:
    """Sends invitations to host, and handles the one this page was opened through."""

    def __init__(self, host: HostController) -> None:
        self.host = host
        self._host_invite: tuple[str, dict[str, Any]] | None = None

    def invite_to_host(self, params: dict[str, Any], reply: Reply) -> None:
        """The server emails the invitee and answers with the inviter's own join link; this
        page stays in ``no session``."""
        request = InviteToHost(
            host_name=params["hostName"],
            host_email=params["hostEmail"],
            invite_name=params["inviteName"],
            invite_email=params["inviteEmail"],
            message=params.get("message") or "",
            url=params["url"],
        )

        def sent(answer: HostInviteSent) -> None:
            reply(
                {
                    "inviteId": answer.invite_id,
                    "joinUrl": answer.join_url,
                    "expiresAt": answer.expires_at,
                    "status": answer.status,
                }
            )

        self.host.startup.authorized(
            reply, lambda: self._ask(request, HostInviteSent, reply, sent, INVITE_TIMEOUT)
        )

    def offer(self, token: str) -> None:
        """The page was opened through an invitation to host: learn what it says, then fire
        ``host invite``, or have the page ask in the default dialog if nobody listens."""
        host = self.host

        def refused(error: Any) -> None:
            message = error.message if isinstance(error, CwmnError) else str(error)
            host.ports.warn(f"CWMN: the invitation to host cannot be used: {message}")

        def known(answer: HostInviteInfo) -> None:
            # Every listener the page's callbacks added is known before deciding.
            host.settled(lambda: offer(answer))

        def offer(answer: HostInviteInfo) -> None:
            if host.state is not State.NO_SESSION:
                return
            invite = {
                "inviteId": answer.invite_id,
                "inviterName": answer.inviter_name,
                "hostName": answer.host_name,
                "hostEmail": answer.host_email,
                "message": answer.message,
                "expiresAt": answer.expires_at,
            }
            self._host_invite = (token, invite)
            if host.bus.listeners("host invite"):
                host.emit("host invite", dict(invite))
            else:
                host.overlay({"op": "consent", "invite": dict(invite)})

        self._ask(GetHostInvite(token=token), HostInviteInfo, refused, known)

    def _pending_invite(self) -> str:
        if self._host_invite is None:
            raise NotFound(
                "there is no invitation to host on this page: it comes with a page opened "
                "through the link of an invitation email (see the 'host invite' event)"
            )
        return self._host_invite[0]

    def accept(self, params: dict[str, Any], reply: Reply) -> None:
        """Host the session the invitation made (``params["code"]``: the code its email
        gave); the inviter may be waiting in it."""
        host = self.host
        token = self._pending_invite()

        def failed(error: Any) -> None:
            # A wrong code may be given again; a network failure retried.
            retry = (ErrorCode.NETWORK, ErrorCode.TIMEOUT, ErrorCode.INVITE_CODE_INVALID)
            if isinstance(error, CwmnError) and error.code not in retry:
                self._host_invite = None  # refused for good (used, expired, cancelled)
            reply(error)

        def started(socket: ServerSocket, answer: Message) -> None:
            self._host_invite = None
            reply(host.lifecycle.started(socket, answer))

        def accept() -> None:
            host.step(Trigger.START)
            code = str(params.get("code") or "")
            request = AcceptHostInvite(token=token, page_id=host.config.page_id, code=code)
            host.lifecycle.connect(request, SessionStarted, started, failed)

        host.startup.authorized(reply, accept)

    def decline(self, params: dict[str, Any], reply: Reply) -> None:
        """Forget the invitation on this page (its link works again until it expires)."""
        self._pending_invite()
        self._host_invite = None
        reply(None)

    def _ask(
        self,
        request: Message,
        expected: type[Message],
        reply: Reply,
        then: Callable[[Any], None],
        timeout: float | None = None,
    ) -> None:
        """Ask ``request`` on a socket of its own (closed after the answer); ``then`` gets
        the answer, ``reply`` the error."""

        def ready(socket: ServerSocket | CwmnError) -> None:
            if isinstance(socket, CwmnError):
                reply(socket)
            elif timeout is None:
                socket.request(request, lambda outcome: answered(socket, outcome))
            else:
                socket.request(request, lambda outcome: answered(socket, outcome), timeout)

        def answered(socket: ServerSocket, outcome: Outcome) -> None:
            socket.close()
            if isinstance(outcome, Message) and not isinstance(outcome, expected):
                outcome = ProtocolError(f"expected {expected.type}, got {outcome.type}")
            if isinstance(outcome, CwmnError):
                reply(outcome)
            else:
                then(outcome)

        self.host.open_socket(ready)
