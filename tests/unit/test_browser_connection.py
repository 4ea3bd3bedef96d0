"""The browser's WebSocket adapter (``browser/connection.py``) on CPython, with the two
browser modules it imports (``js``, ``pyodide.ffi``) stood in for at that boundary."""

from __future__ import annotations

import asyncio
import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from cwmn_web.errors import NetworkError
from tests.helpers.aio import run_on_own_loop, until

CONNECTING, OPEN, CLOSED = 0, 1, 3


class FakeWebSocket:
    """A browser WebSocket that stays CONNECTING until the test says otherwise."""

    made: ClassVar[list[FakeWebSocket]] = []

    def __init__(self, url: str) -> None:
        self.url, self.readyState = url, CONNECTING
        self.closed_with: int | None = None
        #: What the adapter sets (its proxies), called as the browser would.
        self.onopen: Any = None
        self.onmessage: Any = None
        self.onclose: Any = None
        self.onerror: Any = None
        FakeWebSocket.made.append(self)

    @classmethod
    def new(cls, url: str) -> FakeWebSocket:
        return cls(url)

    def close(self, code: int) -> None:
        self.closed_with, self.readyState = code, CLOSED


class Proxy:
    def __init__(self, fn: Any) -> None:
        self.fn, self.destroyed = fn, False

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def destroy(self) -> None:
        self.destroyed = True


@pytest.fixture
def connection(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    js = types.ModuleType("js")
    js.WebSocket = FakeWebSocket  # type: ignore[attr-defined]
    ffi = types.ModuleType("pyodide.ffi")
    ffi.create_proxy = Proxy  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "js", js)
    monkeypatch.setitem(sys.modules, "pyodide", types.ModuleType("pyodide"))
    monkeypatch.setitem(sys.modules, "pyodide.ffi", ffi)
    monkeypatch.delitem(sys.modules, "cwmn_web.browser.connection", raising=False)
    FakeWebSocket.made = []
    yield importlib.import_module("cwmn_web.browser.connection")
    sys.modules.pop("cwmn_web.browser.connection", None)


async def start_opening(connection: types.ModuleType) -> tuple[asyncio.Future[Any], FakeWebSocket]:
    """``BrowserConnection.open`` under way, and the browser socket it made."""
    opening = asyncio.ensure_future(connection.BrowserConnection.open("ws://cwmn.test/ws"))
    await until(lambda: bool(FakeWebSocket.made))
    return opening, FakeWebSocket.made[0]


def test_an_opening_given_up_closes_the_browsers_socket(connection: types.ModuleType) -> None:
    async def body() -> None:
        opening, ws = await start_opening(connection)
        opening.cancel()  # what the driver's connect timeout does
        with pytest.raises(asyncio.CancelledError):
            await opening
        assert ws.closed_with == 1000
        ws.onclose(types.SimpleNamespace(code=1000, reason=""))  # the browser's close event
        assert ws.onopen is None and ws.onmessage is None  # its proxies are let go

    run_on_own_loop(body)


def test_a_refused_opening_raises_a_network_error(connection: types.ModuleType) -> None:
    async def body() -> None:
        opening, ws = await start_opening(connection)
        ws.readyState = CLOSED
        ws.onclose(types.SimpleNamespace(code=1006, reason=""))
        with pytest.raises(NetworkError, match=r"could not connect.*code 1006"):
            await opening
        assert ws.closed_with is None  # already closed: nothing more to do

    run_on_own_loop(body)


def test_an_open_socket_is_returned(connection: types.ModuleType) -> None:
    async def body() -> None:
        opening, ws = await start_opening(connection)
        ws.readyState = OPEN
        ws.onopen(None)
        conn = await opening
        assert conn.ws is ws and ws.closed_with is None

    run_on_own_loop(body)
