"""The host worker's edge of the asset store: fetch what the page routed, upload it once.

The core (:class:`~cwmn_web.client.page_assets.PageAssets`) decides at encode time which
URLs go through the store and queues each once. This edge, in the host's worker (never on
the page's main thread), takes the queue and, a few at a time, fetches each URL with the
page's credentials (``credentials: 'include'``, ``cache: 'force-cache'``: usually the HTTP
cache the page filled), hashes it with ``crypto.subtle``, asks the server whether it holds
that content, and uploads only what it lacks (the contract: docs/fidelity/host.md). The
bytes stay in JavaScript; only a stylesheet's text crosses into Python (the core rewrites
its references). Failures are reported, so guests asking for the key are
sent to its URL at once (a 302: they load it directly if they can).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sys
import time
from collections.abc import Callable
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import to_js  # type: ignore[import-not-found]

from ..client.page_assets import (
    AssetFetch,
    PageAssets,
    ReportThrottle,
    check_body,
    failure_body,
    stylesheet_refusal,
    upload_answer,
)
from ..protocol.page_assets import STYLE

__all__ = ["PARALLEL", "AssetUploads"]

#: Assets fetched and uploaded at the same time.
PARALLEL = 4


class AssetFailed(Exception):
    """The asset cannot reach the store; the message is the reason reported."""


class AssetUploads:
    """Runs the queues of the page's :class:`PageAssets`; ``report(counters)`` at most every
    250 ms while assets are pending, and once nothing is (the stub shows them in
    ``CwmnAPI._debug().assets``)."""

    def __init__(
        self,
        report: Callable[[dict[str, int]], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.report = report
        self._clock = clock
        self._throttle = ReportThrottle()
        self._latest: dict[str, int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._waiting: list[tuple[PageAssets, AssetFetch]] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def pump(self, assets: PageAssets | None) -> None:
        """Take what ``assets`` queued, and start fetches while fewer than PARALLEL run."""
        if assets is not None and assets.enabled:
            self._waiting += [(assets, fetch) for fetch in assets.take()]
        while self._running < PARALLEL and self._waiting:
            assets, fetch = self._waiting.pop(0)
            self._running += 1
            task = asyncio.ensure_future(self._one(assets, fetch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _one(self, assets: PageAssets, fetch: AssetFetch) -> None:
        try:
            try:
                outcome, size = await _store(assets, fetch)
            except AssetFailed as exc:
                reason = str(exc)
            except Exception as exc:  # a JsException (a body, a digest), a dropped connection
                reason = f"could not be read ({_message(exc)})"
            else:
                assets.done(fetch.key, outcome, size)
                return
            assets.done(fetch.key, "failed")
            await _report_failure(assets, fetch, reason)
        except Exception as exc:  # a bug here must not stop the other assets
            print(f"cwmn_web: asset {fetch.url}: {exc!r}", file=sys.stderr)
        finally:
            self._running -= 1
            self.pump(assets)  # a stylesheet queued what it refers to
            self._offer({**assets.counters, "pending": len(self._waiting) + self._running})

    def _offer(self, counters: dict[str, int]) -> None:
        """Post ``counters`` now, or the latest ones when the throttle allows."""
        self._latest = counters
        wait = self._throttle.wait(self._clock(), counters["pending"] == 0)
        if wait == 0:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self.report(counters)
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(wait, self._post_latest)

    def _post_latest(self) -> None:
        self._timer = None
        self._throttle.posted(self._clock())
        self.report(self._latest)


async def _store(assets: PageAssets, fetch: AssetFetch) -> tuple[str, int]:
    """Fetch ``fetch`` with the page's credentials and make sure the store has it:
    ``("reused", size)`` or ``("uploaded", size)``."""
    try:
        response = await js.fetch(
            fetch.url, _js({"credentials": "include", "cache": "force-cache", "mode": "cors"})
        )
    except Exception as exc:  # a JS TypeError: offline, DNS, CORS
        raise AssetFailed(f"unreachable ({_message(exc)})") from None
    if not response.ok:
        _cancel(response)
        raise AssetFailed(f"HTTP {response.status}")
    length = response.headers.get("content-length")
    if length is not None and str(length).isdigit() and int(str(length)) > assets.max_bytes:
        _cancel(response)
        raise AssetFailed(f"larger than {assets.max_bytes} bytes")
    if fetch.kind == STYLE:
        refusal = stylesheet_refusal(response.headers.get("content-type"))
        if refusal is not None:
            _cancel(response)
            raise AssetFailed(refusal)
    body = await _read(response, assets.max_bytes)
    if fetch.kind == STYLE:
        text = assets.stylesheet(fetch.url, str(js.TextDecoder.new().decode(body)))
        body = js.TextEncoder.new().encode(text)
    size = int(body.byteLength)
    refusal = assets.admit(fetch.key, size)
    if refusal is not None:
        raise AssetFailed(refusal)
    sha256 = await _sha256(body)
    have = await _post(assets.upload, check_body(fetch, sha256, size))
    if have:
        return "reused", size
    await _post(assets.bytes_url(fetch, sha256), body)
    return "uploaded", size


async def _read(response: Any, limit: int) -> Any:
    """The body of ``response`` as one Uint8Array, read as a stream: past ``limit`` bytes
    (a response without, or with a false, ``Content-Length``) the read stops and fails."""
    stream = response.body
    if stream is None:
        return js.Uint8Array.new(0)
    reader = stream.getReader()
    chunks: list[Any] = []
    total = 0
    while True:
        chunk = await reader.read()
        if chunk.done:
            break
        total += int(chunk.value.byteLength)
        if total > limit:
            with contextlib.suppress(Exception):
                reader.cancel()  # the browser stops loading; nothing to wait for
            raise AssetFailed(f"larger than {limit} bytes")
        chunks.append(chunk.value)
    if len(chunks) == 1:
        return chunks[0]
    body = js.Uint8Array.new(total)
    offset = 0
    for part in chunks:
        body.set(part, offset)
        offset += int(part.byteLength)
    return body


async def _sha256(body: Any) -> str:
    """The hex sha256 of a Uint8Array; with ``crypto.subtle`` (secure contexts) the bytes
    never leave JavaScript, else they are hashed in Python."""
    subtle = getattr(js.crypto, "subtle", None) if hasattr(js, "crypto") else None
    if subtle is None:
        return hashlib.sha256(body.to_bytes()).hexdigest()
    digest = await subtle.digest("SHA-256", body)
    return bytes(js.Uint8Array.new(digest).to_bytes()).hex()


async def _post(url: str, body: Any) -> bool:
    """POST to the upload API (``text/plain``: no preflight): True when the store has the
    content, False when it wants the bytes; raise ``AssetFailed`` on an error answer."""
    options = {
        "method": "POST",
        "body": body,
        "headers": {"Content-Type": "text/plain"},
        "credentials": "omit",
        "mode": "cors",
        "cache": "no-store",
    }
    try:
        response = await js.fetch(url, _js(options))
        status = int(response.status)
        try:
            answer = (await response.json()).to_py()
        except Exception:
            answer = None
    except Exception as exc:
        raise AssetFailed(f"the store is unreachable ({_message(exc)})") from None
    result = upload_answer(status, answer)
    if isinstance(result, str):
        raise AssetFailed(result)
    return result


async def _report_failure(assets: PageAssets, fetch: AssetFetch, reason: str) -> None:
    """Tell the store the asset will not come (guests go to its URL at once)."""
    with contextlib.suppress(Exception):
        await _post(assets.upload, failure_body(fetch, reason))


def _cancel(response: Any) -> None:
    """Drop the body of a response refused before reading it (the browser stops loading)."""
    body = response.body
    if body is not None:
        with contextlib.suppress(Exception):
            body.cancel()


def _js(value: dict[str, Any]) -> Any:
    return to_js(value, dict_converter=js.Object.fromEntries)


def _message(exc: Exception) -> str:
    return str(getattr(exc, "message", "") or exc)[:200]
