"""cwmn_web.browser.asset_uploads (the host worker's edge of the asset store) on CPython,
the browser's ``fetch``, streams, ``crypto.subtle`` and typed arrays stood in for at the
``js`` boundary. Written as a hostile or broken site would answer: bodies that throw,
responses without ``Content-Length`` that never end, stylesheets that are not CSS."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cwmn_web.client.page_assets import PageAssets, ReportThrottle
from tests.helpers.aio import run_on_own_loop, until

PAGE = "https://app.example.com/index.html"
UPLOAD = "https://cwmn.test/api/page-assets/s1.up"
ASSETS = {"base": "https://cwmn.test/a/s1.mac/", "upload": UPLOAD, "maxBytes": 100}


class U8:
    """A Uint8Array."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = bytearray(data)
        self.byteLength = len(self.data)

    @classmethod
    def new(cls, arg: int | U8) -> U8:
        return cls(bytes(arg) if isinstance(arg, int) else arg.data)

    def set(self, part: U8, offset: int) -> None:
        self.data[offset : offset + part.byteLength] = part.data

    def to_bytes(self) -> bytes:
        return bytes(self.data)


class JsError(Exception):
    """A JsException (pyodide.ffi)."""


@dataclass
class Stream:
    chunks: list[bytes]
    fail_at: int | None = None  # the read that throws (a dropped connection)
    reads: int = 0
    cancelled: bool = False

    def getReader(self) -> Stream:
        return self

    async def read(self) -> Any:
        self.reads += 1
        if self.fail_at == self.reads:
            raise JsError("TypeError: network error")
        if not self.chunks:
            return types.SimpleNamespace(done=True, value=None)
        return types.SimpleNamespace(done=False, value=U8(self.chunks.pop(0)))

    def cancel(self) -> None:  # a promise nobody waits for
        self.cancelled = True


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Stream | None = None
    answer: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    async def json(self) -> Any:
        return types.SimpleNamespace(to_py=lambda: self.answer)

    async def _whole(self) -> bytes:
        """What ``arrayBuffer()``/``text()`` read: the whole body, however long."""
        out = b""
        while self.body is not None:
            chunk = await self.body.read()
            if chunk.done:
                break
            out += chunk.value.to_bytes()
        return out

    async def arrayBuffer(self) -> U8:
        return U8(await self._whole())

    async def text(self) -> str:
        return (await self._whole()).decode()


class Headers(dict[str, str]):
    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass
class Site:
    """The page's origin (``pages``: url → response) and the store (records the posts)."""

    pages: dict[str, Callable[[], Response]]
    posts: list[tuple[str, Any]] = field(default_factory=list)
    digest_fails: bool = False

    async def fetch(self, url: str, options: dict[str, Any]) -> Response:
        if url.startswith(UPLOAD):
            body = options["body"]
            if not isinstance(body, str):
                self.posts.append((url, body.to_bytes()))
                return Response(answer={"stored": True})
            sent = json.loads(body)
            self.posts.append((url, sent))
            return Response(answer={"have": False} if "sha256" in sent else {})
        return self.pages[url]()

    async def digest(self, _alg: str, body: U8) -> U8:
        if self.digest_fails:
            raise JsError("OperationError")
        return U8(hashlib.sha256(body.to_bytes()).digest())


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    found = Site({})
    js = types.ModuleType("js")
    js.fetch = found.fetch  # type: ignore[attr-defined]
    js.Uint8Array = U8  # type: ignore[attr-defined]
    js.Object = types.SimpleNamespace(fromEntries=dict)  # type: ignore[attr-defined]
    js.crypto = types.SimpleNamespace(subtle=types.SimpleNamespace(digest=found.digest))  # type: ignore[attr-defined]
    js.TextEncoder = types.SimpleNamespace(  # type: ignore[attr-defined]
        new=lambda: types.SimpleNamespace(encode=lambda s: U8(s.encode()))
    )
    js.TextDecoder = types.SimpleNamespace(  # type: ignore[attr-defined]
        new=lambda: types.SimpleNamespace(decode=lambda b: b.to_bytes().decode())
    )
    ffi = types.ModuleType("pyodide.ffi")
    ffi.to_js = lambda value, dict_converter=None: value  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "js", js)
    monkeypatch.setitem(sys.modules, "pyodide", types.ModuleType("pyodide"))
    monkeypatch.setitem(sys.modules, "pyodide.ffi", ffi)
    monkeypatch.delitem(sys.modules, "cwmn_web.browser.asset_uploads", raising=False)
    yield found
    sys.modules.pop("cwmn_web.browser.asset_uploads", None)


def ok(body: bytes, ctype: str = "image/png", length: bool = True, **kw: Any) -> Response:
    headers = Headers({"content-type": ctype})
    if length:
        headers["content-length"] = str(len(body))
    return Response(
        headers=headers, body=Stream([body[i : i + 10] for i in range(0, len(body), 10)], **kw)
    )


def run(
    site: Site, urls: dict[str, str], clock: Callable[[], float] | None = None
) -> tuple[PageAssets, list[dict[str, int]]]:
    """Route ``urls`` (url → kind) on a page and let the edge handle them all."""
    uploads = importlib.import_module("cwmn_web.browser.asset_uploads")
    assets = PageAssets(ASSETS, PAGE)
    for url, kind in urls.items():
        assets.route(url, kind)
    reports: list[dict[str, int]] = []

    async def body() -> None:
        edge = uploads.AssetUploads(reports.append, *([clock] if clock else []))
        edge.pump(assets)
        await until(lambda: bool(reports) and reports[-1]["pending"] == 0)

    run_on_own_loop(body)
    return assets, reports


def failures(site: Site) -> dict[str, str]:
    return {
        body["url"]: body["failed"]
        for _, body in site.posts
        if isinstance(body, dict) and "failed" in body
    }


def test_an_asset_is_uploaded(site: Site) -> None:
    site.pages[PAGE[:-10] + "a.png"] = lambda: ok(b"x" * 25)
    _, reports = run(site, {PAGE[:-10] + "a.png": "file"})
    assert reports[-1]["uploaded"] == 1 and reports[-1]["bytesUploaded"] == 25, reports
    assert site.posts[-1][1] == b"x" * 25


IMG, CSS = "https://app.example.com/i.png", "https://app.example.com/s.css"


def test_a_stylesheet_not_served_as_css_is_reported_failed_unread(site: Site) -> None:
    login = ok(b"<form>password</form>", "text/html; charset=utf-8")
    site.pages[CSS] = lambda: login
    site.pages["https://app.example.com/t.css"] = lambda: ok(b"p{color:red}", "text/css")
    _, reports = run(site, {CSS: "style", "https://app.example.com/t.css": "style"})
    assert failures(site) == {CSS: "not a stylesheet (Content-Type text/html)"}
    assert login.body is not None and login.body.cancelled and login.body.reads == 0
    assert reports[-1]["failed"] == 1 and reports[-1]["uploaded"] == 1, reports
    assert b"password" not in b"".join(p for _, p in site.posts if isinstance(p, bytes))


def test_a_body_without_content_length_stops_at_max_bytes(site: Site) -> None:
    endless = ok(b"x" * 100_000, length=False)
    site.pages[IMG] = lambda: endless
    assets, reports = run(site, {IMG: "file"})
    assert failures(site) == {IMG: "larger than 100 bytes"}
    assert endless.body is not None and endless.body.cancelled and endless.body.reads <= 11
    assert reports[-1] == {**reports[-1], "failed": 1, "fetched": 0, "pending": 0}
    assert assets.bytes == 0


def test_a_declared_length_over_max_bytes_is_not_read(site: Site) -> None:
    big = ok(b"x" * 101)
    site.pages[IMG] = lambda: big
    run(site, {IMG: "file"})
    assert failures(site) == {IMG: "larger than 100 bytes"}
    assert big.body is not None and big.body.cancelled and big.body.reads == 0


def test_a_body_that_throws_is_reported_failed(site: Site) -> None:
    site.pages[IMG] = lambda: ok(b"x" * 50, fail_at=2)
    site.pages[CSS] = lambda: ok(b"p{}", "text/css", fail_at=1)
    assets, reports = run(site, {IMG: "file", CSS: "style"})
    found = failures(site)
    assert set(found) == {IMG, CSS} and "network error" in found[IMG], found
    assert reports[-1] == {**reports[-1], "failed": 2, "fetched": 0, "pending": 0}
    assert assets.outcomes == {assets.routed[k].key: "failed" for k in assets.routed}


def test_a_digest_that_throws_is_reported_failed(site: Site) -> None:
    site.digest_fails = True
    site.pages[IMG] = lambda: ok(b"x" * 50)
    _, reports = run(site, {IMG: "file"})
    assert failures(site) == {IMG: "could not be read (OperationError)"}
    assert reports[-1]["failed"] == 1 and reports[-1]["pending"] == 0


def test_counters_are_posted_at_most_every_quarter_second_and_at_the_end(site: Site) -> None:
    urls = {f"https://app.example.com/{i}.png": "file" for i in range(24)}
    for url in urls:
        site.pages[url] = lambda: ok(b"y" * 20)
    _, reports = run(site, urls, clock=lambda: 1000.0)  # all 24 within one instant
    assert len(reports) == 2, reports  # the first at once, then the final one
    assert reports[0]["pending"] > 0
    assert reports[1] == {**reports[1], "routed": 24, "uploaded": 24, "fetched": 24, "pending": 0}


def test_counters_held_back_are_posted_when_the_quarter_second_is_over(site: Site) -> None:
    uploads = importlib.import_module("cwmn_web.browser.asset_uploads")
    assets = PageAssets(ASSETS, PAGE)
    reports: list[dict[str, int]] = []

    async def body() -> None:
        release = asyncio.Event()
        slow = ok(b"z" * 20)

        async def held() -> Response:
            await release.wait()
            return slow

        site.pages[IMG] = lambda: ok(b"x" * 20)
        site.pages[CSS] = lambda: ok(b"p{}", "text/css")
        slow_url = "https://app.example.com/slow.png"
        for url, kind in ((IMG, "file"), (CSS, "style"), (slow_url, "file")):
            assets.route(url, kind)
        fetch = site.fetch

        async def fetch_held(url: str, options: dict[str, Any]) -> Response:
            return await held() if url == slow_url else await fetch(url, options)

        sys.modules["js"].fetch = fetch_held  # type: ignore[attr-defined]
        now = [0.0]
        edge = uploads.AssetUploads(reports.append, lambda: now[0])
        edge.pump(assets)
        await until(lambda: len(reports) == 1)  # the first asset: at once
        await until(lambda: assets.counters["fetched"] == 2)  # the second: held back
        assert len(reports) == 1
        now[0] = 0.3
        await until(lambda: len(reports) == 2)  # posted by the timer, the slow one pending
        assert reports[1] == {**reports[1], "fetched": 2, "pending": 1}
        release.set()
        await until(lambda: len(reports) == 3 and reports[2]["pending"] == 0)
        assert reports[2]["fetched"] == 3

    run_on_own_loop(body)


def test_the_throttle() -> None:
    throttle = ReportThrottle(0.25)
    assert throttle.wait(10.0, final=False) == 0  # the first at once
    assert throttle.wait(10.1, final=False) == pytest.approx(0.15)
    assert throttle.wait(10.2, final=True) == 0  # nothing pending: at once
    assert throttle.wait(10.3, final=False) == pytest.approx(0.15)
    throttle.posted(10.45)  # the delayed post went out
    assert throttle.wait(10.6, final=False) == pytest.approx(0.1)
    assert throttle.wait(10.7, final=False) == 0
