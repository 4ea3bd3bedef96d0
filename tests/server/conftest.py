"""Server fixtures: the app on a temporary SQLite store, driven in-process (no port)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cwmn_web.server.app import create_app
from cwmn_web.server.config import Settings
from cwmn_web.server.db import Store

from ..helpers.databases import empty_tables, fresh_database

__all__ = ["LiveClient", "TestClient"]

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
DIST = STATIC / "dist"


@pytest.fixture(scope="session")
def build_id() -> str:
    """The current build id; builds static/dist first if it is missing."""
    if not (DIST / "BUILD").exists():
        subprocess.run([sys.executable, str(ROOT / "build.py")], check=True, cwd=ROOT)
    return (DIST / "BUILD").read_text().strip()


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A new store: SQLite, or with ``CWMN_TEST_STORE=postgresql`` the session's PostgreSQL
    (emptied), so that every server test can be run on PostgreSQL too."""
    if os.environ.get("CWMN_TEST_STORE") == "postgresql":
        store = Store(request.getfixturevalue("postgres_store_url"))
        empty_tables(store.engine)
    else:
        store = Store(f"sqlite:///{tmp_path / 'cwmn.sqlite3'}")
    store.create()
    yield store
    store.engine.dispose()


@pytest.fixture(scope="session")
def postgres_store_url(postgres_url: str) -> Iterator[str]:
    """A database of its own on the session's PostgreSQL, at the schema's head."""
    with fresh_database(postgres_url) as url:
        made = Store(url)
        made.create()
        made.engine.dispose()
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A new store on SQLite, then on PostgreSQL (its tables emptied first): a module whose
    tests ask for ``store`` runs them on both with ``store = any_store`` style override
    (``@pytest.fixture def store(any_store): return any_store``)."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'cwmn.sqlite3'}")
    else:
        store = Store(request.getfixturevalue("postgres_store_url"))
        empty_tables(store.engine)
    store.create()
    yield store
    store.engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url="", static_dir=STATIC, public_url=SERVER_URL)


@pytest.fixture
def client(settings: Settings, store: Store, build_id: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store)) as client:
        yield client


VIEWER_HTML = (
    "<!doctype html><title>viewer</title>"
    '<script src="/assets/__CWMN_BUILD__/viewer.mjs" type="module"></script>\n'
)


@pytest.fixture(scope="session")
def live_static(tmp_path_factory: pytest.TempPathFactory, build_id: str) -> Path:
    """A static dir with a stand-in ``viewer.html`` and the real ``dist`` (linked)."""
    static = tmp_path_factory.mktemp("static")
    (static / "dist").symlink_to(DIST, target_is_directory=True)
    (static / "viewer.html").write_text(VIEWER_HTML)
    return static


#: The public URL of the apps tests make: TestClient's own host.
SERVER_URL = "http://testserver"
LiveClient = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def live_client(tmp_path: Path, store: Store, live_static: Path) -> LiveClient:
    """``with live_client(host_grace_seconds=0.2) as client:`` — the app with the stand-in
    viewer and any settings overridden (timers default to values no test waits for)."""

    @contextmanager
    def make(**overrides: Any) -> Iterator[TestClient]:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "database_url": "",
            "static_dir": live_static,
            "host_grace_seconds": 60.0,
            "max_session_seconds": 3600.0,
            "link_ttl_seconds": 3600.0,
            "public_url": SERVER_URL,  # TestClient's host (links, and the hosts answered)
            "frame_log": None,
            # Invites: the outbox, whatever this machine's environment says.
            "smtp_host": "",
            "twilio_account_sid": "",
            "twilio_auth_token": "",
            "twilio_from": "",
            "mail_from": "cwmn_web <noreply@localhost>",
            "outbox_page": "auto",
            **overrides,
        }
        with TestClient(create_app(Settings(**values), store)) as client:
            yield client

    return make
