"""The schema's migrations: the head is the schema (a change without a migration fails
here), processes starting at once on an empty database all succeed, and a database made
before migrations is brought up to the head."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.engine import Engine

from cwmn_web.server.db import Store
from cwmn_web.server.db.migrate import current, head, upgrade
from cwmn_web.server.db.schema import guests, metadata, sites

from ..helpers.databases import fresh_database, predate_migrations


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cwmn.sqlite3'}"
        return
    with fresh_database(request.getfixturevalue("postgres_url")) as url:
        yield url


def differences(engine: Engine, schema: MetaData) -> list[object]:
    """What autogenerate would write to bring the database to ``schema``."""
    with engine.connect() as db:
        return list(compare_metadata(MigrationContext.configure(db), schema))


def test_the_head_is_the_schema(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        upgrade(engine)
        assert current(engine) == head()
        assert differences(engine, metadata) == []
        # The comparison sees a change: a table the migrations lack.
        changed = MetaData()
        for table in metadata.sorted_tables:
            table.to_metadata(changed)
        Table("unmigrated", changed, Column("id", Integer, primary_key=True))
        assert [d[0] for d in differences(engine, changed)] == ["add_table"]  # type: ignore[index]
    finally:
        engine.dispose()


def _start(url: str, go: Event, errors: Queue[str]) -> None:
    """A server process's start: ``Store.create()`` once ``go`` is set."""
    go.wait(60)
    try:
        store = Store(url)
        store.create()
        store.engine.dispose()
    except BaseException as exc:
        errors.put(f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


def test_processes_starting_at_once_on_an_empty_database_all_succeed(empty_url: str) -> None:
    """Four processes (forked: no second import of everything) create the store at the
    same moment: each succeeds, and the schema is whole, with one default site."""
    context = multiprocessing.get_context("fork")
    go, errors = context.Event(), context.Queue()
    starts = [context.Process(target=_start, args=(empty_url, go, errors)) for _ in range(4)]
    for process in starts:
        process.start()
    go.set()
    for process in starts:
        process.join(120)
    failures = [errors.get(timeout=5) for p in starts if p.exitcode != 0]
    assert failures == []
    assert [p.exitcode for p in starts] == [0, 0, 0, 0]
    engine = create_engine(empty_url)
    try:
        assert current(engine) == head()
        assert differences(engine, metadata) == []
        with engine.connect() as db:
            assert db.execute(select(sites.c.name)).scalars().all() == ["default"]
    finally:
        engine.dispose()


def test_a_database_made_before_migrations_is_brought_to_the_head(tmp_path: Path) -> None:
    """Its tables stay, with their rows; a device's duplicate guest rows (two simultaneous
    joins) become one, the first."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = Store(url)
    old.create()
    session = old.create_session(1, "Ann", "a@example.com", False, "o", "p")
    with old.engine.begin() as db:
        predate_migrations(db)
        db.execute(text("DROP INDEX ix_guests_link_device"))
        db.execute(text("CREATE INDEX ix_guests_link_device ON guests (link_hash, device_hash)"))
        for guest_id, joined in (("second", 2.0), ("first", 1.0), ("other", 1.5)):
            device = "d2" if guest_id == "other" else "d1"
            db.execute(
                guests.insert().values(
                    guest_id=guest_id,
                    session_id=session.id,
                    link_hash="l",
                    device_hash=device,
                    via="public",
                    name="",
                    joined_at=joined,
                )
            )
    old.engine.dispose()

    store = Store(url)
    store.create()
    try:
        assert current(store.engine) == head()
        assert differences(store.engine, metadata) == []
        again = store.get_session(session.id)
        assert again is not None and (again.id, again.host_name) == (session.id, "Ann")
        with store.engine.connect() as db:
            kept = db.execute(select(guests.c.guest_id).order_by(guests.c.guest_id)).all()
        assert [row[0] for row in kept] == ["first", "other"]
        unique = {i["name"]: bool(i["unique"]) for i in inspect(store.engine).get_indexes("guests")}
        assert unique["ix_guests_link_device"] is True
    finally:
        store.engine.dispose()
