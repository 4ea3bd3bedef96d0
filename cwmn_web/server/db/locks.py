"""Locks that hold across processes, for the steps two processes must not take at once.

- :func:`exclusive`: a transaction that no other :func:`exclusive` transaction on the same
  key runs beside (a check and the write it allows: rate limits, caps). PostgreSQL: a
  transaction-level advisory lock on the key's hash (other keys are not blocked); SQLite:
  ``BEGIN IMMEDIATE`` (the database's one writer, whatever the key).
- :func:`held`: a lock on a key held across several steps (each its own transaction), for
  checks whose writes are spread over several stores (a replay's caps, then its session and
  its recording). PostgreSQL: a session-level advisory lock; a SQLite file: an exclusive
  ``flock`` on a file beside it. :func:`schema_lock` is one: one process at a time creates
  or upgrades the schema.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from ...errors import CwmnError, ErrorCode

__all__ = ["exclusive", "held", "lock_key", "schema_lock"]

#: Seconds a step waits for another process's lock before it gives up (``server_error``):
#: a lock is held for one short step, so a longer wait means something is stuck.
LOCK_TIMEOUT = 30


@contextlib.contextmanager
def _busy_after_timeout() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        if "lock timeout" not in str(exc):
            raise
        raise CwmnError(
            f"the server is busy (a lock was not free in {LOCK_TIMEOUT} s); try again",
            ErrorCode.SERVER_ERROR,
        ) from None


#: The advisory-lock key of the schema's creation and upgrades.
SCHEMA_KEY = "cwmn_web:schema"


def lock_key(key: str) -> int:
    """A signed 64-bit number for ``key`` (what PostgreSQL's advisory locks take)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def exclusive(engine: Engine, *keys: str) -> Iterator[Connection]:
    """``with exclusive(engine, "invites:site:3") as db:`` a transaction (committed on
    leaving, rolled back on an error) that no other ``exclusive`` sharing one of ``keys``
    runs beside, in this process or another (the keys are locked in one order: two such
    steps never wait for each other's)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as db:
            # pysqlite begins a transaction lazily (before the first write): begin it here,
            # taking the write lock before the first read.
            db.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()
        return
    with engine.begin() as db:
        if engine.dialect.name == "postgresql":
            db.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}s'"))
            with _busy_after_timeout():
                for number in sorted({lock_key(key) for key in keys}):
                    db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": number})
        yield db


@contextlib.contextmanager
def held(engine: Engine, key: str, timeout: float | None = LOCK_TIMEOUT) -> Iterator[None]:
    """Held (blocking the calling thread until it is free) by one process at a time."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as db:
            wait = f"{timeout:g}s" if timeout is not None else "0"  # 0: no limit
            db.execute(text(f"SET lock_timeout = '{wait}'"))
            with _busy_after_timeout():
                db.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_key(key)})
            db.execute(text("RESET lock_timeout"))
            db.commit()
            try:
                yield
            finally:
                db.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(key)})
                db.commit()
        return
    path = _sqlite_file(engine)
    if path is None:
        yield  # in memory, or another database: nothing shared to guard
        return
    import fcntl

    suffix = ".lock" if key == SCHEMA_KEY else f".{lock_key(key) & 0xFFFFFFFF:08x}.lock"
    with open(path.with_name(path.name + suffix), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def schema_lock(engine: Engine) -> contextlib.AbstractContextManager[None]:
    """Held while the schema is made or upgraded: concurrent starts take turns."""
    return held(engine, SCHEMA_KEY, timeout=None)  # a long upgrade: the others wait


def _sqlite_file(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)
