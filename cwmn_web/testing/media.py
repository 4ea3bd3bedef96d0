"""Checking a rendered replay video with ffprobe and ffmpeg: streams, duration, the colour of
a frame at a time, how loud the sound is over a stretch. For tests (ours and integrators')."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..render.ffmpeg import find_ffmpeg, find_ffprobe

__all__ = ["VideoInfo", "max_volume", "pixel_at", "probe"]


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    """Seconds (the container's)."""
    codecs: list[tuple[str, str]]
    """``(codec_type, codec_name)`` per stream, e.g. ``("video", "h264")``."""
    width: int
    height: int


def probe(path: Path) -> VideoInfo:
    """What ffprobe says about ``path``."""
    out = subprocess.run(
        [
            find_ffprobe(),
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), {})
    return VideoInfo(
        duration=float(data["format"]["duration"]),
        codecs=[(s.get("codec_type", ""), s.get("codec_name", "")) for s in streams],
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
    )


def pixel_at(path: Path, seconds: float, x: float = 0.5, y: float = 0.5) -> tuple[int, int, int]:
    """The RGB colour at (``x``, ``y``) (fractions of the width and height) of the frame shown
    at ``seconds``, averaged over an 8 by 8 px square."""
    crop = f"crop=8:8:iw*{x}-4:ih*{y}-4,scale=1:1"
    raw = subprocess.run(
        [
            find_ffmpeg(),
            "-v",
            "error",
            "-ss",
            f"{seconds:.3f}",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-vf",
            crop,
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    if len(raw) < 3:
        raise AssertionError(f"no frame at {seconds:.3f} s in {path}")
    return raw[0], raw[1], raw[2]


def max_volume(path: Path, start: float, length: float) -> float:
    """The loudest sample (dBFS; -91 for digital silence) of the audio over
    [``start``, ``start + length``] seconds."""
    err = subprocess.run(
        [
            find_ffmpeg(),
            "-hide_banner",
            "-ss",
            f"{start:.3f}",
            "-t",
            f"{length:.3f}",
            "-i",
            str(path),
            "-vn",
            "-af",
            "volumedetect",
            "-f",
            "null",
            "-",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    match = re.search(r"max_volume: (-?[\d.]+|-inf) dB", err)
    if match is None:
        return -91.0
    return -91.0 if match.group(1) == "-inf" else float(match.group(1))
