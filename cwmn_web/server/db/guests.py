"""Guests (``guests``): who joined a session, on which device, through which link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, select, update

from .engine import EngineStore, insert_new, stamp
from .links import LinkRecord
from .schema import LinkKind, guests, links

__all__ = ["GuestRecord", "GuestStore"]


@dataclass(frozen=True)
class GuestRecord:
    """A guest that joined a session once, on one device, through one link."""

    guest_id: str
    session_id: str
    link_hash: str
    device_hash: str
    via: LinkKind
    name: str
    joined_at: float
    removed_at: float | None = None
    muted: bool = False
    """Muted by the host (``muteGuest``), kept with the session's other controls."""

    @classmethod
    def from_row(cls, row: Row[Any]) -> GuestRecord:
        return cls(**{**row._mapping, "via": LinkKind(row.via)})


class GuestStore(EngineStore):
    def seat_guest(
        self,
        session_id: str,
        link: LinkRecord,
        device_hash: str,
        guest_id: str,
        name: str,
        now: float | None = None,
    ) -> tuple[GuestRecord, bool]:
        """The guest this device is on ``link`` (created on its first join), and whether
        this call created it (a refused join then forgets it: :meth:`forget_guest`).

        A private link names its guest (``link.guest_id``); on a public link each device
        is its own guest. A known guest keeps its id and ``joined_at`` (its name updates)."""
        public = link.kind == LinkKind.PUBLIC
        if not public and link.guest_id:
            guest_id = link.guest_id
        query = select(guests).where(guests.c.session_id == session_id)
        if public:
            query = query.where(
                guests.c.link_hash == link.token_hash, guests.c.device_hash == device_hash
            )
        else:
            query = query.where(guests.c.guest_id == guest_id)
        with self.engine.begin() as db:
            # Two joins of one device at once: one inserts, the other's insert does nothing
            # (one row per device on a link, and per guest id) and it reads the winner's row.
            made = db.execute(
                insert_new(db, guests).values(
                    guest_id=guest_id,
                    session_id=session_id,
                    link_hash=link.token_hash,
                    device_hash=device_hash,
                    via=LinkKind(link.kind).value,
                    name=name,
                    joined_at=stamp(now),
                )
            )
            created = made.first() is not None
            row = db.execute(query).first()
            if row is None and not created:  # the device's row on the link, by another id
                row = db.execute(
                    select(guests).where(
                        guests.c.link_hash == link.token_hash, guests.c.device_hash == device_hash
                    )
                ).first()
            if row is not None and not created:
                db.execute(
                    update(guests).where(guests.c.guest_id == row.guest_id).values(name=name)
                )
                row = db.execute(select(guests).where(guests.c.guest_id == row.guest_id)).first()
        if row is None:
            raise RuntimeError(f"guest {guest_id} was not stored")
        return GuestRecord.from_row(row), created

    def forget_guest(self, guest_id: str) -> None:
        """Delete the row of a guest whose first join was refused after it was seated in
        the store (room full, session over): a refused join leaves no guest."""
        with self.engine.begin() as db:
            db.execute(delete(guests).where(guests.c.guest_id == guest_id))

    def rename_guest(self, guest_id: str, name: str) -> None:
        """The guest chose ``name`` after joining (its next join keeps it)."""
        with self.engine.begin() as db:
            db.execute(update(guests).where(guests.c.guest_id == guest_id).values(name=name))

    def guest_on_link(self, link: LinkRecord, device_hash: str | None) -> GuestRecord | None:
        """The guest ``device_hash`` is (or was) on ``link``, if it ever joined."""
        if device_hash is None:
            return None
        with self.engine.connect() as db:
            r = db.execute(
                select(guests).where(
                    guests.c.link_hash == link.token_hash, guests.c.device_hash == device_hash
                )
            ).first()
        return GuestRecord.from_row(r) if r else None

    def remove_guest(self, session_id: str, guest_id: str, now: float | None = None) -> bool:
        """Mark the guest removed and revoke the private link it came through."""
        removed = stamp(now)
        with self.engine.begin() as db:
            row = db.execute(
                select(guests).where(
                    guests.c.guest_id == guest_id, guests.c.session_id == session_id
                )
            ).first()
            if row is None:
                return False
            db.execute(
                update(guests).where(guests.c.guest_id == guest_id).values(removed_at=removed)
            )
            if row.via != LinkKind.PUBLIC:
                db.execute(
                    update(links)
                    .where(links.c.token_hash == row.link_hash, links.c.revoked_at.is_(None))
                    .values(revoked_at=removed)
                )
        return True
