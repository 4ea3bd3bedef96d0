"""A plain round-robin TCP load balancer for tests: what a real one without stickiness does
in front of many ``cwmn-web serve`` processes. Each new connection goes to the next backend
(one that refuses is skipped); bytes are copied both ways until either side closes, and a
backend that dies (a reset) ends its client's connection the same way."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from .servers import free_port

__all__ = ["Balancer"]

_CHUNK = 65536


class Balancer:
    """Listens on ``host:port`` (a free port by default) from a daemon thread between
    ``__enter__`` and ``__exit__``; ``backends``: ``(host, port)`` pairs, tried in turn.

    :attr:`placed` lists the backend index each accepted connection went to, in order."""

    def __init__(
        self,
        backends: Sequence[tuple[str, int]],
        host: str = "127.0.0.1",
        port: int | None = None,
        connect_timeout: float = 2.0,
    ) -> None:
        if not backends:
            raise ValueError("a balancer needs at least one backend")
        self.backends = list(backends)
        self.host, self.port = host, port or free_port(host)
        self.connect_timeout = connect_timeout
        self.placed: list[int] = []
        self._next = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # -- life -------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accepted, self.host, self.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)

    # -- connections ------------------------------------------------------------------------
    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            backend = await self._connect()
            if backend is None:  # every backend refused: like a balancer with none healthy
                return
            index, (b_reader, b_writer) = backend
            self.placed.append(index)
            copies = [
                asyncio.ensure_future(_copy(reader, b_writer)),
                asyncio.ensure_future(_copy(b_reader, writer)),
            ]
            try:  # either side closing (or reset) ends both: no half-open connections
                await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for copy in copies:
                    copy.cancel()
                await asyncio.gather(*copies, return_exceptions=True)
                b_writer.close()
        finally:
            writer.close()
            self._conns.discard(task)

    async def _connect(
        self,
    ) -> tuple[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None:
        """The next backend that accepts a connection (round robin), or None."""
        for _ in range(len(self.backends)):
            index = self._next % len(self.backends)
            self._next += 1
            host, port = self.backends[index]
            try:
                streams = await asyncio.wait_for(
                    asyncio.open_connection(host, port), self.connect_timeout
                )
            except (OSError, TimeoutError):
                continue
            return index, streams
        return None


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Bytes from ``source`` to ``sink`` until ``source`` ends (or either breaks)."""
    with contextlib.suppress(OSError):
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
