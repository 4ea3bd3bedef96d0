"""A guest's seat in the store (``guest_join.take_seat``) on SQLite and PostgreSQL: two
joins of one device at the same moment make one guest row, which both are given."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from cwmn_web.server.db import LinkKind, LinkRecord, SessionRecord, Store
from cwmn_web.server.db.schema import guests
from cwmn_web.server.guest_join import Seat, new_guest_id, take_seat


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


def _join(
    together: threading.Barrier,
    store: Store,
    session: SessionRecord,
    link: LinkRecord,
    device: str,
    name: str,
) -> Seat:
    """A join that has looked up no seat for its device yet, at the same moment as another."""
    together.wait(10)
    return take_seat(store, session, link, device, new_guest_id(None), name)


@pytest.mark.parametrize("kind", [LinkKind.PUBLIC, LinkKind.PRIVATE])
def test_two_simultaneous_joins_of_one_device_make_one_guest(store: Store, kind: LinkKind) -> None:
    rounds, made = 20, []
    with ThreadPoolExecutor(2) as pool:
        for n in range(rounds):
            session = store.create_session(1, "Ann", "a@example.com", False, "o", "p")
            link = store.create_link(session.id, 600, kind)
            together = threading.Barrier(2)
            joins = [
                pool.submit(_join, together, store, session, link, f"device-{n}", name)
                for name in ("Bob", "Robert")
            ]
            seats = [j.result() for j in joins]
            with store.engine.connect() as db:
                count = db.execute(
                    select(func.count()).where(guests.c.link_hash == link.token_hash)
                ).scalar_one()
            assert count == 1, f"round {n}: {count} guest rows"
            assert seats[0].record.guest_id == seats[1].record.guest_id
            made.append(sorted(s.created for s in seats))
    assert made == [[False, True]] * rounds  # one join made the row, the other found it
