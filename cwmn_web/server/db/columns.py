"""Columns added to tables that an older version of the server created.

The first migration (``migrations/versions/v0001_schema.py``) brings a database made before
migrations existed up to its schema: ``create_all`` makes missing tables but never alters
one that exists, and a database made before a column was added would then fail on its first
query. Such a column had to be nullable or have a ``server_default``, so rows that exist
take a value: :func:`add_missing_columns` adds such columns and refuses any other with a
message that says what to do. Later columns come in migrations of their own.
"""

from __future__ import annotations

from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import Column, CreateColumn

__all__ = ["add_missing_columns", "missing_columns"]


def missing_columns(engine: Engine | Connection, metadata: MetaData) -> list[Column[object]]:
    """The columns of ``metadata``'s tables that exist in the database but lack them."""
    inspector = inspect(engine)
    present = set(inspector.get_table_names())
    missing: list[Column[object]] = []
    for table in metadata.sorted_tables:
        if table.name not in present:
            continue  # create_all makes it whole
        have = {c["name"] for c in inspector.get_columns(table.name)}
        missing.extend(c for c in table.columns if c.name not in have)
    return missing


def add_missing_columns(engine: Engine | Connection, metadata: MetaData) -> list[str]:
    """``ALTER TABLE … ADD COLUMN`` each missing column; their ``table.column`` names (on a
    connection: in its transaction)."""
    added: list[str] = []
    for column in missing_columns(engine, metadata):
        name = f"{column.table.name}.{column.name}"
        if not column.nullable and column.server_default is None:
            raise RuntimeError(
                f"the database lacks column {name}, which cannot be added to existing rows "
                "(no server default): give it one in the schema, or recreate the database"
            )
        ddl = CreateColumn(column).compile(dialect=engine.dialect)
        alter = text(f'ALTER TABLE "{column.table.name}" ADD COLUMN {ddl}')
        if isinstance(engine, Connection):
            engine.execute(alter)
        else:
            with engine.begin() as db:
                db.execute(alter)
        added.append(name)
    return added
