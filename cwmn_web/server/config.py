"""Server settings, read from environment variables (all optional)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_DOMAINS", "Settings"]

REPO_STATIC = Path(__file__).resolve().parents[2] / "static"
#: Authorized on any port by the default site, so a fresh install works on this machine.
DEFAULT_DOMAINS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Settings:
    """``CWMN_DATA_DIR`` (default ``./data``), ``CWMN_DATABASE_URL`` (default a SQLite file in
    the data dir; ``postgresql+psycopg://…`` works too), ``CWMN_STATIC_DIR``."""

    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("CWMN_DATA_DIR", "data")))
    database_url: str = field(default_factory=lambda: os.environ.get("CWMN_DATABASE_URL", ""))
    static_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("CWMN_STATIC_DIR", str(REPO_STATIC)))
    )
    max_session_seconds: int = field(
        default_factory=lambda: int(os.environ.get("CWMN_MAX_SESSION_SECONDS", "14400"))
    )

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cwmn.sqlite3').resolve()}"

    @property
    def dist_dir(self) -> Path:
        return self.static_dir / "dist"
