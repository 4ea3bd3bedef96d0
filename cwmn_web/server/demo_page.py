"""``GET /demo/pyscript``: the PyScript demo (``static/pyscript.html``), its asset URLs
pointing at the current build (PyScript and Pyodide come from this server, no CDN)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .assets import AssetServer

__all__ = ["DemoPage"]


class DemoPage:
    """Serves one HTML file with ``__CWMN_BUILD__`` replaced by the build id."""

    def __init__(self, path: Path, assets: AssetServer) -> None:
        self.path, self.assets = path, assets

    async def page(self, request: Request) -> Response:
        text = self.path.read_text().replace("__CWMN_BUILD__", self.assets.build_id)
        return HTMLResponse(text, headers={"Cache-Control": "no-cache"})
