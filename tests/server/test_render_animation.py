"""The replay renderer shows animations as they run and end (a page that no mutation changes
may still move): real Chromium and ffmpeg, one short render."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cwmn_web.render import render_replay
from cwmn_web.render.synthetic import BLOCK_BOX, CSS, RecordingWriter, block_page
from cwmn_web.testing.media import mean_rgb

T = 1_700_000_000_000.0
HAVE_TOOLS = bool(shutil.which("ffmpeg") and shutil.which("ffprobe") and shutil.which("chromium"))
#: The block is red, and turns green by a CSS animation held at its end (``forwards``) that
#: starts 0.5 s after the snapshot is shown and lasts 0.6 s.
ANIMATED = (
    CSS + "#block{animation:turn .6s linear .5s forwards}@keyframes turn{to{background:#00ff00}}"
)


@pytest.mark.skipif(not HAVE_TOOLS, reason="needs chromium, ffmpeg and ffprobe")
def test_an_animation_that_no_mutation_reports_plays_to_its_held_end(tmp_path: Path) -> None:
    snapshot = block_page("#ff0000")
    style = next(node for node in snapshot["nodes"] if node[2] == 3 and node[3] == CSS)
    style[3] = ANIMATED
    recording, out = tmp_path / "rec", tmp_path / "video.mp4"
    RecordingWriter(recording).frames([(T, "snapshot", snapshot)])

    render_replay(recording, T, T + 3000, out, fps=10)

    x, y, w, h = BLOCK_BOX
    start = mean_rgb(out, 0.0, x + w // 2, y + h // 2)
    end = mean_rgb(out, 2.8, x + w // 2, y + h // 2)
    assert start[0] > 180 and start[1] < 80, start  # red before the animation
    assert end[1] > 180 and end[0] < 80, end  # green, held, long after it ended
