"""Invites (``invites``): every invite the server tried to send, and how it went."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.engine import Connection

from .engine import EngineStore, stamp
from .schema import InviteKind, InviteStatus, invites

__all__ = [
    "InviteRecord",
    "InviteStore",
    "fail_invites_in",
    "insert_invite",
    "invite_times_in",
]


@dataclass(frozen=True)
class InviteRecord:
    """One invite the server tried to send (an :class:`InviteKind`), and how it went."""

    id: str
    kind: InviteKind
    site_id: int
    session_id: str | None
    link_hash: str | None
    channel: str
    recipient: str
    status: InviteStatus
    provider: str
    provider_id: str | None
    error: str | None
    created_at: float
    finished_at: float | None
    host_identity: str | None = None
    """Who asked (JSON ``sub``/``name``/``email`` of a host token), on token sites."""
    client_address: str | None = None
    host_subject: str | None = None
    """The host token's ``sub`` (on token sites): what the per-host budget counts."""

    @classmethod
    def from_row(cls, row: Row[Any]) -> InviteRecord:
        kind, status = InviteKind(row.kind), InviteStatus(row.status)
        return cls(**{**row._mapping, "kind": kind, "status": status})


def insert_invite(
    db: Connection,
    invite_id: str,
    kind: InviteKind,
    status: InviteStatus,
    now: float,
    **values: Any,
) -> None:
    """Record an invite (in ``db``'s transaction)."""
    db.execute(
        invites.insert().values(
            id=invite_id, kind=kind.value, status=status.value, created_at=now, **values
        )
    )


def fail_invites_in(db: Connection, invite_ids: Iterable[str], why: str, now: float) -> None:
    """The invites not finished yet among ``invite_ids`` fail (in ``db``'s transaction)."""
    ids = list(invite_ids)
    if ids:
        unfinished = (InviteStatus.QUEUED.value, InviteStatus.SENDING.value)
        db.execute(
            update(invites)
            .where(invites.c.id.in_(ids), invites.c.status.in_(unfinished))
            .values(status=InviteStatus.FAILED.value, error=why, finished_at=now)
        )


def invite_times_in(
    db: Connection,
    since: float,
    *,
    session_id: str | None = None,
    site_id: int | None = None,
    client: str | None = None,
    subject: str | None = None,
) -> list[float]:
    """When the invites of a session (or of a site, or of a client address, or of a host
    token's ``sub``) made since ``since`` were made, oldest first: what the rate limits
    count."""
    query = select(invites.c.created_at).where(invites.c.created_at > since)
    if subject is not None:
        query = query.where(invites.c.host_subject == subject[:256])
    if client is not None:
        query = query.where(invites.c.client_address == client[:64])
    if session_id is not None:
        query = query.where(invites.c.session_id == session_id)
    if site_id is not None:
        query = query.where(invites.c.site_id == site_id)
    return [r[0] for r in db.execute(query.order_by(invites.c.created_at)).all()]


class InviteStore(EngineStore):
    def add_invite(
        self,
        invite_id: str,
        site_id: int,
        session_id: str | None,
        channel: str,
        recipient: str,
        link_hash: str | None,
        kind: str = InviteKind.GUEST,
        now: float | None = None,
        status: str = InviteStatus.SENDING,
        sender: dict[str, str | None] | None = None,
    ) -> None:
        """Record an invite about to be sent (``sending``; ``queued`` for a video link sent
        once the video is ready); ``sender``: its ``host_identity``/``client_address``."""
        with self.engine.begin() as db:
            insert_invite(
                db,
                invite_id,
                InviteKind(kind),
                InviteStatus(status),
                stamp(now),
                site_id=site_id,
                session_id=session_id,
                link_hash=link_hash,
                channel=channel,
                recipient=recipient,
                **(sender or {}),
            )

    def set_invite_sender(self, invite_id: str, sender: dict[str, str | None]) -> None:
        """Record who asked for the invite (``host_identity``, ``host_subject``,
        ``client_address``)."""
        with self.engine.begin() as db:
            db.execute(update(invites).where(invites.c.id == invite_id).values(**sender))

    def finish_invite(
        self,
        invite_id: str,
        status: str,
        provider: str,
        provider_id: str | None = None,
        error: str | None = None,
        now: float | None = None,
    ) -> None:
        """How the invite went: an :class:`InviteStatus` (``sent``, ``outbox``, ``failed``)."""
        with self.engine.begin() as db:
            db.execute(
                update(invites)
                .where(invites.c.id == invite_id)
                .values(
                    status=InviteStatus(status).value,
                    provider=provider,
                    provider_id=provider_id,
                    error=error,
                    finished_at=stamp(now),
                )
            )

    def invite_times(
        self,
        since: float,
        *,
        session_id: str | None = None,
        site_id: int | None = None,
        client: str | None = None,
        subject: str | None = None,
    ) -> list[float]:
        """:func:`invite_times_in` on a connection of its own."""
        with self.engine.connect() as db:
            return invite_times_in(
                db, since, session_id=session_id, site_id=site_id, client=client, subject=subject
            )

    def list_invites(self, session_id: str | None = None) -> list[InviteRecord]:
        query = select(invites).order_by(invites.c.created_at)
        if session_id is not None:
            query = query.where(invites.c.session_id == session_id)
        with self.engine.connect() as db:
            return [InviteRecord.from_row(r) for r in db.execute(query).all()]
