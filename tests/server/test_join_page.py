"""cwmn_web.server.join_page: GET /join/{token} — the viewer page or why not."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from starlette.testclient import TestClient

from cwmn_web.server.app import create_app
from cwmn_web.server.config import Settings
from cwmn_web.server.db import EndReason
from cwmn_web.server.join_page import VIEWER_CSP

from .conftest import DIST
from .live import guest, host

if TYPE_CHECKING:
    import httpx2 as httpx

    from cwmn_web.server.db import Store

    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(30)

EXPECTED_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval' blob:; "
    "worker-src 'self' blob:; connect-src 'self' ws: wss:; img-src * data: blob:; "
    "style-src * 'unsafe-inline'; font-src * data:; media-src *; frame-src 'self' about: blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'"
)


def new_link(store: Store, ttl: float = 3600, now: float | None = None) -> str:
    record = store.create_session(1, "Ann", "ann@example.com", False, "o", "p")
    return store.create_link(record.id, ttl, now=now).token


def get(client: TestClient, token: str, device: str | None = None) -> httpx.Response:
    client.cookies.clear()
    headers = {"cookie": f"cwmn_device={device}"} if device else {}
    return client.get(f"/join/{token}", headers=headers)


def assert_message_page(response: httpx.Response, status: int, sentence: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert sentence in response.text
    assert "Traceback" not in response.text
    assert "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src" not in response.headers["content-security-policy"]


def test_a_valid_link_serves_the_viewer(
    live_client: LiveClient, store: Store, build_id: str
) -> None:
    token = new_link(store)
    with live_client() as client:
        response = get(client, token)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert f'src="/assets/{build_id}/viewer.mjs"' in response.text
    assert "__CWMN_BUILD__" not in response.text
    assert response.headers["content-security-policy"] == EXPECTED_CSP == VIEWER_CSP
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    name, value = cookie.split(";")[0].split("=")
    assert name == "cwmn_device"
    assert len(value) >= 40
    attributes = cookie.lower()
    for part in ("httponly", "samesite=lax", "path=/", "max-age="):
        assert part in attributes
    assert "secure" not in attributes  # plain http here


def test_a_browser_with_a_device_cookie_keeps_it(live_client: LiveClient, store: Store) -> None:
    token = new_link(store)
    with live_client() as client:
        response = get(client, token, "device-a")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers


def test_device_cookies_are_random(live_client: LiveClient, store: Store) -> None:
    token = new_link(store)
    with live_client() as client:
        values = {get(client, token).cookies["cwmn_device"] for _ in range(3)}
    assert len(values) == 3


def test_the_cookie_is_secure_over_https(live_client: LiveClient, store: Store) -> None:
    token = new_link(store)
    with live_client() as client:
        response = client.get(f"https://testserver/join/{token}")
    assert "secure" in response.headers["set-cookie"].lower()


def test_the_cookie_is_secure_behind_a_tls_proxy(live_client: LiveClient, store: Store) -> None:
    token = new_link(store)  # the proxy speaks plain http to us; the public URL is https
    with live_client(public_url="https://cwmn.example.com", allowed_hosts="testserver") as client:
        response = get(client, token)
    assert "secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize("token", ["nope", "x" * 500, "%00"])
def test_an_unknown_link_is_404(live_client: LiveClient, token: str) -> None:
    with live_client() as client:
        response = get(client, token)
    assert_message_page(response, 404, "This link is not valid.")


def test_revoked_and_expired_links_are_404(live_client: LiveClient, store: Store) -> None:
    revoked, expired = new_link(store), new_link(store, ttl=60, now=time.time() - 61)
    store.revoke_link(revoked)
    with live_client() as client:
        for token in (revoked, expired):
            assert_message_page(get(client, token), 404, "This link is not valid.")


def test_an_ended_session_is_410(live_client: LiveClient, store: Store) -> None:
    record = store.create_session(1, "Ann", "ann@example.com", False, "o", "p")
    token = store.create_link(record.id, 3600).token
    store.end_session(record.id, EndReason.ENDED)
    with live_client() as client:
        assert_message_page(get(client, token), 410, "This session has ended")


def test_a_session_past_its_maximum_is_410(live_client: LiveClient, store: Store) -> None:
    record = store.create_session(1, "A", "a@b.com", False, "o", "p", now=time.time() - 100)
    token = store.create_link(record.id, 3600).token
    with live_client(max_session_seconds=50) as client:
        assert_message_page(get(client, token), 410, "This session has ended")


def test_a_link_bound_to_another_device_is_403(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        # Opening the page does not bind the link (previews and mail scanners fetch URLs).
        assert get(client, token, "device-b").status_code == 200
        with guest(client, "device-a") as g:
            g.joined(token)  # the first join binds it
        assert get(client, token, "device-a").status_code == 200
        for device in ("device-b", None):
            response = get(client, token, device)
            assert_message_page(
                response, 403, "This private link was already used on another device."
            )
            assert "Ask the host for a new link" in response.text


def test_a_missing_viewer_is_a_clear_500(tmp_path: Path, store: Store) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "dist").symlink_to(DIST, target_is_directory=True)
    token = new_link(store)
    settings = Settings(data_dir=tmp_path, static_dir=static, public_url="http://testserver")
    with TestClient(create_app(settings, store)) as client:
        response = client.get(f"/join/{token}")
    assert_message_page(response, 500, "viewer")
    assert "viewer.html" in response.text
