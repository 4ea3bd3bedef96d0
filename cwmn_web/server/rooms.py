"""Live rooms, one per session: the mirror log, guests, privacy and the host's page.

Sans-I/O: methods take values (and ``now``) and return decisions; the socket edge
(``relay.py``) sends, closes and runs the timers. No sockets, clock or database here.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Any

from ..protocol import codec
from ..protocol.messages import MirrorFrame

__all__ = [
    "MAX_LOG_BYTES",
    "MAX_LOG_FRAMES",
    "FrameResult",
    "Guest",
    "HostReturn",
    "Room",
    "RoomLog",
]

MAX_LOG_FRAMES = 5_000
MAX_LOG_BYTES = 16 * 1024 * 1024
SNAPSHOT = "snapshot"


class RoomLog:
    """The mirror frames since the last ``snapshot``: what a (re)joining guest needs.

    The log either starts with a snapshot or is empty. Appending a snapshot starts it over;
    a frame that is not a snapshot is kept only after one. Past ``max_frames`` frames or
    ``max_bytes`` of encoded text the log drops everything: the room then needs a new
    snapshot from the host.
    """

    def __init__(self, max_frames: int = MAX_LOG_FRAMES, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._frames: list[MirrorFrame] = []
        self._texts: list[str] = []
        self.size = 0
        """Encoded text held, in characters."""

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def first_seq(self) -> int:
        """Seq of the snapshot the log starts with (0 when empty)."""
        return self._frames[0].seq if self._frames else 0

    @property
    def last_seq(self) -> int:
        return self._frames[-1].seq if self._frames else 0

    def append(self, frame: MirrorFrame, text: str) -> bool:
        """Keep ``frame`` (``text`` is its encoded form, as guests receive it).

        Returns False when the frame was not kept and the log is empty: it was not a
        snapshot and the log had none, or the log grew past its bounds and was dropped.
        """
        if frame.kind == SNAPSHOT:
            self.clear()
        elif not self._frames:
            return False
        self._frames.append(frame)
        self._texts.append(text)
        self.size += len(text)
        if len(self._frames) > self.max_frames or self.size > self.max_bytes:
            self.clear()
            return False
        return True

    def clear(self) -> None:
        self._frames.clear()
        self._texts.clear()
        self.size = 0

    def _start(self, seq: int) -> int:
        """Index of the first frame a guest that applied up to ``seq`` needs."""
        if self._frames and self.first_seq <= seq <= self.last_seq:
            return bisect.bisect_right(self._frames, seq, key=lambda f: f.seq)
        return 0

    def frames_after(self, seq: int) -> list[MirrorFrame]:
        """Frames after ``seq`` if the log still covers it, else the whole log from its
        snapshot (also for ``seq`` 0 or a seq the log never had)."""
        return self._frames[self._start(seq) :]

    def texts_after(self, seq: int) -> list[str]:
        """The encoded form of :meth:`frames_after`."""
        return self._texts[self._start(seq) :]


@dataclass
class Guest:
    """One guest in a room; :meth:`to_dict` is the API's guest object."""

    guest_id: str
    name: str
    joined_at: float
    via: str = "private"
    muted: bool = False
    pointer: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "guestId": self.guest_id,
            "name": self.name,
            "muted": self.muted,
            "pointer": self.pointer,
            "joinedAt": self.joined_at,
            "via": self.via,
        }


@dataclass(frozen=True)
class FrameResult:
    """What to do with one mirror frame from the host.

    ``ack``: the seq to acknowledge (None for a duplicate). ``relay``: the text to send to
    every guest, if any. ``request_snapshot``: send the host a ``SnapshotRequest``.
    """

    ack: int | None = None
    relay: str | None = None
    request_snapshot: bool = False


@dataclass(frozen=True)
class HostReturn:
    """What a host taking the room (back) must learn: ``acked_seq`` for
    ``SessionResumed``, then who ``left`` and who ``joined`` since its page knew the room."""

    acked_seq: int
    left: list[Guest]
    joined: list[Guest]


@dataclass
class Room:
    """The live state of one session: what the server relays, to whom, and what it keeps.

    The server relays only what it could also replay: frames that extend a log starting at
    a snapshot. Frames it cannot use (privacy on, after a gap, while the log waits for a
    snapshot) are still acknowledged, since the host need not send them again.
    """

    session_id: str
    host_name: str = ""
    started_at: float = 0.0
    privacy: bool = False
    host_connected: bool = True
    page_id: str = ""
    """The host's current page ("" after StartSession, which carries none)."""
    last_seq: int = 0
    """Last mirror frame taken from the host on this page."""
    log: RoomLog = field(default_factory=RoomLog)
    guests: dict[str, Guest] = field(default_factory=dict)
    page_generation: int = 0
    """Counts the host's page changes; seqs restart on each page."""
    snapshot_requested: bool = False
    _guest_generation: dict[str, int] = field(default_factory=dict)
    _known_to_host: dict[str, Guest] = field(default_factory=dict)
    """The guests the host's page knew of when it lost the room."""

    # -- the mirror stream ----------------------------------------------------------------
    def receive_frame(self, frame: MirrorFrame) -> FrameResult:
        """Take one frame from the host: order it, keep it, say whom to tell."""
        if frame.seq <= self.last_seq:
            return FrameResult()  # a duplicate (the host resent after a reconnect)
        in_order = frame.seq == self.last_seq + 1
        self.last_seq = frame.seq
        if self.privacy:
            return FrameResult(ack=frame.seq)  # nothing of the page leaves the room
        if not in_order and frame.kind != SNAPSHOT:
            self.log.clear()  # guests cannot apply what follows a hole
            return FrameResult(ack=frame.seq, request_snapshot=self._request_snapshot())
        text = codec.encode(replace(frame, ref=0))
        if not self.log.append(frame, text):
            return FrameResult(ack=frame.seq, request_snapshot=self._request_snapshot())
        if frame.kind == SNAPSHOT:
            self.snapshot_requested = False
        return FrameResult(ack=frame.seq, relay=text)

    def _request_snapshot(self) -> bool:
        """Whether to ask the host now (once until a snapshot comes)."""
        if self.snapshot_requested or not self.host_connected:
            return False
        self.snapshot_requested = True
        return True

    def request_snapshot_for_guest(self) -> bool:
        """Ask the host for a snapshot for a joining guest? (Empty log, none asked yet.)"""
        if self.privacy or len(self.log) or self.last_seq == 0:
            return False  # last_seq 0: the host's first frame (a snapshot) is on its way
        return self._request_snapshot()

    def set_privacy(self, enabled: bool) -> bool:
        """Turn host privacy on or off; True if it changed (guests must be told).

        Turning it on forgets the page: after it, guests need the fresh snapshot the host
        sends when privacy goes off."""
        if enabled == self.privacy:
            return False
        self.privacy = enabled
        if enabled:
            self.log.clear()
            self.snapshot_requested = False
        return True

    # -- the host ---------------------------------------------------------------------------
    def attach_host(self, page_id: str) -> HostReturn:
        """The host is back (resume), or another connection of it takes over.

        The same page keeps the log and hears only of guest changes; another page (or an
        unknown one) starts over at seq 0 and hears of every guest."""
        if self.host_connected:  # a takeover: the page knew everyone present
            self._known_to_host = dict(self.guests)
        self.host_connected = True
        self.snapshot_requested = False  # a request to the old connection may be lost
        known, self._known_to_host = self._known_to_host, {}
        if page_id and page_id == self.page_id:
            acked = self.last_seq
        else:
            known, acked = {}, 0
            self.page_id = page_id
            self.last_seq = 0
            self.log.clear()
            self.page_generation += 1
            for guest_id in self.guests:  # connected guests follow the new page live
                self._guest_generation[guest_id] = self.page_generation
        left = [g for gid, g in known.items() if gid not in self.guests]
        joined = [g for gid, g in self.guests.items() if gid not in known]
        return HostReturn(acked, left, joined)

    def detach_host(self) -> None:
        self.host_connected = False
        self._known_to_host = dict(self.guests)

    # -- guests -----------------------------------------------------------------------------
    def add_guest(self, guest: Guest) -> bool:
        """Register ``guest``; True if it was not present (the host must be told)."""
        new = guest.guest_id not in self.guests
        if not new:
            guest = replace(guest, joined_at=self.guests[guest.guest_id].joined_at)
        self.guests[guest.guest_id] = guest
        return new

    def remove_guest(self, guest_id: str) -> Guest | None:
        return self.guests.pop(guest_id, None)

    def backlog(self, guest_id: str, last_seq: int) -> list[str]:
        """The frames (encoded) a joining guest needs, given the last seq it applied.

        ``last_seq`` counts only if the guest was last served on the host's current page:
        seqs restart on each page, so an old page's seq could look current."""
        if self._guest_generation.get(guest_id) != self.page_generation:
            last_seq = 0
        self._guest_generation[guest_id] = self.page_generation
        return [] if self.privacy else self.log.texts_after(last_seq)
