"""The server's check of an ``audio`` mirror frame (a narration chunk). No I/O here."""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from typing import Any

from ...protocol.messages import AUDIO_SEGMENT, AUDIO_TYPES, MAX_AUDIO_CHUNK_BYTES

__all__ = ["MAGIC", "AudioChunk", "check_audio", "container_of"]

_SEGMENT = re.compile(AUDIO_SEGMENT)
#: The longest ``b64`` that can decode to at most ``MAX_AUDIO_CHUNK_BYTES``.
_MAX_B64 = (MAX_AUDIO_CHUNK_BYTES + 2) // 3 * 4


#: The bytes every file of a container starts with (a segment's first chunk must): WebM is
#: Matroska's EBML header, Ogg a page's capture pattern. Anything else (an HLS playlist, a
#: concat script, an image…) would let ffmpeg's format sniffing read it as something else.
MAGIC = {"webm": b"\x1a\x45\xdf\xa3", "ogg": b"OggS"}


def container_of(ext: str, head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts as a file of container ``ext`` does."""
    magic = MAGIC.get(ext)
    return magic is not None and head.startswith(magic)


@dataclass(frozen=True)
class AudioChunk:
    segment: str
    t0: float
    index: int
    mime: str
    ext: str
    data: bytes


def check_audio(data: dict[str, Any]) -> AudioChunk:
    """The chunk ``data`` describes; ValueError saying what is wrong with it.

    ``mime`` is compared with :data:`AUDIO_TYPES` in lower case, spaces and quotes removed
    (``Audio/Ogg; codecs="opus"`` is ``audio/ogg;codecs=opus``); a segment's first chunk
    must start with its container's :data:`MAGIC` (what it is, not what it claims)."""
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
    if key not in AUDIO_TYPES:
        raise ValueError(f"mime must be one of {', '.join(AUDIO_TYPES)}")
    b64 = data.get("b64")
    if not isinstance(b64, str) or len(b64) > _MAX_B64:
        raise ValueError("b64 must be the base64 of at most 1 MB")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("b64 is not valid base64") from None
    if len(raw) > MAX_AUDIO_CHUNK_BYTES:
        raise ValueError("an audio chunk must be at most 1 MB")
    ext = AUDIO_TYPES[key]
    if index == 0 and not container_of(ext, raw):
        raise ValueError(
            f"audio_not_{ext}: a segment's first chunk must start as a {ext} file does"
            f" ({MAGIC[ext].hex(' ')}); send the recorder's bytes as they are"
        )
    return AudioChunk(segment, float(t0), index, key, ext, raw)
