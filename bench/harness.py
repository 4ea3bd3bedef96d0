"""Shared bench plumbing: the cwmn server in-process (counting bytes sent), page servers,
Chromium, and the main-thread block probe."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import Browser, sync_playwright

from cwmn_web.server.app import create_app
from cwmn_web.server.config import Settings
from cwmn_web.testing import PageServer, free_port, launch_args

PAGES = Path(__file__).parent / "pages"

#: Installed before any page script: long tasks, plus the largest gap between two tasks
#: (a MessageChannel ping-pong), which also sees blocks shorter than the 50 ms long-task bar.
BLOCK_PROBE = """
(() => {
  const b = window.__blocks = { maxGap: 0, longTasks: [], stop: false };
  try {
    new PerformanceObserver((list) => list.getEntries()
      .forEach((e) => b.longTasks.push(e.duration))).observe({ type: 'longtask', buffered: true });
  } catch (e) {}
  let last = performance.now();
  const ch = new MessageChannel();
  ch.port1.onmessage = () => {
    const now = performance.now();
    b.maxGap = Math.max(b.maxGap, now - last);
    last = now;
    if (!b.stop) ch.port2.postMessage(0);
  };
  ch.port2.postMessage(0);
})();
"""


class ByteCounter:
    """ASGI middleware counting response body bytes (what crossed the wire from the server)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bytes = 0
        self.requests = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def counting_send(message: Any) -> None:
            if message["type"] == "http.response.body":
                self.bytes += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                self.requests += 1
            await send(message)

        await self.app(scope, receive, counting_send)

    def reset(self) -> tuple[int, int]:
        out = (self.bytes, self.requests)
        self.bytes = self.requests = 0
        return out


@contextlib.contextmanager
def cwmn_server(
    data_dir: Path, wrap: Callable[[Any], Any] | None = None, **settings: Any
) -> Iterator[tuple[str, ByteCounter]]:
    """The cwmn server in-process; ``wrap``: an ASGI middleware around its app (e.g. a
    simulated network)."""
    app = create_app(Settings(data_dir=data_dir, **settings))
    counter = ByteCounter(wrap(app) if wrap else app)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(counter, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", counter
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def page_server(server_url: str) -> Iterator[PageServer]:
    with PageServer(PAGES, lambda: server_url).running() as site:
        yield site


@dataclass
class Rig:
    """One bench run's parts: the cwmn server (with its byte counter), the page server,
    and Debian's Chromium."""

    url: str
    counter: ByteCounter
    site: PageServer
    browser: Browser


@contextlib.contextmanager
def rig(chromium_args: tuple[str, ...] = (), **settings: Any) -> Iterator[Rig]:
    """``settings``: the cwmn server's (e.g. ``frame_log``); ``chromium_args``: extra flags."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        cwmn_server(Path(tmp), **settings) as (url, counter),
        page_server(url) as site,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(**launch_args("chromium", args=list(chromium_args)))
        try:
            yield Rig(url, counter, site, browser)
        finally:
            browser.close()


def load_average() -> str:
    """The machine's 1-minute load average now: other work on the cores skews every figure."""
    return f"{os.getloadavg()[0]:.1f}"


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": ordered[len(ordered) // 2],
        "min": ordered[0],
        "max": ordered[-1],
    }


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
