"""The engine every store shares: SQLite's pragmas, and the helpers of the stores."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import CursorResult, Engine

__all__ = ["EngineStore", "inserted_id", "open_engine", "stamp"]


def open_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is made, with WAL and foreign keys."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class EngineStore:
    """Base of the per-concept stores: synchronous, short calls on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine


def stamp(now: float | None) -> float:
    """``now``, or the time (seconds since the epoch)."""
    return time.time() if now is None else now


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
