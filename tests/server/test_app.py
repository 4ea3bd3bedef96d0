"""cwmn_web.server.app: domain info (by Origin, else Host), health, the playground page."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from cwmn_web.server.app import create_app
from cwmn_web.server.sites import DEFAULT_SETTINGS, FEATURES

from .conftest import TestClient

if TYPE_CHECKING:
    from pathlib import Path

    from cwmn_web.server.config import Settings
    from cwmn_web.server.db import Store


def test_domain_info_for_an_authorized_origin(client: TestClient) -> None:
    origin = "http://localhost:1234"
    response = client.get("/api/domain-info", headers={"origin": origin})
    assert response.status_code == 200
    assert response.json() == {
        "domain": "localhost",
        "authorized": True,
        "site": {"id": 1, "name": "default"},
        "features": FEATURES,
        "settings": DEFAULT_SETTINGS,
    }
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["vary"] == "Origin"
    assert response.headers["cache-control"] == "no-store"


def test_domain_info_for_an_unauthorized_origin(client: TestClient) -> None:
    origin = "http://evil.example"
    response = client.get("/api/domain-info", headers={"origin": origin})
    assert response.status_code == 200
    assert response.json() == {
        "domain": "evil.example",
        "authorized": False,
        "site": None,
        "features": {},
        "settings": {},
    }
    assert response.headers["access-control-allow-origin"] == origin


def test_domain_info_without_origin_uses_the_host(client: TestClient) -> None:
    other = client.get("/api/domain-info").json()  # TestClient's host is "testserver"
    assert (other["domain"], other["authorized"]) == ("testserver", False)


def test_domain_info_without_origin_in_development(
    settings: Settings, store: Store, build_id: str
) -> None:
    local = TestClient(create_app(replace(settings, public_url=""), store))
    with local as client:
        response = client.get("/api/domain-info", headers={"host": "127.0.0.1:8000"})
    body = response.json()
    assert body["domain"] == "127.0.0.1"
    assert body["authorized"] is True
    assert response.headers["access-control-allow-origin"] == "*"


def test_domain_info_follows_the_store(client: TestClient, store: Store) -> None:
    headers = {"origin": "https://shop.example.com"}
    assert client.get("/api/domain-info", headers=headers).json()["authorized"] is False
    store.add_domain("*.example.com", "shop")
    body = client.get("/api/domain-info", headers=headers).json()
    assert body["authorized"] is True
    assert body["site"]["name"] == "shop"
    assert body["domain"] == "shop.example.com"


def test_domain_info_is_port_independent_and_case_insensitive(client: TestClient) -> None:
    for origin in ("http://LOCALHOST:9", "https://localhost", "http://localhost."):
        assert client.get("/api/domain-info", headers={"origin": origin}).json()["authorized"]


def test_health(client: TestClient, build_id: str) -> None:
    response = client.get("/healthz")
    assert response.json() == {"ok": True, "build": build_id}
    assert response.headers["access-control-allow-origin"] == "*"


def test_playground(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"


def test_app_state(client: TestClient, store: Store, settings: Settings) -> None:
    app = client.app
    assert app.state.store is store  # type: ignore[attr-defined]
    assert app.state.settings is settings  # type: ignore[attr-defined]


def test_startup_fails_without_a_build(tmp_path: Path, store: Store) -> None:
    from cwmn_web.server.config import Settings

    (tmp_path / "static").mkdir()
    app = create_app(Settings(data_dir=tmp_path, static_dir=tmp_path / "static"), store)
    with pytest.raises(RuntimeError, match=r"python build\.py.*CWMN_STATIC_DIR"), TestClient(app):
        pass
