"""Throwaway PostgreSQL and Redis servers for tests and benchmarks: Debian's binaries, a
temporary data directory, a free port on 127.0.0.1, stopped (and deleted) at the end.

PostgreSQL refuses to run as root: as root, its processes run as the ``postgres`` user
(which Debian's package makes).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .servers import free_port

__all__ = ["postgres_bin", "postgres_server", "redis_server", "services_missing"]

_USER = "postgres"


def postgres_bin() -> Path | None:
    """The folder of Debian's newest PostgreSQL binaries (``initdb``, ``pg_ctl``), if any."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def services_missing() -> str | None:
    """Why the servers cannot start here (a missing binary), or None."""
    if postgres_bin() is None:
        return "PostgreSQL is not installed (Debian's postgresql package)"
    if shutil.which("redis-server") is None:
        return "Redis is not installed (Debian's redis-server package)"
    return None


def _as_postgres() -> tuple[int | None, int | None]:
    """The user and group to run PostgreSQL as: the postgres user's when we are root."""
    if os.geteuid() != 0:
        return None, None
    entry = pwd.getpwnam(_USER)
    return entry.pw_uid, entry.pw_gid


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} in {timeout:g} s")


@contextlib.contextmanager
def postgres_server(timeout: float = 60.0) -> Iterator[str]:
    """A fresh PostgreSQL cluster (fsync off: throwaway data) with database ``cwmn``; yields
    its SQLAlchemy URL (``postgresql+psycopg://…``)."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError(services_missing() or "no PostgreSQL")
    uid, gid = _as_postgres()
    root = Path(tempfile.mkdtemp(prefix="cwmn-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    if uid is not None and gid is not None:
        for path in (root, sockets):
            os.chown(path, uid, gid)
    port = free_port()
    user = pwd.getpwuid(uid if uid is not None else os.geteuid()).pw_name
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            user,
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        user=uid,
        group=gid,
    )
    log = (root / "postgres.log").open("wb")
    proc = subprocess.Popen(
        [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(sockets),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=400",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        user=uid,
        group=gid,
    )
    try:
        _wait_port(port, proc, "postgres", timeout)
        deadline = time.monotonic() + timeout
        while True:
            made = subprocess.run(
                [
                    str(bindir.parent / "bin" / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    user,
                    "cwmn",
                ],
                capture_output=True,
                user=uid,
                group=gid,
            )
            if made.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"createdb failed: {made.stderr.decode()[-500:]}")
            time.sleep(0.1)
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/cwmn"
    finally:
        proc.send_signal(signal.SIGINT)  # "fast" shutdown: SIGTERM waits for every client
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def redis_server(timeout: float = 30.0) -> Iterator[str]:
    """A fresh ``redis-server`` (no persistence, loopback only); yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(services_missing() or "no Redis")
    root = Path(tempfile.mkdtemp(prefix="cwmn-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
            "--protected-mode",
            "no",
            "--client-output-buffer-limit",
            "pubsub",
            "256mb",
            "64mb",
            "60",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "redis-server", timeout)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
