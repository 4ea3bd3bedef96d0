"""What processes say to each other over Redis (one channel per process): a pipe opened,
accepted or closed, a client's frame in, frames out to some pipes, a client gone. No I/O.

A message is ``KIND`` (one byte), a header of ASCII words up to a newline, then the payload
(UTF-8 text, or raw bytes for ``BINARY_IN``): frames are JSON already and are not escaped
again. One ``OUT`` message carries one text to several pipes of the receiving process, so a
frame costs one message per process that holds guests, not one per guest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACCEPT",
    "BINARY_IN",
    "CLOSE",
    "GONE",
    "IN",
    "OPEN",
    "OUT",
    "Envelope",
    "decode",
    "encode",
]

OPEN, ACCEPT, IN, BINARY_IN, OUT, CLOSE, GONE = "n", "a", "i", "b", "o", "c", "g"
_KINDS = frozenset({OPEN, ACCEPT, IN, BINARY_IN, OUT, CLOSE, GONE})


@dataclass
class Envelope:
    """One message between processes.

    - ``OPEN`` (holder → owner): ``pipes[0]`` opened by ``sender``; ``meta`` the socket's
      handshake (path, query, headers, client, scheme, server);
    - ``ACCEPT`` (owner → holder): accept the client's socket;
    - ``IN`` / ``BINARY_IN`` (holder → owner): a frame the client sent (``text``/``data``);
    - ``OUT`` (owner → holder): ``text`` to every pipe of ``pipes``;
    - ``CLOSE`` (owner → holder): close ``pipes[0]`` with ``code`` and ``text`` as reason;
    - ``GONE`` (holder → owner): the client's socket closed with ``code``.
    """

    kind: str
    pipes: list[str]
    sender: str = ""
    code: int = 0
    text: str = ""
    data: bytes = b""
    meta: dict[str, Any] = field(default_factory=dict)


def encode(envelope: Envelope) -> bytes:
    """The bytes of ``envelope`` on the wire."""
    kind = envelope.kind
    pipes = ",".join(envelope.pipes)
    if kind == OPEN:
        head, body = f"{pipes} {envelope.sender}", json.dumps(envelope.meta).encode()
    elif kind in (CLOSE, GONE):
        head, body = f"{pipes} {envelope.code}", envelope.text.encode()
    elif kind == BINARY_IN:
        head, body = pipes, envelope.data
    else:
        head, body = pipes, envelope.text.encode()
    return f"{kind}{head}\n".encode() + body


def decode(raw: bytes) -> Envelope:
    """The envelope in ``raw``; ``ValueError`` if it is not one."""
    try:
        return _decode(raw)
    except (IndexError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed cluster message: {exc!r}") from None


def _decode(raw: bytes) -> Envelope:
    end = raw.find(b"\n")
    if end < 1:
        raise ValueError("not a cluster message")
    kind, words = chr(raw[0]), raw[1:end].decode("ascii").split(" ")
    if kind not in _KINDS:
        raise ValueError(f"unknown cluster message kind {kind!r}")
    pipes = words[0].split(",") if words[0] else []
    body = raw[end + 1 :]
    if kind == OPEN:
        return Envelope(kind, pipes, sender=words[1], meta=json.loads(body))
    if kind in (CLOSE, GONE):
        return Envelope(kind, pipes, code=int(words[1]), text=body.decode())
    if kind == BINARY_IN:
        return Envelope(kind, pipes, data=bytes(body))
    return Envelope(kind, pipes, text=body.decode())
