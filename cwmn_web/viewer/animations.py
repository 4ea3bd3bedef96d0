"""The host's script animations (``cwmn:anim``), checked for the viewer: the viewer replays
them with ``Element.animate``, so only keyframes, timing and state of the expected shapes
pass, and no keyframe value that could fetch or run anything."""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["clean_animations"]

MAX_ANIMATIONS = 16
MAX_KEYFRAMES = 64
MAX_VALUE = 1_000
#: A keyframe's property names as getKeyframes() gives them (camelCase, ``offset``, ``cssFloat``).
_PROPERTY = re.compile(r"[a-zA-Z]{1,64}|--[a-zA-Z0-9_-]{1,64}")
#: EffectTiming members: the numbers, and the words ``fill`` and ``direction`` take.
_NUMBERS = frozenset({"delay", "endDelay", "iterationStart", "iterations", "duration"})
_FILLS = frozenset({"none", "forwards", "backwards", "both", "auto"})
_DIRECTIONS = frozenset({"normal", "reverse", "alternate", "alternate-reverse"})
#: A keyframe value: no quotes, escapes, colons or braces (so no URL scheme, no escaped
#: keyword, nothing leaves the value); words that fetch or run are refused below.
_VALUE = re.compile(r"[-a-zA-Z0-9.,%#()/+* _]*")
_REFUSED = ("url", "image", "expression", "binding", "behavior", "behaviour", "src")
_EASING = re.compile(r"[a-z-]{1,40}(\([0-9., a-z-]{0,200}\))?")


def clean_animations(value: str) -> str | None:
    """``value`` (JSON) made safe, or ``None`` to drop it."""
    try:
        raw = json.loads(value)
    except ValueError:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_ANIMATIONS:
        return None
    out = []
    for item in raw:
        animation = _animation(item)
        if animation is None:
            return None
        out.append(animation)
    return json.dumps(out, separators=(",", ":"))


def _animation(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    frames, timing = item.get("k"), item.get("t")
    if not isinstance(frames, list) or len(frames) > MAX_KEYFRAMES or not isinstance(timing, dict):
        return None
    clean_frames = [_keyframe(frame) for frame in frames]
    clean_timing = _timing(timing)
    current, rate, paused = item.get("c"), item.get("r", 1), item.get("p", False)
    if any(f is None for f in clean_frames) or clean_timing is None:
        return None
    if (current is not None and not _finite(current)) or not _finite(rate):
        return None
    return {"k": clean_frames, "t": clean_timing, "c": current, "r": rate, "p": paused is True}


def _keyframe(frame: Any) -> dict[str, Any] | None:
    if not isinstance(frame, dict):
        return None
    out: dict[str, Any] = {}
    for name, value in frame.items():
        if not isinstance(name, str) or not _PROPERTY.fullmatch(name):
            return None
        if value is None or _finite(value):
            out[name] = value
        elif isinstance(value, str) and len(value) <= MAX_VALUE:
            # Nothing that fetches (url(), image-set()) or runs: dropped, not cleaned.
            lower = value.lower()
            if _VALUE.fullmatch(value) and not any(word in lower for word in _REFUSED):
                out[name] = value
        else:
            return None
    return out


def _timing(timing: dict[Any, Any]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for name, value in timing.items():
        if name == "easing":
            ok = isinstance(value, str) and _EASING.fullmatch(value) is not None
        elif name == "fill":
            ok = value in _FILLS
        elif name == "direction":
            ok = value in _DIRECTIONS
        elif name in _NUMBERS:
            # iterations None: Infinity (JSON has none); duration may be "auto".
            ok = _finite(value) or (name, value) in (("iterations", None), ("duration", "auto"))
        else:
            continue  # a member the viewer does not set
        if not ok:
            return None
        out[name] = value
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
