"""A replay session's recording on disk: ``{data_dir}/replays/{id}/`` (docs/REPLAY.md).

``stream.jsonl``: one ``{"t", "page", "kind", "data"}`` line per frame the relay accepted,
in arrival order; ``audio/{segment}.{webm|ogg}``: narration chunks appended in index order;
``audio.jsonl``: one line per segment, written once its first chunk is; ``audio/{segment}.next``:
the next chunk's index and the segment file's length after the last chunk (so a chunk
appended by a process that died before counting it is cut off, then taken again). Every
write is on disk (``fsync``: a file's data, a new file's or a renamed counter's folder)
before :meth:`Recording.take` returns, so before the frame is acked; a write that fails is
undone. The files may be on a file system that several machines share
(docs/deploy/storage.md).

A hostile host cannot fill the disk: past :data:`MAX_STREAM_BYTES` of page frames or
:data:`AUDIO_BYTES_PER_MINUTE` of narration per minute of the replay's maximum length,
frames are dropped (the recording keeps what it has).

Nor can it make a recording longer than the time it took: the host's timestamps are believed
only within the server's clock (``started_ms``, when the recording began on the server):
the recording's span never exceeds the server's elapsed time plus :data:`CLOCK_ALLOWANCE_MS`;
a frame claiming later is moved back to that bound, an audio segment claiming to start
earlier than that span allows is moved forward.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...protocol.messages import MirrorFrame
from .audio import check_audio

__all__ = [
    "AUDIO_BYTES_PER_MINUTE",
    "CLOCK_ALLOWANCE_MS",
    "MAX_SEGMENTS",
    "MAX_STREAM_BYTES",
    "OVERRUN_SECONDS",
    "Recording",
    "recording_dir",
]

log = logging.getLogger("cwmn_web.server.replays")
#: Frames may come this long past the maximum length (the host's own timer stops it).
OVERRUN_SECONDS = 5.0
MAX_SEGMENTS = 500
#: The most ``stream.jsonl`` may hold (a busy 10-minute page writes a few MB).
MAX_STREAM_BYTES = 256 * 1024 * 1024
#: Narration per minute of the maximum length (at least one minute's worth); the recorder's
#: Opus writes about 0.6 MB a minute.
AUDIO_BYTES_PER_MINUTE = 8 * 1024 * 1024
AUDIO = "audio"
#: How far the host's clock may run ahead of the server's over a recording (the first
#: frame's trip may have been slower than a later one's).
CLOCK_ALLOWANCE_MS = 2000.0


def recording_dir(data_dir: Path, replay_id: str) -> Path:
    return data_dir / "replays" / replay_id


@dataclass
class _Segment:
    ext: str
    next_index: int
    size: int
    """The file's length after chunk ``next_index - 1``."""


class Recording:
    """Appends one replay session's frames (see the module's docstring).

    Reopening a folder (after a server restart) carries on where it stopped."""

    def __init__(self, folder: Path, max_seconds: float, started_ms: float | None = None) -> None:
        self.folder, self.max_seconds = folder, max_seconds
        #: When the recording began on the server's clock (None: the first frame's arrival).
        self.started_ms = started_ms
        new = not folder.exists()
        (folder / "audio").mkdir(parents=True, exist_ok=True)
        self.first_t: float | None = None
        self.last_t: float | None = None
        #: The least (server time minus host time) seen: the clock offset plus the fastest trip.
        self._offset: float | None = None
        self.segments: dict[str, _Segment] = {}
        self.max_stream_bytes = MAX_STREAM_BYTES
        self.max_audio_bytes = max(max_seconds, 60.0) / 60 * AUDIO_BYTES_PER_MINUTE
        self.audio_bytes = 0
        self._full: set[str] = set()
        self._recover()
        self._stream = (folder / "stream.jsonl").open("ab", buffering=0)
        self.stream_bytes = self._stream.seek(0, os.SEEK_END)
        if new:  # the folders and the stream's name are on disk before any frame is acked
            for path in (folder / "audio", folder, folder.parent):
                _sync_dir(path)

    @property
    def has_audio(self) -> bool:
        return bool(self.segments)

    def take(self, frame: MirrorFrame, page: int, now_ms: float) -> bool:
        """Write an accepted frame; False if dropped (past the maximum length, bad audio)."""
        if self.started_ms is None:
            self.started_ms = now_ms
        t = self._time(frame.t, now_ms)
        if t != now_ms:
            skew = now_ms - t
            self._offset = skew if self._offset is None else min(self._offset, skew)
        if self.first_t is not None and t > self.first_t + self._limit_ms:
            return False
        if frame.kind == AUDIO:
            return self._audio(frame.data, t, now_ms)
        if not self._line({"t": t, "page": page, "kind": frame.kind, "data": frame.data}):
            return False
        self._seen(t)
        return True

    def privacy(self, enabled: bool, page: int, now_ms: float) -> None:
        """Host privacy turned on or off (now, on the host's clock)."""
        t = self.host_time(now_ms)
        self._line({"t": t, "page": page, "kind": "privacy", "data": {"enabled": enabled}})

    def host_time(self, now_ms: float) -> float:
        """``now_ms`` (server clock) on the host's clock, never before the last frame: frames
        are timed by the host, so markers the server adds must be too."""
        t = now_ms - self._offset if self._offset is not None else now_ms
        return max(t, self.last_t or t)

    def bounds(self, now_ms: float, ended_now: bool = False) -> tuple[float, float]:
        """``(started_at, ended_at)`` of the recording so far (now if it has no frame);
        ``ended_now``: the host ended it now (a page idle at its end still counts)."""
        first = self.first_t if self.first_t is not None else now_ms
        last = self.last_t if self.last_t is not None else now_ms
        if ended_now:
            last = self.host_time(now_ms)
        longest = min(self._limit_ms, self._span_ms(now_ms))
        return first, min(max(last, first), first + longest)

    def close(self) -> None:
        self._stream.close()

    @property
    def _limit_ms(self) -> float:
        return (self.max_seconds + OVERRUN_SECONDS) * 1000

    def _span_ms(self, now_ms: float) -> float:
        """The longest the recording may span by now: the server's elapsed time since it
        began, plus the allowance (the host's clock is believed no further)."""
        started = self.started_ms if self.started_ms is not None else now_ms
        return max(now_ms - started, 0.0) + CLOCK_ALLOWANCE_MS

    def _time(self, t: float, now_ms: float) -> float:
        """The frame's capture time (now if it has none), never before the last one nor
        later than the server's clock allows (:meth:`_span_ms` after the first frame)."""
        value = t if isinstance(t, (int, float)) and math.isfinite(t) and t > 0 else now_ms
        value = max(value, self.last_t or value)
        if self.first_t is not None:
            value = min(value, self.first_t + self._span_ms(now_ms))
        return value

    def _start_time(self, t0: float, t: float, now_ms: float) -> float:
        """An audio segment's start (its chunk arrived as a frame timed ``t``), within the
        span the server's clock allows."""
        first = t if self.first_t is None else self.first_t
        last = max(t, self.last_t if self.last_t is not None else t)
        span = self._span_ms(now_ms)
        return min(max(t0, last - span), first + span)

    def _seen(self, t: float) -> None:
        self.first_t = t if self.first_t is None else min(self.first_t, t)
        self.last_t = t if self.last_t is None else max(self.last_t, t)

    def _line(self, obj: dict[str, Any]) -> bool:
        """Append one line to the stream; False if past its cap (then dropped)."""
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        if self._over("stream", self.stream_bytes + len(data) > self.max_stream_bytes):
            return False
        _append(self._stream, data, self.stream_bytes)
        self.stream_bytes += len(data)
        return True

    def _over(self, what: str, over: bool) -> bool:
        """Whether ``what`` is full (from the first frame that would pass its cap on)."""
        if over and what not in self._full:
            self._full.add(what)
            log.warning("%s: the %s reached its cap: later frames dropped", self.folder.name, what)
        return what in self._full

    def _audio(self, data: dict[str, Any], t: float, now_ms: float) -> bool:
        try:
            chunk = check_audio(data)
        except ValueError as exc:
            log.warning("%s: audio chunk dropped: %s", self.folder.name, exc)
            return False
        segment = self.segments.get(chunk.segment)
        new = segment is None
        if segment is None:
            if chunk.index != 0 or len(self.segments) >= MAX_SEGMENTS:
                log.warning("%s: audio chunk of an unknown segment dropped", self.folder.name)
                return False
            segment = _Segment(chunk.ext, 0, 0)
        elif chunk.index < segment.next_index or chunk.ext != segment.ext:
            return False  # a duplicate (resent after a reconnect), or another format
        size = self.audio_bytes + len(chunk.data)
        if self._over("narration", size > self.max_audio_bytes):
            return False
        audio = self.folder / "audio"
        with (audio / f"{chunk.segment}.{segment.ext}").open("ab", buffering=0) as file:
            _append(file, chunk.data, segment.size)
        end = segment.size + len(chunk.data)
        _write_counter(audio / f"{chunk.segment}.next", chunk.index + 1, end)
        if new:
            name = f"audio/{chunk.segment}.{chunk.ext}"
            t0 = self._start_time(chunk.t0, t, now_ms)
            line = {"segment": chunk.segment, "t0": t0, "mime": chunk.mime, "file": name}
            with (self.folder / "audio.jsonl").open("ab", buffering=0) as index:
                text = json.dumps(line, separators=(",", ":")) + "\n"
                _append(index, text.encode(), index.seek(0, os.SEEK_END))
            _sync_dir(self.folder)  # audio.jsonl's name, if this is the first segment
            self.segments[chunk.segment] = segment
            self._seen(t0)
        segment.next_index, segment.size = chunk.index + 1, end
        self.audio_bytes = size
        self._seen(t)
        return True

    def _recover(self) -> None:
        """What an earlier process of this recording wrote: times and audio segments (a
        line or chunk it was writing when it died is cut off: it was never acked)."""
        stream = self.folder / "stream.jsonl"
        _cut_partial_line(stream)
        for line in (_first_line(stream), _last_line(stream)):
            t = _field(line, "t")
            if t is not None:
                self._seen(t)
        index = self.folder / "audio.jsonl"
        if not index.exists():
            return
        _cut_partial_line(index)
        for line in index.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                name, ext = str(entry["segment"]), str(entry["file"]).rsplit(".", 1)[1]
                t0 = float(entry["t0"])
            except (ValueError, KeyError, IndexError, TypeError):
                continue
            path = self.folder / "audio" / f"{name}.{ext}"
            length = path.stat().st_size if path.exists() else 0
            done, size = _read_counter(self.folder / "audio" / f"{name}.next", length)
            if length > size:
                os.truncate(path, size)
            self.segments[name] = _Segment(ext, done, min(size, length))
            self.audio_bytes += min(size, length)
            self._seen(t0)


def _append(file: Any, data: bytes, good: int) -> None:
    """Write all of ``data`` to an unbuffered append-mode ``file`` that should hold
    ``good`` bytes (more, left by a failed write or a process that died: cut first); on
    failure cut back to ``good`` and raise."""
    try:
        if file.seek(0, os.SEEK_END) != good:
            file.truncate(good)
        view = memoryview(data)
        while view:
            view = view[file.write(view) :]
        os.fsync(file.fileno())
    except BaseException:
        with contextlib.suppress(OSError, ValueError):
            file.truncate(good)
        raise


def _write_counter(path: Path, next_index: int, size: int) -> None:
    """``next_index size``, replaced atomically (a crash leaves the old or the new), on
    disk before it returns (the new file's data, then the rename: its folder)."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as file:
        file.write(f"{next_index} {size}")
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
    _sync_dir(path.parent)


def _sync_dir(path: Path) -> None:
    """Put a folder's entries (a new or renamed file's name) on disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_counter(path: Path, length: int) -> tuple[int, int]:
    """``(next_index, size)``; none yet: ``(0, 0)``; an older counter without a size: the
    file's ``length``."""
    try:
        parts = path.read_text().split()
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else length
    except (OSError, ValueError, IndexError):
        return 0, 0


def _cut_partial_line(path: Path) -> None:
    """Drop a last line without its newline (its write was cut short)."""
    if not path.exists():
        return
    with path.open("rb+") as file:
        end = file.seek(0, os.SEEK_END)
        if end == 0:
            return
        file.seek(end - 1)
        if file.read(1) == b"\n":
            return
        pos = end
        while pos > 0:
            start = max(pos - 65536, 0)
            file.seek(start)
            cut = file.read(pos - start).rfind(b"\n")
            if cut >= 0:
                file.truncate(start + cut + 1)
                return
            pos = start
        file.truncate(0)


def _field(line: str | None, key: str) -> float | None:
    try:
        value = json.loads(line)[key] if line else None
    except (ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def _first_line(path: Path) -> str | None:
    if not path.exists():
        return None
    with path.open("r", encoding="utf-8", errors="replace") as file:
        return file.readline() or None


def _last_line(path: Path, block: int = 65536) -> str | None:
    """The file's last complete line, read from the end."""
    if not path.exists():
        return None
    with path.open("rb") as file:
        end = file.seek(0, os.SEEK_END)
        data, pos = b"", end
        while pos > 0:
            pos = max(pos - block, 0)
            file.seek(pos)
            data = file.read(end - pos)
            lines = data.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or pos == 0:
                return lines[-1].decode("utf-8", "replace") or None
    return None
