"""The worker side of the page ⇄ worker bridge: feeds the page's messages to the host core.

Messages are JSON strings both ways (see docs/DESIGN.md, "Page ⇄ worker messages"). The
host core is sans-I/O: this bridge implements its ports with postMessage and fetch, and a
:class:`~.driver.Driver` runs its sockets.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Hashable
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]
from pyodide.http import pyfetch  # type: ignore[import-not-found]

from .. import __version__
from ..client.bus import Delivery
from ..client.controller import ClientConfig, HostController
from ..errors import CwmnError, NetworkError
from .asset_uploads import AssetUploads
from .connection import BrowserConnection
from .driver import Driver, HostSockets

__all__ = ["WorkerBridge", "start"]
#: The page module (static/<name>.mjs) that handles each overlay op.
_MODULES = {
    "cursors": "cursors",
    "ripple": "cursors",
    "consent": "consent",
    "record": "recorder",
    "hosttoken": "hosttoken",
    # Extensions (docs/control/): remote control, the sharing badge, guests' drawing.
    "control": "control",
    "control ask": "control",
    "badge": "badge",
    "draw": "cursors",
    "draw clear": "cursors",
}


class WorkerBridge:
    """Implements the host core's ports with postMessage, fetch and WebSocket."""

    def __init__(self, scope: Any) -> None:
        self.scope = scope
        self.controller: HostController | None = None
        self.driver: Driver | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener = create_proxy(self.on_message)
        self.uploads = AssetUploads(lambda counters: self.post({"op": "assets", **counters}))

    # -- Ports --------------------------------------------------------------------------
    def post(self, message: dict[str, Any]) -> None:
        self.scope.postMessage(json.dumps(message, separators=(",", ":")))

    def deliver(self, delivery: Delivery, view: dict[str, Any]) -> None:
        self.post(
            {
                "op": "emit",
                "event": delivery.event,
                "args": list(delivery.args),
                "ids": list(delivery.handles),
                "view": view,
            }
        )

    def publish(self, view: dict[str, Any]) -> None:
        self.post({"op": "view", "view": view})

    def capture(self, start: bool, config: dict[str, Any] | None) -> None:
        self.post({"op": "capture", "start": start, "config": config})

    def overlay(self, message: dict[str, Any]) -> None:
        """Page-side modules: the stub imports ``static/<mod>.mjs`` and calls its ``handle``."""
        self.post({**message, "mod": _MODULES[message["op"]]})

    def store(self, key: str, value: dict[str, Any] | None) -> None:
        self.post({"op": "store", "key": key, "value": value})

    def echo(self, echo_id: int) -> None:
        """The page echoes ``{op: "echo", id}``: it has handled what was posted before."""
        self.post({"op": "echo", "id": echo_id})

    def result(self, call_id: Hashable, value: Any = None, error: CwmnError | None = None) -> None:
        if error is not None:
            self.post({"op": "result", "id": call_id, "ok": False, "error": error.to_dict()})
        else:
            self.post({"op": "result", "id": call_id, "ok": True, "value": value})

    def warn(self, message: str) -> None:
        print(message, file=sys.stderr)

    def fetch(self, fetch_id: int, url: str) -> None:
        self._spawn(self._fetch(fetch_id, url))

    async def _fetch(self, fetch_id: int, url: str) -> None:
        result: dict[str, Any] | CwmnError
        try:
            result = await _fetch_json(url)
        except CwmnError as exc:
            result = exc
        except Exception as exc:  # e.g. a body that is not JSON: the core must hear back
            result = NetworkError(f"{url} did not answer JSON: {exc}")
        if self.controller is not None:
            self.controller.fetched(fetch_id, result, time.monotonic())
            self._wake()

    def now(self) -> float:
        return float(js.Date.now()) / 1000.0

    def _wake(self) -> None:
        self.pump_assets()
        if self.driver is not None:
            self.driver.wake()

    def pump_assets(self) -> None:
        """Start fetching what the session's encoder routed (docs/fidelity/host.md)."""
        session = self.controller.session if self.controller is not None else None
        if session is not None:
            self.uploads.pump(session.assets)

    # -- page messages ------------------------------------------------------------------
    def on_message(self, event: Any) -> None:
        try:
            message = json.loads(str(event.data))
            self._dispatch(message, time.monotonic())
        except Exception as exc:  # never let one bad message kill the bridge
            print(f"cwmn_web: could not handle a page message: {exc!r}", file=sys.stderr)
        finally:
            self._wake()

    def _dispatch(self, message: dict[str, Any], now: float) -> None:
        op = message.get("op")
        if op == "boot":
            if self.controller is not None:
                raise RuntimeError("boot received twice")
            config = message["config"]
            host = HostController(
                self,
                ClientConfig(
                    server=config["server"],
                    page_url=config["pageUrl"],
                    features=config.get("features", {}),
                    resume=config.get("resume"),
                    host_invite=_token(config.get("hostInvite")),
                    mask=tuple(config.get("mask") or ()),
                    block=tuple(config.get("block") or ()),
                    early_capture=config.get("earlyCapture"),
                    host_token=_text(config.get("hostToken")),
                    host_token_url=_text(config.get("hostTokenUrl")),
                ),
            )
            self.controller = host
            self.driver = Driver(  # the core keeps its own connect deadline
                _AssetPumping(host, self.pump_assets),
                lambda _name: BrowserConnection.open(host.socket_url()),
                connect_timeout=None,
            )
            self._spawn(self.driver.run())
            self._spawn(self._boot(host))
            return
        controller = self.controller
        if controller is None:
            raise RuntimeError(f"{op!r} before boot")
        if op == "on":
            controller.subscribe(message["event"], message["id"], bool(message.get("once")))
        elif op == "off":
            controller.unsubscribe(message["id"])
        elif op == "echo":
            controller.echoed(int(message.get("id") or 0), now)
        elif op == "mirror":
            controller.on_capture(
                str(message["kind"]),
                message["data"],
                message.get("t"),
                now,
                early=bool(message.get("early")),
            )
        elif op == "host token":
            error = str(message.get("error") or "")
            controller.host_token_fetched(_text(message.get("token")) or None, error, now)
        elif op == "control refused":
            why = str(message.get("message") or "the page refused this input")[:300]
            controller.on_control_refused(_text(message.get("guestId"), 64), why, now)
        elif op == "capture failed":
            controller.on_capture_failed(bool(message.get("early")), now)
        elif op == "audio":
            controller.on_audio(message, now)
        elif op == "call":  # on the loop's turn too: after the boot it may follow
            path, args = message["path"], tuple(message.get("args") or ())
            self._spawn(self._call(controller, message["id"], path, args))
        else:
            raise ValueError(f"unknown op {op!r}")

    async def _boot(self, host: HostController) -> None:
        """Boot on the loop's next turn, as the page's messages sent with ``boot`` (its
        ``on("init")`` listeners) are taken first."""
        host.boot(time.monotonic())
        self._wake()

    async def _call(
        self, host: HostController, call_id: int, path: str, args: tuple[Any, ...]
    ) -> None:
        host.call(call_id, path, args, time.monotonic())
        self._wake()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _AssetPumping(HostSockets):
    """The host core's sockets; what the server's messages made it encode (a session
    resumed with the early capture's frames) starts its asset fetches too."""

    def __init__(self, host: HostController, pump: Any) -> None:
        super().__init__(host)
        self.pump = pump

    def receive(self, name: str, frame: str, now: float) -> None:
        super().receive(name, frame, now)
        self.pump()

    def tick(self, now: float) -> None:
        super().tick(now)
        self.pump()


async def _fetch_json(url: str) -> dict[str, Any]:
    """GET ``url`` with the page's Origin; raise ``NetworkError`` if unreachable."""
    try:
        response = await pyfetch(url, mode="cors", credentials="omit", cache="no-store")
    except Exception as exc:  # a JS TypeError: offline, DNS, CORS
        raise NetworkError(f"could not reach {url}: {exc}") from None
    if not response.ok:
        raise NetworkError(f"{url} answered HTTP {response.status}")
    data = await response.json()
    if not isinstance(data, dict):
        raise NetworkError(f"{url} did not answer a JSON object")
    return data


def _text(value: Any, limit: int = 4096) -> str:
    """A string the page gave (a host token, its URL), or ``""``."""
    return value.strip() if isinstance(value, str) and len(value) <= limit else ""


def _token(value: Any) -> str | None:
    """An invitation token from the page (URL-safe, short), or None."""
    ok = isinstance(value, str) and 0 < len(value) <= 200
    return (
        value
        if ok and value.isascii() and value.replace("-", "").replace("_", "").isalnum()
        else None
    )


def start(scope: Any) -> WorkerBridge:
    """Take over the worker's ``onmessage`` and tell the page Python is ready."""
    bridge = WorkerBridge(scope)
    scope.onmessage = bridge._listener
    bridge.post({"op": "ready", "version": __version__})
    return bridge
