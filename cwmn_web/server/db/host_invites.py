"""Invitations to host (``host_invites``): a session made for the invitee, waiting for them
until they use the one-time token (or it expires)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, select, update

from ...errors import CwmnError, ErrorCode
from .engine import EngineStore, stamp
from .invites import insert_invite
from .links import LinkRecord, insert_link, new_link, revoke_session_links
from .schema import EndReason, InviteKind, InviteStatus, host_invites, sessions
from .sessions import SessionRecord, end_session_in, insert_session
from .tokens import token_hash

if TYPE_CHECKING:
    from ..host_tokens import HostIdentity

__all__ = [
    "CodeCheck",
    "CodeRefused",
    "HostInviteRecord",
    "HostInviteStore",
    "insert_host_invite",
]


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
    wrong_codes: int = 0
    token: str = ""


@dataclass(frozen=True)
class CodeCheck:
    """The code given to accept an invitation: ``matches`` compares it (None: no code
    given, which is not a guess), after at most ``limit`` wrong ones."""

    matches: Callable[[], bool | None]
    limit: int


class CodeRefused(CwmnError):
    """Accepting was refused for the code: missing or wrong (``invite_code_invalid``, with
    the tries left), or too many wrong ones (``link_invalid``). Its message is for the
    invitee."""


def insert_host_invite(
    db: Connection,
    site_id: int,
    *,
    origin: str,
    url: str,
    inviter: tuple[str, str],
    invitee: tuple[str, str],
    message: str,
    ttl_seconds: float,
    join_ttl_seconds: float,
    now: float,
    sender: dict[str, str | None] | None = None,
) -> tuple[HostInviteRecord, LinkRecord]:
    """In ``db``'s transaction: a session for ``invitee`` (name, email) to host, waiting for
    them; the inviter's private link to it; the invite (``sending``, kind ``host``, asked by
    ``sender``: its ``host_identity``/``client_address``); and the one-time invitation
    token. Returns the invitation and the link, with tokens."""
    created = now
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
        **(sender or {}),
    )
    values = {k: v for k, v in asdict(record).items() if k != "token"}
    db.execute(host_invites.insert().values(**values))
    return record, link


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
        """:func:`insert_host_invite` in a transaction of its own."""
        with self.engine.begin() as db:
            return insert_host_invite(
                db,
                site_id,
                origin=origin,
                url=url,
                inviter=inviter,
                invitee=invitee,
                message=message,
                ttl_seconds=ttl_seconds,
                join_ttl_seconds=join_ttl_seconds,
                now=stamp(now),
            )

    def host_invite_by_token(self, token: str) -> HostInviteRecord | None:
        with self.engine.connect() as db:
            r = db.execute(
                select(host_invites).where(host_invites.c.token_hash == token_hash(token))
            ).first()
        return HostInviteRecord(**r._mapping) if r else None

    def accept_host_invite(
        self,
        token: str,
        site_id: int,
        origin: str,
        page_url: str,
        code: CodeCheck,
        now: float | None = None,
        host: HostIdentity | None = None,
    ) -> SessionRecord:
        """Use the invitation once, given its email's code: its session starts now, hosted
        from ``origin``, with a new resume token (on the returned record); ``host``: the
        accepting host's verified identity (a token site), which becomes the session's host
        (its ``sub`` binds resumes; a name it gives is shown verified). Or raise the
        refusal's :class:`~cwmn_web.errors.CwmnError`: ``link_invalid`` (unknown, another
        site's, expired, its session is over, or too many wrong codes), ``link_used``, or
        ``invite_code_invalid`` (the code is missing or wrong; tries left in the message).

        Wrong codes are counted in the invitation's row, atomically: an invitation that has
        had ``code.limit`` of them is refused before its code is compared, and the one that
        reaches the limit cancels it for good (whatever other sockets or processes do)."""
        accepted = stamp(now)
        hashed = token_hash(token)
        resume_token = secrets.token_urlsafe(32)
        with self.engine.begin() as db:
            invite = db.execute(
                select(host_invites).where(host_invites.c.token_hash == hashed)
            ).first()
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
            refused = _code_refusal(db, invite, code, accepted)
            if refused is None:
                used = db.execute(
                    update(host_invites)
                    .where(
                        host_invites.c.token_hash == hashed,
                        host_invites.c.used_at.is_(None),
                        host_invites.c.wrong_codes < code.limit,
                    )
                    .values(used_at=accepted)
                )
                refused = _used_since(db, hashed) if used.rowcount != 1 else None
            name, email = session.host_name, session.host_email
            verified = host is not None and bool(host.name)
            if host is not None:
                name, email = (host.name or name)[:200], (host.email or email)[:254]
            if refused is None:
                db.execute(
                    update(sessions)
                    .where(sessions.c.id == invite.session_id)
                    .values(
                        created_at=accepted,
                        origin=origin,
                        page_url=page_url,
                        resume_token_hash=token_hash(resume_token),
                        host_name=name,
                        host_email=email,
                        host_subject=host.subject if host is not None else None,
                        host_name_verified=verified,
                    )
                )
        if refused is not None:  # raised after the commit: the count (or cancel) is kept
            raise refused
        return SessionRecord(
            session.id,
            session.site_id,
            name,
            email,
            False,
            accepted,
            None,
            resume_token,
            host_subject=host.subject if host is not None else None,
            host_name_verified=verified,
        )

    def cancel_host_invite(self, record: HostInviteRecord, now: float | None = None) -> None:
        """Nobody received the invitation: its session ends and its links stop working."""
        with self.engine.begin() as db:
            _cancel_in(db, record.token_hash, record.session_id, stamp(now))


def _code_refusal(
    db: Connection, invite: Row[Any], code: CodeCheck, now: float
) -> CwmnError | None:
    """None if ``code`` is right and the invitation not burned; else the refusal, having
    counted a wrong code (and cancelled the invitation at the limit) in ``db``."""
    if invite.wrong_codes >= code.limit:  # burned: compare nothing
        _cancel_in(db, invite.token_hash, invite.session_id, now)
        return _too_many()
    verdict = code.matches()
    if verdict:
        return None
    if verdict is None:  # missing: not a guess
        left = code.limit - invite.wrong_codes
        return _wrong_code("the code is missing", left)
    counted = db.execute(
        update(host_invites)
        .where(
            host_invites.c.token_hash == invite.token_hash,
            host_invites.c.used_at.is_(None),  # accepted meanwhile: its session is not ours
            host_invites.c.wrong_codes < code.limit,
        )
        .values(wrong_codes=host_invites.c.wrong_codes + 1)
    )
    if counted.rowcount != 1:  # used, or burned, since it was read
        refused = _used_since(db, invite.token_hash)
        if isinstance(refused, CodeRefused):
            _cancel_in(db, invite.token_hash, invite.session_id, now)
        return refused
    wrong: int = db.execute(
        select(host_invites.c.wrong_codes).where(host_invites.c.token_hash == invite.token_hash)
    ).scalar_one()
    if wrong >= code.limit:
        _cancel_in(db, invite.token_hash, invite.session_id, now)
        return _too_many()
    return _wrong_code("the code is wrong", code.limit - wrong)


def _used_since(db: Connection, hashed: str) -> CwmnError:
    """Why the invitation could not be marked used after all: another socket used it,
    or burned it with wrong codes, since it was read."""
    used_at: float | None = db.execute(
        select(host_invites.c.used_at).where(host_invites.c.token_hash == hashed)
    ).scalar_one()
    if used_at is not None:
        return CwmnError("the invitation to host was already used", ErrorCode.LINK_USED)
    return _too_many()


def _cancel_in(db: Connection, hashed: str, session_id: str, now: float) -> None:
    """The invitation stops working for good: its session ends, its links are revoked;
    unless it was accepted (then the session is the invitee's, and goes on)."""
    unused = db.execute(
        update(host_invites)
        .where(host_invites.c.token_hash == hashed, host_invites.c.used_at.is_(None))
        .values(expires_at=now)
    )
    if unused.rowcount:
        revoke_session_links(db, session_id, now)
        end_session_in(db, session_id, EndReason.INVITE_FAILED, now)


def _too_many() -> CodeRefused:
    return CodeRefused(
        "too many wrong codes: this invitation no longer works; ask the person who "
        "invited you to send a new one",
        ErrorCode.LINK_INVALID,
    )


def _wrong_code(what: str, left: int) -> CodeRefused:
    return CodeRefused(
        f"{what}: enter the 6-digit code from the invitation email ({left} tries left)",
        ErrorCode.INVITE_CODE_INVALID,
    )
