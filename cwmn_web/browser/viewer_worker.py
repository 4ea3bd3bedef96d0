"""The worker side of the guest's page ⇄ worker bridge: runs a GuestSession over a WebSocket.

Messages are JSON strings both ways. Page → worker: ``{op: "boot", config: {server, token,
name}}`` (``name`` empty: the server picks one), then the guest's own pointer: ``{op:
"pointer", x, y, visible}`` and ``{op: "click", x, y}`` (host document coordinates, CSS px),
and the name the guest chose: ``{op: "name", name}``. Extensions: ``{op: "request control"}``,
``{op: "release control"}``, ``{op: "control", input: {kind, x, y, key, text, dx, dy, mods}}``
and ``{op: "draw", stroke, tool, points, done}``. Worker → page: ``ready``, then the session's
ops: ``joined``, ``frame`` (sanitized), ``status``, ``pointer`` and ``click`` (other guests'),
``warning``, ``control``, ``notice`` and ``draw`` (cwmn_web.viewer.session), posted as one
JSON array per turn of the event loop so that the page applies a new page and the note's end
in the same task (never a painted frame between them). The rules live there; this only does I/O.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from .. import __version__
from ..viewer.session import GuestSession, guest_ws_url
from .connection import BrowserConnection
from .driver import Driver, OneSocket

__all__ = ["ViewerBridge", "start"]


class ViewerBridge:
    """Boots one :class:`GuestSession`, runs it with a :class:`Driver` and posts its ops to
    the page."""

    def __init__(self, scope: Any) -> None:
        self.scope = scope
        self.session: GuestSession | None = None
        self.driver: Driver | None = None
        self._task: asyncio.Task[None] | None = None
        self._listener = create_proxy(self.on_message)
        self._batch: list[dict[str, Any]] = []

    def post(self, message: dict[str, Any]) -> None:
        """Send one op to the page on its own."""
        self.scope.postMessage(json.dumps(message, separators=(",", ":")))

    def queue(self, message: dict[str, Any]) -> None:
        """Send a session op with the others queued in this turn of the event loop."""
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._post_batch)
        self._batch.append(message)

    def _post_batch(self) -> None:
        batch, self._batch = self._batch, []
        self.scope.postMessage(json.dumps(batch, separators=(",", ":")))

    def on_message(self, event: Any) -> None:
        try:
            message = json.loads(str(event.data))
            op = message.get("op")
            if op == "boot":
                self.boot(message["config"])
                return
            session, driver = self.session, self.driver
            if session is None or driver is None:  # before boot there is nobody to tell
                return
            if op == "pointer":
                x, y, visible = message.get("x"), message.get("y"), message.get("visible")
                session.pointer(x, y, visible, time.monotonic())
            elif op == "name":
                session.set_name(message.get("name"))
            elif op == "click":
                session.click(message.get("x"), message.get("y"), time.monotonic())
            elif op == "request control":
                session.request_control()
            elif op == "release control":
                session.release_control()
            elif op == "control":
                session.control_input(message.get("input"), time.monotonic())
            elif op == "draw":
                stroke, tool = message.get("stroke"), message.get("tool")
                points, done = message.get("points"), message.get("done")
                session.draw(stroke, tool, points, done, time.monotonic())
            else:
                raise ValueError(f"unknown op {op!r}")
            driver.wake()
        except Exception as exc:  # never let one bad message kill the bridge
            print(f"cwmn_web viewer: could not handle a page message: {exc!r}", file=sys.stderr)

    def boot(self, config: dict[str, Any]) -> None:
        """Start the session (once) against ``config["server"]``."""
        if self.session is not None:
            raise RuntimeError("boot received twice")
        url = guest_ws_url(str(config["server"]), str(config["token"]))
        self.session = GuestSession(str(config["token"]), str(config.get("name") or ""))
        self.driver = Driver(
            OneSocket(self.session, self.queue), lambda _name: BrowserConnection.open(url)
        )
        self._task = asyncio.ensure_future(self.driver.run())


def start(scope: Any) -> ViewerBridge:
    """Take over the worker's ``onmessage`` and tell the page Python is ready."""
    bridge = ViewerBridge(scope)
    scope.onmessage = bridge._listener
    bridge.post({"op": "ready", "version": __version__})
    return bridge
