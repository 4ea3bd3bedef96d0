"""``cwmn-web serve --workers N``: N server processes on one port, started (and restarted
when one dies) by uvicorn's supervisor.

A live session's room is held by one process; with more than one, the processes relay
through Redis and keep what they share in one database, so more than one worker needs
``CWMN_REDIS_URL`` (and, across machines, PostgreSQL): without it a guest whose connection
reached another worker would see nothing (docs/DEPLOY.md). Each worker builds its app from
the environment (:data:`APP_FACTORY`), like the parent. The parent checks the browser
build and creates the database once first, so a missing build stops the start with its
fix instead of N workers failing again and again, and N workers do not race to create
the same tables.
"""

from __future__ import annotations

import sys
from typing import Any

from starlette.applications import Starlette

from .app import create_app
from .assets import AssetServer
from .config import Settings
from .db import Store

__all__ = ["APP_FACTORY", "app_from_env", "serve_workers", "workers_refusal"]

#: What uvicorn imports and calls in each worker process (``factory=True``).
APP_FACTORY = "cwmn_web.server.workers:app_from_env"


def app_from_env() -> Starlette:
    """One worker's app, its settings read from the environment the parent passed on."""
    return create_app(Settings())


def workers_refusal(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` processes must not serve with ``settings`` (the fix in the text), or
    None."""
    if workers > 1 and not settings.redis_url:
        return (
            f"--workers {workers} needs CWMN_REDIS_URL (and a database every worker shares, "
            "CWMN_DATABASE_URL=postgresql+psycopg://…): without it each worker holds its own "
            "rooms, and a guest who reaches another worker than the host's sees nothing. "
            "Set them (docs/DEPLOY.md), or serve with one worker"
        )
    return None


def serve_workers(settings: Settings, workers: int, options: dict[str, Any]) -> int:
    """Run ``workers`` processes with uvicorn's ``options`` (``cli.serve_options``) until
    stopped; the exit status."""
    import uvicorn

    refusal = workers_refusal(settings, workers)
    if refusal is None:
        try:
            _ = AssetServer(settings.dist_dir).build_id
        except RuntimeError as exc:
            refusal = str(exc)
    if refusal is not None:
        print(f"cwmn-web: {refusal}", file=sys.stderr)
        return 2
    store = Store(settings.db_url)
    store.create()
    store.engine.dispose()  # the workers open their own connections
    uvicorn.run(APP_FACTORY, factory=True, workers=workers, **options)
    return 0
