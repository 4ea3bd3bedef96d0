"""Where replays' recordings and videos are kept: :class:`ReplayStorage`, what the recorder,
the render worker, the purge and the video page need of it, and :class:`DirectoryStorage`,
its one implementation: ``{data_dir}/replays/{id}/``, a directory several machines may
share (docs/deploy/storage.md says what the file system must do).

One writer per recording: a replay session's room lives in one server process at a time
(the process its host is connected to), so only that process appends to its recording;
the render worker reads it only once the recording is over, and writes the video beside it.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Protocol

from .recording import Recording, recording_dir

__all__ = ["VIDEO", "DirectoryStorage", "ReplayStorage", "replay_storage"]

#: The video's file name beside its recording.
VIDEO = "video.mp4"
STREAM = "stream.jsonl"


class ReplayStorage(Protocol):
    """Recordings and their videos, by replay id."""

    def recording(
        self, replay_id: str, max_seconds: float, started_ms: float | None = None
    ) -> Recording:
        """Open the replay's recording to append to it (made if new; carried on where an
        earlier process stopped otherwise)."""
        ...

    def source(self, replay_id: str) -> Path | None:
        """The recording as the renderer reads it (a folder); None if it has no stream."""
        ...

    def video_target(self, replay_id: str) -> Path:
        """Where the renderer writes the video (written whole: a temporary name, renamed)."""
        ...

    def video(self, replay_id: str) -> Path | None:
        """The rendered video to serve; None if there is none."""
        ...

    def size(self, replay_id: str) -> int:
        """The bytes the replay's recording holds (0 if it has none)."""
        ...

    def delete(self, replay_id: str) -> None:
        """Delete the replay's recording and video (nothing if already gone)."""
        ...


class DirectoryStorage:
    """Recordings and videos in ``{root}/replays/{id}/``: ``stream.jsonl``, ``audio/``,
    ``audio.jsonl`` (:mod:`.recording`) and ``video.mp4``. ``root`` may be a shared
    directory (NFS, …) that every server and render worker mounts."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, replay_id: str) -> Path:
        return recording_dir(self.root, replay_id)

    def recording(
        self, replay_id: str, max_seconds: float, started_ms: float | None = None
    ) -> Recording:
        return Recording(self.folder(replay_id), max_seconds, started_ms)

    def source(self, replay_id: str) -> Path | None:
        folder = self.folder(replay_id)
        return folder if (folder / STREAM).is_file() else None

    def video_target(self, replay_id: str) -> Path:
        return self.folder(replay_id) / VIDEO

    def video(self, replay_id: str) -> Path | None:
        video = self.video_target(replay_id)
        return video if video.is_file() else None

    def size(self, replay_id: str) -> int:
        folder, total = self.folder(replay_id), 0
        for path in (folder, folder / "audio"):
            try:
                entries = list(path.iterdir())
            except OSError:
                continue
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_file():
                        total += entry.stat().st_size
        return total

    def delete(self, replay_id: str) -> None:
        shutil.rmtree(self.folder(replay_id), ignore_errors=True)


def replay_storage(data_dir: Path) -> ReplayStorage:
    """The storage of a server or worker whose data dir is ``data_dir``."""
    return DirectoryStorage(data_dir)
