"""A small threaded HTTP server on loopback, served while in a ``with`` block (the render
page, and the stand-in providers of the tests)."""

from __future__ import annotations

import http.server
import threading
from types import TracebackType
from typing import Self

__all__ = ["BackgroundHTTPServer"]


class BackgroundHTTPServer:
    """``handler`` on ``host:port`` (0: any free port) at :attr:`origin`, from a daemon
    thread between ``__enter__`` and ``__exit__``."""

    def __init__(
        self,
        handler: type[http.server.BaseHTTPRequestHandler],
        host: str = "127.0.0.1",
        port: int = 0,
        poll_interval: float = 0.5,
    ) -> None:
        self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
