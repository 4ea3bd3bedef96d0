"""How fast each guest of a room may ask for control, send control inputs and draw
(extensions, docs/control/server.md). No I/O here; the caller passes ``now``."""

from __future__ import annotations

from dataclasses import dataclass, field

from .limits import TokenBucket

__all__ = [
    "DECLINED_WAIT",
    "DRAW_BURST",
    "DRAW_NUMBERS_BURST",
    "DRAW_NUMBERS_RATE",
    "DRAW_RATE",
    "INPUT_BURST",
    "INPUT_RATE",
    "MAX_DECLINED_WAIT",
    "MIN_REQUEST_INTERVAL",
    "GuestPace",
]

#: A guest may ask for control at most once in this many seconds.
MIN_REQUEST_INTERVAL = 3.0
#: After the visitor declined a guest's request, it may ask again only after this many
#: seconds, doubled at each further decline up to :data:`MAX_DECLINED_WAIT` (a guest cannot
#: keep the consent dialog over the visitor's page).
DECLINED_WAIT = 30.0
MAX_DECLINED_WAIT = 600.0
#: Control inputs one guest may send per second on average, and at once.
INPUT_RATE, INPUT_BURST = 60, 120
#: ``draw`` messages one guest may send per second on average, and at once.
DRAW_RATE, DRAW_BURST = 30, 60
#: Numbers (x, y, x, y, ...) one guest may draw per second on average, and at once, across
#: all its strokes (a new stroke id is no way round it).
DRAW_NUMBERS_RATE, DRAW_NUMBERS_BURST = 1024, 4096


def _bucket(
    buckets: dict[str, TokenBucket], key: str, rate: float, burst: float, now: float
) -> TokenBucket:
    bucket = buckets.get(key)
    if bucket is None:
        bucket = buckets[key] = TokenBucket(rate, burst, now)
    return bucket


@dataclass
class GuestPace:
    """Each guest's gate and buckets in one room; refused events are not counted."""

    asked: dict[str, float] = field(default_factory=dict)
    """When each guest last asked for control (and was let through)."""
    inputs: dict[str, TokenBucket] = field(default_factory=dict)
    draws: dict[str, TokenBucket] = field(default_factory=dict)
    numbers: dict[str, TokenBucket] = field(default_factory=dict)
    asking: set[str] = field(default_factory=set)
    """Guests whose request for control the host has not answered yet."""
    declined: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Each declined guest: how many times it was declined, and until when it must wait."""

    def request(self, guest_id: str, now: float) -> float:
        """0 if the guest may ask for control now (counted if so), else how many seconds it
        must still wait (after a decline: the decline's wait, else the plain interval)."""
        _, until = self.declined.get(guest_id, (0, 0.0))
        if now < until:
            return until - now
        since = now - self.asked.get(guest_id, float("-inf"))
        if 0 <= since < MIN_REQUEST_INTERVAL:
            return MIN_REQUEST_INTERVAL - since
        self.asked[guest_id] = now
        return 0.0

    def decline(self, guest_id: str, now: float) -> float:
        """The visitor declined the guest's request: how long it must now wait to ask again
        (:data:`DECLINED_WAIT`, doubled at each decline, at most :data:`MAX_DECLINED_WAIT`)."""
        count, _ = self.declined.get(guest_id, (0, 0.0))
        wait = min(DECLINED_WAIT * 2.0 ** min(count, 16), MAX_DECLINED_WAIT)
        self.declined[guest_id] = (count + 1, now + wait)
        return wait

    def input(self, guest_id: str, now: float) -> bool:
        """Whether the guest may send one more control input now (counted if so)."""
        return _bucket(self.inputs, guest_id, INPUT_RATE, INPUT_BURST, now).allow(now)

    def draw(self, guest_id: str, numbers: int, now: float) -> str:
        """ "" if the guest may send one more ``draw`` message holding ``numbers`` numbers
        now (both counted if so); else which bucket refused it, ``"messages"`` or
        ``"numbers"`` (nothing counted)."""
        messages = _bucket(self.draws, guest_id, DRAW_RATE, DRAW_BURST, now)
        drawn = _bucket(self.numbers, guest_id, DRAW_NUMBERS_RATE, DRAW_NUMBERS_BURST, now)
        if not messages.can(now):
            return "messages"
        if not drawn.allow(now, numbers):
            return "numbers"
        messages.allow(now)
        return ""

    def forget(self, guest_id: str) -> None:
        """The guest left: its request is no longer pending. Its buckets and declines stay
        (a room's guests are few), so leaving and coming back is no way round them."""
        self.asking.discard(guest_id)
