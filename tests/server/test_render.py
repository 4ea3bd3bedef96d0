"""The replay renderer (cwmn_web/render): synthetic recordings → MP4, checked with ffprobe and
pixels/samples decoded by ffmpeg. Uses the real Chromium and ffmpeg (a few short renders)."""

from __future__ import annotations

import array
import contextlib
import http.server
import json
import math
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cwmn_web.render import (
    Progress,
    RenderCancelled,
    RenderError,
    find_ffmpeg,
    find_ffprobe,
    read_recording,
    render_replay,
)
from cwmn_web.render.synthetic import BLOCK_BOX, RecordingWriter, block_change, block_page

T = 1_700_000_000_000.0  # started_at of every recording here (ms epoch)
RED, BLUE, GREEN = "#ff0000", "#0000ff", "#00ff00"
POINTER = (700, 500)  # where the host's pointer rests (on white)
HAVE_TOOLS = bool(shutil.which("ffmpeg") and shutil.which("ffprobe") and shutil.which("chromium"))
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="needs chromium, ffmpeg and ffprobe")


# -- helpers ---------------------------------------------------------------------------------
def tone(path: Path, seconds: float, beep_at: float) -> bytes:
    """A webm/opus segment: silence, then a 880 Hz tone from ``beep_at`` seconds."""
    expr = f"if(gte(t,{beep_at}),0.5*sin(2*PI*880*t),0)"
    source = f"aevalsrc='{expr}':s=48000:d={seconds}"
    command = [find_ffmpeg(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source]
    subprocess.run([*command, "-c:a", "libopus", str(path)], check=True)
    return path.read_bytes()


def streams(mp4: Path) -> list[dict]:
    result = subprocess.run(
        [find_ffprobe(), "-v", "error", "-show_streams", "-show_format", "-of", "json", str(mp4)],
        capture_output=True,
        check=True,
    )
    info = json.loads(result.stdout)
    return [{**s, "format_duration": float(info["format"]["duration"])} for s in info["streams"]]


def rgb(mp4: Path, at: float, x: int, y: int, size: int = 8, fps: int = 10) -> tuple[int, int, int]:
    """The mean colour of a ``size``² square at (x, y) in the frame on screen at ``at`` s."""
    seek = max(0.0, math.floor(at * fps + 1e-6) / fps - 0.02)  # ffmpeg: first frame ≥ seek
    crop = ["-vf", f"crop={size}:{size}:{x}:{y}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    command = [find_ffmpeg(), "-v", "error", "-ss", f"{seek:.3f}", "-i", str(mp4)]
    raw = subprocess.run(
        [*command, "-frames:v", "1", *crop], capture_output=True, check=True
    ).stdout
    assert len(raw) == size * size * 3, f"no frame at {at}s"
    n = size * size
    return (sum(raw[0::3]) // n, sum(raw[1::3]) // n, sum(raw[2::3]) // n)


def block_rgb(mp4: Path, at: float) -> tuple[int, int, int]:
    x, y, w, h = BLOCK_BOX
    return rgb(mp4, at, x + w // 2, y + h // 2)


def is_colour(value: tuple[int, int, int], channel: int) -> bool:
    return value[channel] > 180 and all(v < 80 for i, v in enumerate(value) if i != channel)


def pcm(mp4: Path) -> array.array:
    """The MP4's audio as mono 48 kHz signed 16-bit samples."""
    command = [find_ffmpeg(), "-v", "error", "-i", str(mp4), "-map", "0:a", "-ac", "1"]
    raw = subprocess.run(
        [*command, "-ar", "48000", "-f", "s16le", "-"], capture_output=True, check=True
    ).stdout
    return array.array("h", raw)


def page_recording(directory: Path, seconds: float) -> RecordingWriter:
    """Red block from 0.1 s, blue from 2.0 s; the pointer moves at 30/s, then rests at
    POINTER from 0.6 s."""
    writer = RecordingWriter(directory)
    frames = [
        (T + 100, "snapshot", block_page(RED, "first")),
        (T + 2000, "mutations", block_change(BLUE, "second")),
    ]
    frames += [(T + ms, "pointer", {"x": 100 + ms, "y": 600}) for ms in range(120, 600, 33)]
    frames += [(T + 600, "pointer", {"x": POINTER[0], "y": POINTER[1]})]
    writer.frames(frames)
    return writer


# -- renders ---------------------------------------------------------------------------------
@needs_tools
def test_a_narrated_recording_renders_in_sync(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    writer = page_recording(recording, 4.0)
    writer.privacy(T + 3000, True)  # host privacy on: the paused overlay covers the page
    # Narration from 1.0 s, its beep 1.5 s into the segment: 2.5 s into the video.
    writer.audio("seg-1", T + 1000, tone(tmp_path / "tone.webm", 2.5, 1.5))
    out = tmp_path / "video.mp4"
    reports: list[Progress] = []

    render_replay(recording, T, T + 4000, out, progress=reports.append)

    found = streams(out)
    assert sorted(s["codec_type"] for s in found) == ["audio", "video"]
    video = next(s for s in found if s["codec_type"] == "video")
    audio = next(s for s in found if s["codec_type"] == "audio")
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 1280, 720)
    assert video["pix_fmt"] == "yuv420p"
    assert audio["codec_name"] == "aac"
    assert abs(found[0]["format_duration"] - 4.0) <= 0.2
    assert abs(float(video["duration"]) - 4.0) <= 0.2
    # The page at its time: red, then blue after 2.0 s, then the privacy overlay after 3.0 s.
    assert is_colour(block_rgb(out, 1.05), 0), block_rgb(out, 1.05)
    assert is_colour(block_rgb(out, 1.95), 0), block_rgb(out, 1.95)
    assert is_colour(block_rgb(out, 2.05), 2), block_rgb(out, 2.05)
    assert is_colour(block_rgb(out, 2.95), 2), block_rgb(out, 2.95)
    assert max(block_rgb(out, 3.5)) < 70, block_rgb(out, 3.5)  # dark overlay over blue
    # The host's pointer (the viewer's red arrow) where it rests; white elsewhere.
    arrow = rgb(out, 1.5, POINTER[0] + 2, POINTER[1] + 8, size=2)
    assert arrow[0] > 150 and arrow[1] < 130, arrow
    assert min(rgb(out, 1.5, POINTER[0] + 60, POINTER[1] + 8, size=2)) > 230
    # The beep starts where the timeline puts it (±100 ms), silence before it.
    samples = pcm(out)
    onset = next(i for i, v in enumerate(samples) if abs(v) > 3000) / 48000
    assert abs(onset - 2.5) <= 0.1, onset
    # Progress: replaying 0..90, encoding 90..100, then done; the tmp file is gone.
    stages = [r.stage for r in reports]
    assert stages[0] == "replaying" and stages[-1] == "done" and "encoding" in stages
    assert [r.percent for r in reports] == sorted(r.percent for r in reports)
    assert reports[-1].percent == 100
    assert all(r.percent <= 90 for r in reports if r.stage == "replaying")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec", "tone.webm", "video.mp4"]


@contextlib.contextmanager
def slow_image_server(directory: Path) -> Iterator[str]:
    """Serves ``directory`` on 127.0.0.1 (like a customer's site in tests), 300 ms late."""

    class Slow(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def do_GET(self) -> None:
            time.sleep(0.3)
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@needs_tools
def test_a_silent_recording_still_has_one_aac_track(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    command = [find_ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "color=c=magenta:s=64x64"]
    subprocess.run([*command, "-frames:v", "1", str(site / "pic.png")], check=True)
    recording = tmp_path / "rec"
    out = tmp_path / "out" / "video.mp4"
    with slow_image_server(site) as origin:
        snapshot = block_page(GREEN)
        style = "position:absolute;left:400px;top:200px;width:100px;height:100px"
        snapshot["nodes"].append([30, 5, 1, "img", ["src", f"{origin}/pic.png", "style", style]])
        RecordingWriter(recording).frames(
            [(T - 50, "snapshot", snapshot), (T + 1500, "mutations", block_change(RED))]
        )

        render_replay(recording, T, T + 3000, out, fps=5, size=(641, 361))

    found = streams(out)
    assert [s["codec_name"] for s in found] == ["h264", "aac"]
    assert (found[0]["width"], found[0]["height"]) == (640, 360)  # even, as H.264 needs
    assert abs(found[0]["format_duration"] - 3.0) <= 0.15
    assert max(abs(v) for v in pcm(out)) < 50  # silence
    # A snapshot taken just before started_at is the first frame.
    assert is_colour(rgb(out, 0.0, 100, 100, fps=5), 1), rgb(out, 0.0, 100, 100, fps=5)
    assert is_colour(rgb(out, 1.45, 100, 100, fps=5), 1), rgb(out, 1.45, 100, 100, fps=5)
    assert is_colour(rgb(out, 1.6, 100, 100, fps=5), 0), rgb(out, 1.6, 100, 100, fps=5)
    # The page's image, from another server on 127.0.0.1, is there from the first frame.
    # (The 1280x720 page is shown at half size: its (450, 250) is the video's (225, 125).)
    picture = rgb(out, 0.0, 224, 124, fps=5)
    assert picture[0] > 200 and picture[2] > 200 and picture[1] < 60, picture


@needs_tools
def test_should_stop_cancels_the_render_and_writes_nothing(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    page_recording(recording, 10.0)
    out = tmp_path / "video.mp4"
    calls: list[int] = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 5

    with pytest.raises(RenderCancelled):
        render_replay(recording, T, T + 10_000, out, should_stop=should_stop)
    assert len(calls) == 6  # checked between frames, stopped at once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec"]


# -- refusals (before any browser starts) ----------------------------------------------------
def test_a_corrupt_stream_line_is_a_render_error(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    page_recording(recording, 3.0)
    stream = recording / "stream.jsonl"
    lines = stream.read_text().splitlines()
    lines.insert(2, '{"t": 1, "kind": "mutations", "data": {')
    stream.write_text("\n".join(lines) + "\n")
    with pytest.raises(RenderError, match=r"stream\.jsonl line 3: not JSON"):
        render_replay(recording, T, T + 3000, tmp_path / "video.mp4")
    assert not (tmp_path / "video.mp4").exists()


def test_a_recording_without_snapshot_is_a_render_error(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    RecordingWriter(recording).frames([(T + 10, "pointer", {"x": 1, "y": 2})])
    with pytest.raises(RenderError, match="no snapshot"):
        render_replay(recording, T, T + 3000, tmp_path / "video.mp4")
    with pytest.raises(RenderError, match="does not exist"):
        render_replay(tmp_path / "missing", T, T + 3000, tmp_path / "video.mp4")


@needs_tools
def test_an_undecodable_audio_segment_is_a_render_error(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    writer = page_recording(recording, 3.0)
    writer.audio("seg-1", T + 500, b"\x1aE\xdf\xa3 this is not a webm file" * 50)
    with pytest.raises(RenderError, match=r"audio segment seg-1\.webm cannot be decoded: .+"):
        render_replay(recording, T, T + 3000, tmp_path / "video.mp4")
    assert not (tmp_path / "video.mp4").exists()


def test_a_missing_ffmpeg_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWMN_FFMPEG", str(tmp_path / "no-ffmpeg"))
    with pytest.raises(RenderError, match="ffmpeg not found"):
        find_ffmpeg()


# -- reading a recording ---------------------------------------------------------------------
def test_the_timeline_is_sanitized_and_follows_pages(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    writer = RecordingWriter(recording)
    snapshot = block_page(RED)
    snapshot["nodes"].append([20, 5, 1, "script", []])
    snapshot["nodes"].append([21, 5, 1, "img", ["src", "javascript:alert(1)", "onerror", "x()"]])
    writer.frame(T + 1, "snapshot", snapshot)
    writer.frame(T + 2, "mutations", {"adds": [[22, 20, 3, "alert(2)"]]})  # under the script
    writer.privacy(T + 3, True)
    writer.frame(T + 4, "focus", {"id": "nope"})  # refused by the sanitizer: skipped
    writer.page += 1
    writer.frame(T + 5, "mutations", block_change(BLUE))  # new page, before its snapshot
    writer.frame(T + 6, "snapshot", block_page(GREEN))
    with (recording / "stream.jsonl").open("a") as f:
        f.write('{"t": 7, "page": 2, "kind": "poin')  # cut short by a crash: ignored

    timeline = read_recording(recording)

    kinds = [e.kind for e in timeline.events]
    assert kinds == ["snapshot", "mutations", "privacy", "snapshot"]
    assert timeline.skipped == 2
    first = timeline.events[0].data
    assert [n[0] for n in first["nodes"]] == [1, 2, 3, 4, 5, 6, 7, 8, 21]
    assert first["nodes"][-1][4] == []  # neither the javascript: src nor the handler
    assert timeline.events[1].data["adds"] == []
    assert timeline.events[2].op() == {"op": "status", "paused": True}
    assert timeline.events[3].op()["kind"] == "snapshot"
    assert timeline.segments == []


def test_audio_segments_must_stay_inside_the_recording(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    page_recording(recording, 3.0)
    (tmp_path / "evil.webm").write_bytes(b"x")
    line = {"segment": "s", "t0": T, "mime": "audio/webm", "file": "../evil.webm"}
    (recording / "audio.jsonl").write_text(json.dumps(line) + "\n")
    with pytest.raises(RenderError, match="outside the recording"):
        read_recording(recording)
