"""A replay session's recording on disk: ``{data_dir}/replays/{id}/`` (docs/REPLAY.md).

``stream.jsonl``: one ``{"t", "page", "kind", "data"}`` line per frame the relay accepted,
in arrival order; ``audio/{segment}.{webm|ogg}``: narration chunks appended in index order;
``audio.jsonl``: one line per segment. Every write is flushed before the frame is acked.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ...protocol.messages import MirrorFrame
from .audio import check_audio

__all__ = ["MAX_SEGMENTS", "OVERRUN_SECONDS", "Recording", "recording_dir", "remove_recording"]

log = logging.getLogger("cwmn_web.server.replays")
#: Frames may come this long past the maximum length (the host's own timer stops it).
OVERRUN_SECONDS = 5.0
MAX_SEGMENTS = 500
AUDIO = "audio"


def recording_dir(data_dir: Path, replay_id: str) -> Path:
    return data_dir / "replays" / replay_id


def remove_recording(data_dir: Path, replay_id: str) -> None:
    """Delete a replay's recording and video (nothing if already gone)."""
    shutil.rmtree(recording_dir(data_dir, replay_id), ignore_errors=True)


@dataclass
class _Segment:
    ext: str
    next_index: int


class Recording:
    """Appends one replay session's frames (see the module's docstring).

    Reopening a folder (after a server restart) carries on where it stopped."""

    def __init__(self, folder: Path, max_seconds: float) -> None:
        self.folder, self.max_seconds = folder, max_seconds
        (folder / "audio").mkdir(parents=True, exist_ok=True)
        self.first_t: float | None = None
        self.last_t: float | None = None
        #: The least (server time minus host time) seen: the clock offset plus the fastest trip.
        self._offset: float | None = None
        self.segments: dict[str, _Segment] = {}
        self._recover()
        self._stream: IO[str] = (folder / "stream.jsonl").open("a", encoding="utf-8")

    @property
    def has_audio(self) -> bool:
        return bool(self.segments)

    def take(self, frame: MirrorFrame, page: int, now_ms: float) -> bool:
        """Write an accepted frame; False if dropped (past the maximum length, bad audio)."""
        t = self._time(frame.t, now_ms)
        if t != now_ms:
            skew = now_ms - t
            self._offset = skew if self._offset is None else min(self._offset, skew)
        if self.first_t is not None and t > self.first_t + self._limit_ms:
            return False
        if frame.kind == AUDIO:
            return self._audio(frame.data, t)
        self._line({"t": t, "page": page, "kind": frame.kind, "data": frame.data})
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
        return first, min(max(last, first), first + self._limit_ms)

    def close(self) -> None:
        self._stream.close()

    @property
    def _limit_ms(self) -> float:
        return (self.max_seconds + OVERRUN_SECONDS) * 1000

    def _time(self, t: float, now_ms: float) -> float:
        """The frame's capture time (now if it has none), never before the last one."""
        value = t if isinstance(t, (int, float)) and math.isfinite(t) and t > 0 else now_ms
        return max(value, self.last_t or value)

    def _seen(self, t: float) -> None:
        self.first_t = t if self.first_t is None else min(self.first_t, t)
        self.last_t = t if self.last_t is None else max(self.last_t, t)

    def _line(self, obj: dict[str, Any]) -> None:
        self._stream.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._stream.flush()

    def _audio(self, data: dict[str, Any], t: float) -> bool:
        try:
            chunk = check_audio(data)
        except ValueError as exc:
            log.warning("%s: audio chunk dropped: %s", self.folder.name, exc)
            return False
        segment = self.segments.get(chunk.segment)
        if segment is None:
            if chunk.index != 0 or len(self.segments) >= MAX_SEGMENTS:
                log.warning("%s: audio chunk of an unknown segment dropped", self.folder.name)
                return False
            segment = self.segments[chunk.segment] = _Segment(chunk.ext, 0)
            name = f"audio/{chunk.segment}.{chunk.ext}"
            line = {"segment": chunk.segment, "t0": chunk.t0, "mime": chunk.mime, "file": name}
            with (self.folder / "audio.jsonl").open("a", encoding="utf-8") as index:
                index.write(json.dumps(line, separators=(",", ":")) + "\n")
            self._seen(chunk.t0)
        elif chunk.index < segment.next_index or chunk.ext != segment.ext:
            return False  # a duplicate (resent after a reconnect), or another format
        path = self.folder / "audio" / f"{chunk.segment}.{segment.ext}"
        with path.open("ab") as file:
            file.write(chunk.data)
            file.flush()
        segment.next_index = chunk.index + 1
        (self.folder / "audio" / f"{chunk.segment}.next").write_text(str(segment.next_index))
        self._seen(t)
        return True

    def _recover(self) -> None:
        """What an earlier process of this recording wrote: times and audio segments."""
        stream = self.folder / "stream.jsonl"
        for line in (_first_line(stream), _last_line(stream)):
            t = _field(line, "t")
            if t is not None:
                self._seen(t)
        index = self.folder / "audio.jsonl"
        if not index.exists():
            return
        for line in index.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                name, ext = str(entry["segment"]), str(entry["file"]).rsplit(".", 1)[1]
                t0 = float(entry["t0"])
            except (ValueError, KeyError, IndexError, TypeError):
                continue
            counter = self.folder / "audio" / f"{name}.next"
            done = int(counter.read_text()) if counter.exists() else 1
            self.segments[name] = _Segment(ext, done)
            self._seen(t0)


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
