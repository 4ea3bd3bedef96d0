"""JSON text frames ⇄ message dataclasses, validating as it decodes. No I/O here.

Wire form: ``{"type": "...", "ref": 0, ...fields}`` with camelCase kept out: field names are
the dataclass names. Unknown ``type`` is an error; unknown extra fields are ignored.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

from ..errors import ProtocolError
from .messages import MESSAGE_TYPES, Message

__all__ = ["decode", "decode_obj", "encode", "encode_obj"]

MAX_FRAME = 4 * 1024 * 1024
#: A JSON escape of a UTF-16 surrogate (``\\ud83d``): half of a pair, or a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SCALARS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "dict[str, Any]": (dict,),
    "GuestObject": (dict,),
    "list[str]": (list,),
}


def encode_obj(message: Message) -> dict[str, Any]:
    """The JSON-ready dict of ``message``."""
    body = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
    return {"type": message.type, **body}


def encode(message: Message) -> str:
    """One text frame for ``message``."""
    return json.dumps(
        encode_obj(message), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


#: The JSON types each field of each message type accepts.
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    kind: {f.name: _SCALARS[str(f.type)] for f in dataclasses.fields(cls)}
    for kind, cls in MESSAGE_TYPES.items()
}


def decode_obj(obj: Any) -> Message:
    """Validate a parsed JSON value and build its message; raise ``protocol`` if malformed."""
    if not isinstance(obj, dict):
        raise ProtocolError(f"a message must be a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {kind!r}")
    values: dict[str, Any] = {}
    for name, allowed in _FIELDS[cls.type].items():
        if name not in obj:
            continue
        value = obj[name]
        if not isinstance(value, allowed) or (bool not in allowed and isinstance(value, bool)):
            raise ProtocolError(
                f"{kind}.{name} must be {allowed[-1].__name__}, got {type(value).__name__}"
            )
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise ProtocolError(f"{kind}.{name} must be a list of strings")
        limit = cls.max_chars.get(name)
        if limit is not None and isinstance(value, str | list) and len(value) > limit:
            raise ProtocolError(f"{kind}.{name} is longer than {limit} characters")
        values[name] = value
    return cls(**values)


def _not_a_number(name: str) -> Any:
    """JSON has no NaN or Infinity: a peer sending them breaks every page that parses them."""
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    """A JSON number that fits a float (``1e999`` would be infinite)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large")
    return value


def _utf8_size(frame: str | bytes) -> int:
    """The frame's size in UTF-8 bytes (what the socket carries)."""
    if isinstance(frame, bytes):
        return len(frame)
    try:
        return len(frame.encode())
    except UnicodeEncodeError:
        raise ProtocolError("frame is not UTF-8 text: it holds a lone surrogate") from None


def _check_unicode(frame: str | bytes, obj: Any) -> None:
    """Refuse a frame whose ``\\uD800``-style escapes left a lone surrogate in ``obj``: the
    server could not send it on as UTF-8. (Escaped pairs, as ASCII-only encoders write
    non-BMP characters, are fine; only frames holding such an escape are checked.)"""
    found = (
        _SURROGATE_ESCAPE_BYTES.search(frame)
        if isinstance(frame, bytes)
        else _SURROGATE_ESCAPE.search(frame)
    )
    if found is None:
        return
    try:
        json.dumps(obj, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ProtocolError("frame is not Unicode text: it escapes a lone surrogate") from None


def decode(frame: str | bytes) -> Message:
    """Parse one text frame; raise ``protocol`` for bad JSON, types, sizes or text that is
    not Unicode."""
    size = _utf8_size(frame)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    try:
        obj = json.loads(frame, parse_constant=_not_a_number, parse_float=_finite)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from None
    _check_unicode(frame, obj)
    return decode_obj(obj)
