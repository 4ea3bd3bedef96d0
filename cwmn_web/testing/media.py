"""Checking a rendered replay video with ffprobe and ffmpeg: streams, duration, the colour of
a frame at a time, how loud the sound is over a stretch; and making Opus narration to record.
For tests (ours and integrators')."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..render.ffmpeg import find_ffmpeg, find_ffprobe

__all__ = ["VideoInfo", "encode_opus", "max_volume", "mean_rgb", "pixel_at", "probe"]


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    """Seconds (the container's)."""
    codecs: list[tuple[str, str]]
    """``(codec_type, codec_name)`` per stream, e.g. ``("video", "h264")``."""
    width: int
    height: int
    streams: list[dict[str, object]]
    """ffprobe's stream records, as it printed them."""


def probe(path: Path) -> VideoInfo:
    """What ffprobe says about ``path``."""
    command = [find_ffprobe(), "-v", "error", "-print_format", "json", "-show_format"]
    out = subprocess.run(
        [*command, "-show_streams", str(path)], check=True, capture_output=True, text=True
    ).stdout
    data = json.loads(out)
    streams = data.get("streams", [])
    video: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "video"), {})
    return VideoInfo(
        duration=float(data["format"]["duration"]),
        codecs=[(s.get("codec_type", ""), s.get("codec_name", "")) for s in streams],
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
        streams=streams,
    )


def mean_rgb(
    path: Path, seconds: float, x: int | str, y: int | str, size: int = 8
) -> tuple[int, int, int]:
    """The mean RGB colour of the ``size`` by ``size`` px square whose top-left corner is at
    (``x``, ``y``) (px, or ffmpeg expressions such as ``iw*0.5-4``) in the first frame at or
    after ``seconds``."""
    command = [find_ffmpeg(), "-v", "error", "-ss", f"{seconds:.3f}", "-i", str(path)]
    crop = ["-vf", f"crop={size}:{size}:{x}:{y}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(
        [*command, "-frames:v", "1", *crop], check=True, capture_output=True
    ).stdout
    n = size * size
    if len(raw) != n * 3:
        raise AssertionError(f"no frame at {seconds:.3f} s in {path}")
    return sum(raw[0::3]) // n, sum(raw[1::3]) // n, sum(raw[2::3]) // n


def pixel_at(path: Path, seconds: float, x: float = 0.5, y: float = 0.5) -> tuple[int, int, int]:
    """The RGB colour at (``x``, ``y``) (fractions of the width and height) of the frame shown
    at ``seconds``, averaged over an 8 by 8 px square."""
    return mean_rgb(path, seconds, f"iw*{x}-4", f"ih*{y}-4")


def max_volume(path: Path, start: float, length: float) -> float:
    """The loudest sample (dBFS; -91 for digital silence) of the audio over
    [``start``, ``start + length``] seconds."""
    command = [find_ffmpeg(), "-hide_banner", "-ss", f"{start:.3f}", "-t", f"{length:.3f}"]
    err = subprocess.run(
        [*command, "-i", str(path), "-vn", "-af", "volumedetect", "-f", "null", "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    match = re.search(r"max_volume: (-?[\d.]+|-inf) dB", err)
    if match is None:
        return -91.0
    return -91.0 if match.group(1) == "-inf" else float(match.group(1))


def encode_opus(path: Path, source: str) -> bytes:
    """Encode ffmpeg's lavfi ``source`` (e.g. ``sine=frequency=440:duration=1``) to
    WebM/Opus at ``path``, as a browser's MediaRecorder records narration; its bytes."""
    command = [find_ffmpeg(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source]
    subprocess.run([*command, "-c:a", "libopus", str(path)], check=True)
    return path.read_bytes()
