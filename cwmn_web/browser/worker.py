"""The worker side of the page ⇄ worker bridge: feeds the page's messages to the host core.

Messages are JSON strings both ways (see docs/DESIGN.md, "Page ⇄ worker messages").
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]
from pyodide.http import pyfetch  # type: ignore[import-not-found]

from .. import __version__
from ..client.bus import Delivery
from ..client.controller import ClientConfig, HostController
from ..errors import CwmnError, NetworkError
from .connection import BrowserConnection

__all__ = ["WorkerBridge", "start"]

ECHO_TIMEOUT = 2.0
#: The page module (static/<name>.mjs) that handles each overlay op.
_MODULES = {"cursors": "cursors", "ripple": "cursors", "consent": "consent", "record": "recorder"}


class WorkerBridge:
    """Implements the host core's ports with postMessage, fetch and WebSocket."""

    def __init__(self, scope: Any) -> None:
        self.scope = scope
        self.controller: HostController | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._echoes: dict[int, asyncio.Future[None]] = {}
        self._listener = create_proxy(self.on_message)

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

    async def settled(self) -> None:
        """The page echoes ``{op: "echo", id}``: it has handled what was posted before."""
        echo = len(self._echoes) + 1
        while echo in self._echoes:
            echo += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._echoes[echo] = future
        self.post({"op": "echo", "id": echo})
        try:
            await asyncio.wait_for(future, ECHO_TIMEOUT)
        except TimeoutError:
            pass  # a page that does not answer: go on with what is known
        finally:
            self._echoes.pop(echo, None)

    def warn(self, message: str) -> None:
        print(message, file=sys.stderr)

    async def fetch_json(self, url: str) -> dict[str, Any]:
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

    async def connect(self, url: str) -> BrowserConnection:
        return await BrowserConnection.open(url)

    def now(self) -> float:
        return float(js.Date.now()) / 1000.0

    # -- page messages ------------------------------------------------------------------
    def on_message(self, event: Any) -> None:
        try:
            message = json.loads(str(event.data))
            self._dispatch(message)
        except Exception as exc:  # never let one bad message kill the bridge
            print(f"cwmn_web: could not handle a page message: {exc!r}", file=sys.stderr)

    def _dispatch(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "boot":
            config = message["config"]
            self.controller = HostController(
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
                ),
            )
            self._spawn(self.controller.boot())
            return
        controller = self.controller
        if controller is None:
            raise RuntimeError(f"{op!r} before boot")
        if op == "on":
            controller.subscribe(message["event"], message["id"], bool(message.get("once")))
        elif op == "off":
            controller.unsubscribe(message["id"])
        elif op == "echo":
            future = self._echoes.get(int(message.get("id") or 0))
            if future is not None and not future.done():
                future.set_result(None)
        elif op == "mirror":
            controller.on_capture(
                str(message["kind"]),
                message["data"],
                message.get("t"),
                early=bool(message.get("early")),
            )
        elif op == "capture failed":
            controller.on_capture_failed(bool(message.get("early")))
        elif op == "audio":
            controller.on_audio(message)
        elif op == "call":
            self._spawn(
                self._call(
                    controller, message["id"], message["path"], tuple(message.get("args") or ())
                )
            )
        else:
            raise ValueError(f"unknown op {op!r}")

    async def _call(
        self, controller: HostController, call_id: int, path: str, args: tuple[Any, ...]
    ) -> None:
        try:
            value = await controller.call(path, args)
        except CwmnError as exc:
            self.post({"op": "result", "id": call_id, "ok": False, "error": exc.to_dict()})
        except Exception as exc:
            error = {"code": "server_error", "message": f"internal error in {path}: {exc!r}"}
            self.post({"op": "result", "id": call_id, "ok": False, "error": error})
        else:
            self.post({"op": "result", "id": call_id, "ok": True, "value": value})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


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
