"""The server's view of one host connection: which message may come when. No I/O here."""

from __future__ import annotations

from enum import StrEnum

from ..errors import InvalidState, ProtocolError
from ..protocol.messages import (
    PROTOCOL_VERSION,
    AbandonReplay,
    AcceptHostInvite,
    ControlRefused,
    CreateJoinCode,
    CreateLink,
    CreatePublicLink,
    DeclineControl,
    EndSession,
    GetHostInvite,
    Hello,
    InviteGuest,
    InviteToHost,
    Message,
    MirrorFrame,
    MuteAll,
    MuteGuest,
    Ping,
    RemoveGuest,
    ResumeSession,
    SendVideo,
    SetControl,
    SetControlAllowed,
    SetPrivacy,
    SetPublicLink,
    StartSession,
    WatchReplay,
)

__all__ = ["HostPhase", "HostProtocol", "check_hello"]

#: A replay's requests: on a fresh connection, or on the one whose session just ended.
_REPLAY = (WatchReplay, SendVideo, AbandonReplay)


class HostPhase(StrEnum):
    AWAITING_HELLO = "awaiting hello"
    READY = "ready"
    IN_SESSION = "in session"
    ENDED = "ended"


_ALLOWED: dict[HostPhase, tuple[type[Message], ...]] = {
    HostPhase.AWAITING_HELLO: (Hello,),
    HostPhase.READY: (
        StartSession,
        ResumeSession,
        InviteToHost,
        GetHostInvite,
        AcceptHostInvite,
        *_REPLAY,
        Ping,
    ),
    HostPhase.IN_SESSION: (
        MirrorFrame,
        CreateLink,
        CreatePublicLink,
        CreateJoinCode,
        InviteGuest,
        SetPublicLink,
        SetPrivacy,
        MuteGuest,
        MuteAll,
        RemoveGuest,
        EndSession,
        Ping,
        SetControl,
        DeclineControl,
        SetControlAllowed,
        ControlRefused,
    ),
    HostPhase.ENDED: (*_REPLAY, Ping),
}
#: Dropped without an answer: frames the host sent before it learnt that the session ended.
_IGNORED: dict[HostPhase, tuple[type[Message], ...]] = {
    HostPhase.ENDED: (MirrorFrame, ControlRefused),
}


def check_hello(message: Hello, role: str) -> None:
    """Raise ``protocol`` for another protocol version or a client of another role."""
    if message.version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {message.version} is not supported; this server speaks "
            f"{PROTOCOL_VERSION}: reload the page to get the current cwmn.js"
        )
    if message.role != role:
        raise ProtocolError(f"this socket is for role {role!r}, not {message.role!r}")


class HostProtocol:
    """Checks each incoming message against the connection's phase and moves the phase."""

    def __init__(self) -> None:
        self.phase = HostPhase.AWAITING_HELLO
        self.session_id = ""

    def check(self, message: Message) -> bool:
        """Raise a coded error if ``message`` may not come now; False: drop it silently."""
        if isinstance(message, Hello):
            check_hello(message, "host")
        if isinstance(message, _IGNORED.get(self.phase, ())):
            return False
        if not isinstance(message, _ALLOWED[self.phase]):
            if self.phase is HostPhase.AWAITING_HELLO:
                raise ProtocolError(f"expected hello first, got {message.type}")
            raise InvalidState(
                f"{message.type} is not valid while the connection is {self.phase.value}"
            )
        return True

    def greeted(self) -> None:
        self.phase = HostPhase.READY

    def started(self, session_id: str) -> None:
        """After StartSession, ResumeSession or AcceptHostInvite."""
        self.phase = HostPhase.IN_SESSION
        self.session_id = session_id

    def ended(self) -> None:
        self.phase = HostPhase.ENDED
