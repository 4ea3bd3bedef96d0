"""What the live core asks its edge to do: send, close, persist. Values only, no I/O."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ...protocol import codec
from ...protocol.messages import Message, MirrorFrame
from ..db import EndReason
from ..replays.recording import Recording

__all__ = [
    "Close",
    "ConnId",
    "Output",
    "Outputs",
    "RecordFrame",
    "RecordPrivacy",
    "Send",
    "SessionOver",
    "StoreControls",
    "StoreName",
]

ConnId = int
"""A connection, as the edge numbered it (:meth:`~.registry.LiveRooms.connect`)."""


@dataclass(frozen=True)
class Send:
    """Send ``text`` (an encoded message) on connection ``to``."""

    to: ConnId
    text: str


@dataclass(frozen=True)
class Close:
    """Close connection ``to`` once what is queued for it has gone."""

    to: ConnId
    code: int
    reason: str


@dataclass(frozen=True)
class SessionOver:
    """The session ended: the store records ``reason``; with ``finish``, a replay's
    recording is finished (``recording`` None: the files say, another process had it)."""

    session_id: str
    reason: EndReason
    finish: bool = False
    recording: Recording | None = None


@dataclass(frozen=True)
class StoreName:
    """A guest's new name, for the store (a reload keeps it)."""

    guest_id: str
    name: str


@dataclass(frozen=True)
class StoreControls:
    """The host's controls changed, for the store (a restart, or another process, keeps
    them): privacy, mute-all, and the guests muted one by one."""

    session_id: str
    privacy: bool
    mute_all: bool
    muted: frozenset[str]


@dataclass(frozen=True)
class RecordFrame:
    """Write ``frame`` to a replay's ``recording`` (``take``), off the event loop and after
    every write asked for before; then tell :meth:`~.registry.LiveRooms.recorded` how it
    went (``ticket``): the frame's ack waits for that."""

    session_id: str
    ticket: int
    recording: Recording
    frame: MirrorFrame
    page: int
    now_ms: float


@dataclass(frozen=True)
class RecordPrivacy:
    """Write a privacy marker to a replay's ``recording``, in turn with its frames (a
    failure is only logged)."""

    session_id: str
    recording: Recording
    enabled: bool
    page: int
    now_ms: float


Output = Send | Close | SessionOver | StoreName | StoreControls | RecordFrame | RecordPrivacy


@dataclass
class Outputs:
    """An ordered list of outputs, with helpers to add to it."""

    items: list[Output] = field(default_factory=list)
    work: Message | None = None
    """A request the edge carries out with the store, then reports to the core."""

    def send(self, to: ConnId, message: Message | str) -> None:
        text = message if isinstance(message, str) else codec.encode(message)
        self.items.append(Send(to, text))

    def close(self, to: ConnId, code: int, reason: str) -> None:
        self.items.append(Close(to, code, reason))

    def add(self, output: Output) -> None:
        self.items.append(output)

    def extend(self, other: Outputs) -> None:
        self.items.extend(other.items)

    def sent_to(self, to: ConnId) -> list[Message]:
        """The messages sent to ``to`` (decoded): for tests and logs."""
        return [codec.decode(o.text) for o in self.items if isinstance(o, Send) and o.to == to]

    def __iter__(self) -> Iterator[Output]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
