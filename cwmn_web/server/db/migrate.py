"""The schema's migrations (Alembic, shipped in ``migrations/``; no ``alembic.ini``).

:func:`upgrade` brings a database to the newest revision, one process at a time
(:func:`.locks.schema_lock`); ``Store.create()`` runs it. A new revision, after a change to
:mod:`.schema`::

    python -m cwmn_web.server.db.migrations revision "what changed"

writes ``migrations/versions/v000N_….py`` from the difference between the schema and a
database at the current head (check it, then ``tests/server/test_migrations.py`` proves
the head equals the schema on SQLite and PostgreSQL).
"""

from __future__ import annotations

import re
import tempfile
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from .locks import schema_lock

__all__ = ["current", "head", "new_revision", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision's id."""
    found = _scripts().get_current_head()
    if found is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return found


def current(engine: Engine) -> str | None:
    """The revision the database is at (None: none applied)."""
    with engine.connect() as db:
        return MigrationContext.configure(db).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Apply the missing migrations (a database already at the head is left alone)."""
    with schema_lock(engine):
        if current(engine) == head():
            return
        with engine.begin() as db:
            command.upgrade(_config(db), "head")


def new_revision(message: str) -> Path:
    """Write the next revision from the schema's difference with a database at the head."""
    from sqlalchemy import create_engine

    number = len(list(_scripts().walk_revisions())) + 1
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "change"
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/head.sqlite3")
        upgrade(engine)
        with engine.begin() as db:
            script = command.revision(
                _config(db),
                message,
                autogenerate=True,
                rev_id=f"{number:04d}",
            )
        engine.dispose()
    if script is None or isinstance(script, list):
        raise RuntimeError("alembic wrote no single revision")
    path = Path(script.path)
    target = path.with_name(f"v{number:04d}_{slug}.py")
    path.rename(target)
    return target
