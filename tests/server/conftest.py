"""Server fixtures: the app on a temporary SQLite store, driven in-process (no port)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cwmn_web.server.app import create_app
from cwmn_web.server.config import Settings
from cwmn_web.server.store import Store

__all__ = ["TestClient"]

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
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'cwmn.sqlite3'}")
    store.create()
    yield store
    store.engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url="", static_dir=STATIC)


@pytest.fixture
def client(settings: Settings, store: Store, build_id: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store)) as client:
        yield client
