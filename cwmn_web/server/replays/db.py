"""The ``replays`` table's methods: a replay's life from recording to a rendered video.

``started_at``/``ended_at`` are milliseconds since the epoch (the host's clock, as frames
are timed); ``created_at``, ``expires_at`` and ``heartbeat_at`` are seconds (the server's).
State changes that two processes may race for (claiming a job, completing it, sending a
queued email) are single conditional UPDATEs: exactly one wins. ``heartbeat_at`` is the
render's heartbeat while rendering, then the send's while ``send_status`` is ``sending``.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, or_, select, update
from sqlalchemy.engine import Connection, Engine

from ...protocol.messages import REPLAY_STATUSES
from ..store import invites, replays

__all__ = ["ACTIVE", "FINAL", "SEND_STALE_SECONDS", "ReplayRecord", "ReplayStore", "settled"]

#: Statuses after which the replay's video (or its lack) never changes.
FINAL = ("complete", "failed", "abandoned")
#: Statuses in which a replay still waits for its video.
ACTIVE = tuple(s for s in REPLAY_STATUSES if s not in FINAL)
#: A send claimed (``sending``) whose sender has not beaten for this long died mid-send:
#: it is failed, so nobody waits for it forever.
SEND_STALE_SECONDS = 120.0


def settled(status: str, send_status: str) -> bool:
    """Nothing more will change: a final status and no email of a complete replay still
    to go (a failed or abandoned replay's send never goes)."""
    return status in FINAL and not (status == "complete" and send_status in ("queued", "sending"))


def _fail_invites(db: Connection, send_to: str | None, why: str, now: float) -> None:
    """The invite rows of a send that will never go (those not finished yet) fail."""
    ids = [str(i) for i, _ in json.loads(send_to or "[]")]
    if ids:
        db.execute(
            update(invites)
            .where(invites.c.id.in_(ids), invites.c.status.in_(("queued", "sending")))
            .values(status="failed", error=why, finished_at=now)
        )


@dataclass(frozen=True)
class ReplayRecord:
    id: str
    site_id: int
    host_name: str
    host_email: str
    status: str
    percent: float
    stage: str
    eta_seconds: float
    error: str | None
    started_at: float
    ended_at: float | None
    max_seconds: float
    has_audio: bool
    base_url: str
    video_token: str
    video_bytes: int | None
    send_to: str | None
    send_subject: str | None
    send_message: str | None
    send_status: str
    worker_id: str | None
    heartbeat_at: float | None
    attempts: int
    created_at: float
    expires_at: float

    @property
    def duration(self) -> float:
        """Length of the recording in seconds (0 while recording)."""
        if self.ended_at is None:
            return 0.0
        return max(self.ended_at - self.started_at, 0.0) / 1000

    @property
    def recipients(self) -> list[tuple[str, str]]:
        """The queued send's ``(invite_id, address)`` pairs."""
        return [(str(i), str(a)) for i, a in json.loads(self.send_to or "[]")]


class ReplayStore:
    """Every access to ``replays`` (synchronous, short calls; ``Store.replays``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        session_id: str,
        site_id: int,
        host_name: str,
        host_email: str,
        *,
        max_seconds: float,
        base_url: str,
        retention_seconds: float,
        now: float | None = None,
    ) -> ReplayRecord:
        """The row of a replay session that starts recording now."""
        created = time.time() if now is None else now
        with self.engine.begin() as db:
            db.execute(
                replays.insert().values(
                    id=session_id,
                    site_id=site_id,
                    host_name=host_name,
                    host_email=host_email,
                    status="recording",
                    percent=0.0,
                    stage="queued",
                    eta_seconds=-1.0,
                    started_at=created * 1000,
                    max_seconds=max_seconds,
                    base_url=base_url,
                    video_token=secrets.token_urlsafe(24),
                    send_status="",
                    attempts=0,
                    created_at=created,
                    expires_at=created + retention_seconds,
                )
            )
        record = self.get(session_id)
        assert record is not None
        return record

    def get(self, replay_id: str) -> ReplayRecord | None:
        with self.engine.connect() as db:
            row = db.execute(select(replays).where(replays.c.id == replay_id)).first()
        return ReplayRecord(**row._mapping) if row else None

    def by_video_token(self, token: str, now: float | None = None) -> ReplayRecord | None:
        """The complete, unexpired replay whose video ``token`` names."""
        stamp = time.time() if now is None else now
        query = select(replays).where(
            replays.c.video_token == token,
            replays.c.status == "complete",
            replays.c.expires_at > stamp,
        )
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return ReplayRecord(**row._mapping) if row else None

    def _update(self, replay_id: str, *where: Any, **values: Any) -> bool:
        with self.engine.begin() as db:
            result = db.execute(
                update(replays).where(replays.c.id == replay_id, *where).values(**values)
            )
            return result.rowcount > 0

    # -- recording ----------------------------------------------------------------------
    def set_started(self, replay_id: str, started_at: float) -> None:
        """The recording's first moment (the host's clock), once frames arrive."""
        self._update(replay_id, replays.c.status == "recording", started_at=started_at)

    def finish(self, replay_id: str, started_at: float, ended_at: float, has_audio: bool) -> bool:
        """The recording is over: the render job is queued. False if it was not recording."""
        return self._update(
            replay_id,
            replays.c.status == "recording",
            status="queued",
            stage="queued",
            started_at=started_at,
            ended_at=max(ended_at, started_at),
            has_audio=has_audio,
        )

    def unfinished(self, created_before: float) -> list[ReplayRecord]:
        """Replays still recording that began before ``created_before`` (their server went
        away: nobody will end them)."""
        query = select(replays).where(
            replays.c.status == "recording", replays.c.created_at < created_before
        )
        with self.engine.connect() as db:
            return [ReplayRecord(**r._mapping) for r in db.execute(query).all()]

    # -- the render job -----------------------------------------------------------------
    def claim(
        self,
        worker_id: str,
        now: float | None = None,
        stale_after: float = 30.0,
        max_attempts: int = 3,
    ) -> ReplayRecord | None:
        """Take the oldest queued job, or one whose worker stopped beating ``stale_after``
        seconds ago (resumed). A stale job that used ``max_attempts`` fails instead."""
        stamp = time.time() if now is None else now
        stale = and_(replays.c.status == "rendering", replays.c.heartbeat_at < stamp - stale_after)
        spent = (stale, replays.c.attempts >= max_attempts)
        with self.engine.begin() as db:
            for (replay_id,) in db.execute(select(replays.c.id).where(*spent)).all():
                error = f"rendering stopped {max_attempts} times without finishing"
                self._fail(db, str(replay_id), error, *spent)
        takeable = or_(replays.c.status == "queued", stale)
        query = select(replays.c.id).where(takeable).order_by(replays.c.ended_at).limit(5)
        with self.engine.connect() as db:
            candidates = [r.id for r in db.execute(query).all()]
        for replay_id in candidates:
            if self._update(
                replay_id,
                takeable,
                status="rendering",
                worker_id=worker_id,
                heartbeat_at=stamp,
                attempts=replays.c.attempts + 1,
                error=None,
            ):
                return self.get(replay_id)
        return None

    def _mine(self, worker_id: str) -> tuple[Any, ...]:
        return (replays.c.status == "rendering", replays.c.worker_id == worker_id)

    def heartbeat(self, replay_id: str, worker_id: str, now: float | None = None) -> bool:
        """Still rendering it? False once abandoned (or taken over): stop."""
        stamp = time.time() if now is None else now
        return self._update(replay_id, *self._mine(worker_id), heartbeat_at=stamp)

    def progress(
        self, replay_id: str, worker_id: str, percent: float, stage: str, eta_seconds: float
    ) -> bool:
        return self._update(
            replay_id,
            *self._mine(worker_id),
            percent=min(max(percent, 0.0), 100.0),
            stage=stage[:16],
            eta_seconds=eta_seconds,
            heartbeat_at=time.time(),
        )

    def complete(self, replay_id: str, worker_id: str, video_bytes: int) -> bool:
        return self._update(
            replay_id,
            *self._mine(worker_id),
            status="complete",
            percent=100.0,
            stage="done",
            eta_seconds=0.0,
            video_bytes=video_bytes,
        )

    def fail(self, replay_id: str, worker_id: str, error: str) -> bool:
        """The render failed: so does the email queued for its video (and its invites)."""
        with self.engine.begin() as db:
            return self._fail(db, replay_id, error, *self._mine(worker_id))

    @staticmethod
    def _fail(db: Connection, replay_id: str, error: str, *where: Any) -> bool:
        """Fail the job if ``where`` holds, with its queued send, in ``db``'s transaction."""
        result = db.execute(
            update(replays)
            .where(replays.c.id == replay_id, *where)
            .values(
                status="failed",
                error=error[:2000],
                send_status=case(
                    (replays.c.send_status == "queued", "failed"), else_=replays.c.send_status
                ),
            )
        )
        if result.rowcount == 0:
            return False
        row = db.execute(select(replays).where(replays.c.id == replay_id)).first()
        if row is not None and row.send_status == "failed":
            _fail_invites(db, row.send_to, "the replay could not be rendered", time.time())
        return True

    def requeue(self, replay_id: str, worker_id: str) -> bool:
        """Give the job back (this worker is stopping, or failed unexpectedly)."""
        return self._update(
            replay_id, *self._mine(worker_id), status="queued", worker_id=None, heartbeat_at=None
        )

    def abandon(self, replay_id: str) -> bool:
        """The host threw it away (nothing to send any more). False if already so."""
        return self._update(
            replay_id,
            replays.c.status != "abandoned",
            status="abandoned",
            send_status="",
            send_to=None,
        )

    # -- emailing the link --------------------------------------------------------------
    def request_send(
        self, replay_id: str, recipients: list[tuple[str, str]], subject: str, message: str
    ) -> bool:
        """Queue an email to ``recipients`` (``(invite_id, address)``) for when the video is
        ready, added to any send still queued (an empty ``subject`` or ``message`` keeps
        the queued one's). False if the replay is no longer waiting for its video
        (complete: send now; failed or abandoned: nothing to send)."""
        while True:
            row = self.get(replay_id)
            if row is None or row.status not in ACTIVE:
                return False
            queued = json.loads(row.send_to or "[]") if row.send_status == "queued" else []
            if queued:
                subject = subject or row.send_subject or ""
                message = message or row.send_message or ""
            known = {address for _, address in queued}
            queued += [[i, a] for i, a in recipients if a not in known]
            # Only over what was read: a send queued meanwhile is read again, not lost.
            unchanged = (
                replays.c.send_status == row.send_status,
                replays.c.send_to.is_(None)
                if row.send_to is None
                else replays.c.send_to == row.send_to,
            )
            if self._update(
                replay_id,
                replays.c.status.in_(ACTIVE),
                *unchanged,
                send_to=json.dumps(queued),
                send_subject=subject,
                send_message=message,
                send_status="queued",
            ):
                return True

    def claim_send(self, replay_id: str, now: float | None = None) -> ReplayRecord | None:
        """Take the queued send of a complete replay (``send_status`` → ``sending``): whoever
        gets the record sends it; everyone else gets None."""
        if self._update(
            replay_id,
            replays.c.status == "complete",
            replays.c.send_status == "queued",
            send_status="sending",
            heartbeat_at=time.time() if now is None else now,
        ):
            return self.get(replay_id)
        return None

    def beat_send(self, replay_id: str) -> None:
        """The claimed send is still going (one more address done)."""
        self._update(replay_id, replays.c.send_status == "sending", heartbeat_at=time.time())

    def finish_send(self, replay_id: str, status: str, claimed: bool = False) -> bool:
        """``sent``, ``outbox`` or ``failed``: how a send went. A ``claimed`` one (queued,
        then :meth:`claim_send`) ends its ``sending`` (or the ``failed`` it was given as
        stale); a send made at once never overwrites a queued or claimed one's status."""
        if claimed:
            where = replays.c.send_status.in_(("sending", "failed"))
        else:
            where = replays.c.send_status.not_in(("queued", "sending"))
        return self._update(replay_id, where, send_status=status)

    def expire_sends(self, replay_id: str | None = None, now: float | None = None) -> int:
        """Fail the claimed sends (of ``replay_id``, or all) whose sender stopped beating
        :data:`SEND_STALE_SECONDS` ago (it died mid-send); how many."""
        stamp = time.time() if now is None else now
        beat = replays.c.heartbeat_at
        stale: tuple[ColumnElement[bool], ...] = (
            replays.c.status == "complete",
            replays.c.send_status == "sending",
            or_(beat.is_(None), beat < stamp - SEND_STALE_SECONDS),
        )
        if replay_id is not None:
            stale = (*stale, replays.c.id == replay_id)
        count = 0
        with self.engine.begin() as db:
            for row in db.execute(select(replays.c.id, replays.c.send_to).where(*stale)).all():
                result = db.execute(
                    update(replays)
                    .where(replays.c.id == row.id, *stale)
                    .values(send_status="failed")
                )
                if result.rowcount:
                    _fail_invites(db, row.send_to, "the sender stopped before sending it", stamp)
                    count += 1
        return count

    def queued_sends(self) -> list[str]:
        """Complete replays whose queued email nobody sent (a worker stopped in between)."""
        query = select(replays.c.id).where(
            replays.c.status == "complete", replays.c.send_status == "queued"
        )
        with self.engine.connect() as db:
            return [r.id for r in db.execute(query).all()]

    # -- retention ----------------------------------------------------------------------
    def expired(self, now: float | None = None) -> list[str]:
        stamp = time.time() if now is None else now
        with self.engine.connect() as db:
            rows = db.execute(select(replays.c.id).where(replays.c.expires_at <= stamp)).all()
        return [r.id for r in rows]

    def delete(self, replay_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(delete(replays).where(replays.c.id == replay_id))
