"""Where a replay session meets its row: open its recording, and queue its render job
when it ends (whichever way: ``end_session``, expiry, the host gone past the grace)."""

from __future__ import annotations

import time
from pathlib import Path

from ..db import ReplayStatus, SessionRecord, Store
from .recording import Recording, recording_dir

__all__ = ["END_GRACE_SECONDS", "finish_recording", "open_recording", "replay_limit"]

#: A replay still recording this long past its maximum length is ended by the server.
END_GRACE_SECONDS = 30.0


def replay_limit(max_seconds: float) -> float:
    """Seconds after its start at which the server ends a replay session."""
    return max_seconds + END_GRACE_SECONDS


def open_recording(store: Store, data_dir: Path, session: SessionRecord) -> Recording | None:
    """The recording of a replay session still recording (None otherwise)."""
    row = store.replays.get(session.id)
    if row is None or row.status != ReplayStatus.RECORDING:
        return None
    return Recording(recording_dir(data_dir, session.id), row.max_seconds)


def finish_recording(
    store: Store,
    data_dir: Path,
    replay_id: str,
    recording: Recording | None = None,
    ended_now: bool = False,
) -> bool:
    """The recording is over: close it and queue the render job (``ended_at`` = its last
    frame's time, or now if the host ended it now). Without ``recording`` (another process
    had it) the files say."""
    row = store.replays.get(replay_id)
    if row is None or row.status != ReplayStatus.RECORDING:
        if recording is not None:
            recording.close()
        return False
    if recording is None:
        recording = Recording(recording_dir(data_dir, replay_id), row.max_seconds)
    recording.close()
    started, ended = recording.bounds(time.time() * 1000, ended_now)
    if recording.first_t is None:
        started = row.started_at
    return store.replays.finish(replay_id, started, ended, recording.has_audio)
