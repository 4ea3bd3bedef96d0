"""``cwmn-web render-worker``: renders queued replays into videos, one at a time.

Claims a job with an atomic UPDATE (several workers may run), beats a heartbeat while it
renders (a job whose heartbeat is older than ``stale_after`` is taken over: a restarted
worker resumes it), writes progress to the row (at most twice a second), stops when the host
abandons the replay, sends the queued video emails once it completes, and every few
minutes purges expired replays, ends recordings their server abandoned, fails sends whose
sender died and sends queued emails nobody sent. An error in one round (the database
locked, a file gone) is logged and the loop goes on after a pause.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from ..config import Settings
from ..db import EndReason, ReplayRecord, ReplayStatus, Store
from ..invites.service import Invites, make_transports
from .service import ReplayService, purge_expired
from .sessions import END_GRACE_SECONDS, finish_recording
from .storage import replay_storage

__all__ = ["WORKER_ID_LENGTH", "RenderWorker", "run_worker", "worker_id"]

log = logging.getLogger("cwmn_web.render_worker")
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 30.0
MAX_ATTEMPTS = 3
PROGRESS_INTERVAL = 0.5
STOP_CHECK_INTERVAL = 1.0
HOUSEKEEPING_SECONDS = 300.0
#: After a round that failed, wait ``poll`` doubled per failure in a row, up to this.
MAX_BACKOFF_SECONDS = 60.0
#: ``once``: give up after this many failed rounds in a row.
MAX_FAILED_ROUNDS = 5
Renderer = Callable[..., None]
#: The length of ``replays.worker_id``.
WORKER_ID_LENGTH = 64


def worker_id(host: str) -> str:
    """A worker process's id, unique among every machine's: ``host:pid:random``, the host
    name cut so that it fits ``replays.worker_id`` whatever its length (the random part
    tells apart two machines whose long names begin alike)."""
    tail = f":{os.getpid()}:{secrets.token_hex(6)}"
    return host[: WORKER_ID_LENGTH - len(tail)] + tail


class RenderWorker:
    """One worker process's loop (see the module's docstring)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        poll: float = 2.0,
        stale_after: float = STALE_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
        renderer: Renderer | None = None,
    ) -> None:
        self.settings, self.store = settings, store
        self.poll, self.stale_after, self.heartbeat = poll, stale_after, heartbeat
        self.renderer = renderer
        self.storage = replay_storage(settings.data_dir)
        self.id = worker_id(socket.gethostname())
        invites = Invites(settings, store, *make_transports(settings, store))
        self.service = ReplayService(settings, store, invites)
        self._next_housekeeping = 0.0
        #: site id → when this worker last took one of its jobs (round-robin between sites).
        self._served: dict[int, float] = {}

    def run(self, once: bool = False) -> int:
        """Render jobs as they come (``once``: those queued now, then return); returns
        how many were taken. A round that fails is logged, then retried after a pause."""
        taken = failed = 0
        while True:
            try:
                job = self._round()
            except Exception:
                failed += 1
                pause = min(self.poll * 2 ** min(failed, 10), MAX_BACKOFF_SECONDS)
                log.exception("render worker: a round failed (%d in a row): retrying", failed)
                if once and failed >= MAX_FAILED_ROUNDS:
                    return taken
                time.sleep(pause)
                continue
            failed = 0
            if job:
                taken += 1
                continue
            if once:
                return taken
            time.sleep(self.poll)

    def _round(self) -> bool:
        """Housekeeping when due, then claim and render one job; False if none waited."""
        if time.monotonic() >= self._next_housekeeping:
            self._next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
            self.housekeeping()
        job = self.store.replays.claim(
            self.id, stale_after=self.stale_after, last_served=self._served
        )
        if job is None:
            return False
        self._served[job.site_id] = time.monotonic()
        self.render(job)
        return True

    def housekeeping(self) -> None:
        """Purge expired replays; end recordings nobody will end (their server went); fail
        sends whose sender died; send queued emails nobody sent. Each step on its own."""
        try:
            purged = purge_expired(self.settings, self.store)
            if purged:
                log.info("purged %d expired replay(s)", purged)
        except Exception:
            log.exception("purging expired replays failed")
        try:
            grace = END_GRACE_SECONDS + self.settings.host_grace_seconds
            for row in self.store.replays.unfinished(grace):
                self.store.end_session(row.id, EndReason.EXPIRED)
                finish_recording(self.store, self.settings.data_dir, row.id)
        except Exception:
            log.exception("ending abandoned recordings failed")
        try:
            if self.store.replays.expire_sends():
                log.warning("failed video sends whose sender stopped mid-send")
            for replay_id in self.store.replays.queued_sends():
                self._deliver(replay_id)
        except Exception:
            log.exception("finishing video sends failed")

    def render(self, job: ReplayRecord) -> None:
        """Render one claimed job and record how it went."""
        replays = self.store.replays
        log.info("replay %s: rendering (attempt %d)", job.id, job.attempts)
        lost = threading.Event()
        beating = threading.Thread(target=self._beat, args=(job.id, lost), daemon=True)
        beating.start()
        try:
            rendered = self._render(job, lost)
        except BaseException:  # stopped (SIGTERM, Ctrl-C): another worker takes it at once
            replays.requeue(job.id, self.id)
            raise
        finally:
            lost.set()
            beating.join()
        if rendered:
            try:
                size = self.storage.video_target(job.id).stat().st_size
            except OSError as exc:  # abandoned meanwhile (its files went), or lost
                log.warning("replay %s: no video after rendering: %s", job.id, exc)
                self._retry(job, "the rendered video went missing")
            else:
                if replays.complete(job.id, self.id, size):
                    log.info("replay %s: complete", job.id)
                    self._deliver(job.id)
        latest = replays.get(job.id)
        if latest is None or latest.status == ReplayStatus.ABANDONED:
            self.storage.delete(job.id)  # a render may have written

    def _deliver(self, replay_id: str) -> None:
        """Send the replay's queued email (if this worker wins it); errors are logged (a
        claimed send that never finishes is failed as stale)."""
        try:
            status = asyncio.run(self.service.deliver_queued(replay_id))
        except Exception:
            log.exception("replay %s: sending the video link failed", replay_id)
            return
        if status:
            log.info("replay %s: video link %s", replay_id, status)

    def _retry(self, job: ReplayRecord, error: str) -> None:
        """Put the job back, or fail it after its ``MAX_ATTEMPTS``-th attempt."""
        if job.attempts >= MAX_ATTEMPTS:
            self.store.replays.fail(job.id, self.id, error)
        else:
            self.store.replays.requeue(job.id, self.id)

    def _render(self, job: ReplayRecord, lost: threading.Event) -> bool:
        """Render the job's video; False if it failed (recorded), was given back or stopped."""
        from ...render import RenderCancelled, RenderError, render_replay

        renderer = self.renderer or render_replay
        replays = self.store.replays
        source = self.storage.source(job.id)
        if job.ended_at is None or source is None:
            replays.fail(job.id, self.id, "the recording is missing")
            return False
        try:
            renderer(
                source,
                job.started_at,
                job.ended_at,
                self.storage.video_target(job.id),
                progress=self._progress(job.id),
                should_stop=self._should_stop(job.id, lost),
            )
        except RenderCancelled:
            log.info("replay %s: render stopped", job.id)
            return False
        except RenderError as exc:
            log.warning("replay %s: render failed: %s", job.id, exc)
            replays.fail(job.id, self.id, str(exc) or "the recording could not be rendered")
            return False
        except Exception as exc:
            log.exception("replay %s: render crashed", job.id)
            self._retry(job, f"rendering failed: {exc}")
            return False
        return True

    def _beat(self, replay_id: str, lost: threading.Event) -> None:
        while not lost.wait(self.heartbeat):
            try:
                if not self.store.replays.heartbeat(replay_id, self.id):
                    lost.set()  # abandoned, or taken over
            except Exception:
                log.exception("replay %s: heartbeat failed", replay_id)

    def _progress(self, replay_id: str) -> Callable[[Any], None]:
        last: dict[str, Any] = {"at": 0.0, "stage": ""}

        def report(progress: Any) -> None:
            now = time.monotonic()
            stage = str(progress.stage)
            if stage == last["stage"] and now - float(last["at"]) < PROGRESS_INTERVAL:
                return
            last.update(at=now, stage=stage)
            self.store.replays.progress(
                replay_id, self.id, float(progress.percent), stage, float(progress.eta_seconds)
            )

        return report

    def _should_stop(self, replay_id: str, lost: threading.Event) -> Callable[[], bool]:
        checked = {"at": time.monotonic()}

        def should_stop() -> bool:
            now = time.monotonic()
            if not lost.is_set() and now - checked["at"] >= STOP_CHECK_INTERVAL:
                checked["at"] = now
                row = self.store.replays.get(replay_id)
                mine = row is not None and row.worker_id == self.id
                if row is None or row.status != ReplayStatus.RENDERING or not mine:
                    lost.set()
            return lost.is_set()

        return should_stop


def run_worker(settings: Settings, once: bool = False, poll: float = 2.0) -> int:
    """``cwmn-web render-worker``: run until stopped (SIGTERM/Ctrl-C), or drain (``once``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    store = Store.of(settings)
    store.create()
    worker = RenderWorker(settings, store, poll=poll)
    log.info("render worker %s on %s", worker.id, settings.db_url)
    try:
        worker.run(once=once)
    except (KeyboardInterrupt, SystemExit):
        log.info("render worker %s stopped", worker.id)
    return 0
