"""Replay rendering: a recorded session (``stream.jsonl`` + narration) → ``video.mp4``.

``render_replay`` (or ``render_replay_async``) is what the render worker calls; see
:mod:`.renderer`. Needs Playwright, Chromium and ffmpeg (``CWMN_FFMPEG``/``CWMN_CHROMIUM`` to
point at specific binaries; ``CWMN_RENDER_ALLOW_ORIGINS`` to name the private origins the render
page may load from, ``CWMN_RENDER_PRIVATE_NETWORK=allow`` to let it load from any: tests).
"""

from .errors import Progress, RenderCancelled, RenderError, RenderTimeout
from .ffmpeg import find_ffmpeg, find_ffprobe
from .renderer import render_replay, render_replay_async
from .timeline import Event, Segment, Timeline, read_recording

__all__ = [
    "Event",
    "Progress",
    "RenderCancelled",
    "RenderError",
    "RenderTimeout",
    "Segment",
    "Timeline",
    "find_ffmpeg",
    "find_ffprobe",
    "read_recording",
    "render_replay",
    "render_replay_async",
]
