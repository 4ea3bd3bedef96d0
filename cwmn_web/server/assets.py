"""Static assets: the embed stub, versioned Pyodide/worker files (gzip, CORS, caching)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

__all__ = ["AssetServer"]

mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/plain", ".ts")
IMMUTABLE = "public, max-age=31536000, immutable"
STUB_CACHE = "public, max-age=300"
CORS = {"Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin"}


class AssetServer:
    """Serves ``static/dist``; a ``.gz`` twin is sent when the browser accepts gzip."""

    def __init__(self, dist: Path) -> None:
        self.dist = dist.resolve()

    @property
    def build_id(self) -> str:
        path = self.dist / "BUILD"
        if not path.exists():
            raise RuntimeError(
                f"{path} is missing: no browser build there. In a checkout run `python build.py` "
                "(make build); else point CWMN_STATIC_DIR at a static directory with a dist/ "
                "built (unset, an installed wheel serves its own: docs/DEPLOY.md)"
            )
        return path.read_text().strip()

    def stub(self, request: Request) -> Response:
        return self._file(request, self.dist / "cwmn.js", STUB_CACHE)

    def types(self, request: Request) -> Response:
        """``cwmn.d.ts``: TypeScript declarations of ``window.CwmnAPI``, next to the stub."""
        return self._file(request, self.dist / "cwmn.d.ts", STUB_CACHE)

    def asset(self, request: Request) -> Response:
        build, rel = request.path_params["build"], request.path_params["path"]
        root = (self.dist / "assets").resolve()
        target = (root / rel).resolve()
        if root not in target.parents or not target.is_file() or target.suffix == ".gz":
            raise HTTPException(404, f"no asset {rel}")
        # An old build id still gets the current file, but only the current one is immutable.
        cache = IMMUTABLE if build == self.build_id else "no-cache"
        return self._file(request, target, cache)

    def _file(self, request: Request, path: Path, cache: str) -> Response:
        if not path.is_file():
            raise HTTPException(404, f"{path.name} is not built: run `make build`")
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {"Cache-Control": cache, "Vary": "Accept-Encoding", **CORS}
        gz = path.with_name(path.name + ".gz")
        if gz.is_file() and "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return FileResponse(gz, media_type=media, headers=headers)
        return FileResponse(path, media_type=media, headers=headers)
