"""Alembic's environment: runs on the connection :mod:`cwmn_web.server.db.migrate` passes
(``config.attributes["connection"]``); no ``alembic.ini``."""

from __future__ import annotations

from alembic import context

from cwmn_web.server.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
