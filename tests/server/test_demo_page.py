"""GET /demo/pyscript: the PyScript demo, its PyScript and Pyodide served by this server."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.testclient import TestClient


def test_demo_page_points_at_this_build(client: TestClient, build_id: str) -> None:
    response = client.get("/demo/pyscript")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "__CWMN_BUILD__" not in page and '<script src="/cwmn.js" data-python="page">' in page
    urls = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)
    urls += re.findall(r'"interpreter": "([^"]+)"', page)
    assert {u.rsplit("/", 1)[1] for u in urls} == {"core.css", "core.js", "pyodide.mjs"}
    for url in urls:
        assert url.startswith(f"/assets/{build_id}/")
        assert client.get(url).status_code == 200, url
    assert "https://" not in page.replace("https://pyscript.net", "")  # no CDN
    assert client.get("/static/pyscript_demo.py").status_code == 200


def test_pyscript_ships_without_source_maps(client: TestClient, build_id: str) -> None:
    core = client.get(f"/assets/{build_id}/pyscript/core.js")
    assert core.headers["content-type"].startswith("text/javascript")
    chunk = re.search(r"\./(core-[\w-]+\.js)", core.text)
    assert chunk, core.text
    assert client.get(f"/assets/{build_id}/pyscript/{chunk[1]}").status_code == 200
    assert client.get(f"/assets/{build_id}/pyscript/{chunk[1]}.map").status_code == 404
