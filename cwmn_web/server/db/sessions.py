"""Sessions (``sessions``): who hosts, from where, and when they ended."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from .engine import EngineStore, stamp
from .schema import EndReason, guests, host_invites, sessions
from .tokens import token_hash

__all__ = ["SessionRecord", "SessionStore", "end_session_in", "insert_session"]


@dataclass(frozen=True)
class SessionRecord:
    id: str
    site_id: int
    host_name: str
    host_email: str
    is_replay: bool
    created_at: float
    ended_at: float | None
    resume_token: str = ""
    """The token itself: only on the record a new (or accepted) session returns."""
    waiting_until: float | None = None
    """Set while the session waits for the host it invited (until the invitation expires);
    ``created_at`` becomes the time the invitee accepted."""
    privacy: bool = False
    """The host's privacy, as last stored (:meth:`SessionStore.store_controls`)."""
    mute_all: bool = False
    muted: frozenset[str] = field(default_factory=frozenset)
    """The guests the host muted one by one."""
    host_subject: str | None = None
    """The host token's ``sub`` when the site requires host tokens (a verified host)."""
    host_name_verified: bool = False
    """Whether ``host_name`` is a host token's ``name`` (guests see it marked verified)."""


def insert_session(db: Connection, session_id: str, resume_token: str, **values: Any) -> None:
    """Add the session row (in ``db``'s transaction); only the token's hash is stored."""
    db.execute(
        sessions.insert().values(
            id=session_id, resume_token_hash=token_hash(resume_token), **values
        )
    )


def end_session_in(db: Connection, session_id: str, reason: EndReason, now: float) -> bool:
    """End the session if it has not ended (in ``db``'s transaction); ``reason`` is an
    :class:`EndReason` value."""
    result = db.execute(
        update(sessions)
        .where(sessions.c.id == session_id, sessions.c.ended_at.is_(None))
        .values(ended_at=now, end_reason=EndReason(reason).value)
    )
    return result.rowcount > 0


class SessionStore(EngineStore):
    def create_session(
        self,
        site_id: int,
        host_name: str,
        host_email: str,
        is_replay: bool,
        origin: str,
        page_url: str,
        now: float | None = None,
        host_subject: str | None = None,
        host_name_verified: bool = False,
    ) -> SessionRecord:
        """A new session; the returned record alone carries its resume token.
        ``host_subject``: its host's verified identity (a host token's ``sub``);
        ``host_name_verified``: ``host_name`` is the token's ``name``."""
        session_id = secrets.token_urlsafe(16)
        resume_token = secrets.token_urlsafe(32)
        created = stamp(now)
        with self.engine.begin() as db:
            insert_session(
                db,
                session_id,
                resume_token,
                site_id=site_id,
                host_name=host_name,
                host_email=host_email,
                is_replay=is_replay,
                origin=origin,
                page_url=page_url,
                created_at=created,
                host_subject=host_subject,
                host_name_verified=host_name_verified,
            )
        return SessionRecord(
            session_id,
            site_id,
            host_name,
            host_email,
            is_replay,
            created,
            None,
            resume_token,
            host_subject=host_subject,
            host_name_verified=host_name_verified,
        )

    def end_session(self, session_id: str, reason: EndReason, now: float | None = None) -> bool:
        """End it for ``reason`` (an :class:`EndReason`); False if it had already ended."""
        with self.engine.begin() as db:
            return end_session_in(db, session_id, reason, stamp(now))

    def get_session(self, session_id: str) -> SessionRecord | None:
        joined = sessions.outerjoin(host_invites, host_invites.c.session_id == sessions.c.id)
        query = (
            select(
                sessions,
                host_invites.c.expires_at.label("invite_expires"),
                host_invites.c.used_at.label("invite_used"),
            )
            .select_from(joined)
            .where(sessions.c.id == session_id)
        )
        muted = select(guests.c.guest_id).where(
            guests.c.session_id == session_id, guests.c.muted.is_(True)
        )
        with self.engine.connect() as db:
            r = db.execute(query).first()
            muted_ids: frozenset[str] = (
                frozenset(db.execute(muted).scalars()) if r is not None else frozenset()
            )
        if r is None:
            return None
        pending = r.invite_expires is not None and r.invite_used is None
        return SessionRecord(
            r.id,
            r.site_id,
            r.host_name,
            r.host_email,
            r.is_replay,
            r.created_at,
            r.ended_at,
            waiting_until=r.invite_expires if pending else None,
            privacy=bool(r.privacy),
            mute_all=bool(r.mute_all),
            muted=muted_ids,
            host_subject=r.host_subject,
            host_name_verified=bool(r.host_name_verified),
        )

    def store_controls(
        self, session_id: str, privacy: bool, mute_all: bool, muted: Collection[str]
    ) -> None:
        """Keep the host's controls: privacy, mute-all and the guests muted one by one."""
        with self.engine.begin() as db:
            db.execute(
                update(sessions)
                .where(sessions.c.id == session_id)
                .values(privacy=privacy, mute_all=mute_all)
            )
            db.execute(
                update(guests)
                .where(guests.c.session_id == session_id)
                .values(muted=guests.c.guest_id.in_(list(muted)))
            )

    def session_by_resume_token(self, resume_token: str) -> SessionRecord | None:
        """The session whose resume token is ``resume_token`` (only its hash is stored)."""
        hashed = token_hash(resume_token)
        with self.engine.connect() as db:
            r = db.execute(select(sessions.c.id).where(sessions.c.resume_token_hash == hashed))
            row = r.first()
        return self.get_session(row.id) if row else None

    def session_rows(self) -> list[dict[str, Any]]:
        """Every session row as it is stored."""
        with self.engine.connect() as db:
            return [dict(r._mapping) for r in db.execute(select(sessions)).all()]
