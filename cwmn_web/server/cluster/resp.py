"""A minimal Redis client for the bus: one connection, RESP2, the commands it needs
(``AUTH``, ``PUBLISH``, ``SUBSCRIBE``) written straight to the socket.

Why not redis-py's asyncio client: measured (bench/cluster.py, docs/BENCHMARKS.md "Many
processes"), its pipeline spent ~100 µs of the owner's CPU per ``PUBLISH`` and its pub/sub
reader 60 to 75 µs per message received, the largest part of what a frame costs a process
beyond the first; and a publish waited two loop turns before it left. Here a publish is
one ``write`` of the command and the frame's bytes, in the loop turn that sends it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["RespConnection", "RespError"]

#: Bytes a connection may have waiting to be written before it counts as broken.
MAX_BUFFERED = 256 * 1024 * 1024


class RespError(Exception):
    """Redis answered with an error, or the connection cannot be used."""


class RespConnection:
    """One connection to the Redis of ``url`` (``redis://``, ``rediss://``,
    ``unix://``; ``[user:]password@`` is sent as ``AUTH``)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.heard_at = time.monotonic()
        """When its last reply came (its owner notes it: a silent connection is dead)."""

    @classmethod
    async def open(cls, url: str, timeout: float = 10.0) -> RespConnection:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            opened = asyncio.open_unix_connection(parts.path)
        elif parts.scheme in ("redis", "rediss"):
            context = ssl.create_default_context() if parts.scheme == "rediss" else None
            opened = asyncio.open_connection(
                parts.hostname or "localhost", parts.port or 6379, ssl=context
            )
        else:
            raise RespError(f"CWMN_REDIS_URL: unknown scheme {parts.scheme!r}")
        reader, writer = await asyncio.wait_for(opened, timeout)
        conn = cls(reader, writer)
        if parts.password is not None:
            words = [unquote(parts.password)]
            if parts.username:
                words.insert(0, unquote(parts.username))
            conn.command(b"AUTH", *(w.encode() for w in words))
            await asyncio.wait_for(conn.reply(), timeout)
        return conn

    def command(self, *args: bytes) -> None:
        """Write one command (its reply comes in order, through :meth:`reply`)."""
        if self.writer.transport.get_write_buffer_size() > MAX_BUFFERED:
            raise RespError("Redis reads too slowly: the connection is given up")
        parts: list[bytes] = [b"*%d\r\n" % len(args)]
        for arg in args:
            parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
        self.writer.writelines(parts)

    async def reply(self) -> Any:
        """The next reply: bytes, an int, a list, or None; an error reply raises."""
        line = await self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise RespError("the connection to Redis closed")
        kind, body = line[:1], line[1:-2]
        if kind == b"$":
            size = int(body)
            return None if size < 0 else (await self.reader.readexactly(size + 2))[:-2]
        if kind == b":":
            return int(body)
        if kind == b"+":
            return body
        if kind == b"*":
            count = int(body)
            return None if count < 0 else [await self.reply() for _ in range(count)]
        if kind == b"-":
            raise RespError(body.decode(errors="replace"))
        raise RespError(f"unexpected reply from Redis: {line[:40]!r}")

    def close(self) -> None:
        self.writer.close()
