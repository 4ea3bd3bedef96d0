"""A tiny HTTP server on 127.0.0.1 for the render page (and nothing else).

A real server rather than Playwright request routing: Chromium refuses a routed page's
requests to 127.0.0.1 (a customer page served there, as in tests, would lose its images).
"""

from __future__ import annotations

import http.server
import os
from pathlib import Path
from typing import Any

from ..local_http import BackgroundHTTPServer
from ..server.config import DEFAULT_STATIC

__all__ = ["FILES", "RENDER_CSP", "RenderPageServer", "static_dir"]

#: Like the guest viewer's policy (server/join_page.py ``VIEWER_CSP``): the page runs only its
#: own scripts (no inline script, no eval, no worker) and connects nowhere; the recorded page
#: (its iframe inherits the policy) may show images, stylesheets, fonts and media, which
#: the renderer's request guard (network.py) checks before they are fetched.
RENDER_CSP = (
    "default-src 'none'; script-src 'self'; style-src * data: blob: 'unsafe-inline'; "
    "img-src * data: blob:; font-src * data: blob:; media-src * data: blob:; "
    "frame-src 'self' about: blob:; connect-src 'none'; worker-src 'none'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'"
)

#: The only files served: name → content type.
FILES = {
    "render.html": "text/html; charset=utf-8",
    "render.js": "text/javascript; charset=utf-8",
    "dist/constants.js": "text/javascript; charset=utf-8",
    "viewer/mirror.js": "text/javascript; charset=utf-8",
    "viewer/stage.js": "text/javascript; charset=utf-8",
    "viewer.css": "text/css; charset=utf-8",
}


def static_dir() -> Path:
    """``CWMN_STATIC_DIR`` (as the server reads it), else the installed package's or the
    repository's ``static``."""
    return Path(os.environ.get("CWMN_STATIC_DIR") or DEFAULT_STATIC)


class RenderPageServer(BackgroundHTTPServer):
    """Serves :data:`FILES` from ``static`` at ``url`` while in a ``with`` block."""

    def __init__(self, static: Path | None = None) -> None:
        root = static or static_dir()
        missing = [name for name in FILES if not (root / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{root} lacks {', '.join(missing)}")
        bodies = {name: (root / name).read_bytes() for name in FILES}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.split("?", 1)[0].lstrip("/")
                body = bodies.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", FILES[name])
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Security-Policy", RENDER_CSP)
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)
        self.url = f"{self.origin}/render.html"
