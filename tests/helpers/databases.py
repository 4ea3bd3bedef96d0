"""Databases for store tests on PostgreSQL: a fresh database per need on the session's
server, and emptying one between tests (faster than a new schema each time)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url

from cwmn_web.server.db.schema import metadata

__all__ = ["LATER_TABLES", "empty_tables", "fresh_database", "predate_migrations"]


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on ``server_url``'s PostgreSQL (dropped at the end); its URL."""
    name = f"t_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as db:
            db.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server_url).set(database=name)
        yield url.render_as_string(hide_password=False)
        with admin.connect() as db:
            db.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def empty_tables(engine: Engine) -> None:
    """Delete every row of the schema's tables (ids start again from 1)."""
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as db:
        db.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


#: Tables that migrations after the first made: a database from before migrations has none.
LATER_TABLES = ("join_codes", "join_code_failures")


def predate_migrations(db: Connection) -> None:
    """Make the database ``db`` is connected to look as one made before migrations: no
    ``alembic_version``, none of :data:`LATER_TABLES`."""
    db.execute(text("DROP TABLE alembic_version"))
    for table in LATER_TABLES:
        db.execute(text(f"DROP TABLE {table}"))
