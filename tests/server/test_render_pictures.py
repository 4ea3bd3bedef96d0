"""The replay renderer's page shows a recorded canvas's picture at the canvas's size
(static/viewer/mirror.js through static/render.js; docs/fidelity/pictures.md): a page without
scripting would show the canvas's fallback content, a 0 by 0 box."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path
from typing import Any

from cwmn_web.render import render_replay
from cwmn_web.render.synthetic import RecordingWriter

from .test_render import T, is_colour, needs_tools, rgb


def png(width: int, height: int, rgb_: tuple[int, int, int]) -> str:
    """A data:image/png of one opaque colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb_) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    return "data:image/png;base64," + base64.b64encode(data + chunk(b"IEND", b"")).decode()


def canvas_page() -> dict[str, Any]:
    """Two canvases: a 40x20 picture shown at 400x200 by CSS, and a picture scaled down (the
    pixel cap) on a 400x200 canvas without CSS size, which must keep the canvas's size."""
    at = "position:absolute;top:100px;"
    green = ["width", "40", "height", "20", "style", f"{at}left:40px;width:400px;height:200px"]
    blue = ["width", "400", "height", "200", "style", f"{at}left:600px"]
    nodes: list[list[Any]] = [
        [1, 0, 1, "html", []],
        [2, 1, 1, "head", []],
        [3, 1, 1, "body", ["style", "margin:0;background:#ffffff"]],
        [4, 3, 1, "canvas", [*green, "cwmn:canvas", png(40, 20, (0, 200, 0))]],
        [5, 4, 3, "fallback text"],
        [6, 3, 1, "canvas", [*blue, "cwmn:canvas", png(40, 20, (0, 0, 220))]],
    ]
    return {"nodes": nodes, "url": "https://shop.example.com/", "title": "Canvases",
            "viewport": [1280, 720], "scroll": [0, 0], "adopted": []}  # fmt: skip


@needs_tools
def test_the_render_page_shows_canvases_at_their_size(tmp_path: Path) -> None:
    RecordingWriter(tmp_path / "rec").frames([(T + 100, "snapshot", canvas_page())])
    out = tmp_path / "video.mp4"
    render_replay(tmp_path / "rec", T, T + 1000, out, fps=5)
    for x, y in ((60, 120), (420, 280)):  # the CSS box's corners
        assert is_colour(rgb(out, 0.6, x, y, fps=5), 1), (x, y, rgb(out, 0.6, x, y, fps=5))
    for x, y in ((620, 120), (980, 280)):  # the canvas's own size, 400 by 200
        assert is_colour(rgb(out, 0.6, x, y, fps=5), 2), (x, y, rgb(out, 0.6, x, y, fps=5))
    white = rgb(out, 0.6, 60, 330, fps=5)  # below the first: nothing
    assert min(white) > 200, white
