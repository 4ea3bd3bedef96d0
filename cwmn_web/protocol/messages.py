"""Every wire message as a frozen dataclass with a ``type`` tag. Versioned; no I/O here.

Requests from a client carry ``ref`` (a number the client picks); the server's answer to a
request carries the same ``ref``. Messages the server pushes on its own have ``ref`` 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "CLOSE_BAD_ORIGIN",
    "CLOSE_NORMAL",
    "CLOSE_PROTOCOL",
    "CLOSE_SESSION_ENDED",
    "CLOSE_UNSUPPORTED_VERSION",
    "MESSAGE_TYPES",
    "PROTOCOL_VERSION",
    "EndSession",
    "ErrorReply",
    "Hello",
    "Message",
    "Ping",
    "Pong",
    "SessionEnded",
    "SessionStarted",
    "StartSession",
    "Welcome",
]

PROTOCOL_VERSION = 1

# WebSocket close codes (4000-4999 are the application's).
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL = 4400
CLOSE_BAD_ORIGIN = 4403
CLOSE_UNSUPPORTED_VERSION = 4426
CLOSE_SESSION_ENDED = 4410


@dataclass(frozen=True)
class Message:
    """Base of every message. ``type`` is the tag written on the wire."""

    type: ClassVar[str] = ""
    ref: int = 0


@dataclass(frozen=True)
class Hello(Message):
    """Client → server, first message: protocol version and role."""

    type: ClassVar[str] = "hello"
    version: int = PROTOCOL_VERSION
    role: str = "host"
    page_url: str = ""


@dataclass(frozen=True)
class Welcome(Message):
    """Server → client answer to :class:`Hello`."""

    type: ClassVar[str] = "welcome"
    version: int = PROTOCOL_VERSION
    server_time: float = 0.0


@dataclass(frozen=True)
class StartSession(Message):
    type: ClassVar[str] = "start_session"
    host_name: str = ""
    host_email: str = ""
    is_replay: bool = False


@dataclass(frozen=True)
class SessionStarted(Message):
    type: ClassVar[str] = "session_started"
    session_id: str = ""
    resume_token: str = ""
    started_at: float = 0.0
    is_replay: bool = False
    host_name: str = ""
    host_email: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EndSession(Message):
    type: ClassVar[str] = "end_session"


@dataclass(frozen=True)
class SessionEnded(Message):
    """The session is over: ``reason`` is ``ended`` (by the host) or ``expired``."""

    type: ClassVar[str] = "session_ended"
    session_id: str = ""
    reason: str = "ended"


@dataclass(frozen=True)
class ErrorReply(Message):
    """A request failed; ``code`` is from :data:`cwmn_web.errors.CODES`."""

    type: ClassVar[str] = "error"
    code: str = "server_error"
    message: str = ""


@dataclass(frozen=True)
class Ping(Message):
    type: ClassVar[str] = "ping"


@dataclass(frozen=True)
class Pong(Message):
    type: ClassVar[str] = "pong"


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.type: cls
    for cls in (
        Hello,
        Welcome,
        StartSession,
        SessionStarted,
        EndSession,
        SessionEnded,
        ErrorReply,
        Ping,
        Pong,
    )
}
