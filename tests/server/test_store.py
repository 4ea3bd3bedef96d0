"""cwmn_web.server.store: sites, domains and sessions on a temporary SQLite database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cwmn_web.server.config import DEFAULT_DOMAINS

if TYPE_CHECKING:
    from cwmn_web.server.store import Store


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
    assert store.end_session(record.id, "expired", now=160.0) is True
    assert store.end_session(record.id, "ended", now=170.0) is False
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
    assert store.end_session("nope", "ended") is False
