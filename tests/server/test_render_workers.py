"""Render workers on several machines (issue 16): one PostgreSQL, a shared data dir, two
``cwmn-web render-worker`` processes; worker ids that fit their column whatever the host
name; liveness judged on the database's clock, not a worker's."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from cwmn_web.protocol.messages import MirrorFrame
from cwmn_web.server.config import Settings
from cwmn_web.server.db import Store
from cwmn_web.server.db.clock import database_now, now_sql
from cwmn_web.server.db.schema import replays
from cwmn_web.server.replays.sessions import finish_recording
from cwmn_web.server.replays.storage import DirectoryStorage
from cwmn_web.server.replays.worker import WORKER_ID_LENGTH, RenderWorker
from tests.server.live import eventually

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000.0
#: ``cwmn-web render-worker`` with a stand-in renderer (no Chromium here): it notes which
#: process took which replay, takes a moment as a render does, writes a video.
WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import cwmn_web.render as render

    def stand_in(recording, started_at, ended_at, out, **kw):
        with open(os.environ["TEST_RENDERS"], "a") as log:
            log.write(f"{os.getpid()} {Path(recording).name}\\n")
        time.sleep(0.3)  # the render's work: the other worker claims meanwhile
        Path(out).write_bytes(b"video of " + Path(recording).name.encode())

    render.render_replay = stand_in
    from cwmn_web.server.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.fixture
def pg_store(cluster_db: str) -> Iterator[Store]:
    """A store on a database of its own in the test PostgreSQL."""
    store = Store(cluster_db)
    store.create()
    yield store
    store.engine.dispose()


def settings_on(store: Store, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=store.engine.url.render_as_string(hide_password=False),
        smtp_host="",
        twilio_account_sid="",
        twilio_auth_token="",
        twilio_from="",
    )


def queued_replay(store: Store, data_dir: Path) -> str:
    """A short replay recorded into the shared data dir and queued for its render."""
    record = store.create_session(1, "Ann", "ann@example.com", True, "https://x.test", "")
    store.replays.create(
        record.id,
        1,
        "Ann",
        "ann@example.com",
        max_seconds=60,
        base_url="",
        retention_seconds=3600,
        video_token_hash=secrets.token_hex(32),
    )
    recording = DirectoryStorage(data_dir).recording(record.id, 60, T0)
    recording.take(MirrorFrame(seq=1, kind="snapshot", data={"nodes": []}, t=T0), 0, T0)
    recording.take(MirrorFrame(seq=2, kind="mutations", data={}, t=T0 + 500), 0, T0 + 500)
    assert finish_recording(store, data_dir, record.id, recording)
    return record.id


def set_row(store: Store, replay_id: str, **values: Any) -> None:
    with store.engine.begin() as db:
        db.execute(update(replays).where(replays.c.id == replay_id).values(**values))


def beat_ago(store: Store, seconds: float) -> Any:
    """``heartbeat_at`` as a worker would have written it ``seconds`` ago (database time)."""
    return now_sql(store.engine) - seconds


def test_two_worker_processes_render_each_job_exactly_once(pg_store: Store, tmp_path: Path) -> None:
    data = tmp_path / "shared"
    jobs = [queued_replay(pg_store, data) for _ in range(4)]
    renders = tmp_path / "renders.log"
    settings = settings_on(pg_store, data)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CWMN_DATA_DIR": str(data),
        "CWMN_DATABASE_URL": settings.database_url,
        "CWMN_SMTP_HOST": "",
        "TEST_RENDERS": str(renders),
    }
    command = [sys.executable, "-c", WORKER, "render-worker", "--poll", "0.05"]
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    procs = []
    for log in logs:
        with log.open("wb") as out:
            procs.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT))
    try:

        def all_complete() -> bool:
            rows = [pg_store.replays.get(rid) for rid in jobs]
            return all(r is not None and r.status == "complete" for r in rows)

        eventually(all_complete, timeout=60)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(20)
    taken = [line.split() for line in renders.read_text().splitlines()]
    assert sorted(rid for _, rid in taken) == sorted(jobs), taken  # each exactly once
    for rid in jobs:
        row = pg_store.replays.get(rid)
        assert row is not None and row.attempts == 1 and row.worker_id is not None
        assert len(row.worker_id) <= WORKER_ID_LENGTH
        video = DirectoryStorage(data).video(rid)
        assert video is not None and video.read_bytes() == b"video of " + rid.encode()
    text_of = "".join(log.read_text() for log in logs)
    assert text_of.count("render worker") >= 2 and "Traceback" not in text_of


def test_a_worker_id_fits_its_column_whatever_the_host_name(
    pg_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL enforces ``String(64)`` (SQLite never did): a long host name's worker
    could not claim a job at all."""
    monkeypatch.setattr(socket, "gethostname", lambda: "render-" + "x" * 240)
    rid = queued_replay(pg_store, tmp_path)
    workers = [RenderWorker(settings_on(pg_store, tmp_path), pg_store) for _ in range(2)]
    assert len({w.id for w in workers}) == 2  # the same long name, two workers
    assert all(len(w.id) <= WORKER_ID_LENGTH and w.id.startswith("render-x") for w in workers)
    job = pg_store.replays.claim(workers[0].id)
    assert job is not None and job.id == rid and job.worker_id == workers[0].id


def test_liveness_is_judged_on_the_databases_clock(
    pg_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose machine clock is an hour off neither steals a job another worker
    renders (it beat 5 s ago) nor leaves one whose worker died (60 s ago); its own
    heartbeats are the database's time; likewise a queued email's sender."""
    real = time.time
    settings = settings_on(pg_store, tmp_path)
    live, stale = queued_replay(pg_store, tmp_path), queued_replay(pg_store, tmp_path)
    set_row(
        pg_store, live, status="rendering", worker_id="other", heartbeat_at=beat_ago(pg_store, 5)
    )
    set_row(pg_store, stale, status="queued")
    monkeypatch.setattr(time, "time", lambda: real() + 3600)  # this machine: an hour ahead
    assert pg_store.replays.claim("ahead") is not None  # the queued one, to get it aside
    assert pg_store.replays.claim("ahead") is None  # not the live one
    assert pg_store.replays.heartbeat(stale, "ahead")
    row = pg_store.replays.get(stale)
    assert row is not None and row.heartbeat_at is not None
    assert abs(row.heartbeat_at - database_now(pg_store.engine)) < 5  # not an hour ahead
    assert pg_store.replays.expire_sends() == 0
    set_row(pg_store, stale, heartbeat_at=beat_ago(pg_store, 60))  # its worker died
    monkeypatch.setattr(time, "time", lambda: real() - 3600)  # this machine: an hour behind
    render_calls: list[str] = []

    def render(recording: Path, started: float, ended: float, out: Path, **kw: Any) -> None:
        render_calls.append(recording.name)
        out.write_bytes(b"video")

    worker = RenderWorker(settings, pg_store, renderer=render)
    assert worker.run(once=True) == 1 and render_calls == [stale]
    rows = {rid: pg_store.replays.get(rid) for rid in (live, stale)}
    assert getattr(rows[stale], "status", "") == "complete"
    assert getattr(rows[live], "worker_id", "") == "other"  # still the other's
    assert getattr(rows[live], "status", "") == "rendering"
    # A send claimed by a sender that beats, judged by a machine an hour ahead: not failed.
    set_row(pg_store, stale, send_status="sending", heartbeat_at=beat_ago(pg_store, 5))
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    assert pg_store.replays.expire_sends() == 0
    set_row(pg_store, stale, heartbeat_at=beat_ago(pg_store, 300))  # its sender died
    monkeypatch.setattr(time, "time", lambda: real() - 3600)
    assert pg_store.replays.expire_sends() == 1
