"""cwmn_web.server.hosts and links.public_base: links only from the configured public URL;
requests for another host refused (an attacker's forged ``Host``)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cwmn_web.errors import CwmnError
from cwmn_web.protocol.messages import (
    CreateLink,
    ErrorReply,
    Hello,
    InviteGuest,
    InviteSent,
    InviteToHost,
    StartSession,
    Welcome,
)
from cwmn_web.server.hosts import RefusalLog, TrustedHosts, host_allowed, is_loopback
from cwmn_web.server.links import public_base

from .live import HOST_ORIGIN, Host

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cwmn_web.server.db import Store

    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(30)
EVIL = "evil.example"


@contextmanager
def host_at(client: TestClient, url: str) -> Iterator[Host]:
    """A hand-made host socket to ``url`` (its Host header), with an authorized Origin."""
    with client.websocket_connect(url, headers={"origin": HOST_ORIGIN}) as ws:
        yield Host(ws)


def refused(h: Host, message: object, code: str) -> None:
    reply = h.ask(message)  # type: ignore[arg-type]
    assert isinstance(reply, ErrorReply), reply
    assert reply.code == code, reply


@pytest.mark.parametrize("public_url", ["", "https://cobrowse.example.com"])
def test_a_forged_host_is_refused_before_any_route(
    live_client: LiveClient, public_url: str
) -> None:
    with live_client(public_url=public_url) as client:
        for path in ("/api/domain-info", "/join/x", "/host-invite/x", "/healthz/../join/x"):
            response = client.get(f"http://{EVIL}{path}")
            assert response.status_code == 400, path
            assert "CWMN_PUBLIC_URL" in response.text and "CWMN_ALLOWED_HOSTS" in response.text
        with pytest.raises(WebSocketDisconnect) as info, host_at(client, f"ws://{EVIL}/ws"):
            pass
        assert info.value.code == 1008
        with pytest.raises(WebSocketDisconnect), client.websocket_connect(f"ws://{EVIL}/ws/guest"):
            pass
        answered = ["cobrowse.example.com"] if public_url else ["localhost:8000", "127.0.0.1"]
        for name in answered:
            assert client.get(f"http://{name}/healthz").status_code == 200, name


def test_without_a_public_url_a_forged_host_never_reaches_a_message(
    live_client: LiveClient, store: Store
) -> None:
    """Even past the host check (``CWMN_ALLOWED_HOSTS`` naming the forged host), no link is
    built from it: every request that would carry one is ``public_url_required``."""
    with live_client(public_url="", allowed_hosts=EVIL) as client:
        with host_at(client, f"ws://{EVIL}/ws") as h:
            assert isinstance(h.ask(Hello(ref=1, page_url=HOST_ORIGIN + "/shop")), Welcome)
            to_host = InviteToHost(
                ref=5,
                host_name="Eve",
                host_email="eve@example.com",
                invite_name="Hana",
                invite_email="hana@example.com",
                url=HOST_ORIGIN + "/shop",
            )
            refused(h, to_host, "public_url_required")
            refused(h, StartSession(ref=2, host_name="Ann", is_replay=True), "public_url_required")
        with host_at(client, f"ws://{EVIL}/ws") as h:
            h.start()
            refused(h, CreateLink(ref=3), "public_url_required")
            invite = InviteGuest(ref=4, guest_name="Bob", guest_email="bob@example.com")
            refused(h, invite, "public_url_required")
        assert store.kept_messages() == [] and store.list_invites() == []
        with host_at(client, "ws://localhost:8000/ws") as h:  # development on this machine
            h.start()
            reply = h.ask(InviteGuest(ref=4, guest_name="Bob", guest_email="bob@example.com"))
            assert isinstance(reply, InviteSent), reply
    (kept,) = store.kept_messages()
    assert kept.link.startswith("http://localhost:8000/join/")


def test_with_a_public_url_links_ignore_the_host(live_client: LiveClient, store: Store) -> None:
    public = "https://cobrowse.example.com"
    with (
        live_client(public_url=public, allowed_hosts="*") as client,
        host_at(client, f"ws://{EVIL}/ws") as h,
    ):
        h.start()
        reply = h.ask(InviteGuest(ref=4, guest_name="Bob", guest_email="bob@example.com"))
        assert isinstance(reply, InviteSent), reply
    (kept,) = store.kept_messages()
    assert kept.link.startswith(public + "/join/")
    assert EVIL not in kept.body_text and EVIL not in (kept.body_html or "")


@pytest.mark.parametrize(
    ("name", "loopback"),
    [
        ("localhost", True),
        ("app.localhost", True),
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost.evil.example", False),
        ("evil.example", False),
        ("10.0.0.1", False),
        ("2130706433", False),
        ("", False),
    ],
)
def test_loopback_names(name: str, loopback: bool) -> None:
    assert is_loopback(name) is loopback


@pytest.mark.parametrize(
    ("host", "allowed", "development", "answered"),
    [
        ("localhost:8000", set(), True, True),
        ("[::1]:8000", set(), True, True),
        ("localhost:8000", {"cb.example.com"}, False, False),
        ("cb.example.com", {"cb.example.com"}, False, True),
        ("CB.example.com.:443", {"cb.example.com"}, False, True),
        ("cb.example.com.evil.example", {"cb.example.com"}, False, False),
        ("evil.example", set(), True, False),
        ("", set(), True, False),
        ("evil.example", {"*"}, False, True),
    ],
)
def test_hosts_answered(host: str, allowed: set[str], development: bool, answered: bool) -> None:
    assert host_allowed(host, allowed, development) is answered


def test_links_come_from_the_public_url_or_a_loopback_name() -> None:
    assert public_base("https://cb.example.com/", f"ws://{EVIL}/ws") == "https://cb.example.com"
    assert public_base("", "ws://127.0.0.1:8000/ws") == "http://127.0.0.1:8000"
    with pytest.raises(CwmnError) as info:
        public_base("", f"wss://{EVIL}/ws")
    assert info.value.code == "public_url_required" and "CWMN_PUBLIC_URL" in info.value.message


@pytest.mark.parametrize("public_url", ["", "https://cobrowse.example.com"])
def test_a_health_check_by_address_is_answered_and_nothing_else(
    live_client: LiveClient, public_url: str
) -> None:
    """A load balancer probes ``/healthz`` by the server's address: answered (it tells only
    the build id); any other path for that address is still refused."""
    with live_client(public_url=public_url) as client:
        health = client.get("http://10.0.0.5:8000/healthz")
        assert health.status_code == 200 and health.json()["ok"] is True
        for path in ("/healthz/", "/healthzx", "/join/x", "/"):
            assert client.get(f"http://10.0.0.5:8000{path}").status_code == 400, path
        with pytest.raises(WebSocketDisconnect), host_at(client, "ws://10.0.0.5:8000/healthz"):
            pass


def test_refused_hosts_are_logged_once_a_minute_per_name(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    app = TrustedHosts(PlainTextResponse("ok"), "https://cobrowse.example.com", "", lambda: now[0])
    client = TestClient(app)  # no lifespan: a bare app behind the middleware
    with caplog.at_level(logging.WARNING, "cwmn_web.server.hosts"):
        for _ in range(5):
            assert client.get(f"http://{EVIL}/").status_code == 400
        assert client.get("http://10.0.0.5:8000/").status_code == 400
        now[0] += 59
        assert client.get(f"http://{EVIL}/").status_code == 400
        now[0] += 2
        assert client.get(f"http://{EVIL}/").status_code == 400
        assert client.get("http://cobrowse.example.com/").text == "ok"
    logged = [r.getMessage() for r in caplog.records]
    assert [m.split(":")[0] for m in logged] == [
        f"refused a request for host '{EVIL}'",
        "refused a request for host '10.0.0.5'",
        f"refused a request for host '{EVIL}'",
    ]
    assert "CWMN_ALLOWED_HOSTS" in logged[0] and "cobrowse.example.com" in logged[0]


def test_a_flood_of_made_up_host_names_logs_a_bounded_number() -> None:
    log = RefusalLog(interval=60, names=3)
    assert [log.due(f"n{i}.example", 0) for i in range(5)] == [True, True, True, False, False]
    assert log.due("n0.example", 30) is False
    assert log.due("n9.example", 61) is True  # the old names were forgotten
