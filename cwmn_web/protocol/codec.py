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

__all__ = [
    "MAX_FRAME",
    "MAX_FRAME_VALUES",
    "decode",
    "decode_obj",
    "encode",
    "encode_obj",
    "encode_sliced",
    "too_large",
    "value_bound",
]

MAX_FRAME = 4 * 1024 * 1024
"""Bytes (UTF-8) of one text frame: the codec's cap, and the server's WebSocket size cap."""
MAX_FRAME_VALUES = 500_000
"""Default cap on :func:`value_bound` of a frame (the server's ``CWMN_MAX_FRAME_VALUES``).
Parsing holds the interpreter throughout (C code): ~0.2 µs a value, so at most ~30 ms for
the costliest frame this allows (166,000 empty lists), against 0.3 s for the 1.4 million
the 4 MB wire cap lets through. A page's snapshot costs ~9 per element."""
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
    "list[float]": (list,),
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
#: The list fields that hold numbers (the others hold strings).
_NUMBER_LISTS: dict[str, frozenset[str]] = {
    kind: frozenset(f.name for f in dataclasses.fields(cls) if str(f.type) == "list[float]")
    for kind, cls in MESSAGE_TYPES.items()
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
        if isinstance(value, list):
            numbers = name in _NUMBER_LISTS[cls.type]
            if not all(_is_number(v) if numbers else isinstance(v, str) for v in value):
                what = "numbers" if numbers else "strings"
                raise ProtocolError(f"{kind}.{name} must be a list of {what}")
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


#: Characters :func:`value_bound` reads at once (a few milliseconds of C work at most): between
#: slices the interpreter may switch threads, so a worker thread counting a frame never holds
#: up the event loop for long.
_COUNT_SLICE = 1 << 18


def _structure(text: str) -> int:
    return text.count(",") + 2 * (text.count("[") + text.count("{"))


def value_bound(frame: str) -> int:
    """At least the number of JSON values in ``frame``: each comma, ``[`` and ``{`` outside
    its strings counts (text inside strings, SVG path data or CSV say, costs the parser
    no values): what parsing it costs, found without parsing.

    Strings are found as the parser finds them: escaped backslashes, then escaped quotes,
    are dropped, and what is left between quotes is a string's text. The frame is read in
    slices of ``_COUNT_SLICE`` characters (never ending inside an escape), each by ``str``
    methods (C loops) taking a few milliseconds: the worst frame, 4 MiB of three-letter
    strings, costs ~130 ms in all on a loaded 2-core machine but holds the interpreter at
    most one slice at a time. The server runs it, with the parse, in a worker thread for
    frames past 64 KiB (``peer.decode_heavy``), off the event loop."""
    if '"' not in frame:
        return _structure(frame) + 1
    count, inside, start, size = 1, False, 0, len(frame)
    while start < size:
        end = min(size, start + _COUNT_SLICE)
        piece = frame[start:end]
        # An escape is never cut in two: backslashes pair up from a run's start, so a slice
        # ending in an odd run takes the character its last backslash escapes.
        if end < size and (len(piece) - len(piece.rstrip("\\"))) % 2:
            end += 1
            piece = frame[start:end]
        pieces = piece.replace("\\\\", "").replace('\\"', "").split('"')
        count += _structure("".join(pieces[1::2] if inside else pieces[::2]))
        inside ^= len(pieces) % 2 == 0  # an odd number of quotes in the slice
        start = end
    return count


def too_large(frame: str | bytes, max_values: int = MAX_FRAME_VALUES) -> str | None:
    """Why a server refuses ``frame`` as too large (its bytes, or its values by
    :func:`value_bound`), or None: the host checks its frames with it before sending."""
    size = _utf8_size(frame)
    if size > MAX_FRAME:
        return f"frame of {size} bytes exceeds {MAX_FRAME}"
    text = frame if isinstance(frame, str) else frame.decode(errors="replace")
    if value_bound(text) > max_values:
        return f"frame holds more than {max_values} JSON values: send the page in smaller frames"
    return None


def _check_size(frame: str | bytes, max_values: int) -> str | bytes:
    refusal = too_large(frame, max_values)
    if refusal is not None:
        raise ProtocolError(refusal)
    return frame


def decode(frame: str | bytes, max_values: int = MAX_FRAME_VALUES) -> Message:
    """Parse one text frame; raise ``protocol`` for bad JSON, types, sizes (bytes, and at
    most ``max_values`` values by :func:`value_bound`) or text that is not Unicode."""
    frame = _check_size(frame, max_values)
    try:
        obj = json.loads(frame, parse_constant=_not_a_number, parse_float=_finite)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from None
    _check_unicode(frame, obj)
    return decode_obj(obj)


_DUMP = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
#: Values the C writer is given at once by :func:`encode_sliced` (a few milliseconds).
_SLICE = 20_000


def _weight(obj: Any, limit: int) -> int:
    """The values in ``obj``, counted up to just past ``limit`` (in Python: interruptible)."""
    count, stack = 0, [obj]
    while stack and count <= limit:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count


def _pieces(obj: Any, out: list[str]) -> None:
    """Append the JSON text of ``obj`` to ``out``: the C writer for parts of at most
    ``_SLICE`` values (a run of a list's items at once), Python between them."""
    if _weight(obj, _SLICE) <= _SLICE:
        out.append(_DUMP(obj))
    elif isinstance(obj, dict):
        out.append("{")
        for i, (key, value) in enumerate(obj.items()):
            out.append(("," if i else "") + _DUMP(str(key)) + ":")
            _pieces(value, out)
        out.append("}")
    else:
        out.append("[")
        for start in range(0, len(obj), _SLICE // 2):
            run = obj[start : start + _SLICE // 2]
            if start:
                out.append(",")
            if _weight(run, _SLICE) <= _SLICE:
                out.append(_DUMP(run)[1:-1])
                continue
            for i, value in enumerate(run):
                if i:
                    out.append(",")
                _pieces(value, out)
        out.append("]")


def encode_sliced(message: Message) -> str:
    """:func:`encode` in slices of at most ``_SLICE`` values (same text): no single step
    holds the interpreter for long, so a thread running it lets the event loop run."""
    out: list[str] = []
    _pieces(encode_obj(message), out)
    return "".join(out)
