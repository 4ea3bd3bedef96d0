"""Numbering and keeping mirror frames until the server acknowledges them. No I/O here.

Frames are numbered from 1 per page; each is kept until an ``ack`` covers it,
so a dropped connection loses nothing: on resume the host re-sends what the server lacks.
Past ``max_frames`` or ``max_bytes`` unacknowledged, it gives up on the backlog and
asks for a fresh snapshot instead (``needs_snapshot``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..protocol.messages import MirrorFrame

__all__ = ["UnackedFrames"]


@dataclass
class UnackedFrames:
    max_frames: int = 10_000
    max_bytes: int = 32 * 1024 * 1024
    seq: int = 0
    acked: int = 0
    needs_snapshot: bool = False
    _frames: deque[tuple[MirrorFrame, int]] = field(default_factory=deque)
    _bytes: int = 0

    def add(self, kind: str, data: dict[str, Any], size: int = 0, t: float = 0.0) -> MirrorFrame:
        """Number a frame and keep it until acknowledged; ``size`` estimates its bytes, ``t``
        is when it was captured (ms since the epoch)."""
        self.seq += 1
        frame = MirrorFrame(seq=self.seq, kind=kind, data=data, t=t)
        size = size or _estimate(data)
        if kind == "snapshot":
            self.needs_snapshot = False
        self._frames.append((frame, size))
        self._bytes += size
        if len(self._frames) > self.max_frames or self._bytes > self.max_bytes:
            self._frames.clear()
            self._bytes = 0
            self.needs_snapshot = True
        return frame

    def ack(self, seq: int) -> None:
        """The server holds every frame up to ``seq``."""
        self.acked = max(self.acked, min(seq, self.seq))
        while self._frames and self._frames[0][0].seq <= self.acked:
            self._bytes -= self._frames.popleft()[1]

    def unacked(self, after: int) -> list[MirrorFrame]:
        """Frames to send again after a reconnect where the server holds up to ``after``."""
        self.ack(after)
        return [frame for frame, _ in self._frames]

    @property
    def pending(self) -> int:
        return len(self._frames)


def _estimate(data: dict[str, Any]) -> int:
    """A cheap size estimate (bytes) for the memory bound."""
    if "b64" in data:  # an audio chunk
        return 128 + len(data["b64"])
    nodes = data.get("nodes") or data.get("adds") or ()
    return 256 + 96 * len(nodes) + 48 * (len(data.get("attrs", ())) + len(data.get("texts", ())))
