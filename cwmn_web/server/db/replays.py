"""Replays (``replays``): a replay's life from recording to a rendered video, and the
email of its link.

``started_at``/``ended_at`` are milliseconds since the epoch (the host's clock, as frames
are timed); ``created_at`` and ``expires_at`` are seconds (the server's), ``heartbeat_at``
seconds on the database's clock (:mod:`.clock`). State changes that two processes may race
for (claiming a job, completing it, sending a queued email) are single conditional
UPDATEs: exactly one wins. ``heartbeat_at`` is the render's heartbeat while rendering, then
the send's while ``send_status`` is ``sending``: written and judged stale on the
database's clock, so workers on machines whose clocks differ agree on who is alive.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Row,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection

from .clock import now_sql
from .engine import EngineStore, stamp
from .invites import fail_invites_in
from .schema import RenderStage, ReplayStatus, SendStatus, replays
from .tokens import token_hash

__all__ = [
    "ACTIVE",
    "FINAL",
    "PENDING_SENDS",
    "SEND_STALE_SECONDS",
    "ReplayRecord",
    "ReplayStore",
    "settled",
]

#: Statuses after which the replay's video (or its lack) never changes.
FINAL = tuple(s for s in ReplayStatus if s.final)
#: Statuses in which a replay still waits for its video.
ACTIVE = tuple(s for s in ReplayStatus if not s.final)
#: A send still to go (queued) or going (claimed by one sender).
PENDING_SENDS = (SendStatus.QUEUED, SendStatus.SENDING)
#: A send claimed (``sending``) whose sender has not beaten for this long died mid-send:
#: it is failed, so nobody waits for it forever.
SEND_STALE_SECONDS = 120.0
#: Length of a stored token hash (sha256, hex).
HASH_LENGTH = 64


def settled(status: str, send_status: str) -> bool:
    """Nothing more will change: a final status and no email of a complete replay still
    to go (a failed or abandoned replay's send never goes)."""
    complete = status == ReplayStatus.COMPLETE
    return status in FINAL and not (complete and send_status in PENDING_SENDS)


def _recipients(send_to: str | None) -> list[tuple[str, str]]:
    """The ``(invite_id, address)`` pairs of a queued send's ``send_to``."""
    return [(str(i), str(a)) for i, a in json.loads(send_to or "[]")]


def _fail_invites(db: Connection, send_to: str | None, why: str, now: float) -> None:
    """The invite rows of a send that will never go (those not finished yet) fail."""
    fail_invites_in(db, (i for i, _ in _recipients(send_to)), why, now)


@dataclass(frozen=True)
class ReplayRecord:
    id: str
    site_id: int
    host_name: str
    host_email: str
    status: ReplayStatus
    percent: float
    stage: RenderStage
    eta_seconds: float
    error: str | None
    started_at: float
    ended_at: float | None
    max_seconds: float
    has_audio: bool
    base_url: str
    video_token: str
    """The sha256 of the video link's token (the column keeps its first name)."""
    video_bytes: int | None
    send_to: str | None
    send_subject: str | None
    send_message: str | None
    send_status: SendStatus
    worker_id: str | None
    heartbeat_at: float | None
    attempts: int
    created_at: float
    expires_at: float
    client_address: str | None = None
    """The client key of the host that started it (the per-client cap)."""

    @classmethod
    def from_row(cls, row: Row[Any]) -> ReplayRecord:
        return cls(
            **{
                **row._mapping,
                "status": ReplayStatus(row.status),
                "stage": RenderStage(row.stage),
                "send_status": SendStatus(row.send_status),
            }
        )

    @property
    def duration(self) -> float:
        """Length of the recording in seconds (0 while recording)."""
        if self.ended_at is None:
            return 0.0
        return max(self.ended_at - self.started_at, 0.0) / 1000

    @property
    def recipients(self) -> list[tuple[str, str]]:
        """The queued send's ``(invite_id, address)`` pairs."""
        return _recipients(self.send_to)


class ReplayStore(EngineStore):
    """Every access to ``replays`` (``Store.replays``)."""

    def _clock(self, now: float | None = None) -> ColumnElement[float]:
        """``now`` (a test's), else the database's clock, in SQL: what heartbeats are
        written with and judged by (never the calling machine's clock)."""
        return literal(now, Float) if now is not None else now_sql(self.engine)

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
        video_token_hash: str,
        now: float | None = None,
        client: str = "",
    ) -> ReplayRecord:
        """The row of a replay session that starts recording now; its video link's token is
        kept only as its sha256 (``video_token_hash``: see :mod:`..secret`); ``client``:
        the starting host's client key (its per-client cap)."""
        created = stamp(now)
        with self.engine.begin() as db:
            db.execute(
                replays.insert().values(
                    id=session_id,
                    site_id=site_id,
                    host_name=host_name,
                    host_email=host_email,
                    status=ReplayStatus.RECORDING.value,
                    percent=0.0,
                    stage=RenderStage.QUEUED.value,
                    eta_seconds=-1.0,
                    started_at=created * 1000,
                    max_seconds=max_seconds,
                    base_url=base_url,
                    video_token=video_token_hash,
                    send_status=SendStatus.NONE.value,
                    attempts=0,
                    created_at=created,
                    expires_at=created + retention_seconds,
                    client_address=client[:64] or None,
                )
            )
        record = self.get(session_id)
        if record is None:
            raise RuntimeError(f"replay {session_id} was not stored")
        return record

    def get(self, replay_id: str) -> ReplayRecord | None:
        with self.engine.connect() as db:
            row = db.execute(select(replays).where(replays.c.id == replay_id)).first()
        return ReplayRecord.from_row(row) if row else None

    def by_video_token(self, token: str, now: float | None = None) -> ReplayRecord | None:
        """The complete, unexpired replay whose video ``token`` names (the column holds its
        sha256: a token read from the database names nothing)."""
        query = select(replays).where(
            replays.c.video_token == token_hash(token),
            replays.c.status == ReplayStatus.COMPLETE,
            replays.c.expires_at > stamp(now),
        )
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return ReplayRecord.from_row(row) if row else None

    def hash_plain_video_tokens(self) -> int:
        """Rows stored before video tokens were hashed keep their token in plain text (32
        characters, never a 64-character hash): store its sha256 instead, so their links
        still work and the database holds no usable token. Returns how many changed."""
        query = select(replays.c.id, replays.c.video_token).where(
            func.length(replays.c.video_token) != HASH_LENGTH
        )
        with self.engine.begin() as db:
            rows = db.execute(query).all()
            for row in rows:
                db.execute(
                    update(replays)
                    .where(replays.c.id == row.id)
                    .values(video_token=token_hash(row.video_token))
                )
        return len(rows)

    def _update(self, replay_id: str, *where: Any, **values: Any) -> bool:
        with self.engine.begin() as db:
            result = db.execute(
                update(replays).where(replays.c.id == replay_id, *where).values(**values)
            )
            return result.rowcount > 0

    # -- recording ----------------------------------------------------------------------
    def finish(self, replay_id: str, started_at: float, ended_at: float, has_audio: bool) -> bool:
        """The recording is over: the render job is queued. False if it was not recording."""
        return self._update(
            replay_id,
            replays.c.status == ReplayStatus.RECORDING,
            status=ReplayStatus.QUEUED.value,
            stage=RenderStage.QUEUED.value,
            started_at=started_at,
            ended_at=max(ended_at, started_at),
            has_audio=has_audio,
        )

    def unfinished(self, grace: float, now: float | None = None) -> list[ReplayRecord]:
        """Replays still recording ``grace`` seconds past their maximum length on the
        database's clock (their server went away: nobody will end them)."""
        query = select(replays).where(
            replays.c.status == ReplayStatus.RECORDING,
            replays.c.created_at + replays.c.max_seconds + grace < self._clock(now),
        )
        with self.engine.connect() as db:
            return [ReplayRecord.from_row(r) for r in db.execute(query).all()]

    # -- the render job -----------------------------------------------------------------
    def active_of_site(self, site_id: int, client: str = "") -> list[str]:
        """The ids of a site's replays still waiting for their video (recording, queued,
        rendering); with ``client``, only those that client key started."""
        query = select(replays.c.id).where(
            replays.c.site_id == site_id, replays.c.status.in_([s.value for s in ACTIVE])
        )
        if client:
            query = query.where(replays.c.client_address == client[:64])
        with self.engine.connect() as db:
            return [str(r.id) for r in db.execute(query).all()]

    def claim(
        self,
        worker_id: str,
        now: float | None = None,
        stale_after: float = 30.0,
        max_attempts: int = 3,
        last_served: Mapping[int, float] | None = None,
    ) -> ReplayRecord | None:
        """Take a queued job, or one whose worker stopped beating ``stale_after`` seconds ago
        (resumed). A stale job that used ``max_attempts`` fails instead.

        Fair between sites: each site's oldest job is its candidate, and the site served
        longest ago (``last_served``: site id → when this worker last took one of its jobs;
        never is first) goes first, the oldest job breaking ties; one site's flood of
        replays does not delay another site's first."""
        claimed = self._clock(now)
        rendering = replays.c.status == ReplayStatus.RENDERING
        stale = and_(rendering, replays.c.heartbeat_at < claimed - stale_after)
        spent = (stale, replays.c.attempts >= max_attempts)
        with self.engine.begin() as db:
            for (replay_id,) in db.execute(select(replays.c.id).where(*spent)).all():
                error = f"rendering stopped {max_attempts} times without finishing"
                self._fail(db, str(replay_id), error, *spent)
        takeable = or_(replays.c.status == ReplayStatus.QUEUED, stale)
        heads = select(replays.c.site_id, func.min(replays.c.ended_at).label("oldest"))
        heads = heads.where(takeable).group_by(replays.c.site_id)
        served = last_served or {}
        with self.engine.connect() as db:
            sites = sorted(
                db.execute(heads).all(),
                key=lambda r: (served.get(r.site_id, -math.inf), r.oldest or 0.0),
            )
            candidates = []
            for site in sites[:5]:
                query = select(replays.c.id).where(takeable, replays.c.site_id == site.site_id)
                candidates += [
                    r.id for r in db.execute(query.order_by(replays.c.ended_at).limit(2))
                ]
        for replay_id in candidates:
            if self._update(
                replay_id,
                takeable,
                status=ReplayStatus.RENDERING.value,
                worker_id=worker_id,
                heartbeat_at=claimed,
                attempts=replays.c.attempts + 1,
                error=None,
            ):
                return self.get(replay_id)
        return None

    def _mine(self, worker_id: str) -> tuple[Any, ...]:
        return (replays.c.status == ReplayStatus.RENDERING, replays.c.worker_id == worker_id)

    def heartbeat(self, replay_id: str, worker_id: str, now: float | None = None) -> bool:
        """Still rendering it? False once abandoned (or taken over): stop."""
        return self._update(replay_id, *self._mine(worker_id), heartbeat_at=self._clock(now))

    def progress(
        self, replay_id: str, worker_id: str, percent: float, stage: str, eta_seconds: float
    ) -> bool:
        """Where the render is (``stage`` a :class:`RenderStage`); False as :meth:`heartbeat`."""
        return self._update(
            replay_id,
            *self._mine(worker_id),
            percent=min(max(percent, 0.0), 100.0),
            stage=RenderStage(stage).value,
            eta_seconds=eta_seconds,
            heartbeat_at=self._clock(),
        )

    def complete(self, replay_id: str, worker_id: str, video_bytes: int) -> bool:
        return self._update(
            replay_id,
            *self._mine(worker_id),
            status=ReplayStatus.COMPLETE.value,
            percent=100.0,
            stage=RenderStage.DONE.value,
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
                status=ReplayStatus.FAILED.value,
                error=error[:2000],
                send_status=case(
                    (replays.c.send_status == SendStatus.QUEUED, SendStatus.FAILED.value),
                    else_=replays.c.send_status,
                ),
            )
        )
        if result.rowcount == 0:
            return False
        row = db.execute(select(replays).where(replays.c.id == replay_id)).first()
        if row is not None and row.send_status == SendStatus.FAILED:
            _fail_invites(db, row.send_to, "the replay could not be rendered", time.time())
        return True

    def requeue(self, replay_id: str, worker_id: str) -> bool:
        """Give the job back (this worker is stopping, or failed unexpectedly)."""
        return self._update(
            replay_id,
            *self._mine(worker_id),
            status=ReplayStatus.QUEUED.value,
            worker_id=None,
            heartbeat_at=None,
        )

    def abandon(self, replay_id: str) -> bool:
        """The host threw it away (nothing to send any more). False if already so."""
        return self._update(
            replay_id,
            replays.c.status != ReplayStatus.ABANDONED,
            status=ReplayStatus.ABANDONED.value,
            send_status=SendStatus.NONE.value,
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
            queued = json.loads(row.send_to or "[]") if row.send_status == SendStatus.QUEUED else []
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
                send_status=SendStatus.QUEUED.value,
            ):
                return True

    def claim_send(self, replay_id: str, now: float | None = None) -> ReplayRecord | None:
        """Take the queued send of a complete replay (``send_status`` → ``sending``): whoever
        gets the record sends it; everyone else gets None."""
        if self._update(
            replay_id,
            replays.c.status == ReplayStatus.COMPLETE,
            replays.c.send_status == SendStatus.QUEUED,
            send_status=SendStatus.SENDING.value,
            heartbeat_at=self._clock(now),
        ):
            return self.get(replay_id)
        return None

    def beat_send(self, replay_id: str) -> None:
        """The claimed send is still going (one more address done)."""
        sending = replays.c.send_status == SendStatus.SENDING
        self._update(replay_id, sending, heartbeat_at=self._clock())

    def finish_send(self, replay_id: str, status: str, claimed: bool = False) -> bool:
        """``sent``, ``outbox`` or ``failed``: how a send went. A ``claimed`` one (queued,
        then :meth:`claim_send`) ends its ``sending`` (or the ``failed`` it was given as
        stale); a send made at once never overwrites a queued or claimed one's status."""
        if claimed:
            where = replays.c.send_status.in_((SendStatus.SENDING, SendStatus.FAILED))
        else:
            where = replays.c.send_status.not_in(PENDING_SENDS)
        return self._update(replay_id, where, send_status=SendStatus(status).value)

    def expire_sends(self, replay_id: str | None = None, now: float | None = None) -> int:
        """Fail the claimed sends (of ``replay_id``, or all) whose sender stopped beating
        :data:`SEND_STALE_SECONDS` ago (it died mid-send); how many."""
        expired = stamp(now)
        beat = replays.c.heartbeat_at
        stale: tuple[ColumnElement[bool], ...] = (
            replays.c.status == ReplayStatus.COMPLETE,
            replays.c.send_status == SendStatus.SENDING,
            or_(beat.is_(None), beat < self._clock(now) - SEND_STALE_SECONDS),
        )
        if replay_id is not None:
            stale = (*stale, replays.c.id == replay_id)
        count = 0
        with self.engine.begin() as db:
            for row in db.execute(select(replays.c.id, replays.c.send_to).where(*stale)).all():
                result = db.execute(
                    update(replays)
                    .where(replays.c.id == row.id, *stale)
                    .values(send_status=SendStatus.FAILED.value)
                )
                if result.rowcount:
                    why = "the sender stopped before sending it"
                    _fail_invites(db, row.send_to, why, expired)
                    count += 1
        return count

    def queued_sends(self) -> list[str]:
        """Complete replays whose queued email nobody sent (a worker stopped in between)."""
        query = select(replays.c.id).where(
            replays.c.status == ReplayStatus.COMPLETE, replays.c.send_status == SendStatus.QUEUED
        )
        with self.engine.connect() as db:
            return [r.id for r in db.execute(query).all()]

    # -- retention ----------------------------------------------------------------------
    def expired(self, now: float | None = None) -> list[str]:
        query = select(replays.c.id).where(replays.c.expires_at <= stamp(now))
        with self.engine.connect() as db:
            rows = db.execute(query).all()
        return [r.id for r in rows]

    def delete(self, replay_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(delete(replays).where(replays.c.id == replay_id))
