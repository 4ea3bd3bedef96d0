"""Who hears what in a live room: the messages a room's changes make, and their fan-out to
the host and the guests. No I/O here: everything goes into an :class:`Outputs`."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from ...protocol import codec
from ...protocol.messages import GuestJoined, GuestLeft, GuestPointer, GuestUpdated, Message
from ..replays.recording import Recording
from ..rooms import Guest, HostReturn, Room
from .outputs import ConnId, Outputs
from .pace import GuestPace

__all__ = [
    "HeldAck",
    "LiveRoom",
    "RoomHost",
    "pointer_of",
    "roster",
    "to_everyone",
    "to_guests",
    "to_host",
]


class RoomHost(Protocol):
    """The host connection a room has: where to send, and a way to tell it the session is
    over for it (replaced, ended). :class:`~.host.HostCore` is one."""

    @property
    def conn(self) -> ConnId: ...

    def session_over(self) -> None: ...


@dataclass
class HeldAck:
    """A replay frame's ack, held until its write (and every earlier one) is done:
    ``ticket`` names the write (0: a frame with nothing to write, acked in turn);
    ``generation``: the host's page it came from (another page's seqs start over)."""

    ticket: int
    seq: int
    generation: int
    written: bool = False


@dataclass(eq=False)
class LiveRoom:
    """A room with its connections: the host's (None while away) and each guest's."""

    room: Room
    host: RoomHost | None = None
    guests: dict[str, ConnId] = field(default_factory=dict)
    recording: Recording | None = None
    """A replay session's recording (None: a realtime session, nothing is recorded)."""
    held: deque[HeldAck] = field(default_factory=deque)
    """The acks that wait for the recording's writes, in frame order."""
    tickets: int = 0
    """The writes asked for so far (the last one's ticket)."""
    pace: GuestPace = field(default_factory=GuestPace)
    """How fast each guest asks for control, sends inputs and draws (extensions)."""


def pointer_of(guest: Guest) -> GuestPointer:
    """Where ``guest`` points, for the others to draw."""
    pointer = guest.pointer
    return GuestPointer(
        guest_id=guest.guest_id,
        name=guest.name,
        color=guest.color,
        x=pointer["x"] if pointer else 0.0,
        y=pointer["y"] if pointer else 0.0,
        visible=pointer is not None,
    )


def roster(back: HostReturn) -> list[Message]:
    """The guest pushes for a host that is back (after its ``SessionResumed``)."""
    return [
        *(GuestLeft(guest=g.to_dict()) for g in back.left),
        *(GuestJoined(guest=g.to_dict()) for g in back.joined),
        *(GuestUpdated(guest=g.to_dict()) for g in back.renamed),
    ]


def to_host(live: LiveRoom, message: Message | str, out: Outputs) -> None:
    if live.host is not None:
        out.send(live.host.conn, message)


def to_guests(live: LiveRoom, message: Message | str, out: Outputs, but: str = "") -> None:
    """Every guest but ``but`` gets ``message`` (encoded once)."""
    text = message if isinstance(message, str) else codec.encode(message)
    for guest_id, conn in live.guests.items():
        if guest_id != but:
            out.send(conn, text)


def to_everyone(live: LiveRoom, message: Message, out: Outputs, but: str) -> None:
    """The host and every guest but ``but``."""
    text = codec.encode(message)
    to_host(live, text, out)
    to_guests(live, text, out, but)
