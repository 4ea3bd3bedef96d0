"""``cwmn-web serve --workers N``: N processes on one port, refused without Redis."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from cwmn_web.server import cli
from cwmn_web.testing.servers import free_port
from tests.helpers.processes import STOPPED, answering, children, command_line, stop


def fresh_database(url: str, name: str) -> str:
    """A new, empty database ``name`` on the PostgreSQL server of ``url``; its URL."""
    server = make_url(url)
    plain = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.set(database=name).render_as_string(hide_password=False)


def test_more_workers_than_one_are_refused_without_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    monkeypatch.setenv("CWMN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CWMN_REDIS_URL", raising=False)
    ran: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.append(app))
    assert cli.main(["serve", "--workers", "2"]) == 2
    assert ran == []
    err = capsys.readouterr().err
    assert "--workers 2 needs CWMN_REDIS_URL" in err and "docs/DEPLOY.md" in err
    assert cli.main(["serve", "--workers", "1"]) == 0  # one process needs nothing more
    assert len(ran) == 1


def test_workers_refuse_to_start_without_a_browser_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    monkeypatch.setenv("CWMN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CWMN_STATIC_DIR", str(tmp_path))
    monkeypatch.setenv("CWMN_REDIS_URL", "redis://127.0.0.1:1/0")
    ran: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.append(app))
    assert cli.main(["serve", "--workers", "2"]) == 2
    assert ran == []
    assert "CWMN_STATIC_DIR" in capsys.readouterr().err


def test_serve_with_two_workers_answers_from_both(
    tmp_path: Path, postgres_url: str, redis_url: str, build_id: str
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "CWMN_DATA_DIR": str(tmp_path / "data"),
        "CWMN_DATABASE_URL": fresh_database(postgres_url, "cwmn_workers_test"),
        "CWMN_REDIS_URL": redis_url,
        "CWMN_HTTP_TIMEOUT": "1",
    }
    env.pop("CWMN_STATIC_DIR", None)
    command = [sys.executable, "-m", "cwmn_web.server.cli", "serve", "--workers", "2"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    workers: list[int] = []
    try:
        answering(f"{base}/healthz", proc, log)
        workers = [pid for pid in children(proc.pid) if "spawn_main" in command_line(pid)]
        assert len(workers) == 2, log.read_text()
        for _ in range(4):  # new connections: the kernel hands them to either worker
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as health:
                assert json.loads(health.read()) == {"ok": True, "build": build_id}
            with urllib.request.urlopen(f"{base}/cwmn.js", timeout=5) as stub:
                assert stub.status == 200
                assert stub.headers["Content-Type"].startswith("text/javascript")
                assert b"CwmnAPI" in stub.read()
        # The workers' HTTP protocol is serve's (http_timeout.py): a late request is closed.
        with socket.create_connection(("127.0.0.1", port), timeout=6) as sock:
            begun = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            assert sock.recv(1024) == b""
            assert time.monotonic() - begun < 5
    finally:
        status = stop(proc)
    assert status in STOPPED and "Application shutdown complete" in log.read_text()
    assert not [pid for pid in workers if command_line(pid)], "a worker outlived the server"
    text = log.read_text()
    assert text.count("Application startup complete") == 2, text


def test_the_request_deadline_reaches_spawned_workers() -> None:
    """uvicorn pickles serve's options for each worker: the protocol class made for
    ``CWMN_HTTP_TIMEOUT`` arrives with its deadline."""
    import pickle

    from uvicorn.protocols.http.h11_impl import H11Protocol

    from cwmn_web.server.http_timeout import timed_h11

    made = pickle.loads(pickle.dumps(timed_h11(3.5)))
    assert issubclass(made, H11Protocol)
    assert made.request_timeout == 3.5
