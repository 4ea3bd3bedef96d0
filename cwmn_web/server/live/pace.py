"""How fast each guest of a room may ask for control, send control inputs and draw
(extensions, docs/control/server.md). No I/O here; the caller passes ``now``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...timing import RateGate
from .limits import TokenBucket

__all__ = [
    "DRAW_BURST",
    "DRAW_RATE",
    "INPUT_BURST",
    "INPUT_RATE",
    "MAX_STROKE_NUMBERS",
    "MIN_REQUEST_INTERVAL",
    "GuestPace",
]

#: A guest may ask for control at most once in this many seconds.
MIN_REQUEST_INTERVAL = 3.0
#: Control inputs one guest may send per second on average, and at once.
INPUT_RATE, INPUT_BURST = 60, 120
#: ``draw`` messages one guest may send per second on average, and at once.
DRAW_RATE, DRAW_BURST = 30, 60
#: Numbers (x, y, x, y, ...) one stroke may hold across its messages.
MAX_STROKE_NUMBERS = 4096


@dataclass
class GuestPace:
    """Each guest's gate and buckets in one room; refused events are not counted."""

    requests: RateGate[str] = field(default_factory=lambda: RateGate(MIN_REQUEST_INTERVAL))
    inputs: dict[str, TokenBucket] = field(default_factory=dict)
    draws: dict[str, TokenBucket] = field(default_factory=dict)
    strokes: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Each guest's stroke under way: its id and the numbers it holds so far."""

    def request(self, guest_id: str, now: float) -> bool:
        """Whether the guest may ask for control now (counted if so)."""
        return self.requests.allow(guest_id, now)

    def input(self, guest_id: str, now: float) -> bool:
        """Whether the guest may send one more control input now (counted if so)."""
        bucket = self.inputs.get(guest_id)
        if bucket is None:
            bucket = self.inputs[guest_id] = TokenBucket(INPUT_RATE, INPUT_BURST, now)
        return bucket.allow(now)

    def draw(self, guest_id: str, now: float) -> bool:
        """Whether the guest may send one more ``draw`` message now (counted if so)."""
        bucket = self.draws.get(guest_id)
        if bucket is None:
            bucket = self.draws[guest_id] = TokenBucket(DRAW_RATE, DRAW_BURST, now)
        return bucket.allow(now)

    def stroke(self, guest_id: str, stroke: str, numbers: int, done: bool) -> bool:
        """Add ``numbers`` to the guest's stroke ``stroke`` (another id starts a new one);
        False (nothing added) past :data:`MAX_STROKE_NUMBERS`. ``done`` ends it."""
        current, held = self.strokes.get(guest_id, ("", 0))
        held = held if current == stroke else 0
        if held + numbers > MAX_STROKE_NUMBERS:
            return False
        if done:
            self.strokes.pop(guest_id, None)
        else:
            self.strokes[guest_id] = (stroke, held + numbers)
        return True

    def forget(self, guest_id: str) -> None:
        """The guest left: its stroke under way ends. Its buckets stay (a room's guests are
        few), so leaving and coming back is no way round them."""
        self.strokes.pop(guest_id, None)
