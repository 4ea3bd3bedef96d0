"""cwmn_web.server.db: sites, domains and sessions, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, text

from cwmn_web.server.config import DEFAULT_DOMAINS
from cwmn_web.server.db import EndReason, Store
from cwmn_web.server.db.columns import add_missing_columns, missing_columns
from cwmn_web.server.db.schema import metadata

from ..helpers.databases import predate_migrations


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


def test_create_makes_the_default_site_once(store: Store) -> None:
    store.create()
    sites = store.list_sites()
    assert [(s.name, s.domains) for s in sites] == [("default", tuple(sorted(DEFAULT_DOMAINS)))]
    default = store.site_for_host("localhost")
    assert default is not None
    assert default.name == "default"
    assert store.site_for_host("127.0.0.1") == default
    assert store.site_for_host("LocalHost.") == default


def test_unknown_host_has_no_site(store: Store) -> None:
    assert store.site_for_host("example.com") is None
    assert store.site_for_host("") is None


def test_add_domain_to_the_default_site(store: Store) -> None:
    site = store.add_domain("Example.com")
    assert site.name == "default"
    assert "example.com" in site.domains
    assert store.site_for_host("example.com") == site
    assert store.site_for_host("www.example.com") is None
    # Adding it again is a no-op.
    assert store.add_domain("example.com").domains == site.domains


def test_wildcard_domain(store: Store) -> None:
    site = store.add_domain("*.example.com", "shop")
    assert site.name == "shop"
    assert site.domains == ("*.example.com",)
    assert store.site_for_host("a.example.com") == site
    assert store.site_for_host("a.b.example.com") == site
    assert store.site_for_host("example.com") is None
    assert store.site_for_host("badexample.com") is None


def test_a_domain_belongs_to_one_site(store: Store) -> None:
    store.add_domain("example.com", "shop")
    with pytest.raises(ValueError, match="another site"):
        store.add_domain("example.com", "blog")
    shop = store.site_by_name("shop")
    assert shop is not None
    assert shop.domains == ("example.com",)


def test_add_domain_refuses_urls(store: Store) -> None:
    with pytest.raises(ValueError):
        store.add_domain("https://example.com")
    assert [s.name for s in store.list_sites()] == ["default"]


def test_remove_domain(store: Store) -> None:
    store.add_domain("*.example.com")
    assert store.remove_domain("*.Example.com") is True
    assert store.site_for_host("a.example.com") is None
    assert store.remove_domain("*.example.com") is False
    assert store.remove_domain("localhost") is True
    assert store.site_for_host("localhost") is None


def test_site_by_name(store: Store) -> None:
    assert store.site_by_name("nope") is None
    default = store.site_by_name("default")
    assert default is not None
    assert default.settings == {}


def test_sessions(store: Store) -> None:
    site = store.site_for_host("localhost")
    assert site is not None
    record = store.create_session(
        site.id, "Ann", "ann@example.com", False, "http://localhost", "http://localhost/", now=100.0
    )
    assert record.created_at == 100.0
    assert record.ended_at is None
    assert record.resume_token
    fetched = store.get_session(record.id)
    assert fetched is not None
    assert (fetched.host_name, fetched.created_at, fetched.ended_at) == ("Ann", 100.0, None)
    assert fetched.resume_token == ""  # only its hash is stored
    assert store.end_session(record.id, EndReason.EXPIRED, now=160.0) is True
    assert store.end_session(record.id, EndReason.ENDED, now=170.0) is False
    ended = store.get_session(record.id)
    assert ended is not None
    assert ended.ended_at == 160.0
    (row,) = store.session_rows()
    assert row["end_reason"] == "expired"


def test_session_ids_are_unique(store: Store) -> None:
    ids = {store.create_session(1, "A", "a@b.com", False, "o", "p").id for _ in range(20)}
    assert len(ids) == 20


def test_unknown_session(store: Store) -> None:
    assert store.get_session("nope") is None
    assert store.end_session("nope", EndReason.ENDED) is False


def test_session_by_resume_token(store: Store) -> None:
    record = store.create_session(1, "Ann", "a@b.com", False, "o", "p")
    found = store.session_by_resume_token(record.resume_token)
    assert found is not None
    assert found.id == record.id
    assert store.session_by_resume_token("nope") is None
    assert store.session_by_resume_token("") is None


def test_links(store: Store) -> None:
    session = store.create_session(1, "Ann", "a@b.com", False, "o", "p")
    link = store.create_link(session.id, 86400, now=100.0)
    assert len(link.token) >= 32  # 24 random bytes, URL-safe
    assert (link.session_id, link.kind, link.created_at, link.expires_at) == (
        session.id,
        "private",
        100.0,
        86500.0,
    )
    assert link.token_hash == hashlib.sha256(link.token.encode()).hexdigest()
    stored = store.link_by_token(link.token)
    assert stored is not None
    assert stored.token == ""  # only the hash is kept
    assert (stored.device_hash, stored.guest_id, stored.revoked_at) == (None, None, None)
    assert store.link_by_token("nope") is None


def test_binding_a_link_is_first_come(store: Store) -> None:
    session = store.create_session(1, "Ann", "a@b.com", False, "o", "p")
    link = store.create_link(session.id, 60)
    first = store.bind_link(link.token_hash, "dev-a", "g1", "Bob")
    assert first is not None
    assert (first.device_hash, first.guest_id, first.guest_name) == ("dev-a", "g1", "Bob")
    again = store.bind_link(link.token_hash, "dev-a", "g2", "Robert")
    assert again is not None
    assert (again.guest_id, again.guest_name) == ("g1", "Robert")  # same guest, new name
    other = store.bind_link(link.token_hash, "dev-b", "g3", "Eve")
    assert other is not None
    assert (other.device_hash, other.guest_id, other.guest_name) == ("dev-a", "g1", "Robert")
    assert store.bind_link("unknown", "dev-a", "g4", "X") is None


def test_revoke_link(store: Store) -> None:
    session = store.create_session(1, "Ann", "a@b.com", False, "o", "p")
    link = store.create_link(session.id, 60)
    assert store.revoke_link(link.token, now=5.0) is True
    assert store.revoke_link(link.token) is False
    revoked = store.link_by_token(link.token)
    assert revoked is not None
    assert revoked.revoked_at == 5.0
    assert store.revoke_link("nope") is False


def test_create_adds_the_columns_an_older_database_lacks(tmp_path: Path) -> None:
    """A database made before migrations and before the host's controls were stored gains
    their columns; its sessions read as they were, privacy off."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = Store(url)
    old.create()
    record = old.create_session(1, "Ann", "a@example.com", False, "o", "p")
    with old.engine.begin() as db:
        for table, column in (
            ("sessions", "privacy"),
            ("sessions", "mute_all"),
            ("guests", "muted"),
            ("host_invites", "wrong_codes"),
        ):
            db.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        predate_migrations(db)
    missing = {f"{c.table.name}.{c.name}" for c in missing_columns(old.engine, metadata)}
    assert missing == {
        "sessions.privacy",
        "sessions.mute_all",
        "guests.muted",
        "host_invites.wrong_codes",
    }
    old.engine.dispose()

    store = Store(url)
    store.create()
    assert missing_columns(store.engine, metadata) == []
    again = store.get_session(record.id)
    assert again is not None and (again.host_name, again.privacy) == ("Ann", False)
    store.store_controls(record.id, True, False, ())
    assert store.get_session(record.id) == replace(again, privacy=True)
    store.engine.dispose()


def test_a_column_that_cannot_be_added_is_refused_with_what_to_do(store: Store) -> None:
    newer = MetaData()
    Table(
        "sessions",
        newer,
        Column("id", String(64), primary_key=True),
        Column("n", Integer, nullable=False),
    )
    with pytest.raises(RuntimeError, match=r"sessions\.n.*server default"):
        add_missing_columns(store.engine, newer)
