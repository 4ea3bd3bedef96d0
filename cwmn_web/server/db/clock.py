"""The database's clock: what every process compares heartbeats and leases with, so that
machines whose clocks differ still agree on who is alive."""

from __future__ import annotations

from sqlalchemy import Float, cast, func, literal_column
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["database_now", "now_sql"]


def now_sql(engine: Engine | Connection) -> ColumnElement[float]:
    """The database's time now, in seconds since the epoch, as an SQL expression
    (PostgreSQL: the statement's clock, not the transaction's; SQLite: its own)."""
    if engine.dialect.name == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Float)
    return cast((func.julianday(literal_column("'now'")) - 2440587.5) * 86400.0, Float)


def database_now(engine: Engine) -> float:
    """The database's time now (seconds since the epoch)."""
    from sqlalchemy import select

    with engine.connect() as db:
        return float(db.execute(select(now_sql(db))).scalar_one())
