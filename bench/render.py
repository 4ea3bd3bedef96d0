"""Replay render benchmark: wall time to render a synthetic recording ÷ the recording's length
(goal ≤ 1.0: a worker keeps up with hosts recording in real time).

The recording (cwmn_web.render.synthetic): a 1280x720 page with a big coloured block, a label
and 60 paragraphs of text in columns, SECONDS long, with CHANGES_PER_S mutations a second
(the block's colour and the label's text) and the host's pointer moving at POINTER_HZ; no
narration (a silent AAC track is encoded). Rendered with the worker's defaults (10 fps) and,
for comparison, at 15 fps; the render includes starting Chromium and ffmpeg.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from cwmn_web.render import render_replay
from cwmn_web.render.synthetic import RecordingWriter, block_change, block_page

SECONDS = 60
CHANGES_PER_S = 5
POINTER_HZ = 30
FPS = (10, 15)
STARTED_AT = 1_700_000_000_000.0
COLOURS = ("#e5484d", "#2563eb", "#16a34a", "#f59e0b", "#7c3aed")


def write_recording(directory: Path) -> None:
    frames: list[tuple[float, str, dict[str, Any]]] = [
        (STARTED_AT + 50, "snapshot", block_page(COLOURS[0], "change 0", filler=60))
    ]
    step = 1000 / CHANGES_PER_S
    for n in range(1, int(SECONDS * CHANGES_PER_S)):
        frames.append(
            (STARTED_AT + n * step, "mutations", block_change(COLOURS[n % 5], f"change {n}"))
        )
    for n in range(int(SECONDS * POINTER_HZ)):
        ms = 30 + n * 1000 / POINTER_HZ
        frames.append((STARTED_AT + ms, "pointer", {"x": 100 + (n * 7) % 1000, "y": 300 + n % 300}))
    RecordingWriter(directory).frames(frames)


def run() -> dict[str, Any]:
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs"
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine,
        "seconds": SECONDS,
        "changes_per_s": CHANGES_PER_S,
    }
    with tempfile.TemporaryDirectory(prefix="cwmn-bench-render-") as tmp:
        recording = Path(tmp) / "rec"
        write_recording(recording)
        for fps in FPS:
            out = Path(tmp) / f"video-{fps}.mp4"
            start = time.perf_counter()
            render_replay(recording, STARTED_AT, STARTED_AT + SECONDS * 1000, out, fps=fps)
            elapsed = time.perf_counter() - start
            results[f"fps{fps}"] = {
                "render_s": round(elapsed, 2),
                "ratio": round(elapsed / SECONDS, 3),
                "mp4_bytes": out.stat().st_size,
            }
    return results


def report(results: dict[str, Any]) -> list[str]:
    lines = [
        f"replay render: a {results['seconds']} s recording ({results['changes_per_s']} changes/s,"
        f" pointer {POINTER_HZ}/s) → 1280x720 H.264 + AAC; render time ÷ recording length"
        f" (goal ≤ 1.0), {results['date']} on {results['machine']}:"
    ]
    for fps in FPS:
        r = results[f"fps{fps}"]
        lines.append(
            f"  {fps} fps: {r['render_s']:.1f} s, ratio {r['ratio']:.2f},"
            f" {r['mp4_bytes'] / 1e6:.1f} MB"
        )
    return lines
