"""Where a replay session meets its row: open its recording, and queue its render job
when it ends (whichever way: ``end_session``, expiry, the host gone past the grace)."""

from __future__ import annotations

import time
from pathlib import Path

from ...protocol.messages import DEFAULT_REPLAY_MAX_SECONDS
from ..config import Settings
from ..db import ReplayStatus, SessionRecord, Store
from .recording import Recording, recording_dir

__all__ = [
    "END_GRACE_SECONDS",
    "finish_recording",
    "new_recording",
    "open_recording",
    "replay_limit",
]

#: A replay still recording this long past its maximum length is ended by the server.
END_GRACE_SECONDS = 30.0


def replay_limit(max_seconds: float) -> float:
    """Seconds after its start at which the server ends a replay session."""
    return max_seconds + END_GRACE_SECONDS


def new_recording(
    store: Store,
    settings: Settings,
    record: SessionRecord,
    site_settings: dict[str, object],
    base_url: str,
) -> Recording:
    """A new replay session's row (its render job to be) and its recording: as long as the
    site's ``replayMaxSeconds`` (the default if unset), at most a session's maximum."""
    limit = site_settings.get("replayMaxSeconds")
    default = float(DEFAULT_REPLAY_MAX_SECONDS)
    seconds = float(limit) if isinstance(limit, (int, float)) and limit > 0 else default
    seconds = min(seconds, settings.max_session_seconds)
    store.replays.create(
        record.id,
        record.site_id,
        record.host_name,
        record.host_email,
        max_seconds=seconds,
        base_url=base_url,
        retention_seconds=settings.replay_retention_days * 86400,
        now=record.created_at,
    )
    return Recording(recording_dir(settings.data_dir, record.id), seconds, record.created_at * 1000)


def open_recording(store: Store, data_dir: Path, session: SessionRecord) -> Recording | None:
    """The recording of a replay session still recording (None otherwise)."""
    row = store.replays.get(session.id)
    if row is None or row.status != ReplayStatus.RECORDING:
        return None
    return Recording(recording_dir(data_dir, session.id), row.max_seconds, row.created_at * 1000)


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
        recording = Recording(
            recording_dir(data_dir, replay_id), row.max_seconds, row.created_at * 1000
        )
    recording.close()
    started, ended = recording.bounds(time.time() * 1000, ended_now)
    if recording.first_t is None:
        started = row.started_at
    return store.replays.finish(replay_id, started, ended, recording.has_audio)
