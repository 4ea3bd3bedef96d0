"""Join links (``links``): their tokens, kinds, and the device each private one is bound to."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.engine import Connection

from .engine import EngineStore, stamp
from .schema import LinkKind, links
from .tokens import token_hash

__all__ = ["LinkRecord", "LinkStore", "insert_link", "revoke_session_links"]


@dataclass(frozen=True)
class LinkRecord:
    """A join link. ``device_hash``/``guest_id`` are set by the first guest that joins."""

    token_hash: str
    session_id: str
    kind: LinkKind
    created_at: float
    expires_at: float
    revoked_at: float | None = None
    device_hash: str | None = None
    guest_id: str | None = None
    guest_name: str | None = None
    token: str = ""
    """The token itself: only on the record a new link returns."""

    @classmethod
    def from_row(cls, row: Row[Any]) -> LinkRecord:
        return cls(**{**row._mapping, "kind": LinkKind(row.kind)})


def new_link(
    session_id: str,
    created: float,
    ttl_seconds: float,
    kind: LinkKind = LinkKind.PRIVATE,
    guest_name: str | None = None,
) -> LinkRecord:
    """A link with a new token (192 bits), not stored yet."""
    token = secrets.token_urlsafe(24)
    return LinkRecord(
        token_hash(token),
        session_id,
        kind,
        created,
        created + ttl_seconds,
        guest_name=guest_name,
        token=token,
    )


def insert_link(db: Connection, link: LinkRecord) -> None:
    """Store ``link`` (in ``db``'s transaction): its hash, never its token."""
    db.execute(
        links.insert().values(
            token_hash=link.token_hash,
            session_id=link.session_id,
            kind=link.kind.value,
            created_at=link.created_at,
            expires_at=link.expires_at,
            guest_name=link.guest_name,
        )
    )


def revoke_session_links(db: Connection, session_id: str, now: float) -> None:
    """Every link of the session stops working (in ``db``'s transaction)."""
    db.execute(
        update(links)
        .where(links.c.session_id == session_id, links.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


class LinkStore(EngineStore):
    def create_link(
        self,
        session_id: str,
        ttl_seconds: float,
        kind: str = LinkKind.PRIVATE,
        now: float | None = None,
        guest_name: str | None = None,
    ) -> LinkRecord:
        """A new link to ``session_id``; the returned record alone carries the token.

        ``kind``: a :class:`LinkKind` (``invite`` is a private link sent by the server;
        ``guest_name`` is then the invitee's name, used when the guest names nobody)."""
        link = new_link(session_id, stamp(now), ttl_seconds, LinkKind(kind), guest_name)
        with self.engine.begin() as db:
            insert_link(db, link)
        return link

    def link_by_token(self, token: str) -> LinkRecord | None:
        with self.engine.connect() as db:
            r = db.execute(select(links).where(links.c.token_hash == token_hash(token))).first()
        return LinkRecord.from_row(r) if r else None

    def bind_link(
        self, hashed: str, device_hash: str, guest_id: str, guest_name: str
    ) -> LinkRecord | None:
        """Bind an unbound link to ``device_hash`` (with a new ``guest_id``), atomically.

        The device it is bound to also updates the guest's name. Returns the link as it is
        now; its ``device_hash`` says whether this device holds it."""
        with self.engine.begin() as db:
            db.execute(
                update(links)
                .where(links.c.token_hash == hashed, links.c.device_hash.is_(None))
                .values(device_hash=device_hash, guest_id=guest_id)
            )
            db.execute(
                update(links)
                .where(links.c.token_hash == hashed, links.c.device_hash == device_hash)
                .values(guest_name=guest_name)
            )
            r = db.execute(select(links).where(links.c.token_hash == hashed)).first()
        return LinkRecord.from_row(r) if r else None

    def revoke_link(self, token: str, now: float | None = None) -> bool:
        with self.engine.begin() as db:
            result = db.execute(
                update(links)
                .where(links.c.token_hash == token_hash(token), links.c.revoked_at.is_(None))
                .values(revoked_at=stamp(now))
            )
            return result.rowcount > 0

    def set_public_links(self, session_id: str, enabled: bool, now: float | None = None) -> None:
        """Let the session's public links admit new guests, or not (``revoked_at``)."""
        with self.engine.begin() as db:
            db.execute(
                update(links)
                .where(links.c.session_id == session_id, links.c.kind == LinkKind.PUBLIC)
                .values(revoked_at=None if enabled else stamp(now))
            )

    def public_links_enabled(self, session_id: str) -> bool:
        """False once the host disabled its public link (True before it made one)."""
        with self.engine.connect() as db:
            r = db.execute(
                select(links.c.revoked_at)
                .where(links.c.session_id == session_id, links.c.kind == LinkKind.PUBLIC)
                .limit(1)
            ).first()
        return r is None or r.revoked_at is None
