"""The server's check of an ``audio`` mirror frame (a narration chunk). No I/O here."""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_CHUNK_BYTES", "AudioChunk", "check_audio"]

MAX_CHUNK_BYTES = 1024 * 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,40}")
#: Accepted ``mime`` values (lower case, spaces and quotes removed) → the file's extension.
MIMES = {
    "audio/webm": "webm",
    "audio/webm;codecs=opus": "webm",
    "audio/ogg": "ogg",
    "audio/ogg;codecs=opus": "ogg",
}


@dataclass(frozen=True)
class AudioChunk:
    segment: str
    t0: float
    index: int
    mime: str
    ext: str
    data: bytes


def check_audio(data: dict[str, Any]) -> AudioChunk:
    """The chunk ``data`` describes; ValueError saying what is wrong with it."""
    segment = data.get("segment")
    if not isinstance(segment, str) or not _SEGMENT.fullmatch(segment):
        raise ValueError("segment must be 1 to 40 characters of A-Z a-z 0-9 _ -")
    index = data.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValueError("index must be a whole number ≥ 0")
    t0 = data.get("t0")
    if not isinstance(t0, (int, float)) or isinstance(t0, bool) or not math.isfinite(t0):
        raise ValueError("t0 must be a number (ms since the epoch)")
    mime = data.get("mime")
    key = re.sub(r"[\s\"']", "", mime).lower() if isinstance(mime, str) else ""
    if key not in MIMES:
        raise ValueError(f"mime must be one of {', '.join(MIMES)}")
    b64 = data.get("b64")
    if not isinstance(b64, str) or len(b64) > (MAX_CHUNK_BYTES // 3 + 1) * 4:
        raise ValueError("b64 must be the base64 of at most 1 MB")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("b64 is not valid base64") from None
    if len(raw) > MAX_CHUNK_BYTES:
        raise ValueError("an audio chunk must be at most 1 MB")
    return AudioChunk(segment, float(t0), index, key, MIMES[key], raw)
