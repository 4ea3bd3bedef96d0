"""GET /docs/api: the generated API reference as HTML (escaped, no scripts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cwmn_web.client.spec import FUNCTIONS
from cwmn_web.server.reference import Code, Heading, Para, Table
from cwmn_web.server.reference_page import render_html

if TYPE_CHECKING:
    from starlette.testclient import TestClient


def test_reference_page(client: TestClient) -> None:
    response = client.get("/docs/api")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    body = response.text
    assert "<script" not in body
    for path in FUNCTIONS:
        assert f"CwmnAPI.{path}" in body
    assert "<code>Promise&lt;SessionInfo&gt;</code>" in body
    assert '<h2 id="events">Events</h2>' in body and '<a href="#errors">Errors</a>' in body


def test_render_escapes_everything() -> None:
    page = render_html(
        [
            Heading(1, "T<i>"),
            Para("a `<b>` & <img src=x>"),
            Table(("<h>",), (("`x|y`",),)),
            Code("</pre><script>alert(1)</script>"),
        ]
    )
    assert "<img" not in page and "<script>" not in page and "<i>" not in page
    assert "<p>a <code>&lt;b&gt;</code> &amp; &lt;img src=x&gt;</p>" in page
    assert "<td><code>x|y</code></td>" in page
