"""Live rooms, one per session: the mirror log, guests, privacy and the host's page.

Sans-I/O: methods take values (and ``now``) and return decisions; the live core
(``server/live``) turns them into messages, and its edges send them. Nothing outside this
module writes a room's fields. No sockets, clock or database here.
"""

from __future__ import annotations

import bisect
import sys
from dataclasses import dataclass, field, replace

from ..errors import RateLimited
from ..protocol import codec
from ..protocol.constants import DEFAULT_GUEST_COLOR
from ..protocol.guests import GuestObject, GuestPointerPosition
from ..protocol.messages import MirrorFrame
from ..timing import RateGate, Throttle

__all__ = [
    "MAX_LOG_BYTES",
    "MAX_LOG_FRAMES",
    "MIN_CLICK_INTERVAL",
    "MIN_POINTER_INTERVAL",
    "MIN_RENAME_INTERVAL",
    "PALETTE",
    "FrameResult",
    "Guest",
    "HostReturn",
    "Room",
    "RoomLog",
    "held",
]

#: Guests' cursor colours, in the order guests first join a room.
PALETTE = (
    DEFAULT_GUEST_COLOR,
    "#2563eb",
    "#16a34a",
    "#d97706",
    "#9333ea",
    "#0891b2",
    "#db2777",
    "#65a30d",
    "#4f46e5",
    "#b45309",
)
#: A guest's pointer moves relayed at most this often (its viewer sends ≤30/s).
MIN_POINTER_INTERVAL = 1 / 40
#: A guest's clicks relayed at most this often.
MIN_CLICK_INTERVAL = 1 / 10
#: A guest's renames taken at most this often (its viewer sends one per name it submits).
MIN_RENAME_INTERVAL = 1.0
MAX_LOG_FRAMES = 5_000
MAX_LOG_BYTES = 16 * 1024 * 1024
"""Memory a room's log may hold (``CWMN_MAX_LOG_BYTES``)."""
SNAPSHOT = "snapshot"
POINTER = "pointer"
AUDIO = "audio"
"""Narration chunks of a replay: numbered like the other frames, never logged or relayed."""


def held(text: str) -> int:
    """The bytes ``text`` holds in memory (a str of non-Latin-1 characters takes 2 or 4
    bytes each): what the log's bound counts, not characters."""
    return sys.getsizeof(text)


class RoomLog:
    """The mirror frames since the last ``snapshot``: what a (re)joining guest needs.

    The log either starts with a snapshot or is empty. Appending a snapshot starts it over;
    a frame that is not a snapshot is kept only after one. It keeps each frame only as the
    text guests receive (and its seq): :attr:`size` is the memory those texts hold, so a
    frame whose parsed form is large (many tiny lists) costs what its text does. Past
    ``max_frames`` frames or ``max_bytes`` the log drops everything: the room then needs a
    new snapshot from the host.
    """

    def __init__(self, max_frames: int = MAX_LOG_FRAMES, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._seqs: list[int] = []
        self._texts: list[str] = []
        self.size = 0
        """Bytes the kept texts hold in memory (:func:`held`)."""
        self.relayed_seq = 0
        """The last seq relayed to guests without being kept (see :meth:`relayed`)."""

    def __len__(self) -> int:
        return len(self._seqs)

    @property
    def first_seq(self) -> int:
        """Seq of the snapshot the log starts with (0 when empty)."""
        return self._seqs[0] if self._seqs else 0

    @property
    def last_seq(self) -> int:
        return self._seqs[-1] if self._seqs else 0

    def append(self, frame: MirrorFrame, text: str) -> bool:
        """Keep ``frame`` as ``text`` (its encoded form, as guests receive it).

        Returns False when the frame was not kept and the log is empty: it was not a
        snapshot and the log had none, or the log grew past its bounds and was dropped.
        """
        if frame.kind == SNAPSHOT:
            self.clear()
        elif not self._seqs:
            return False
        self._seqs.append(frame.seq)
        self._texts.append(text)
        self.size += held(text)
        if len(self._seqs) > self.max_frames or self.size > self.max_bytes:
            self.clear()
            return False
        return True

    def relayed(self, seq: int) -> None:
        """A frame after the log's last was relayed but not kept (a pointer frame)."""
        self.relayed_seq = seq

    def clear(self) -> None:
        self.relayed_seq = 0
        self._seqs.clear()
        self._texts.clear()
        self.size = 0

    def _start(self, seq: int) -> int:
        """Index of the first frame a guest that applied up to ``seq`` needs.

        A seq up to :attr:`relayed_seq` that the log does not hold was a frame relayed
        without being kept (a pointer): the guest has everything before it too."""
        if self._seqs and self.first_seq <= seq <= max(self.last_seq, self.relayed_seq):
            return bisect.bisect_right(self._seqs, seq)
        return 0

    def seqs_after(self, seq: int) -> list[int]:
        """Seqs of the frames after ``seq`` if the log still covers it, else of the whole
        log from its snapshot (also for ``seq`` 0 or a seq the log never had)."""
        return self._seqs[self._start(seq) :]

    def texts_after(self, seq: int) -> list[str]:
        """The encoded frames of :meth:`seqs_after`."""
        return self._texts[self._start(seq) :]


@dataclass
class Guest:
    """One guest in a room; :meth:`to_dict` is the API's guest object.

    ``muted`` is the guest's own flag (``muteGuest``); the room's ``mute_all`` is separate,
    and the guest is muted when either is set."""

    guest_id: str
    name: str
    joined_at: float
    via: str = "private"
    muted: bool = False
    pointer: GuestPointerPosition | None = None
    color: str = ""
    controlling: bool = False
    """Extension: the guest controls the host's page (the room's ``controller``)."""

    def to_dict(self) -> GuestObject:
        return {
            "guestId": self.guest_id,
            "name": self.name,
            "muted": self.muted,
            "pointer": self.pointer,
            "joinedAt": self.joined_at,
            "via": self.via,
            "color": self.color,
            "controlling": self.controlling,
        }


@dataclass(frozen=True)
class FrameResult:
    """What to do with one mirror frame from the host.

    ``ack``: the seq to acknowledge (None for a duplicate). ``relay``: the text to send to
    every guest, if any. ``request_snapshot``: send the host a ``SnapshotRequest``.
    ``record``: a replay session records this frame (what the room relays, and audio).
    """

    ack: int | None = None
    relay: str | None = None
    request_snapshot: bool = False
    record: bool = False


@dataclass(frozen=True)
class HostReturn:
    """What a host taking the room (back) must learn: ``acked_seq`` for
    ``SessionResumed``, then who ``left``, who ``joined`` and who was ``renamed`` since its
    page knew the room."""

    acked_seq: int
    left: list[Guest]
    joined: list[Guest]
    renamed: list[Guest] = field(default_factory=list)
    """Guests still present whose name changed while the host was away."""


@dataclass
class Room:
    """The live state of one session: what the server relays, to whom, and what it keeps.

    The server relays only what it could also replay: frames that extend a log starting at
    a snapshot. Frames it cannot use (privacy on, after a gap, while the log waits for a
    snapshot) are still acknowledged, since the host need not send them again.

    A ``replay`` room has no guests and keeps no log: it records (never relays) every page
    frame in order since a snapshot, and every narration chunk.
    """

    session_id: str
    host_name: str = ""
    host_verified: bool = False
    """``host_name`` comes from a host token the site's backend signed."""
    started_at: float = 0.0
    privacy: bool = False
    host_connected: bool = True
    host_navigating: bool = False
    """The host went away as a page does when it navigates (until a host attaches)."""
    waiting: bool = False
    """No host yet: the session waits for the person it invited to host it."""
    page_id: str = ""
    """The host's current page ("" after StartSession, which carries none)."""
    last_seq: int = 0
    """Last mirror frame taken from the host on this page."""
    log: RoomLog = field(default_factory=RoomLog)
    replay: bool = False
    """A replay recording (see the class's docstring)."""
    stalled: bool = False
    """A frame could not be kept (a replay's write failed): nothing more is taken until the
    host comes back and sends it again (see :meth:`refuse`)."""
    guests: dict[str, Guest] = field(default_factory=dict)
    page_generation: int = 0
    """Counts the host's page changes; seqs restart on each page."""
    snapshot_requested: bool = False
    pointer_text: str = ""
    """The host's last pointer frame (encoded) on the current page, for joining guests."""
    mute_all: bool = False
    public_enabled: bool = True
    public_url: str = ""
    """The session's public link, once made (the server keeps only its token's hash)."""
    public_expires: float = 0.0
    controller: str = ""
    """Extension: the guest that controls the host's page ("" for none; docs/control)."""
    control_allowed: bool = True
    """Extension: the host's page takes control requests (``SetControlAllowed``)."""
    idle_timeout: float = 0.0
    """Extension: seconds without activity after which the session ends (0: never)."""
    active_at: float = 0.0
    """When the visitor or a guest last did something (:meth:`touch`)."""
    _guest_generation: dict[str, int] = field(default_factory=dict)
    _known_to_host: dict[str, Guest] = field(default_factory=dict)
    """The guests the host's page knew of when it lost the room."""
    _removed: set[str] = field(default_factory=set)
    """Guests the host removed (their joins under way must not seat them again)."""
    _muted: set[str] = field(default_factory=set)
    """Guests muted by the host: kept while they are away, so a reconnect stays muted."""
    _colors: dict[str, str] = field(default_factory=dict)
    _pointers: dict[str, Throttle[tuple[float, float]]] = field(default_factory=dict)
    """Each present guest's pointer throttle (what it holds: the newest fast move)."""
    _clicks: RateGate[str] = field(default_factory=lambda: RateGate(MIN_CLICK_INTERVAL))
    _renames: RateGate[str] = field(default_factory=lambda: RateGate(MIN_RENAME_INTERVAL))
    _synced: bool = False
    """A replay's page frames are complete since its last snapshot (no hole, privacy off)."""

    # -- the mirror stream ----------------------------------------------------------------
    def receive_frame(self, frame: MirrorFrame, text: str | None = None) -> FrameResult:
        """Take one frame from the host: order it, keep it, say whom to tell. ``text``: the
        frame as guests receive it, if the edge wrote it already (off the event loop)."""
        if self.stalled or frame.seq <= self.last_seq:
            return FrameResult()  # a duplicate (the host resent after a reconnect)
        in_order = frame.seq == self.last_seq + 1
        self.last_seq = frame.seq
        if self.replay:
            return self._replay_frame(frame, in_order)
        if frame.kind == AUDIO:  # for the recording only, whatever the page does
            if not in_order and not self.privacy:
                self.log.clear()  # a hole: the page frames after it cannot be applied
                asked = self._request_snapshot()
                return FrameResult(ack=frame.seq, request_snapshot=asked, record=True)
            return FrameResult(ack=frame.seq, record=True)
        if self.privacy:
            return FrameResult(ack=frame.seq)  # nothing of the page leaves the room
        if not in_order and frame.kind != SNAPSHOT:
            self.log.clear()  # guests cannot apply what follows a hole
            return FrameResult(ack=frame.seq, request_snapshot=self._request_snapshot())
        text = text if text is not None else codec.encode(replace(frame, ref=0))
        if frame.kind == POINTER:
            # Not logged: a pointer stream would fill the log; a joining guest gets the last.
            self.pointer_text = text if len(self.log) else ""
            if self.pointer_text:
                self.log.relayed(frame.seq)
            relay = self.pointer_text or None
            return FrameResult(ack=frame.seq, relay=relay, record=relay is not None)
        if not self.log.append(frame, text):
            return FrameResult(ack=frame.seq, request_snapshot=self._request_snapshot())
        if frame.kind == SNAPSHOT:
            self.snapshot_requested = False
            self.pointer_text = ""
        return FrameResult(ack=frame.seq, relay=text, record=True)

    def _replay_frame(self, frame: MirrorFrame, in_order: bool) -> FrameResult:
        """A replay room's frame: recorded, never relayed nor logged (the recording is the
        replay's only reader, so no log bound can drop frames)."""
        seq = frame.seq
        if not in_order and frame.kind != SNAPSHOT:
            self._synced = False  # a hole: page frames wait for a snapshot; audio goes on
            asked = False if self.privacy else self._request_snapshot()
            return FrameResult(ack=seq, request_snapshot=asked, record=frame.kind == AUDIO)
        if frame.kind == AUDIO:
            return FrameResult(ack=seq, record=True)
        if self.privacy:
            return FrameResult(ack=seq)
        if frame.kind == SNAPSHOT:
            self._synced, self.snapshot_requested = True, False
        elif not self._synced:
            return FrameResult(ack=seq, request_snapshot=self._request_snapshot())
        return FrameResult(ack=seq, record=True)

    def refuse(self, seq: int) -> None:
        """Frame ``seq`` was taken but could not be kept: unsee it and take nothing more
        (no ack) until the host re-attaches; it then resends from ``seq``."""
        self.last_seq = min(self.last_seq, seq - 1)
        self.stalled = True

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
            self._synced = False
            self.snapshot_requested = False
        return True

    # -- the host ---------------------------------------------------------------------------
    def start_page(self, page_id: str) -> None:
        """A new session's host is on page ``page_id``."""
        self.page_id = page_id

    def host_accepted(self, started_at: float) -> None:
        """The invited host arrived: the session no longer waits, and starts now."""
        self.started_at = started_at
        self.waiting = False

    def touch(self, now: float) -> None:
        """The visitor or a guest did something at ``now`` (see ``server/live/activity.py``)."""
        self.active_at = max(self.active_at, now)

    def idle_due(self) -> float | None:
        """When the session ends for want of activity (None: it never does)."""
        return self.active_at + self.idle_timeout if self.idle_timeout > 0 else None

    def set_public_link(self, enabled: bool) -> None:
        """Whether the public link admits anyone new."""
        self.public_enabled = enabled

    def public_link_made(self, url: str, expires: float) -> None:
        self.public_url, self.public_expires = url, expires

    def attach_host(self, page_id: str) -> HostReturn:
        """The host is back (resume), or another connection of it takes over.

        The same page keeps the log and hears only of guest changes; another page (or an
        unknown one) starts over at seq 0 and hears of every guest."""
        if self.host_connected:  # a takeover: the page knew everyone present
            self._known_to_host = dict(self.guests)
        self.host_connected, self.host_navigating = True, False
        self.stalled = False  # it resends what was not acknowledged
        self.snapshot_requested = False  # a request to the old connection may be lost
        known, self._known_to_host = self._known_to_host, {}
        if page_id and page_id == self.page_id:
            acked = self.last_seq
        else:
            known, acked = {}, 0
            self.page_id = page_id
            self.last_seq = 0
            self.log.clear()
            self._synced = False
            self.page_generation += 1
            for guest_id in self.guests:  # connected guests follow the new page live
                self._guest_generation[guest_id] = self.page_generation
        left = [g for gid, g in known.items() if gid not in self.guests]
        joined = [g for gid, g in self.guests.items() if gid not in known]
        renamed = [
            g for gid, g in self.guests.items() if gid in known and known[gid].name != g.name
        ]
        return HostReturn(acked, left, joined, renamed)

    def detach_host(self, navigating: bool = False) -> None:
        """The host's connection is gone (``navigating``: its page is changing)."""
        self.host_connected, self.host_navigating = False, navigating
        self._known_to_host = dict(self.guests)

    # -- guests -----------------------------------------------------------------------------
    def add_guest(self, guest: Guest) -> bool:
        """Register ``guest``; True if it was not present (the host must be told).

        A guest coming back keeps its colour and its mute flag."""
        gid = guest.guest_id
        new = gid not in self.guests
        if not new:
            guest = replace(guest, joined_at=self.guests[gid].joined_at)
        color = self._colors.setdefault(gid, PALETTE[len(self._colors) % len(PALETTE)])
        self.guests[gid] = replace(
            guest,
            color=color,
            muted=gid in self._muted,
            pointer=None,
            controlling=gid == self.controller,
        )
        return new

    def set_controller(self, guest_id: str) -> list[Guest]:
        """Give control to a present guest (``""``: to nobody): the guests whose
        ``controlling`` flag changed, as they are now (none if nothing changed)."""
        old = self.controller
        if guest_id == old:
            return []
        self.controller = guest_id
        changed = []
        for gid, flag in ((old, False), (guest_id, True)):
            if gid in self.guests:
                self.guests[gid] = replace(self.guests[gid], controlling=flag)
                changed.append(self.guests[gid])
        return changed

    def remove_guest(self, guest_id: str) -> Guest | None:
        """The guest left (or was removed); what only a present guest needs is forgotten."""
        self._pointers.pop(guest_id, None)  # a rename's time stays: see take_rename
        self._clicks.forget(guest_id)
        return self.guests.pop(guest_id, None)

    def mark_removed(self, guest_id: str) -> None:
        self._removed.add(guest_id)

    def is_removed(self, guest_id: str) -> bool:
        return guest_id in self._removed

    def muted(self, guest_id: str) -> bool:
        """Whether the guest's pointer and clicks reach no one (own flag or mute-all)."""
        return self.mute_all or guest_id in self._muted

    def muted_guests(self) -> frozenset[str]:
        """The guests muted one by one (present or away)."""
        return frozenset(self._muted)

    def set_muted(self, guest_id: str, muted: bool) -> bool:
        """Set a present guest's own flag; True if that made it muted or unmuted."""
        before = self.muted(guest_id)
        if muted:
            self._muted.add(guest_id)
        else:
            self._muted.discard(guest_id)
        self.guests[guest_id] = replace(self.guests[guest_id], muted=muted)
        return self.muted(guest_id) != before

    def set_mute_all(self, muted: bool) -> list[str]:
        """Set the room's flag; the present guests whose muted state changed."""
        before = {gid: self.muted(gid) for gid in self.guests}
        self.mute_all = muted
        return [gid for gid, was in before.items() if self.muted(gid) != was]

    def move_pointer(self, guest_id: str, x: float, y: float, visible: bool, now: float) -> bool:
        """Record a guest's pointer; True if it goes out now.

        A move faster than ``MIN_POINTER_INTERVAL`` after the last one is held (the newest
        replacing an older one) until :meth:`pointer_due` says so, so the final position is
        never lost; a hidden pointer always goes out at once. Muted: reaches no one."""
        guest = self.guests.get(guest_id)
        if guest is None or self.muted(guest_id):
            if guest_id in self._pointers:
                self._pointers[guest_id].drop()
            return False
        throttle = self._pointers.setdefault(guest_id, Throttle(MIN_POINTER_INTERVAL))
        if not visible:
            throttle.reset()  # hiding always goes out
        if throttle.offer((x, y), now) is None:
            return False
        self.guests[guest_id] = replace(guest, pointer={"x": x, "y": y} if visible else None)
        return True

    def pointer_due_at(self, guest_id: str) -> float | None:
        """When a held move of the guest may go out (None: nothing held)."""
        throttle = self._pointers.get(guest_id)
        return throttle.next_due() if throttle is not None else None

    def pointer_due(self, guest_id: str, now: float) -> bool:
        """Take the held move if its time has come; True if it goes out now."""
        throttle = self._pointers.get(guest_id)
        held = throttle.due(now) if throttle is not None else None
        guest = self.guests.get(guest_id)
        if held is None or guest is None or self.muted(guest_id):
            return False
        self.guests[guest_id] = replace(guest, pointer={"x": held[0], "y": held[1]})
        return True

    def hide_pointer(self, guest_id: str) -> Guest | None:
        """Forget where the guest points (it was muted); the guest as it was, if it had a
        pointer the others draw (they must hide it)."""
        guest = self.guests.get(guest_id)
        if guest is None or guest.pointer is None:
            return None
        self.guests[guest_id] = replace(guest, pointer=None)
        return guest

    def rename(self, guest_id: str, name: str, now: float) -> bool:
        """A present guest chose ``name`` (already cleaned); True if its name changed.

        Raises ``rate_limited`` for a rename sooner than ``MIN_RENAME_INTERVAL`` after the
        last one taken: anyone holding the link can send them."""
        guest = self.guests.get(guest_id)
        if guest is None:
            return False
        if not self.take_rename(guest_id, now):
            raise RateLimited("a guest may change its name at most once a second")
        if name == guest.name:
            return False
        self.guests[guest_id] = replace(guest, name=name)
        return True

    def take_rename(self, guest_id: str, now: float) -> bool:
        """Count a rename of the guest at ``now`` (``set_name``, or a join under a new name);
        False, and not counted, if it comes sooner than ``MIN_RENAME_INTERVAL`` after the
        last one. Kept while the guest is away, so leaving and coming back is no way round."""
        return self._renames.allow(guest_id, now)

    def click(self, guest_id: str, now: float) -> bool:
        """Whether a guest's click may reach the others (not muted, not too fast)."""
        if guest_id not in self.guests or self.muted(guest_id):
            return False
        return self._clicks.allow(guest_id, now)

    def backlog(self, guest_id: str, last_seq: int) -> list[str]:
        """The frames (encoded) a joining guest needs, given the last seq it applied.

        ``last_seq`` counts only if the guest was last served on the host's current page:
        seqs restart on each page, so an old page's seq could look current."""
        if self._guest_generation.get(guest_id) != self.page_generation:
            last_seq = 0
        self._guest_generation[guest_id] = self.page_generation
        if self.privacy:
            return []
        texts = self.log.texts_after(last_seq)
        return [*texts, self.pointer_text] if self.pointer_text and len(self.log) else texts
