"""A request/answer link to the server over one WebSocket: refs, replies, server pushes.

Takes a :class:`~cwmn_web.client.ports.Connection`; does no I/O of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import replace

from ..errors import CwmnError, NetworkError, ProtocolError
from ..protocol import codec
from ..protocol.messages import ErrorReply, Hello, Message, Welcome
from .ports import Connection

__all__ = ["Link"]

REQUEST_TIMEOUT = 15.0


class Link:
    """Sends requests with fresh refs and resolves them with the server's answers.

    Messages with ``ref == 0`` are pushes and go to ``on_push``; losing the connection calls
    ``on_lost`` once (unless :meth:`close` was called first).
    """

    def __init__(
        self,
        conn: Connection,
        on_push: Callable[[Message], None],
        on_lost: Callable[[CwmnError], None],
    ) -> None:
        self._conn = conn
        self._on_push = on_push
        self._on_lost = on_lost
        self.server_time = 0.0
        """The server's clock (seconds) when it welcomed this link."""
        self._next_ref = 1
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._closing = False
        self._reader: asyncio.Task[None] | None = None

    async def open(self, page_url: str) -> Welcome:
        """Start reading and do the hello/welcome handshake."""
        self._reader = asyncio.ensure_future(self._read())
        reply = await self.request(Hello(page_url=page_url))
        if not isinstance(reply, Welcome):
            raise ProtocolError(f"expected welcome, got {reply.type}")
        self.server_time = reply.server_time
        return reply

    async def request(self, message: Message, timeout: float = REQUEST_TIMEOUT) -> Message:
        """Send ``message`` with a fresh ref; return the answer or raise its error."""
        ref = self._next_ref
        self._next_ref += 1
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        try:
            await self._conn.send(codec.encode(_with_ref(message, ref)))
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise CwmnError(
                f"the server did not answer {message.type} in {timeout:g} s", "timeout"
            ) from None
        finally:
            self._pending.pop(ref, None)
        if isinstance(reply, ErrorReply):
            raise CwmnError.from_dict({"code": reply.code, "message": reply.message})
        return reply

    async def send(self, message: Message) -> None:
        """Send ``message`` without waiting for an answer (raises ``NetworkError``)."""
        await self._conn.send(codec.encode(message))

    async def send_text(self, frame: str) -> None:
        """Send an already encoded frame (raises ``NetworkError``)."""
        await self._conn.send(frame)

    @property
    def closed(self) -> bool:
        return self._closing

    async def close(self) -> None:
        self._closing = True
        with contextlib.suppress(CwmnError):
            await self._conn.close()
        if self._reader is not None:
            self._reader.cancel()
        self._fail_pending(NetworkError("the connection was closed"))

    async def _read(self) -> None:
        try:
            while True:
                frame = await self._conn.recv()
                message = codec.decode(frame)
                future = self._pending.get(message.ref)
                if message.ref and future is not None and not future.done():
                    future.set_result(message)
                elif not message.ref:
                    self._on_push(message)
        except CwmnError as exc:
            self._fail_pending(exc)
            if not self._closing:
                self._closing = True
                self._on_lost(exc)

    def _fail_pending(self, exc: CwmnError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)


def _with_ref(message: Message, ref: int) -> Message:
    return replace(message, ref=ref)
