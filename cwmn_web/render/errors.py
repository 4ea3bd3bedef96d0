"""The renderer's errors and its progress report."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Progress", "RenderCancelled", "RenderError", "RenderTimeout"]


class RenderError(Exception):
    """The recording cannot be rendered; the message says what was wrong."""


class RenderTimeout(RuntimeError):
    """The render took too long (a page step, ffmpeg or the whole render past its deadline).

    Not a :class:`RenderError`: the recording may be fine, so the worker retries the job (up
    to its attempts); Chromium and ffmpeg have been stopped and nothing was written.
    """


class RenderCancelled(Exception):
    """``should_stop()`` answered True: the render stopped and wrote nothing."""


@dataclass
class Progress:
    """Where a render is: ``stage`` replaying (0 to 90 %), encoding (90 to 100 %) or done."""

    percent: float
    stage: str
    eta_seconds: float  # -1: unknown
