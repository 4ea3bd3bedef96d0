"""Finding ffmpeg, checking narration segments, and the encoder's command line."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .errors import RenderError
from .timeline import Segment

__all__ = [
    "DEMUXERS",
    "check_segment",
    "encode_command",
    "find_ffmpeg",
    "find_ffprobe",
    "segment_input",
    "stderr_tail",
]

SAMPLE_RATE = 48_000
#: The demuxer of each narration container (by the segment file's extension). ffmpeg is
#: never left to guess a segment's format: sniffing would read a "chunk" holding an HLS
#: playlist or a concat script as one, and open the files it names.
DEMUXERS = {".webm": "matroska", ".ogg": "ogg"}
_MAGIC = {".webm": b"\x1a\x45\xdf\xa3", ".ogg": b"OggS"}
#: A segment's input may open nothing but its own file.
PROTOCOLS = "file"


def segment_input(segment: Segment) -> list[str]:
    """ffmpeg's input options for a narration segment: its container's demuxer forced, only
    the ``file`` protocol; a RenderError when the file is not what its name says."""
    suffix = segment.path.suffix.lower()
    demuxer = DEMUXERS.get(suffix)
    if demuxer is None:
        raise RenderError(f"audio segment {segment.path.name}: not a .webm or .ogg file")
    try:
        with segment.path.open("rb") as file:
            head = file.read(4)
    except OSError as exc:
        raise RenderError(f"audio segment {segment.path.name} cannot be read: {exc}") from exc
    if head != _MAGIC[suffix]:
        raise RenderError(
            f"audio segment {segment.path.name} is not a {suffix[1:]} file (it starts"
            f" {head.hex(' ') or 'empty'})"
        )
    return ["-protocol_whitelist", PROTOCOLS, "-f", demuxer, "-i", "file:" + str(segment.path)]


def find_ffmpeg() -> str:
    """``CWMN_FFMPEG``, else ``ffmpeg`` on the PATH, else imageio-ffmpeg's binary."""
    path = os.environ.get("CWMN_FFMPEG") or shutil.which("ffmpeg")
    if not path:
        try:
            import imageio_ffmpeg  # type: ignore[import-not-found]

            path = imageio_ffmpeg.get_ffmpeg_exe()
        except Exception:  # not installed, or it has no binary for this platform
            path = None
    if not path or not os.access(path, os.X_OK):
        raise RenderError(
            "ffmpeg not found: install it (apt-get install ffmpeg) or set CWMN_FFMPEG"
        )
    return path


def find_ffprobe() -> str:
    """``CWMN_FFPROBE``, else the ``ffprobe`` beside ffmpeg, else the one on the PATH."""
    path = os.environ.get("CWMN_FFPROBE")
    if not path:
        sibling = Path(find_ffmpeg()).with_name("ffprobe")
        path = str(sibling) if sibling.is_file() else shutil.which("ffprobe")
    if not path or not os.access(path, os.X_OK):
        raise RenderError("ffprobe not found: install ffmpeg or set CWMN_FFPROBE")
    return path


def stderr_tail(text: str | bytes, lines: int = 6) -> str:
    """The last few lines ffmpeg wrote (where it says what went wrong)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def check_segment(ffmpeg: str, segment: Segment) -> None:
    """Decode a narration segment once; a RenderError when ffmpeg cannot."""
    command = [ffmpeg, "-nostdin", "-v", "error", *segment_input(segment)]
    command += ["-map", "0:a:0", "-f", "null", "-"]
    result = subprocess.run(command, capture_output=True, timeout=300, check=False)
    if result.returncode != 0:
        raise RenderError(
            f"audio segment {segment.path.name} cannot be decoded: {stderr_tail(result.stderr)}"
        )


def encode_command(
    ffmpeg: str,
    out: Path,
    *,
    fps: int,
    duration: float,
    started_at: float,
    segments: list[Segment],
    progress: Path,
) -> list[str]:
    """ffmpeg reading JPEG frames on stdin, narration segments placed on the timeline."""
    command = [ffmpeg, "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    command += ["-progress", str(progress)]
    command += ["-protocol_whitelist", "pipe", "-f", "image2pipe", "-c:v", "mjpeg"]
    command += ["-framerate", str(fps), "-i", "pipe:0"]
    parts: list[str] = []
    for i, segment in enumerate(segments, 1):
        command += segment_input(segment)
        offset = segment.t0 - started_at  # ms
        # async: a chunk the page lost (a jump in the timestamps) becomes silence, so the
        # rest of the segment keeps its place.
        chain = f"[{i}:a]aresample={SAMPLE_RATE}:async=1:first_pts=0,asetpts=PTS-STARTPTS"
        if offset >= 0:
            chain += f",adelay={offset:.0f}:all=1"
        else:  # started before the recording: its beginning is cut
            chain += f",atrim=start={-offset / 1000:.3f},asetpts=PTS-STARTPTS"
        parts.append(chain + f"[a{i}]")
    if segments:
        labels = "".join(f"[a{i}]" for i in range(1, len(segments) + 1))
        mix = f"amix=inputs={len(segments)}:duration=longest:dropout_transition=0:normalize=0"
        parts.append(f"{labels}{mix},apad[aout]")
        command += ["-filter_complex", ";".join(parts), "-map", "0:v", "-map", "[aout]"]
    else:
        command += ["-f", "lavfi", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=stereo"]
        command += ["-map", "0:v", "-map", "1:a"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    command += ["-r", str(fps), "-c:a", "aac", "-b:a", "128k", "-ar", str(SAMPLE_RATE)]
    command += ["-t", f"{duration:.3f}", "-movflags", "+faststart", "-f", "mp4", str(out)]
    return command
