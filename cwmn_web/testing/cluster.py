"""Many real ``cwmn-web serve`` processes sharing sessions, as in production: one fresh
PostgreSQL database, one Redis, a round-robin balancer in front (:class:`Cluster`,
:func:`start_cluster`)."""

from __future__ import annotations

import secrets
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from .balancer import Balancer
from .servers import CwmnServer, free_port

__all__ = ["TTL", "Cluster", "start_cluster"]

#: Seconds without a heartbeat after which a process is dead (``CWMN_PROCESS_TTL``): short
#: for fast tests, long enough that a busy 2-core machine does not miss beats.
TTL = 3.0


@dataclass
class Cluster:
    """``servers[i]`` serve the same sessions; :attr:`balancer` is the one public URL."""

    servers: list[CwmnServer]
    balancer: Balancer
    db: Engine
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The public URL (the balancer's): the guests' origin."""
        return self.balancer.url

    def ws(self, i: int | None = None) -> str:
        """The sockets' base URL: process ``i``'s own, or the balancer's."""
        server = self.balancer.url if i is None else self.servers[i].url
        return server.replace("http://", "ws://", 1)

    def pid(self, i: int) -> int:
        proc = self.servers[i].proc
        assert proc is not None
        return proc.pid

    def owner(self, session_id: str) -> int | None:
        """The index of the process the database says holds the session's room."""
        with self.db.connect() as db:
            found = db.execute(
                text(
                    "SELECT p.pid FROM room_owners o JOIN server_processes p"
                    " ON p.id = o.process_id WHERE o.session_id = :s"
                ),
                {"s": session_id},
            ).scalar()
        pids = [self.pid(i) for i in range(len(self.servers))]
        return pids.index(found) if found in pids else None

    def session(self, session_id: str) -> dict[str, Any]:
        """The session's row (``ended_at``, ``end_reason``…)."""
        with self.db.connect() as db:
            row = db.execute(text("SELECT * FROM sessions WHERE id = :s"), {"s": session_id}).one()
        return dict(row._mapping)


def start_cluster(
    stack: ExitStack,
    tmp_path: Path,
    db_url: str,
    redis_url: str,
    n: int,
    workers: int = 1,
    **settings: str,
) -> Cluster:
    """``n`` processes (started at once, after one ``init-db``) on ``db_url`` and
    ``redis_url`` behind a balancer, stopped when ``stack`` closes; ``CWMN_*`` settings by
    name without the prefix; ``workers``: each is ``serve --workers`` that many."""
    port = free_port()
    env = {
        "CWMN_DATABASE_URL": db_url,
        "CWMN_REDIS_URL": redis_url,
        "CWMN_PROCESS_TTL": str(TTL),
        "CWMN_SECRET": secrets.token_hex(24),
        "CWMN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CWMN_HOST_GRACE_SECONDS": "60",
        "CWMN_SMTP_HOST": "",
        "CWMN_TWILIO_ACCOUNT_SID": "",
        "CWMN_FRAME_LOG": "",
        **{f"CWMN_{name}": value for name, value in settings.items()},
    }
    subprocess.run(
        [sys.executable, "-m", "cwmn_web.server.cli", "init-db"],
        env={**CwmnServer(tmp_path)._env(), **env},
        check=True,
        capture_output=True,
    )
    args = ("--workers", str(workers)) if workers > 1 else ()
    servers = [CwmnServer(tmp_path / f"p{i}", env=env, args=args) for i in range(n)]
    for server in servers:
        stack.callback(server.stop)
        server.launch()
    for server in servers:
        server.wait_ready(60)
    backends = [(s.host, s.port) for s in servers]
    balancer = stack.enter_context(Balancer(backends, port=port))
    engine = create_engine(db_url)
    stack.callback(engine.dispose)
    return Cluster(servers, balancer, engine, env)
