"""The page-asset store over real HTTP (the app through TestClient, and raw ASGI where the
byte count matters): SessionStarted.assets, uploads, reads and their headers, tokens,
types, limits, waiting, per-site dedupe, retention."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal
from unittest.mock import ANY
from urllib.parse import urlencode, urlsplit

import pytest

from cwmn_web.protocol.messages import (
    EndSession,
    Hello,
    SessionResumed,
    SessionStarted,
    StartSession,
    Welcome,
)
from cwmn_web.protocol.page_assets import url_key
from cwmn_web.server.app import create_app
from cwmn_web.server.client_key import client_key
from cwmn_web.server.config import Settings
from cwmn_web.server.db import Store
from cwmn_web.server.page_assets.core import AssetLimits, Offer
from cwmn_web.server.page_assets.tokens import READ, UPLOAD, asset_token
from cwmn_web.server.replays.service import purge_expired

from .live import HOST_ORIGIN, SERVER, Host, eventually, host

if TYPE_CHECKING:
    import httpx2 as httpx
    from starlette.testclient import TestClient

    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(60)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
GIF = b"GIF89a" + bytes(32)
CSS = b'body { background: url("0123456789abcdef0123456789abcdef") }'
IMAGE_URL = HOST_ORIGIN + "/private/logo.png"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; sandbox"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Assets:
    """One session's store as its host and its guests use it."""

    def __init__(self, client: TestClient, started: SessionStarted | SessionResumed) -> None:
        self.client, self.info = client, started.assets
        self.session_id = started.session_id

    def report(self, body: dict[str, Any]) -> httpx.Response:
        import json

        return self.client.post(
            self.info["upload"], content=json.dumps(body), headers={"content-type": "text/plain"}
        )

    def offer(self, url: str, data: bytes, kind: str = "file") -> httpx.Response:
        return self.report(
            {"url": url, "key": url_key(url), "kind": kind, "sha256": sha(data), "size": len(data)}
        )

    def send(self, url: str, data: bytes, kind: str = "file", **more: str) -> httpx.Response:
        query = urlencode({"key": url_key(url), "kind": kind, "url": url, **more})
        return self.client.post(
            f"{self.info['upload']}/{more.get('sha', sha(data))}?{query}", content=data
        )

    def put(self, url: str, data: bytes, kind: str = "file") -> None:
        """Upload as the host does: offer, then the bytes if the site lacks them."""
        offered = self.offer(url, data, kind)
        assert offered.status_code == 200, offered.text
        if not offered.json()["have"]:
            sent = self.send(url, data, kind)
            assert sent.status_code == 200 and sent.json() == {"stored": True}, sent.text

    def get(self, url_or_key: str, **headers: str) -> httpx.Response:
        key = url_or_key if "/" not in url_or_key else url_key(url_or_key)
        return self.client.get(self.info["base"] + key, headers=headers)


def start(h: Host, is_replay: bool = False, origin: str = HOST_ORIGIN) -> SessionStarted:
    assert isinstance(h.ask(Hello(ref=1, page_url=origin + "/shop")), Welcome)
    reply = h.ask(StartSession(ref=2, host_name="Ann", is_replay=is_replay, page_id="p1"))
    assert isinstance(reply, SessionStarted), reply
    return reply


@contextmanager
def session(client: TestClient, origin: str = HOST_ORIGIN) -> Iterator[Assets]:
    with host(client, origin) as h:
        yield Assets(client, start(h, origin=origin))


# -- SessionStarted.assets --------------------------------------------------------------------
def test_session_started_carries_the_store(client: TestClient, store: Store) -> None:
    with host(client) as h:
        started = start(h)
    key = client.app.state.invites.key  # type: ignore[attr-defined]
    sid = started.session_id
    assert started.assets == {
        "base": f"{SERVER}/a/{asset_token(key, READ, sid)}/",
        "upload": f"{SERVER}/api/page-assets/{asset_token(key, UPLOAD, sid)}",
        "origins": [],
        "maxBytes": 8 << 20,
        "maxSessionBytes": 128 << 20,
        "maxAssets": 4096,
    }
    read = started.assets["base"].split("/")[-2]
    assert read.startswith(sid + ".") and len(read) == len(sid) + 23
    assert read not in started.assets["upload"]


def test_resume_and_replays_carry_the_same_store(client: TestClient) -> None:
    with host(client) as h:
        started = start(h)
    with host(client) as h:
        assert isinstance(h.ask(Hello(ref=1)), Welcome)
        from cwmn_web.protocol.messages import ResumeSession

        resumed = h.ask(ResumeSession(ref=2, resume_token=started.resume_token, page_id="p2"))
        assert isinstance(resumed, SessionResumed), resumed
    assert resumed.assets == started.assets
    with host(client) as h:
        replay = start(h, is_replay=True)
    assert replay.assets["base"].startswith(f"{SERVER}/a/{replay.session_id}.")


def test_an_accepted_invitation_to_host_carries_the_store(
    live_client: LiveClient, store: Store
) -> None:
    from .test_host_invites import accept, greet, outbox_code, outbox_token, sent

    with live_client() as client, host(client) as ivy, host(client) as hana:
        greet(ivy)
        sent(ivy)
        started = accept(hana, outbox_token(store), outbox_code(store))
        assert started.assets["base"].startswith(f"{SERVER}/a/{started.session_id}.")
        s = Assets(client, started)
        s.put(IMAGE_URL, PNG)
        assert s.get(IMAGE_URL).content == PNG


def test_the_site_settings_turn_the_store_off_or_add_origins(
    client: TestClient, store: Store
) -> None:
    store.update_settings("default", {"assetOrigins": ["https://cdn.example.com"]})
    with host(client) as h:
        assert start(h).assets["origins"] == ["https://cdn.example.com"]
    store.update_settings("default", {"assets": "direct"})
    with host(client) as h:
        assert start(h).assets == {}


def test_no_store_without_a_public_url_to_give(live_client: LiveClient) -> None:
    """In development on a name that is not loopback, no link can be built: assets load
    directly instead of the session failing."""
    with live_client(public_url="", allowed_hosts="testserver") as client, host(client) as h:
        assert start(h).assets == {}


def test_the_limits_come_from_the_settings(live_client: LiveClient) -> None:
    limits = {"max_asset_bytes": 10, "max_session_asset_bytes": 20, "max_session_assets": 3}
    with live_client(**limits) as client, session(client) as s:
        assert (s.info["maxBytes"], s.info["maxSessionBytes"], s.info["maxAssets"]) == (10, 20, 3)


# -- upload then read ---------------------------------------------------------------------------
def test_upload_then_read_with_the_contracts_headers(client: TestClient) -> None:
    with session(client) as s:
        offered = s.offer(IMAGE_URL, PNG)
        assert offered.status_code == 200 and offered.json() == {"have": False}
        assert offered.headers["access-control-allow-origin"] == "*"
        s.put(IMAGE_URL, PNG)
        got = s.get(IMAGE_URL)
        assert got.status_code == 200 and got.content == PNG
        assert got.headers["content-type"] == "image/png"
        assert got.headers["etag"] == f'"{sha(PNG)}"'
        assert got.headers["cache-control"] == "no-cache"
        assert got.headers["access-control-allow-origin"] == "*"
        assert got.headers["cross-origin-resource-policy"] == "cross-origin"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["referrer-policy"] == "no-referrer"
        assert got.headers["content-security-policy"] == CSP
        again = s.get(IMAGE_URL, **{"if-none-match": f'"{sha(PNG)}"'})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == f'"{sha(PNG)}"'


def test_a_stylesheet_is_served_as_css_and_the_fragment_is_not_the_key(
    client: TestClient,
) -> None:
    with session(client) as s:
        s.put(HOST_ORIGIN + "/app.css", CSS, kind="style")
        got = s.get(HOST_ORIGIN + "/app.css#ignored")
        assert got.status_code == 200 and got.content == CSS
        assert got.headers["content-type"] == "text/css; charset=utf-8"


def test_the_last_upload_for_a_key_wins(client: TestClient) -> None:
    with session(client) as s:
        s.put(IMAGE_URL, PNG)
        s.put(IMAGE_URL, GIF)
        got = s.get(IMAGE_URL)
        assert (got.content, got.headers["content-type"]) == (GIF, "image/gif")


def test_content_is_stored_once_per_site_and_have_tells_nothing_across_sites(
    client: TestClient, store: Store
) -> None:
    store.add_domain("shop.example.com", "shop")
    with session(client) as first:
        first.put(IMAGE_URL, PNG)
    with session(client) as second:
        other_url = HOST_ORIGIN + "/same/bytes.png"
        assert second.offer(other_url, PNG).json() == {"have": True}
        got = second.get(other_url)
        assert got.status_code == 200 and got.content == PNG
    assert store.page_assets.blob_count() == 1
    with session(client, "https://shop.example.com") as foreign:
        url = "https://shop.example.com/logo.png"
        assert foreign.offer(url, PNG).json() == {"have": False}  # another site's content


def test_a_have_for_a_file_refuses_content_stored_only_as_a_stylesheet(
    client: TestClient,
) -> None:
    with session(client) as s:
        s.put(HOST_ORIGIN + "/a.css", CSS, kind="style")
        refused = s.offer(HOST_ORIGIN + "/a.png", CSS)
        assert refused.status_code == 415 and refused.json()["code"] == "unsupported_type"


# -- refusals, as an attacker sends them ---------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"<!doctype html><html><body><script>alert(1)</script>",
        b"<html><svg></svg></html>",
        b"alert(document.cookie)",
        b"",
    ],
)
def test_anything_but_an_image_or_font_is_refused(client: TestClient, data: bytes) -> None:
    with session(client) as s:
        sent = s.send(IMAGE_URL, data)
        assert sent.status_code == 415 and sent.json()["code"] == "unsupported_type"
        assert sent.headers["access-control-allow-origin"] == "*"
        assert s.client.app.state.store.page_assets.totals(s.session_id).count == 0  # type: ignore[attr-defined]


def test_an_svg_is_served_as_svg_under_the_sandbox(client: TestClient) -> None:
    svg = b'<?xml version="1.0"?>\n<!-- icons --><svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>'
    with session(client) as s:
        s.put(HOST_ORIGIN + "/sprite.svg", svg)
        got = s.get(HOST_ORIGIN + "/sprite.svg")
        assert got.headers["content-type"] == "image/svg+xml"
        assert got.headers["content-security-policy"] == CSP


@pytest.mark.parametrize(
    ("change", "code", "status"),
    [
        ({"key": "0" * 32}, "bad_asset", 400),
        ({"sha256": "F" * 64}, "bad_asset", 400),
        ({"size": -1}, "bad_asset", 400),
        ({"size": True}, "bad_asset", 400),
        ({"kind": "script"}, "bad_asset", 400),
        ({"url": "javascript:alert(1)"}, "bad_asset", 400),
        ({"size": (8 << 20) + 1}, "asset_too_large", 413),
    ],
)
def test_bad_offers(client: TestClient, change: dict[str, Any], code: str, status: int) -> None:
    with session(client) as s:
        body: dict[str, Any] = {"url": IMAGE_URL, "key": url_key(IMAGE_URL), "kind": "file"}
        body |= {"sha256": sha(PNG), "size": len(PNG), **change}
        if "url" in change:
            body["key"] = url_key(change["url"])
        answer = s.report(body)
        assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
        assert answer.json()["message"]


def test_not_json_is_a_bad_asset(client: TestClient) -> None:
    with session(client) as s:
        for body in (b"{", b"[]", b"\xff", b"x" * 20000):
            answer = client.post(s.info["upload"], content=body)
            assert (answer.status_code, answer.json()["code"]) == (400, "bad_asset")


def test_bytes_that_do_not_hash_to_the_path_are_refused(client: TestClient) -> None:
    with session(client) as s:
        sent = s.send(IMAGE_URL, PNG, sha=sha(GIF))
        assert (sent.status_code, sent.json()["code"]) == (400, "bad_asset")
        wrong_key = client.post(
            f"{s.info['upload']}/{sha(PNG)}?"
            + urlencode({"key": "a" * 32, "kind": "file", "url": IMAGE_URL}),
            content=PNG,
        )
        assert (wrong_key.status_code, wrong_key.json()["code"]) == (400, "bad_asset")


def forged(token_url: str, session_id: str) -> list[str]:
    """Tokens an attacker tries: a wrong mac, none, another purpose's, another session's."""
    mac = token_url.rstrip("/").rsplit("/", 1)[1].split(".", 1)[1]
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    return [
        f"{session_id}.{flipped}",
        session_id,
        f"{session_id}.",
        f"{session_id}x.{mac}",
        f".{mac}",
    ]


def test_forged_tokens_are_not_found(client: TestClient) -> None:
    with session(client) as s:
        s.put(IMAGE_URL, PNG)
        read = s.info["base"].rstrip("/").rsplit("/", 1)[1]
        upload = s.info["upload"].rsplit("/", 1)[1]
        key = url_key(IMAGE_URL)
        for token in [*forged(s.info["upload"], s.session_id), upload]:
            assert client.get(f"/a/{token}/{key}").status_code == 404  # no upload token reads
        for token in [*forged(s.info["upload"], s.session_id), read]:
            answer = client.post(f"/api/page-assets/{token}", content=b"{}")
            assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
            sent = client.post(f"/api/page-assets/{token}/{sha(PNG)}", content=PNG)
            assert sent.status_code == 404


def test_a_token_of_a_session_that_does_not_exist(client: TestClient) -> None:
    key = client.app.state.invites.key  # type: ignore[attr-defined]
    token = asset_token(key, READ, "no-such-session")
    assert client.get(f"/a/{token}/{'0' * 32}").status_code == 404
    upload = asset_token(key, UPLOAD, "no-such-session")
    assert client.post(f"/api/page-assets/{upload}", content=b"{}").status_code == 404


def test_an_ended_live_sessions_store_is_gone(client: TestClient) -> None:
    with host(client) as h:
        s = Assets(client, start(h))
        s.put(IMAGE_URL, PNG)
        h.ask(EndSession(ref=3))
    assert s.get(IMAGE_URL).status_code == 404
    assert s.offer(IMAGE_URL, PNG).status_code == 404


def test_a_body_larger_than_announced_is_cut_off(live_client: LiveClient) -> None:
    with live_client(max_asset_bytes=100) as client, session(client) as s:
        big = PNG + bytes(100)
        assert s.offer(IMAGE_URL, big).json()["code"] == "asset_too_large"
        sent = s.send(IMAGE_URL, big)
        assert (sent.status_code, sent.json()["code"]) == (413, "asset_too_large")


def test_an_endless_body_is_read_no_further_than_the_limit(
    settings: Settings, store: Store, build_id: str
) -> None:
    """Raw ASGI: a body without Content-Length that never ends; the route stops asking for
    chunks once it has more than the limit (it never reads more than the limit + 1 chunk)."""
    limit, chunk = 1000, 64
    app = create_app(Settings(**{**settings.__dict__, "max_asset_bytes": limit}), store)
    record = store.create_session(1, "Ann", "", False, HOST_ORIGIN, HOST_ORIGIN + "/")
    token = asset_token(app.state.invites.key, UPLOAD, record.id)
    pulled = 0
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"\x89PNG" * (chunk // 4), "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    query = urlencode({"key": url_key(IMAGE_URL), "kind": "file", "url": IMAGE_URL})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/api/page-assets/{token}/{'0' * 64}",
        "raw_path": f"/api/page-assets/{token}/{'0' * 64}".encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "root_path": "",
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert b"asset_too_large" in sent[1]["body"]
    assert pulled * chunk <= limit + chunk


# -- a session's limits -----------------------------------------------------------------------
def test_a_sessions_count_of_urls_is_bounded(live_client: LiveClient) -> None:
    with live_client(max_session_assets=2) as client, session(client) as s:
        s.put(HOST_ORIGIN + "/1.png", PNG)
        assert fail(s, HOST_ORIGIN + "/2.png").json() == {"failed": True}  # not counted
        s.put(HOST_ORIGIN + "/1.png", GIF)  # the same URL again counts once
        s.put(HOST_ORIGIN + "/3.png", PNG)
        fourth = s.offer(HOST_ORIGIN + "/4.png", PNG)
        assert (fourth.status_code, fourth.json()["code"]) == (413, "session_assets_full")
        sent = s.send(HOST_ORIGIN + "/4.png", GIF)
        assert (sent.status_code, sent.json()["code"]) == (413, "session_assets_full")
        assert s.get(HOST_ORIGIN + "/1.png").content == GIF


def fail(s: Assets, url: str, reason: str = "http 403") -> httpx.Response:
    return s.report({"url": url, "key": url_key(url), "failed": reason})


def test_a_failure_is_recorded_when_the_session_is_full(live_client: LiveClient) -> None:
    """Guests are not left waiting for keys the host gave up because it hit the limit."""
    with live_client(max_session_assets=1, asset_wait_seconds=30) as client, session(client) as s:
        s.put(HOST_ORIGIN + "/1.png", PNG)
        full = s.offer(HOST_ORIGIN + "/2.png", PNG)
        assert (full.status_code, full.json()["code"]) == (413, "session_assets_full")
        answer = fail(s, HOST_ORIGIN + "/2.png", "session_assets_full (HTTP 413)")
        assert (answer.status_code, answer.json()) == (200, {"failed": True})
        began = time.monotonic()
        got = client.get(
            s.info["base"] + url_key(HOST_ORIGIN + "/2.png"),
            headers={"sec-fetch-dest": "image"},
            follow_redirects=False,
        )
        assert got.status_code == 302 and time.monotonic() - began < 5


def test_failures_have_their_own_cap(live_client: LiveClient) -> None:
    with live_client(max_session_assets=2) as client, session(client) as s:
        for n in (1, 2):
            assert fail(s, f"{HOST_ORIGIN}/{n}.png").status_code == 200
        assert fail(s, HOST_ORIGIN + "/1.png").status_code == 200  # the same key again
        third = fail(s, HOST_ORIGIN + "/3.png")
        assert (third.status_code, third.json()["code"]) == (413, "session_assets_full")
        s.put(HOST_ORIGIN + "/4.png", PNG)  # content still has its room
        s.put(HOST_ORIGIN + "/1.png", PNG)  # content replaces a failure


def test_a_failure_does_not_replace_content_the_key_has(client: TestClient) -> None:
    """A transient error on page 2 must not break page 1's stylesheet for new guests."""
    with session(client) as s:
        url = HOST_ORIGIN + "/site.css"
        s.put(url, CSS, kind="style")
        assert fail(s, url, "network").json() == {"failed": False}
        got = s.get(url)
        assert got.status_code == 200 and got.content == CSS
        assert client.app.state.store.page_assets.totals(s.session_id).count == 1  # type: ignore[attr-defined]


def test_a_sessions_bytes_are_bounded(live_client: LiveClient) -> None:
    total = len(PNG) + len(GIF)
    with live_client(max_session_asset_bytes=total) as client, session(client) as s:
        s.put(HOST_ORIGIN + "/1.png", PNG)
        s.put(HOST_ORIGIN + "/2.gif", GIF)
        over = s.send(HOST_ORIGIN + "/3.gif", GIF + b"\x00")
        assert (over.status_code, over.json()["code"]) == (413, "session_assets_full")
        # content the site has counts too: a "have" cannot map past the total
        have = s.offer(HOST_ORIGIN + "/4.png", PNG)
        assert (have.status_code, have.json()["code"]) == (413, "session_assets_full")
        s.put(HOST_ORIGIN + "/1.png", GIF)  # replacing frees the old size
        assert s.get(HOST_ORIGIN + "/1.png").content == GIF


def test_a_sites_stored_bytes_are_bounded(live_client: LiveClient, store: Store) -> None:
    store.add_domain("shop.example.com", "shop")
    with live_client(max_site_asset_bytes=len(PNG) + len(GIF)) as client:
        with session(client) as s:
            s.put(HOST_ORIGIN + "/1.png", PNG)
            s.put(HOST_ORIGIN + "/2.gif", GIF)
            over = s.send(HOST_ORIGIN + "/3.gif", GIF + b"\x00")
            assert (over.status_code, over.json()["code"]) == (413, "site_assets_full")
            assert "CWMN_MAX_SITE_ASSET_BYTES" in over.json()["message"]
            assert store.page_assets.totals(s.session_id).count == 2  # nothing recorded
        with session(client) as again:  # content the site has still maps
            again.put(HOST_ORIGIN + "/again.png", PNG)
            assert again.get(HOST_ORIGIN + "/again.png").content == PNG
        with session(client, "https://shop.example.com") as other:  # another site's room
            other.put("https://shop.example.com/logo.png", PNG)
    assert store.page_assets.blob_count() == 3


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (in the event loop) until ``check()`` holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


class Counting(asyncio.Semaphore):
    """The upload semaphore, counting the uploads waiting for their turn."""

    waiting = 0

    async def acquire(self) -> Literal[True]:
        self.waiting += 1
        try:
            return await super().acquire()
        finally:
            self.waiting -= 1


def test_uploads_read_at_once_are_bounded(settings: Settings, store: Store, build_id: str) -> None:
    """Raw ASGI: while one upload's body is arriving, a second upload past the bound does
    not read a byte; it goes on when the first is done."""
    app = create_app(settings, store)
    routes = app.state.page_assets
    record = store.create_session(1, "Ann", "", False, HOST_ORIGIN, HOST_ORIGIN + "/")
    token = asset_token(app.state.invites.key, UPLOAD, record.id)

    def scope(url: str, data: bytes) -> dict[str, Any]:
        path = f"/api/page-assets/{token}/{sha(data)}"
        query = urlencode({"key": url_key(url), "kind": "file", "url": url})
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
            "root_path": "",
        }

    async def run() -> tuple[list[int], int]:
        routes.uploads = counting = Counting(1)
        gate = asyncio.Event()
        first_pulls, second_pulls = [0], [0]
        statuses: list[int] = []

        async def first_receive() -> dict[str, Any]:
            first_pulls[0] += 1
            if first_pulls[0] == 1:
                return {"type": "http.request", "body": PNG[:10], "more_body": True}
            await gate.wait()
            return {"type": "http.request", "body": PNG[10:], "more_body": False}

        async def second_receive() -> dict[str, Any]:
            second_pulls[0] += 1
            return {"type": "http.request", "body": GIF, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        first = asyncio.create_task(app(scope(IMAGE_URL, PNG), first_receive, send))
        await until(lambda: first_pulls[0] == 2)  # the first holds the turn, half its body in
        second = asyncio.create_task(app(scope(HOST_ORIGIN + "/b.gif", GIF), second_receive, send))
        await until(lambda: counting.waiting == 1)
        pulled_while_waiting = second_pulls[0]
        gate.set()
        await asyncio.wait_for(asyncio.gather(first, second), 10)
        return statuses, pulled_while_waiting

    statuses, pulled_while_waiting = asyncio.run(run())
    assert pulled_while_waiting == 0
    assert statuses == [200, 200]
    assert store.page_assets.totals(record.id).count == 2


# -- reading: failures, waiting ---------------------------------------------------------------
def test_a_failure_redirects_to_the_url_at_once(live_client: LiveClient) -> None:
    """The host could not fetch it; a guest that can load it directly still does."""
    with live_client(asset_wait_seconds=30) as client, session(client) as s:
        url = HOST_ORIGIN + "/gone.png?v=1#part"
        answer = fail(s, url, "http 404")
        assert (answer.status_code, answer.json()) == (200, {"failed": True})
        began = time.monotonic()
        image = {"sec-fetch-dest": "image"}
        got = client.get(s.info["base"] + url_key(url), headers=image, follow_redirects=False)
        assert time.monotonic() - began < 5
        assert got.status_code == 302 and got.headers["location"] == url
        assert got.headers["referrer-policy"] == "no-referrer"
        assert got.headers["access-control-allow-origin"] == "*"
        assert got.headers["cache-control"] == "no-store"
        assert got.content == b""
        # A link to it (a page opened from a mail, a frame) is no open redirect.
        for page in ({"sec-fetch-dest": "document"}, {}):
            opened = client.get(s.info["base"] + url_key(url), headers=page, follow_redirects=False)
            assert opened.status_code == 404, page


def test_a_failure_report_with_control_characters_is_refused(live_client: LiveClient) -> None:
    with live_client() as client, session(client) as s:
        answer = fail(s, HOST_ORIGIN + "/a.png\r\nSet-Cookie: x=1")
        assert (answer.status_code, answer.json()["code"]) == (400, "bad_asset")


def test_one_client_cannot_hold_every_upload(live_client: LiveClient) -> None:
    """A client trickling bodies holds at most MAX_UPLOADS_PER_CLIENT of the process's
    upload slots: its next upload is refused at once, another client's goes on."""
    with live_client() as client, session(client) as s:
        routes = client.app.state.page_assets  # type: ignore[attr-defined]
        me = client_key("testclient", routes.ipv6_prefix)  # Starlette's test client
        routes.uploading[me] = routes.max_uploads_per_client  # as if trickling that many
        refused = s.send(HOST_ORIGIN + "/x.png", PNG)
        assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
        routes.uploading[me] = routes.max_uploads_per_client - 1
        assert s.send(HOST_ORIGIN + "/x.png", PNG).status_code == 200
        assert routes.uploading == {me: routes.max_uploads_per_client - 1}  # its own released


def test_a_read_waits_for_the_upload(live_client: LiveClient) -> None:
    with live_client(asset_wait_seconds=30) as client, session(client) as s:
        waiters = client.app.state.page_assets.waiters  # type: ignore[attr-defined]
        got: list[httpx.Response] = []
        reader = threading.Thread(target=lambda: got.append(s.get(IMAGE_URL)))
        reader.start()
        eventually(lambda: len(waiters) == 1)
        s.put(IMAGE_URL, PNG)
        reader.join(10)
        assert got[0].status_code == 200 and got[0].content == PNG


def test_a_read_sees_an_upload_another_process_recorded(
    live_client: LiveClient, store: Store
) -> None:
    """The upload goes to the database directly (as another server process records it):
    no in-process wake-up, the waiting read finds it by polling."""
    with live_client(asset_wait_seconds=30) as client, session(client) as s:
        waiters = client.app.state.page_assets.waiters  # type: ignore[attr-defined]
        got: list[httpx.Response] = []
        reader = threading.Thread(target=lambda: got.append(s.get(IMAGE_URL)))
        reader.start()
        eventually(lambda: len(waiters) == 1)
        offer = Offer(IMAGE_URL, url_key(IMAGE_URL), "file", sha(PNG), len(PNG))
        store.page_assets.store(1, s.session_id, offer, PNG, "image/png", AssetLimits())
        reader.join(10)
        assert got[0].status_code == 200 and got[0].content == PNG


def test_reads_waiting_at_once_are_bounded(live_client: LiveClient) -> None:
    with live_client(asset_wait_seconds=30) as client, session(client) as s:
        routes = client.app.state.page_assets  # type: ignore[attr-defined]
        routes.max_waiting = 1
        got: list[httpx.Response] = []
        reader = threading.Thread(target=lambda: got.append(s.get(IMAGE_URL)))
        reader.start()
        eventually(lambda: len(routes.waiters) == 1)
        began = time.monotonic()
        assert s.get(HOST_ORIGIN + "/other.png").status_code == 404  # no room: at once
        assert time.monotonic() - began < 5
        s.put(IMAGE_URL, PNG)
        reader.join(10)
        assert got[0].status_code == 200


async def asgi(
    app: Any, path: str, client: str, body: bytes = b"", query: str = ""
) -> tuple[int, bytes]:
    """One raw ASGI request (GET, or POST with ``body``) from the address ``client``."""
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST" if body else "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver")],
        "client": (client, 40000),
        "server": ("testserver", 80),
        "root_path": "",
    }
    await app(scope, receive, send)
    return answer["status"], answer["body"]


class Attack:
    """Two sessions of one site and their stores, read over raw ASGI from any address."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.app = create_app(Settings(**{**settings.__dict__, "asset_wait_seconds": 30}), store)
        self.routes = self.app.state.page_assets
        key = self.app.state.invites.key
        self.sessions = [
            store.create_session(1, name, "", False, HOST_ORIGIN, HOST_ORIGIN + "/").id
            for name in ("Ann", "Bob")
        ]
        self.read = {sid: asset_token(key, READ, sid) for sid in self.sessions}
        self.upload = {sid: asset_token(key, UPLOAD, sid) for sid in self.sessions}

    def get(self, sid: str, name: str, client: str) -> asyncio.Task[tuple[int, bytes]]:
        url = f"{HOST_ORIGIN}/{name}.png"
        path = f"/a/{self.read[sid]}/{url_key(url)}"
        return asyncio.create_task(asgi(self.app, path, client))

    async def put(self, sid: str, name: str) -> None:
        url = f"{HOST_ORIGIN}/{name}.png"
        query = urlencode({"key": url_key(url), "kind": "file", "url": url})
        path = f"/api/page-assets/{self.upload[sid]}/{sha(PNG)}"
        assert (await asgi(self.app, path, "10.0.0.9", PNG, query))[0] == 200


def test_one_session_cannot_take_every_place_to_wait(settings: Settings, store: Store) -> None:
    """Many waiting reads of one session's keys (from several addresses): that session's
    next read answers at once, another session's read still waits for its upload."""
    attack = Attack(settings, store)
    attack.routes.max_waiting_per_session = 3
    ann, bob = attack.sessions

    async def run() -> None:
        flood = [attack.get(ann, f"r{n}", f"10.0.1.{n}") for n in range(3)]
        await until(lambda: len(attack.routes.waiters) == 3)
        assert await asyncio.wait_for(attack.get(ann, "r9", "10.0.1.9"), 5) == (404, ANY)
        waiting = attack.get(bob, "logo", "10.0.2.1")
        await until(lambda: len(attack.routes.waiters) == 4)
        await attack.put(bob, "logo")
        assert await asyncio.wait_for(waiting, 5) == (200, PNG)
        for read in flood:
            read.cancel()

    asyncio.run(run())


def test_one_client_cannot_take_every_place_to_wait(settings: Settings, store: Store) -> None:
    """Many waiting reads from one client (IPv6 addresses of one /64 count as one): its
    next read answers at once, another client's read of the same session still waits."""
    attack = Attack(settings, store)
    attack.routes.max_waiting_per_client = 3
    ann, bob = attack.sessions

    async def run() -> None:
        flood = [attack.get(ann, f"r{n}", f"2001:db8::{n + 1}") for n in range(2)]
        flood.append(attack.get(bob, "r2", "2001:db8::ffff"))
        await until(lambda: len(attack.routes.waiters) == 3)
        assert await asyncio.wait_for(attack.get(bob, "r9", "2001:db8::abc"), 5) == (404, ANY)
        waiting = attack.get(ann, "logo", "10.0.2.1")
        await until(lambda: len(attack.routes.waiters) == 4)
        await attack.put(ann, "logo")
        assert await asyncio.wait_for(waiting, 5) == (200, PNG)
        for read in flood:
            read.cancel()

    asyncio.run(run())


def test_the_places_to_wait_have_safe_defaults(client: TestClient) -> None:
    routes = client.app.state.page_assets  # type: ignore[attr-defined]
    assert (routes.max_waiting, routes.max_waiting_per_session) == (1024, 512)
    assert routes.max_waiting_per_client == 128


def test_a_read_waits_no_longer_than_the_setting(live_client: LiveClient) -> None:
    with live_client(asset_wait_seconds=0.3) as client, session(client) as s:
        began = time.monotonic()
        got = s.get(HOST_ORIGIN + "/never.png")
        waited = time.monotonic() - began
        assert got.status_code == 404 and 0.3 <= waited < 5
        assert s.get("not-a-key").status_code == 404


def test_a_failing_database_is_a_server_error_the_host_can_read(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*args: object) -> None:
        raise RuntimeError("database is locked")

    with session(client) as s:
        monkeypatch.setattr(store.page_assets, "store", locked)
        sent = s.send(IMAGE_URL, PNG)
        assert (sent.status_code, sent.json()["code"]) == (500, "server_error")
        assert sent.headers["access-control-allow-origin"] == "*"


def test_the_routes_answer_cors_preflights(client: TestClient) -> None:
    with session(client) as s:
        answer = client.options(
            s.info["upload"],
            headers={"origin": HOST_ORIGIN, "access-control-request-method": "POST"},
        )
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "POST" in answer.headers["access-control-allow-methods"]


def test_another_host_name_is_refused_before_the_route(client: TestClient) -> None:
    with session(client) as s:
        s.put(IMAGE_URL, PNG)
        path = urlsplit(s.info["base"]).path + url_key(IMAGE_URL)
        assert client.get(path).status_code == 200
        assert client.get(path, headers={"host": "evil.example"}).status_code == 400


# -- retention ----------------------------------------------------------------------------------
def test_retention_follows_sessions_and_replays(
    client: TestClient, settings: Settings, store: Store
) -> None:
    with host(client) as h:
        live = Assets(client, start(h))
        live.put(IMAGE_URL, PNG)
        h.ask(EndSession(ref=3))
    with host(client) as h:
        replay = Assets(client, start(h, is_replay=True))
        replay.put(HOST_ORIGIN + "/r.gif", GIF)
        replay.put(HOST_ORIGIN + "/same.png", PNG)
        h.ask(EndSession(ref=3))
    with session(client) as running:
        running.put(HOST_ORIGIN + "/run.css", CSS, kind="style")
        assert store.page_assets.blob_count() == 3
        purge_expired(settings, store)
        # the ended live session's mapping is gone; its content stays (the replay uses it)
        assert store.page_assets.totals(live.session_id).count == 0
        assert store.page_assets.totals(replay.session_id).count == 2
        assert replay.get(HOST_ORIGIN + "/r.gif").content == GIF  # the renderer still reads
        assert store.page_assets.blob_count() == 3
        # the replay's retention passes: its mappings go, then the content no one uses
        store.replays.delete(replay.session_id)
        assert replay.get(HOST_ORIGIN + "/r.gif").status_code == 404
        purge_expired(settings, store)
        assert store.page_assets.totals(replay.session_id).count == 0
        assert store.page_assets.blob_count() == 1
        assert running.get(HOST_ORIGIN + "/run.css").content == CSS


def test_an_abandoned_replays_assets_go(
    client: TestClient, settings: Settings, store: Store
) -> None:
    with host(client) as h:
        replay = Assets(client, start(h, is_replay=True))
        replay.put(IMAGE_URL, PNG)
        h.ask(EndSession(ref=3))
    assert replay.get(IMAGE_URL).status_code == 200
    store.replays.abandon(replay.session_id)
    assert replay.get(IMAGE_URL).status_code == 404
    purge_expired(settings, store)
    assert store.page_assets.totals(replay.session_id).count == 0
    assert store.page_assets.blob_count() == 0


def test_a_session_never_marked_ended_is_purged_after_its_maximum_length(
    client: TestClient, settings: Settings, store: Store
) -> None:
    with session(client) as s:
        s.put(IMAGE_URL, PNG)
    purge_expired(settings, store, now=time.time() + settings.max_session_seconds + 1)
    assert store.page_assets.totals(s.session_id).count == 0
    assert store.page_assets.blob_count() == 0


def test_the_server_purges_the_assets_of_ended_sessions_itself(
    live_client: LiveClient, store: Store
) -> None:
    """``cwmn-web serve`` alone (no render worker, no ``replays purge``): the ended
    session's mapping and its content go; a running session's stay."""
    with live_client(asset_purge_seconds=0.05) as client:
        with host(client) as h:
            ended = Assets(client, start(h))
            ended.put(IMAGE_URL, PNG)
            h.ask(EndSession(ref=3))
        with session(client) as running:
            running.put(HOST_ORIGIN + "/run.gif", GIF)
            eventually(lambda: store.page_assets.totals(ended.session_id).count == 0)
            eventually(lambda: store.page_assets.blob_count() == 1)
            assert running.get(HOST_ORIGIN + "/run.gif").content == GIF


def test_a_failing_purge_is_logged_and_tried_again(
    live_client: LiveClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []

    def failing(stale_before: float) -> tuple[int, int]:
        calls.append(stale_before)
        raise RuntimeError("database is locked")

    monkeypatch.setattr(store.page_assets, "purge", failing)
    with live_client(asset_purge_seconds=0.02) as client, session(client) as s:
        eventually(lambda: len(calls) >= 2)
        s.put(IMAGE_URL, PNG)  # the server still answers
