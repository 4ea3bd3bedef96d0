"""Who holds a room (cluster/owners.py), on SQLite and on a real PostgreSQL: one owner at a
time, a dead owner's room taken over once, judged on the database's clock."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import update

from cwmn_web.server.cluster.owners import Owners
from cwmn_web.server.db import SessionRecord, Store
from cwmn_web.server.db.schema import server_processes
from cwmn_web.server.db.tokens import token_hash

TTL = 5.0


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'cwmn.sqlite3'}"
        if request.param == "sqlite"
        else request.getfixturevalue("cluster_db")
    )
    store = Store(url)
    store.create()
    yield store
    store.engine.dispose()


def new_session(store: Store) -> SessionRecord:
    site = store.site_by_name("default")
    assert site is not None
    return store.create_session(site.id, "Ann", "ann@example.com", False, "http://a", "")


def session(store: Store) -> str:
    return new_session(store).id


def dead(store: Store, process: Owners) -> None:
    """``process`` stopped beating a ttl ago (as a process killed with -9)."""
    with store.engine.begin() as db:
        db.execute(
            update(server_processes)
            .where(server_processes.c.id == process.me)
            .values(heartbeat_at=server_processes.c.heartbeat_at - TTL - 1)
        )


def test_the_first_holds_and_the_others_are_told_who(shared: Store) -> None:
    a, b = Owners(shared.engine, "a" * 32, TTL), Owners(shared.engine, "b" * 32, TTL)
    assert a.beat() == {a.me}
    assert b.beat() == {a.me, b.me}
    sid = session(shared)
    assert a.take(sid) == a.me
    assert b.take(sid) == a.me
    assert b.owner_of(sid) == a.me
    assert a.mine() == {sid} and b.mine() == set()


def test_a_dead_owners_room_is_taken_over(shared: Store) -> None:
    a, b = Owners(shared.engine, "a" * 32, TTL), Owners(shared.engine, "b" * 32, TTL)
    a.beat(), b.beat()
    sid = session(shared)
    a.take(sid)
    dead(shared, a)
    assert b.owner_of(sid) is None
    assert b.beat() == {b.me}
    assert b.take(sid) == b.me
    assert a.mine() == set()  # a, if it came back, would see the room is not its own


def test_an_unreachable_owner_is_passed_over(shared: Store) -> None:
    a, b = Owners(shared.engine, "a" * 32, TTL), Owners(shared.engine, "b" * 32, TTL)
    a.beat(), b.beat()
    sid = session(shared)
    a.take(sid)
    assert b.take(sid, frozenset({a.me})) == b.me


def test_released_and_left_rooms_are_free(shared: Store) -> None:
    a, b = Owners(shared.engine, "a" * 32, TTL), Owners(shared.engine, "b" * 32, TTL)
    a.beat(), b.beat()
    one, two = session(shared), session(shared)
    a.take(one), a.take(two)
    a.release(one)
    assert b.take(one) == b.me
    a.leave()
    assert b.beat() == {b.me}
    assert b.take(two) == b.me


def test_route_keys_name_their_session(shared: Store) -> None:
    a = Owners(shared.engine, "a" * 32, TTL)
    record = new_session(shared)
    assert a.session_of("resume", token_hash(record.resume_token)) == record.id
    assert a.session_of("resume", "0" * 64) is None


def test_many_takers_at_once_one_owner(shared: Store) -> None:
    processes = [Owners(shared.engine, f"{i:032x}", TTL) for i in range(8)]
    for p in processes:
        p.beat()
    sid = session(shared)
    with ThreadPoolExecutor(8) as pool:
        owners = set(pool.map(lambda p: p.take(sid), processes))
    assert len(owners) == 1
