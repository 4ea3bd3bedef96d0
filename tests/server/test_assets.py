"""cwmn_web.server.assets: the embed stub and versioned assets (gzip, CORS, cache, traversal)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cwmn_web.protocol.constants import OVERLAY_ATTR, RESUME_KEY, js_values
from cwmn_web.server.assets import IMMUTABLE, STUB_CACHE, AssetServer

from .conftest import DIST

if TYPE_CHECKING:
    from starlette.testclient import TestClient

GZIP = {"accept-encoding": "gzip"}
IDENTITY = {"accept-encoding": "identity"}


def test_stub_is_javascript_with_cors(client: TestClient) -> None:
    response = client.get("/cwmn.js", headers=IDENTITY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers["cache-control"] == STUB_CACHE
    assert "Accept-Encoding" in response.headers["vary"]
    assert "content-encoding" not in response.headers
    assert response.content == (DIST / "cwmn.js").read_bytes()


def test_stub_is_built(client: TestClient, build_id: str) -> None:
    body = client.get("/cwmn.js", headers=IDENTITY).text
    assert "__CWMN_" not in body
    assert build_id in body
    assert "window.CwmnAPI" in body
    assert '"session.start"' in body


def test_stub_gzip_under_4_kb(client: TestClient) -> None:
    response = client.get("/cwmn.js", headers=GZIP)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    size = int(response.headers["content-length"])
    assert size < 4096
    assert size == (DIST / "cwmn.js.gz").stat().st_size
    # httpx decodes the body: it must be the plain stub.
    assert response.content == (DIST / "cwmn.js").read_bytes()
    assert gzip.decompress((DIST / "cwmn.js.gz").read_bytes()) == response.content


def test_worker_with_the_current_build_is_immutable(client: TestClient, build_id: str) -> None:
    response = client.get(f"/assets/{build_id}/worker.mjs", headers=IDENTITY)
    assert response.status_code == 200
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.content == (DIST / "assets" / "worker.mjs").read_bytes()


def test_worker_gzip(client: TestClient, build_id: str) -> None:
    response = client.get(f"/assets/{build_id}/worker.mjs", headers=GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == (DIST / "assets" / "worker.mjs").read_bytes()


def test_an_old_build_id_is_not_cached_as_immutable(client: TestClient) -> None:
    response = client.get("/assets/0000000000000000/worker.mjs")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"


def test_nested_asset(client: TestClient, build_id: str) -> None:
    response = client.get(f"/assets/{build_id}/pyodide/pyodide-lock.json", headers=IDENTITY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    "path",
    [
        "worker.mjs.gz",
        "missing.js",
        "pyodide",
        "pyodide/",
        "",
    ],
)
def test_missing_gz_or_directory_assets_are_404(
    client: TestClient, build_id: str, path: str
) -> None:
    assert client.get(f"/assets/{build_id}/{path}").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/assets/x/../../pyproject.toml",
        "/assets/x/../../../pyproject.toml",
        "/assets/x/%2e%2e/%2e%2e/pyproject.toml",
        "/assets/x/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
        "/assets/x/%2E%2E/%2E%2E/%2E%2E/pyproject.toml",
        "/assets/x/..%2f..%2f..%2fpyproject.toml",
        "/assets/x/%2e%2e%2f%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/assets/x/%2e%2e/%2e%2e/%2e%2e/cwmn_web/errors.py",
        "/assets/x/%2e%2e/%2e%2e/index.html",
        "/assets/x/%2e%2e/BUILD",
        "/assets/x/%2e%2e/cwmn.js",
        "/assets/x//etc/passwd",
        "/static/../pyproject.toml",
        "/static/%2e%2e/pyproject.toml",
        "/static/..%2fpyproject.toml",
        "/assets/x/%2fetc%2fpasswd",
    ],
)
def test_path_traversal_is_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "[project]" not in response.text
    assert "root:" not in response.text


def test_missing_build_is_reported_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"build\.py"):
        _ = AssetServer(tmp_path).build_id


def test_typescript_declarations_next_to_the_stub(client: TestClient) -> None:
    response = client.get("/cwmn.d.ts", headers={"Origin": "http://localhost:3000"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "export interface CwmnAPI {" in response.text
    assert "declare global" in response.text


def test_the_python_snapshot_is_listed_in_the_worker_and_served_immutable_gzipped(
    client: TestClient, build_id: str
) -> None:
    worker = client.get(f"/assets/{build_id}/worker.mjs", headers=IDENTITY).text
    listed = json.loads(worker.split("const SNAPSHOT = ", 1)[1].split(";\n", 1)[0])
    whole = bytearray(listed["bytes"])  # what no part covers is zeros
    for part in listed["parts"]:
        response = client.get(f"/assets/{build_id}/pyodide/{part['file']}", headers=GZIP)
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["access-control-allow-origin"] == "*"
        assert len(response.content) == part["bytes"]
        digest = base64.b64encode(hashlib.sha256(response.content).digest()).decode()
        assert part["integrity"] == f"sha256-{digest}"  # the worker fetches with it (SRI)
        assert response.content.strip(b"\0")  # no part is only zeros
        whole[part["offset"] : part["offset"] + part["bytes"]] = response.content
    assert len(whole) == listed["bytes"]
    assert sum(p["bytes"] for p in listed["parts"]) < 0.8 * listed["bytes"]  # zeros not sent
    # A Pyodide memory snapshot: its magic number, then the build id of the Pyodide it needs.
    assert whole[:4] == (0x706E7300).to_bytes(4, "little")


@pytest.mark.parametrize(
    "module",
    ["capture.mjs", "cursors.mjs", "consent.mjs", "recorder.mjs", "badge.mjs", "control.mjs"],
)
def test_each_page_module_is_one_file_with_the_shared_constants(
    client: TestClient, build_id: str, module: str
) -> None:
    # One URL per module: the stub's capture.mjs?retry=N (Firefox keeps a failed import)
    # must reload every part of it, and a part imported by path would keep its failure.
    response = client.get(f"/assets/{build_id}/{module}", headers=GZIP)
    assert response.status_code == 200
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-encoding"] == "gzip"
    body = response.text
    assert not re.search(r"^import\b|\bimport\(|from '\.", body, re.MULTILINE)
    assert "Generated by build.py from cwmn_web/protocol/constants.py" in body
    assert f'"{OVERLAY_ATTR}"' in body


def test_the_stub_and_the_viewer_get_the_shared_constants(client: TestClient) -> None:
    stub = client.get("/cwmn.js", headers=IDENTITY).text
    assert json.dumps(RESUME_KEY) in stub
    script = client.get("/static/dist/constants.js", headers=IDENTITY).text
    assert "var CWMN_CONSTANTS = " in script
    assert json.loads(script.split("var CWMN_CONSTANTS = ", 1)[1].rstrip().rstrip(";")) == (
        json.loads(json.dumps(js_values()))
    )
