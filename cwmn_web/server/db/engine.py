"""The engine every store shares: SQLite's pragmas, and the helpers of the stores."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.sql.dml import Insert

__all__ = ["EngineStore", "Pool", "insert_new", "inserted_id", "open_engine", "stamp"]


@dataclass(frozen=True)
class Pool:
    """A server database's connection pool (``CWMN_DB_POOL_SIZE``, ``CWMN_DB_MAX_OVERFLOW``,
    ``CWMN_DB_POOL_TIMEOUT``). The defaults give each of the 40 threads the async edges run
    store calls in (anyio's default) a connection, so none waits for one."""

    size: int = 10
    """Connections kept open."""
    max_overflow: int = 30
    """More opened when those are busy (closed again when returned)."""
    timeout: float = 30.0
    """Seconds a call waits for a free connection before it fails."""


def open_engine(url: str, pool: Pool | None = None) -> Engine:
    """An engine for ``url``: a SQLite file's folder is made, with WAL and foreign keys
    (SQLAlchemy's own pool); a server database's pool is sized by ``pool`` and checks a
    connection before use (``pool_pre_ping``: a restarted server's are replaced)."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    pool = pool or Pool()
    return create_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout,
        pool_pre_ping=True,
    )


class EngineStore:
    """Base of the per-concept stores: synchronous, short calls on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine


def stamp(now: float | None) -> float:
    """``now``, or the time (seconds since the epoch)."""
    return time.time() if now is None else now


def insert_new(db: Connection, table: Table) -> Insert:
    """An INSERT into ``table`` that does nothing for a row whose unique key is taken
    (``ON CONFLICT DO NOTHING``) and returns the primary key of the row it made: its
    result's ``first()`` is None when it made none. Of two processes inserting the same
    key, one inserts and the other then reads the winner's row."""
    if db.dialect.name == "postgresql":
        insert: Insert = postgresql.insert(table).on_conflict_do_nothing()
    elif db.dialect.name == "sqlite":
        insert = sqlite.insert(table).on_conflict_do_nothing()
    else:
        raise RuntimeError(f"cwmn_web supports SQLite and PostgreSQL, not {db.dialect.name}")
    return insert.returning(*table.primary_key.columns)


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row an INSERT made."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database gave no id for the new row")
    return int(key[0])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
