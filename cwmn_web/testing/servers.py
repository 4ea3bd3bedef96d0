"""Real servers for end-to-end tests: cwmn-web in a subprocess and a customer-page server."""

from __future__ import annotations

import contextlib
import http.server
import mimetypes
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..local_http import BackgroundHTTPServer

__all__ = ["ENV_DEFAULTS", "PRIVATE_COOKIE", "CwmnServer", "PageServer", "free_port"]

#: A test server's environment unless set otherwise: its render worker may load the recorded
#: pages' images and stylesheets from 127.0.0.1 and localhost, where tests serve them.
ENV_DEFAULTS = {"CWMN_RENDER_PRIVATE_NETWORK": "allow"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class CwmnServer:
    """``cwmn-web serve`` on a free port with its own data directory; with
    ``render_worker`` (or :meth:`start_worker`) also ``cwmn-web render-worker`` beside it
    (same environment, so the same data directory and database), stopped with the server."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: dict[str, str] | None = None,
        render_worker: bool = False,
        args: Sequence[str] = (),
    ) -> None:
        """``args``: more ``serve`` options (``("--workers", "2")``)."""
        self.host, self.port = host, port or free_port(host)
        self.args = list(args)
        self.data_dir = data_dir
        self.env = env or {}
        self.render_worker = render_worker
        self.proc: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"
        self.worker_log_path = data_dir / "render-worker.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def cli(self, *args: str) -> str:
        """Run ``cwmn-web ARGS`` against this server's database; return its output."""
        out = subprocess.run(
            [sys.executable, "-m", "cwmn_web.server.cli", *args],
            env=self._env(),
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def _env(self) -> dict[str, str]:
        # Defaults first: the environment, then ``env``, win over them.
        return {**ENV_DEFAULTS, **os.environ, "CWMN_DATA_DIR": str(self.data_dir), **self.env}

    def start(self, timeout: float = 30.0) -> CwmnServer:
        return self.launch().wait_ready(timeout)

    def launch(self) -> CwmnServer:
        """Start the process without waiting for it (see :meth:`wait_ready`): many servers
        start at once."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cwmn_web.server.cli",
                    "serve",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 30.0) -> CwmnServer:
        """Wait until the launched server answers ``/healthz`` (and start its render worker
        if asked)."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cwmn-web exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1).read()
                if self.render_worker:
                    self.start_worker()
                return self
            time.sleep(0.1)
        raise RuntimeError(f"cwmn-web did not answer on {self.url} in {timeout:g} s")

    def start_worker(self, poll: float = 0.2) -> CwmnServer:
        """Run ``cwmn-web render-worker`` beside the server (once; log in
        ``render-worker.log``). Call after :meth:`start` (the database exists then)."""
        if self.worker is None or self.worker.poll() is not None:
            with self.worker_log_path.open("ab") as log:
                command = ["cwmn_web.server.cli", "render-worker", "--poll", str(poll)]
                self.worker = subprocess.Popen(
                    [sys.executable, "-m", *command],
                    env=self._env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        return self

    def kill(self) -> None:
        """``kill -9`` the server (a crash: no clean shutdown) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        for proc in (self.worker, self.proc):
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def __enter__(self) -> CwmnServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: The session cookie of a :class:`PageServer`'s signed-in visitor (name, value).
PRIVATE_COOKIE = ("cwmn_test_session", "signed-in")


class PageServer:
    """Serves a folder of customer pages over real HTTP (a different origin from cwmn-web).

    ``__CWMN_SERVER__`` in an HTML file is replaced by ``server_url()`` when served. Files
    under ``private/`` behave like a logged-in app's: served only with the session cookie
    :data:`PRIVATE_COOKIE` (else 403), never with CORS headers, cached privately; ``/login``
    sets the cookie and redirects to ``?next=`` (else ``/``). Every response is counted in
    ``requests`` (path → count).
    """

    def __init__(self, root: Path, server_url: Callable[[], str], host: str = "127.0.0.1") -> None:
        self.root, self.server_url, self.host = root, server_url, host
        self.port = free_port(host)
        self._server: BackgroundHTTPServer | None = None
        self.requests: dict[str, int] = {}

    def url(self, path: str = "", hostname: str | None = None) -> str:
        return f"http://{hostname or self.host}:{self.port}/{path.lstrip('/')}"

    def start(self) -> PageServer:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                owner.requests[path] = owner.requests.get(path, 0) + 1
                if path == "/login":
                    self.login(query)
                    return
                rel = path.lstrip("/") or "index.html"
                target = (owner.root / rel).resolve()
                if owner.root.resolve() not in target.parents or not target.is_file():
                    self.send_error(404)
                    return
                private = rel.startswith("private/")
                if private and "=".join(PRIVATE_COOKIE) not in self.headers.get("Cookie", ""):
                    self.send_error(403, "sign in first")
                    return
                body = target.read_bytes()
                if target.suffix == ".html":
                    body = body.replace(b"__CWMN_SERVER__", owner.server_url().encode())
                kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                if kind.startswith("text/") or kind.endswith("javascript"):
                    kind += "; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                cache = "private, max-age=3600" if private else "no-store"
                self.send_header("Cache-Control", cache)
                self.end_headers()
                self.wfile.write(body)

            def login(self, query: str) -> None:
                target = urllib.parse.parse_qs(query).get("next", ["/"])[0]
                self.send_response(303)
                self.send_header("Location", target if target.startswith("/") else "/")
                name, value = PRIVATE_COOKIE
                self.send_header("Set-Cookie", f"{name}={value}; Path=/; HttpOnly; SameSite=Lax")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = BackgroundHTTPServer(Handler, self.host, self.port).__enter__()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.__exit__(None, None, None)
            self._server = None

    @contextlib.contextmanager
    def running(self) -> Iterator[PageServer]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
