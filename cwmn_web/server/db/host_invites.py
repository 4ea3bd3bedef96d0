"""Invitations to host (``host_invites``): a session made for the invitee, waiting for them
until they use the one-time token (or it expires)."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass

from sqlalchemy import select, update

from ...errors import CwmnError, ErrorCode
from .engine import EngineStore, stamp
from .invites import insert_invite
from .links import LinkRecord, insert_link, new_link, revoke_session_links
from .schema import EndReason, InviteKind, InviteStatus, host_invites, sessions
from .sessions import SessionRecord, end_session_in, insert_session
from .tokens import token_hash

__all__ = ["HostInviteRecord", "HostInviteStore"]


@dataclass(frozen=True)
class HostInviteRecord:
    """An invitation to host. The invitee (the session's ``host_name``/``host_email``)
    uses it once; ``token`` is only on the record :meth:`HostInviteStore.create_host_invite`
    returns."""

    token_hash: str
    invite_id: str
    session_id: str
    site_id: int
    url: str
    inviter_name: str
    inviter_email: str
    message: str
    created_at: float
    expires_at: float
    used_at: float | None = None
    token: str = ""


class HostInviteStore(EngineStore):
    def create_host_invite(
        self,
        site_id: int,
        *,
        origin: str,
        url: str,
        inviter: tuple[str, str],
        invitee: tuple[str, str],
        message: str,
        ttl_seconds: float,
        join_ttl_seconds: float,
        now: float | None = None,
    ) -> tuple[HostInviteRecord, LinkRecord]:
        """In one transaction: a session for ``invitee`` (name, email) to host, waiting for
        them; the inviter's private link to it; the invite (``sending``, kind ``host``); and
        the one-time invitation token. Returns the invitation and the link, with tokens."""
        created = stamp(now)
        token, session_id = secrets.token_urlsafe(24), secrets.token_urlsafe(16)
        record = HostInviteRecord(
            token_hash(token),
            secrets.token_urlsafe(12),
            session_id,
            site_id,
            url,
            inviter[0],
            inviter[1],
            message,
            created,
            created + ttl_seconds,
            token=token,
        )
        link = new_link(session_id, created, join_ttl_seconds)
        with self.engine.begin() as db:
            insert_session(
                db,
                session_id,
                secrets.token_urlsafe(32),  # replaced when the invitee accepts
                site_id=site_id,
                host_name=invitee[0],
                host_email=invitee[1],
                is_replay=False,
                origin=origin,
                page_url=url,
                created_at=created,
            )
            insert_link(db, link)
            insert_invite(
                db,
                record.invite_id,
                InviteKind.HOST,
                InviteStatus.SENDING,
                created,
                site_id=site_id,
                session_id=session_id,
                link_hash=record.token_hash,
                channel="email",
                recipient=invitee[1],
            )
            values = {k: v for k, v in asdict(record).items() if k != "token"}
            db.execute(host_invites.insert().values(**values))
        return record, link

    def host_invite_by_token(self, token: str) -> HostInviteRecord | None:
        with self.engine.connect() as db:
            r = db.execute(
                select(host_invites).where(host_invites.c.token_hash == token_hash(token))
            ).first()
        return HostInviteRecord(**r._mapping) if r else None

    def accept_host_invite(
        self, token: str, site_id: int, origin: str, page_url: str, now: float | None = None
    ) -> SessionRecord:
        """Use the invitation once: its session starts now, hosted from ``origin``, with a
        new resume token (on the returned record). Or raise the refusal's
        :class:`~cwmn_web.errors.CwmnError`: ``link_invalid`` (unknown, another site's,
        expired, or its session is over) or ``link_used``."""
        accepted = stamp(now)
        hashed = token_hash(token)
        resume_token = secrets.token_urlsafe(32)
        with self.engine.begin() as db:
            row = db.execute(select(host_invites).where(host_invites.c.token_hash == hashed))
            invite = row.first()
            session = (
                db.execute(select(sessions).where(sessions.c.id == invite.session_id)).first()
                if invite is not None
                else None
            )
            if invite is None or session is None or invite.site_id != site_id:
                raise CwmnError("the invitation to host does not exist", ErrorCode.LINK_INVALID)
            if invite.used_at is not None:
                raise CwmnError("the invitation to host was already used", ErrorCode.LINK_USED)
            if invite.expires_at <= accepted or session.ended_at is not None:
                raise CwmnError("the invitation to host has expired", ErrorCode.LINK_INVALID)
            used = db.execute(
                update(host_invites)
                .where(host_invites.c.token_hash == hashed, host_invites.c.used_at.is_(None))
                .values(used_at=accepted)
            )
            if used.rowcount != 1:
                raise CwmnError("the invitation to host was already used", ErrorCode.LINK_USED)
            db.execute(
                update(sessions)
                .where(sessions.c.id == invite.session_id)
                .values(
                    created_at=accepted,
                    origin=origin,
                    page_url=page_url,
                    resume_token_hash=token_hash(resume_token),
                )
            )
        return SessionRecord(
            session.id,
            session.site_id,
            session.host_name,
            session.host_email,
            False,
            accepted,
            None,
            resume_token,
        )

    def cancel_host_invite(self, record: HostInviteRecord, now: float | None = None) -> None:
        """Nobody received the invitation: its session ends and its links stop working."""
        cancelled = stamp(now)
        with self.engine.begin() as db:
            db.execute(
                update(host_invites)
                .where(host_invites.c.token_hash == record.token_hash)
                .values(expires_at=cancelled)
            )
            revoke_session_links(db, record.session_id, cancelled)
            end_session_in(db, record.session_id, EndReason.INVITE_FAILED, cancelled)
