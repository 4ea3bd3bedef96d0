"""Where a replay session meets its row: open its recording, and queue its render job
when it ends (whichever way: ``end_session``, expiry, the host gone past the grace)."""

from __future__ import annotations

import time
from pathlib import Path

from ...errors import RateLimited
from ...protocol.messages import DEFAULT_REPLAY_MAX_SECONDS
from ..config import Settings
from ..db import ReplayStatus, SessionRecord, Store
from .mail import video_token_hash
from .recording import Recording
from .storage import replay_storage

__all__ = [
    "END_GRACE_SECONDS",
    "check_replay_room",
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


def check_replay_room(store: Store, settings: Settings, site_id: int, client: str = "") -> None:
    """Raise ``rate_limited`` when the site has as many replays waiting for their video
    (recording, queued, rendering) as ``CWMN_MAX_REPLAYS_PER_SITE``, or their recordings
    hold ``CWMN_MAX_REPLAY_BYTES_PER_SITE``: a site's flood cannot fill the worker's queue
    or its disk; or when ``client`` (a client key) started ``CWMN_MAX_REPLAYS_PER_CLIENT``
    of them: one client cannot take a site's whole share."""
    if client:
        mine = len(store.replays.active_of_site(site_id, client))
        if mine >= settings.max_replays_per_client:
            raise RateLimited(
                f"this address has {mine} replays waiting for their video, the most it may"
                f" (CWMN_MAX_REPLAYS_PER_CLIENT={settings.max_replays_per_client}); try again"
                " when one is rendered"
            )
    active = store.replays.active_of_site(site_id)
    if len(active) >= settings.max_replays_per_site:
        raise RateLimited(
            f"this site has {len(active)} replays waiting for their video, the most it may"
            f" (CWMN_MAX_REPLAYS_PER_SITE={settings.max_replays_per_site}); try again when"
            " one is rendered"
        )
    used = _bytes_of(settings, active)
    if used >= settings.max_replay_bytes_per_site:
        raise RateLimited(
            f"this site's replays waiting for their video hold {used / 1e6:.0f} MB, the most"
            f" they may (CWMN_MAX_REPLAY_BYTES_PER_SITE={settings.max_replay_bytes_per_site});"
            " try again when one is rendered"
        )


def _bytes_of(settings: Settings, replay_ids: list[str]) -> int:
    """The bytes of these replays' recordings."""
    storage = replay_storage(settings.data_dir)
    return sum(storage.size(i) for i in replay_ids)


def new_recording(
    store: Store,
    settings: Settings,
    record: SessionRecord,
    site_settings: dict[str, object],
    base_url: str,
    key: bytes,
    client: str = "",
) -> Recording:
    """A new replay session's row (its render job to be) and its recording: as long as the
    site's ``replayMaxSeconds`` (the default if unset), at most a session's maximum; its
    stream and narration each at most what the site's other waiting replays left of
    ``CWMN_MAX_REPLAY_BYTES_PER_SITE``."""
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
        video_token_hash=video_token_hash(key, record.id),
        retention_seconds=settings.replay_retention_days * 86400,
        now=record.created_at,
        client=client,
    )
    storage = replay_storage(settings.data_dir)
    recording = storage.recording(record.id, seconds, record.created_at * 1000)
    # What the site's other replays left of its bytes is this recording's most.
    others = [i for i in store.replays.active_of_site(record.site_id) if i != record.id]
    left = max(settings.max_replay_bytes_per_site - _bytes_of(settings, others), 0)
    recording.max_stream_bytes = min(recording.max_stream_bytes, left)
    recording.max_audio_bytes = min(recording.max_audio_bytes, left)
    return recording


def open_recording(store: Store, data_dir: Path, session: SessionRecord) -> Recording | None:
    """The recording of a replay session still recording (None otherwise)."""
    row = store.replays.get(session.id)
    if row is None or row.status != ReplayStatus.RECORDING:
        return None
    return replay_storage(data_dir).recording(session.id, row.max_seconds, row.created_at * 1000)


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
        storage = replay_storage(data_dir)
        recording = storage.recording(replay_id, row.max_seconds, row.created_at * 1000)
    recording.close()
    started, ended = recording.bounds(time.time() * 1000, ended_now)
    if recording.first_t is None:
        started = row.started_at
    return store.replays.finish(replay_id, started, ended, recording.has_audio)
