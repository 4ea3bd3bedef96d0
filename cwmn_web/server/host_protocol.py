"""The server's view of one host connection: which message may come when. No I/O here."""

from __future__ import annotations

from enum import StrEnum

from ..errors import CwmnError, InvalidState, ProtocolError
from ..protocol.messages import (
    PROTOCOL_VERSION,
    EndSession,
    Hello,
    Message,
    Ping,
    StartSession,
)

__all__ = ["HostPhase", "HostProtocol"]


class HostPhase(StrEnum):
    AWAITING_HELLO = "awaiting hello"
    READY = "ready"
    IN_SESSION = "in session"
    ENDED = "ended"


_ALLOWED: dict[HostPhase, tuple[type[Message], ...]] = {
    HostPhase.AWAITING_HELLO: (Hello,),
    HostPhase.READY: (StartSession, Ping),
    HostPhase.IN_SESSION: (EndSession, Ping),
    HostPhase.ENDED: (Ping,),
}


class HostProtocol:
    """Checks each incoming message against the connection's phase and moves the phase."""

    def __init__(self) -> None:
        self.phase = HostPhase.AWAITING_HELLO
        self.session_id = ""

    def check(self, message: Message) -> None:
        """Raise a coded error if ``message`` may not come now."""
        if isinstance(message, Hello) and message.version != PROTOCOL_VERSION:
            raise CwmnError(
                f"protocol version {message.version} is not supported; this server speaks "
                f"{PROTOCOL_VERSION}: reload the page to get the current cwmn.js",
                "protocol",
            )
        if not isinstance(message, _ALLOWED[self.phase]):
            if self.phase is HostPhase.AWAITING_HELLO:
                raise ProtocolError(f"expected hello first, got {message.type}")
            raise InvalidState(
                f"{message.type} is not valid while the connection is {self.phase.value}"
            )

    def greeted(self) -> None:
        self.phase = HostPhase.READY

    def started(self, session_id: str) -> None:
        self.phase = HostPhase.IN_SESSION
        self.session_id = session_id

    def ended(self) -> None:
        self.phase = HostPhase.ENDED
