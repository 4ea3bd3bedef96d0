"""The server's view of one guest connection: which message may come when. No I/O here."""

from __future__ import annotations

from enum import StrEnum

from ..errors import InvalidState, ProtocolError
from ..protocol.messages import (
    ControlInput,
    Draw,
    Hello,
    Join,
    Message,
    Ping,
    PointerClick,
    PointerMove,
    ReleaseControl,
    RequestControl,
    SetName,
)
from .host_protocol import check_hello

__all__ = ["GuestPhase", "GuestProtocol"]


class GuestPhase(StrEnum):
    AWAITING_HELLO = "awaiting hello"
    READY = "ready"
    JOINED = "joined"


_ALLOWED: dict[GuestPhase, tuple[type[Message], ...]] = {
    GuestPhase.AWAITING_HELLO: (Hello,),
    GuestPhase.READY: (Join, Ping),
    GuestPhase.JOINED: (
        Ping,
        PointerMove,
        PointerClick,
        SetName,
        RequestControl,
        ReleaseControl,
        ControlInput,
        Draw,
    ),
}


class GuestProtocol:
    """Checks each message a guest sends against the connection's phase."""

    def __init__(self) -> None:
        self.phase = GuestPhase.AWAITING_HELLO

    def check(self, message: Message) -> None:
        """Raise ``protocol`` (before hello, wrong version or role) or ``invalid_state``."""
        if isinstance(message, Hello):
            check_hello(message, "guest")
        if not isinstance(message, _ALLOWED[self.phase]):
            if self.phase is GuestPhase.AWAITING_HELLO:
                raise ProtocolError(f"expected hello first, got {message.type}")
            raise InvalidState(f"{message.type} is not valid while the guest is {self.phase.value}")

    def greeted(self) -> None:
        self.phase = GuestPhase.READY

    def joined(self) -> None:
        self.phase = GuestPhase.JOINED
