"""A browser WebSocket as a :class:`~cwmn_web.browser.driver.Socket`."""

from __future__ import annotations

import asyncio
from typing import Any, Self

from js import WebSocket  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from ..errors import NetworkError

__all__ = ["BrowserConnection"]

_OPEN = 1
_CLOSED = object()


class BrowserConnection:
    """Frames from ``onmessage`` go into a queue; ``close`` destroys every proxy it made."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: Any = WebSocket.new(url)
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_info = ""
        self.close_code: int | None = None
        """The code the server closed the socket with (once closed)."""
        self._proxies = [
            create_proxy(self._on_open),
            create_proxy(self._on_message),
            create_proxy(self._on_close),
            create_proxy(self._on_error),
        ]
        self.ws.onopen, self.ws.onmessage, self.ws.onclose, self.ws.onerror = self._proxies

    @classmethod
    async def open(cls, url: str) -> Self:
        """An open connection to ``url``. One that fails, or whose opening is given up (the
        driver's connect timeout cancels this), lets the browser's socket go."""
        conn = cls(url)
        try:
            await conn.opened
        except BaseException:
            await conn.close()
            raise
        return conn

    def _on_open(self, _event: Any) -> None:
        if not self.opened.done():
            self.opened.set_result(None)

    def _on_message(self, event: Any) -> None:
        self.queue.put_nowait(str(event.data))

    def _on_close(self, event: Any) -> None:
        self.close_code = int(event.code)
        self.close_info = f"code {event.code}" + (f": {event.reason}" if event.reason else "")
        if not self.opened.done():
            self.opened.set_exception(
                NetworkError(f"could not connect to {self.url} ({self.close_info})")
            )
        self.queue.put_nowait(_CLOSED)
        self._release()

    def _on_error(self, _event: Any) -> None:
        # A close event always follows; it carries the details.
        pass

    async def send(self, frame: str) -> None:
        if self.ws.readyState != _OPEN:
            raise NetworkError("the connection to the CWMN server is not open")
        self.ws.send(frame)

    async def recv(self) -> str:
        item = await self.queue.get()
        if item is _CLOSED:
            self.queue.put_nowait(_CLOSED)
            raise NetworkError(f"the connection to the CWMN server closed ({self.close_info})")
        assert isinstance(item, str)
        return item

    async def close(self) -> None:
        if self.ws.readyState <= _OPEN:
            self.ws.close(1000)

    def _release(self) -> None:
        self.ws.onopen = self.ws.onmessage = self.ws.onclose = self.ws.onerror = None
        for proxy in self._proxies:
            proxy.destroy()
        self._proxies = []
