"""The page-asset store's rows (``asset_blobs``, ``page_assets``): content per site by its
sha256, each session's URL keys mapped to content (or to a failure), and their retention.

Recording a mapping, storing its content and checking the session's totals happen in one
transaction, the mapping written first: on SQLite that takes the write lock, so two
uploads of one session cannot both pass the totals, nor the purge delete content a
mapping recorded at the same time refers to."""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ...errors import ErrorCode
from ..page_assets.core import (
    AssetError,
    AssetLimits,
    Failure,
    Mapping,
    Offer,
    SessionTotals,
    check_failures,
    check_room,
    check_site_room,
    content_type,
)
from .engine import EngineStore, stamp
from .schema import ReplayStatus, asset_blobs, page_assets, replays, sessions

__all__ = ["PageAssetStore"]

#: A replay row whose session's assets are kept (an abandoned one's are not).
_KEPT = replays.c.status != ReplayStatus.ABANDONED.value


class PageAssetStore(EngineStore):
    def session_site(self, session_id: str, upload: bool) -> int | None:
        """The site of a session whose assets may be read (it has not ended, or it is a
        replay whose recording is kept) or, with ``upload``, uploaded (it has not ended)."""
        query = select(sessions.c.site_id, sessions.c.ended_at, sessions.c.is_replay).where(
            sessions.c.id == session_id
        )
        kept = select(replays.c.id).where(replays.c.id == session_id, _KEPT)
        with self.engine.connect() as db:
            row = db.execute(query).first()
            if row is None:
                return None
            if row.ended_at is None:
                return int(row.site_id)
            if upload or not row.is_replay or db.execute(kept).first() is None:
                return None
        return int(row.site_id)

    def offer(
        self,
        site_id: int,
        session_id: str,
        offer: Offer,
        limits: AssetLimits,
        now: float | None = None,
    ) -> bool:
        """Map the offer's key to content the site stores already (True), or record
        nothing (False: the host sends the bytes)."""
        try:
            with self.engine.begin() as db:
                self._offer(db, site_id, session_id, offer, limits, stamp(now))
        except _Absent:
            return False
        return True

    @staticmethod
    def _offer(
        db: Connection, site_id: int, session_id: str, offer: Offer, limits: AssetLimits, now: float
    ) -> None:
        _replace(db, session_id, offer.key, url=offer.url, kind=offer.kind, updated_at=now)
        blob = db.execute(
            select(asset_blobs.c.size, asset_blobs.c.file_type).where(
                asset_blobs.c.site_id == site_id, asset_blobs.c.sha256 == offer.sha256
            )
        ).first()
        if blob is None:
            raise _Absent  # rolls the mapping back
        if blob.size != offer.size:
            raise AssetError(
                f"content {offer.sha256} has {blob.size} bytes, not {offer.size}",
                ErrorCode.BAD_ASSET,
            )
        served = content_type(offer.kind, blob.file_type)
        _point(db, session_id, offer.key, offer.sha256, served, blob.size)
        check_room(_totals(db, session_id), limits)

    def store(
        self,
        site_id: int,
        session_id: str,
        offer: Offer,
        data: bytes,
        file_type: str | None,
        limits: AssetLimits,
        now: float | None = None,
    ) -> None:
        """Keep ``data`` (checked: its hash is the offer's) and map the offer's key to it."""
        at = stamp(now)
        with self.engine.begin() as db:
            _replace(db, session_id, offer.key, url=offer.url, kind=offer.kind, updated_at=at)
            served = content_type(offer.kind, file_type)
            _point(db, session_id, offer.key, offer.sha256, served, len(data))
            check_room(_totals(db, session_id), limits)
            have = select(asset_blobs.c.sha256).where(
                asset_blobs.c.site_id == site_id, asset_blobs.c.sha256 == offer.sha256
            )
            if db.execute(have).first() is None:
                # Another process may store the same content at the same moment (PostgreSQL
                # does not hold one write lock as SQLite does): its row is as good as ours.
                with contextlib.suppress(IntegrityError), db.begin_nested():
                    db.execute(
                        asset_blobs.insert().values(
                            site_id=site_id,
                            sha256=offer.sha256,
                            size=len(data),
                            file_type=file_type,
                            data=data,
                            created_at=at,
                        )
                    )
                stored = select(func.coalesce(func.sum(asset_blobs.c.size), 0)).where(
                    asset_blobs.c.site_id == site_id
                )
                check_site_room(int(db.execute(stored).scalar_one()), limits)

    def fail(
        self, session_id: str, failure: Failure, limits: AssetLimits, now: float | None = None
    ) -> bool:
        """Map the key to a failure (True): readers are sent to its URL at once. A key
        mapped to content keeps it (False): one page's failure to fetch a URL again does
        not break what another page of the session stored for it."""
        this = (page_assets.c.session_id == session_id) & (page_assets.c.key == failure.key)
        with self.engine.begin() as db:
            # A write first (it takes SQLite's write lock): an earlier failure goes.
            db.execute(delete(page_assets).where(this, page_assets.c.sha256.is_(None)))
            if db.execute(select(page_assets.c.key).where(this)).first() is not None:
                return False  # mapped to content: kept
            db.execute(
                page_assets.insert().values(
                    session_id=session_id,
                    key=failure.key,
                    url=failure.url,
                    kind="",
                    failed=failure.reason,
                    updated_at=stamp(now),
                )
            )
            check_failures(_totals(db, session_id), limits)
        return True

    def mapping(self, session_id: str, key: str) -> Mapping | None:
        query = select(page_assets.c.sha256, page_assets.c.content_type, page_assets.c.url).where(
            page_assets.c.session_id == session_id, page_assets.c.key == key
        )
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return None if row is None else Mapping(row.sha256, row.content_type, row.url)

    def data(self, site_id: int, sha256: str) -> bytes | None:
        query = select(asset_blobs.c.data).where(
            asset_blobs.c.site_id == site_id, asset_blobs.c.sha256 == sha256
        )
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return None if row is None else bytes(row.data)

    def purge(self, stale_before: float) -> tuple[int, int]:
        """Delete the mappings of sessions that are over (ended, or started before
        ``stale_before`` and never marked ended) unless a kept replay recording is theirs
        (its row exists, not abandoned),
        then the content no mapping of its site refers to; how many of each went."""
        kept = exists().where(replays.c.id == sessions.c.id, _KEPT)
        over = select(sessions.c.id).where(
            (sessions.c.ended_at.is_not(None)) | (sessions.c.created_at < stale_before), ~kept
        )
        used = (
            select(page_assets.c.sha256)
            .join(sessions, sessions.c.id == page_assets.c.session_id)
            .where(
                page_assets.c.sha256 == asset_blobs.c.sha256,
                sessions.c.site_id == asset_blobs.c.site_id,
            )
            .exists()
        )
        with self.engine.begin() as db:
            mappings = db.execute(delete(page_assets).where(page_assets.c.session_id.in_(over)))
            blobs = db.execute(delete(asset_blobs).where(~used))
        return mappings.rowcount, blobs.rowcount

    def totals(self, session_id: str) -> SessionTotals:
        with self.engine.connect() as db:
            return _totals(db, session_id)

    def blob_count(self) -> int:
        with self.engine.connect() as db:
            return int(db.execute(select(func.count()).select_from(asset_blobs)).scalar_one())


class _Absent(Exception):
    """The offered content is not stored: the transaction is rolled back."""


def _replace(db: Connection, session_id: str, key: str, **values: Any) -> None:
    """The key's mapping, written anew (the last upload for a key wins)."""
    db.execute(
        delete(page_assets).where(page_assets.c.session_id == session_id, page_assets.c.key == key)
    )
    db.execute(page_assets.insert().values(session_id=session_id, key=key, **values))


def _point(db: Connection, session_id: str, key: str, sha256: str, served: str, size: int) -> None:
    db.execute(
        update(page_assets)
        .where(page_assets.c.session_id == session_id, page_assets.c.key == key)
        .values(sha256=sha256, content_type=served, size=size)
    )


def _totals(db: Connection, session_id: str) -> SessionTotals:
    """The session's keys mapped to content and their bytes, and its failures."""
    content = page_assets.c.sha256.is_not(None)
    query = select(
        func.count(page_assets.c.sha256),
        func.coalesce(func.sum(page_assets.c.size), 0),
        func.count().filter(~content),
    ).where(page_assets.c.session_id == session_id)
    row = db.execute(query).one()
    return SessionTotals(int(row[0]), int(row[1]), int(row[2]))
