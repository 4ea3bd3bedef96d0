"""The replay renderer's frames follow what the recorded page does without a mutation: an
animation runs and ends, a stylesheet's @import and a CSS background arrive late. Real
Chromium and ffmpeg, short renders."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cwmn_web.local_http import BackgroundHTTPServer
from cwmn_web.render import render_replay
from cwmn_web.render.ffmpeg import find_ffmpeg
from cwmn_web.render.network import PRIVATE_NETWORK_ENV
from cwmn_web.render.synthetic import BLOCK_BOX, CSS, RecordingWriter, block_page
from cwmn_web.testing.media import mean_rgb

T = 1_700_000_000_000.0
HAVE_TOOLS = bool(shutil.which("ffmpeg") and shutil.which("ffprobe") and shutil.which("chromium"))
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="needs chromium, ffmpeg and ffprobe")
#: The block is red, and turns green by a CSS animation held at its end (``forwards``) that
#: starts 0.5 s after the snapshot is shown and lasts 0.6 s.
ANIMATED = (
    CSS + "#block{animation:turn .6s linear .5s forwards}@keyframes turn{to{background:#00ff00}}"
)


def block_colour(video: Path, seconds: float) -> tuple[int, int, int]:
    x, y, w, h = BLOCK_BOX
    return mean_rgb(video, seconds, x + w // 2, y + h // 2)


def red(colour: tuple[int, int, int]) -> bool:
    return colour[0] > 180 and colour[1] < 80 and colour[2] < 80


def green(colour: tuple[int, int, int]) -> bool:
    return colour[1] > 180 and colour[0] < 80 and colour[2] < 80


@needs_tools
def test_an_animation_that_no_mutation_reports_plays_to_its_held_end(tmp_path: Path) -> None:
    snapshot = block_page("#ff0000")
    style = next(node for node in snapshot["nodes"] if node[2] == 3 and node[3] == CSS)
    style[3] = ANIMATED
    recording, out = tmp_path / "rec", tmp_path / "video.mp4"
    RecordingWriter(recording).frames([(T, "snapshot", snapshot)])

    render_replay(recording, T, T + 3000, out, fps=10)

    start, end = block_colour(out, 0.0), block_colour(out, 2.8)
    assert red(start), start  # before the animation
    assert green(end), end  # held, long after it ended


#: The site's stylesheet only imports another, which paints the block green and puts a blue
#: CSS background under the label (padded below its text); each file arrives SLOW seconds late.
SLOW = 0.6
FILES = {
    "/site.css": b'@import "more.css";',
    "/more.css": b"#block{background:#00ff00 !important}"
    b"#label{background:url(tile.png);padding-bottom:60px}",
}


@needs_tools
def test_an_imported_stylesheet_and_a_css_background_that_arrive_late_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PRIVATE_NETWORK_ENV, "allow")  # the customer's site is on 127.0.0.1
    tile = tmp_path / "tile.png"
    subprocess.run(
        [
            find_ffmpeg(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=32x32",
            "-vframes",
            "1",
            str(tile),
        ],
        check=True,
    )
    files = {**FILES, "/tile.png": tile.read_bytes()}

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(SLOW)  # the site is slow: that is the point, not a synchronisation
            body = files.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            kind = "image/png" if self.path.endswith(".png") else "text/css"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    recording, out = tmp_path / "rec", tmp_path / "video.mp4"
    with BackgroundHTTPServer(Slow) as site:
        snapshot = block_page("#ff0000")
        snapshot["nodes"].append(
            [40, 2, 1, "link", ["rel", "stylesheet", "href", site.origin + "/site.css"]]
        )
        RecordingWriter(recording).frames([(T, "snapshot", snapshot)])
        render_replay(recording, T, T + 4000, out, fps=10)

    assert red(block_colour(out, 0.0)) or green(block_colour(out, 0.0))
    assert green(block_colour(out, 3.8)), block_colour(out, 3.8)
    label = mean_rgb(out, 3.8, 604, 110)  # the label's background, below its text
    assert label[2] > 180 and label[0] < 80, label
