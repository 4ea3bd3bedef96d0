"""A replay recording directory (``stream.jsonl``, ``audio.jsonl``, ``audio/``) read into a
timeline of safe events.

``stream.jsonl`` holds the host's wire frames as sent (not sanitized): each is sanitized here
with one :class:`~cwmn_web.viewer.sanitize.Sanitizer`, as a guest's viewer would (a snapshot
resets it). ``audio.jsonl`` lists the narration segments.

The events are streamed, never all held: :func:`read_recording` reads the stream once to
check it (every line parsed and sanitized, so a corrupt recording fails before the render
starts) keeping only the server's privacy markers (at most :data:`MAX_MARKERS`), and
:class:`Events` reads it again, line by line, each time it is iterated. Memory stays bounded
whatever the recording's size (a line is at most :data:`MAX_LINE_BYTES`).
"""

from __future__ import annotations

import heapq
import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ProtocolError
from ..viewer.sanitize import Sanitizer
from .errors import RenderError

__all__ = ["Event", "Events", "Segment", "Timeline", "read_recording"]

#: Frame kinds the viewer draws; ``privacy`` markers become ``status`` events.
MIRROR_KINDS = frozenset({"snapshot", "mutations", "scroll", "viewport", "pointer", "focus"})
#: The largest ``stream.jsonl`` (or ``audio.jsonl``) the renderer reads (its events are
#: streamed; this bounds the render's time).
MAX_FILE_BYTES = 1 << 30
#: The longest line: a frame is at most the wire's 4 MiB (its JSON escapes can grow it).
MAX_LINE_BYTES = 32 * 1024 * 1024
#: The most privacy markers a recording may hold (they are kept in memory to be slotted in).
MAX_MARKERS = 100_000


@dataclass
class Event:
    """One thing for the render page: a sanitized ``frame`` or a privacy ``status``."""

    t: float  # ms epoch
    kind: str  # a MIRROR_KINDS kind, or "privacy"
    data: dict[str, Any]

    def op(self) -> dict[str, Any]:
        """The message for ``window.cwmnRender.apply``."""
        if self.kind == "privacy":
            return {"op": "status", "paused": bool(self.data.get("enabled"))}
        return {"op": "frame", "kind": self.kind, "data": self.data}


@dataclass
class Segment:
    """One narration file, started at ``t0`` (ms epoch)."""

    t0: float
    path: Path
    mime: str


class Events(Iterable[Event]):
    """The sanitized events of a checked ``stream.jsonl`` in time order, read from the file
    each time they are iterated (see :func:`read_stream` for the order)."""

    def __init__(self, path: Path, markers: list[tuple[float, int, Event]]) -> None:
        self.path, self.markers = path, markers

    def __iter__(self) -> Iterator[Event]:
        frames = ((t, number, event) for number, t, event in _page_events(self.path))
        for _, _, event in heapq.merge(frames, self.markers, key=lambda e: (e[0], e[1])):
            yield event


@dataclass
class Timeline:
    events: Iterable[Event] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    skipped: int = 0  # frames the sanitizer refused (as a guest's viewer skips them)


def _line_error(name: str, number: int, why: str) -> RenderError:
    return RenderError(f"corrupt recording: {name} line {number}: {why}")


def _records(path: Path, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of a ``.jsonl`` file, read line by line. A last line cut short without
    its newline (the server stopped mid-write) is ignored; any other unreadable line is a
    RenderError, and so is a file larger than :data:`MAX_FILE_BYTES` or a line longer than
    :data:`MAX_LINE_BYTES`."""
    try:
        f = path.open("rb")
    except OSError as exc:
        raise RenderError(f"cannot read {name}: {exc}") from exc
    with f:
        try:
            size = os.fstat(f.fileno()).st_size
        except OSError as exc:
            raise RenderError(f"cannot read {name}: {exc}") from exc
        if size > MAX_FILE_BYTES:
            raise RenderError(
                f"recording too large: {name} is {size / 1e6:.0f} MB"
                f" (at most {MAX_FILE_BYTES / 1e6:.0f} MB)"
            )
        read, number = 0, 0
        while line := f.readline(MAX_LINE_BYTES + 1):
            number += 1
            read += len(line)
            if read > MAX_FILE_BYTES:  # it grew while being read
                raise RenderError(f"recording too large: {name} is over {MAX_FILE_BYTES} bytes")
            if len(line) > MAX_LINE_BYTES:
                raise _line_error(name, number, f"longer than {MAX_LINE_BYTES} bytes")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, UnicodeDecodeError) as exc:
                if not line.endswith(b"\n"):  # the last line, unfinished: an interrupted write
                    break
                raise _line_error(name, number, f"not JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise _line_error(name, number, "not a JSON object")
            yield number, record


def _time(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _stream(path: Path) -> Iterator[tuple[int, float, Event | None]]:
    """Each line of ``stream.jsonl``: ``(line number, time, event)``, the event None for a
    frame the viewer would skip. Page frames keep file order, their times made
    non-decreasing (a host clock stepping back must not put a mutation before its
    snapshot); privacy markers keep their own time."""
    sanitizer = Sanitizer()
    page: Any = None  # the page of the last snapshot: frames of another page wait for theirs
    last = float("-inf")
    for number, record in _records(path, "stream.jsonl"):
        t, kind, data = _time(record.get("t")), record.get("kind"), record.get("data")
        if t is None or not isinstance(kind, str) or not isinstance(data, dict):
            raise _line_error("stream.jsonl", number, "needs a numeric t, a kind and a data object")
        if kind == "privacy":
            yield number, t, Event(t, kind, {"enabled": bool(data.get("enabled"))})
            continue
        if kind not in MIRROR_KINDS or (kind != "snapshot" and record.get("page") != page):
            yield number, t, None
            continue
        try:
            safe = sanitizer.frame(kind, data)
        except ProtocolError:
            yield number, t, None
            continue
        if kind == "snapshot":
            page = record.get("page")
        last = max(last, t)
        yield number, last, Event(last, kind, safe)


def _page_events(path: Path) -> Iterator[tuple[int, float, Event]]:
    """The page frames of :func:`_stream` the viewer shows."""
    for number, t, event in _stream(path):
        if event is not None and event.kind != "privacy":
            yield number, t, event


def read_stream(path: Path) -> tuple[Events, int]:
    """Check ``stream.jsonl`` (one pass, nothing but its privacy markers kept): its events in
    time order, streamed from the file, and how many frames were skipped.

    Page frames stay in file order (as a guest's viewer received them), their times made
    non-decreasing; the server's privacy markers, which can land slightly before or after
    the frames around them, are slotted in by time (file order for equal times: a stable
    sort of the whole, merged as it is read)."""
    skipped, snapshot = 0, False
    markers: list[tuple[float, int, Event]] = []
    for number, t, event in _stream(path):
        if event is None:
            skipped += 1
        elif event.kind == "privacy":
            if len(markers) >= MAX_MARKERS:
                raise _line_error("stream.jsonl", number, f"more than {MAX_MARKERS} privacy marks")
            markers.append((t, number, event))
        elif event.kind == "snapshot":
            snapshot = True
    if not snapshot:
        raise RenderError("corrupt recording: stream.jsonl has no snapshot (nothing to show)")
    markers.sort(key=lambda m: (m[0], m[1]))
    return Events(path, markers), skipped


def read_segments(recording: Path) -> list[Segment]:
    """The narration segments of ``audio.jsonl`` (none when it is missing), by start time."""
    path = recording / "audio.jsonl"
    if not path.exists():
        return []
    root = recording.resolve()
    segments: list[Segment] = []
    seen: set[str] = set()
    for number, record in _records(path, "audio.jsonl"):
        t0, file = _time(record.get("t0")), record.get("file")
        if t0 is None or not isinstance(file, str) or not file:
            raise _line_error("audio.jsonl", number, "needs a numeric t0 and a file")
        target = (recording / file).resolve()
        if not target.is_relative_to(root):
            raise _line_error("audio.jsonl", number, f"file {file!r} is outside the recording")
        if not target.is_file():
            raise RenderError(f"corrupt recording: audio segment {file} is missing")
        if file in seen:
            continue
        seen.add(file)
        segments.append(Segment(t0, target, str(record.get("mime") or "")))
    segments.sort(key=lambda s: s.t0)
    return segments


def read_recording(recording: Path) -> Timeline:
    """Everything the renderer needs from a recording directory."""
    stream = recording / "stream.jsonl"
    if not stream.is_file():
        raise RenderError(f"corrupt recording: {stream} does not exist")
    events, skipped = read_stream(stream)
    return Timeline(events, read_segments(recording), skipped)
