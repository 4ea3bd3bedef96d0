"""``/join``: the form, and a code typed there, from a host's ``create_join_code`` on the
real socket to the guest who joins with the link it redeems into; wrong, used and guessed
codes; the limits per client and across clients (HTTP 429 with Retry-After)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from starlette.testclient import TestClient

from cwmn_web.protocol.messages import (
    CreateJoinCode,
    EndSession,
    ErrorReply,
    Hello,
    JoinCodeCreated,
    SessionStarted,
    StartSession,
    Welcome,
)
from cwmn_web.server.db import Store
from cwmn_web.server.join_code_page import PostPace

from .live import Host, WallClock, guest, host

if TYPE_CHECKING:
    import httpx2 as httpx

    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(60)

FORM_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def new_code(wire: Host) -> JoinCodeCreated:
    reply = wire.ask(CreateJoinCode(ref=77))
    assert isinstance(reply, JoinCodeCreated), reply
    return reply


def post(client: TestClient, typed: str, **headers: str) -> httpx.Response:
    client.cookies.clear()
    return client.post("/join", data={"code": typed}, headers=headers, follow_redirects=False)


def refusal_code(response: httpx.Response) -> str:
    found = re.search(r'role=alert data-code="([a-z_]+)"', response.text)
    assert found, response.text
    return found.group(1)


def other_client(client: TestClient, address: str) -> TestClient:
    """The same app, reached from another address (no lifespan: HTTP only)."""
    return TestClient(client.app, client=(address, 50000))


def test_the_form_is_accessible_and_script_free(live_client: LiveClient) -> None:
    with live_client() as client:
        response = client.get("/join")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == FORM_CSP
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "same-origin"  # else Origin: null
    page = response.text
    assert "<script" not in page and "set-cookie" not in response.headers
    assert "<label for=code>Enter the code your host gave you</label>" in page
    for attribute in ("inputmode=numeric", "autocomplete=one-time-code", "name=code"):
        assert attribute in page
    assert "<form method=post>" in page and "role=alert" not in page


def test_a_code_from_the_host_lets_one_guest_in(live_client: LiveClient) -> None:
    """The host asks on its socket; a guest types the code (spaced as read out) and is
    sent to a new private link, which binds to the device that joins with it first."""
    with live_client(join_code_seconds=300) as client, host(client) as wire:
        started = wire.start()
        made = new_code(wire)
        assert made.url == "http://testserver/join"
        assert re.fullmatch(r"[0-9]{8}", made.code)
        assert started.started_at + 299 < made.expires_at <= started.started_at + 301
        response = post(client, f" {made.code[:4]} {made.code[4:]} ")
        assert response.status_code == 303
        target = response.headers["location"]
        assert re.fullmatch(r"/join/[A-Za-z0-9_-]{20,}", target), target
        assert response.headers["referrer-policy"] == "no-referrer"
        viewer = client.get(target)
        assert viewer.status_code == 200 and "viewer.mjs" in viewer.text
        device = viewer.cookies["cwmn_device"]
        with guest(client, device=device) as bob:
            bob.joined(target.rsplit("/", 1)[1], name="Bob")
        with guest(client, device="another-device") as eve:
            assert eve.refused(target.rsplit("/", 1)[1]).code == "link_used"
        again = post(other_client(client, "9.9.9.9"), made.code)
        assert again.status_code == 400
        assert refusal_code(again) == "join_code_invalid"
        assert "not valid" in again.text


def test_codes_end_with_their_session(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as wire:
        wire.start()
        code = new_code(wire).code
        wire.ask(EndSession(ref=9))
        response = post(client, code)
    assert response.status_code == 400 and refusal_code(response) == "join_code_invalid"


def test_not_a_code_is_refused_without_counting(live_client: LiveClient) -> None:
    """Seven digits, letters or nothing: the form again, and no attempt used up."""
    with live_client(join_code_attempts=1) as client:
        for typed in ("1234567", "abcdefgh", ""):
            response = post(client, typed)
            assert response.status_code == 400 and refusal_code(response) == "join_code_invalid"
        assert "8 digits" in post(client, "1234 567").text
        assert post(client, "00000000").status_code == 400  # the first real guess
        assert post(client, "00000001").status_code == 429


def test_a_form_from_another_site_is_refused(live_client: LiveClient) -> None:
    with live_client() as client:
        for foreign in ("https://evil.example", "null", "http://testserver:81"):
            assert post(client, "12345678", origin=foreign).status_code == 403
        for own in ("http://testserver", "https://testserver"):  # a TLS proxy passes http on
            assert post(client, "12345678", origin=own).status_code == 400


def test_brute_force_is_refused_per_client_and_across_clients(live_client: LiveClient) -> None:
    """Five wrong codes from one client: its sixth attempt is 429 even with the right
    code, while another client gets in; then, past the server-wide ceiling (here 8 a
    minute), every client is refused."""
    with live_client(join_code_failures_per_minute=8) as client, host(client) as wire:
        wire.start()
        code, spare = new_code(wire).code, new_code(wire).code
        wrong = [f"{(int(code) + n) % 10**8:08d}" for n in range(1, 20)]
        wrong = [w for w in wrong if w != spare]
        for typed in wrong[:5]:
            assert post(client, typed).status_code == 400
        blocked = post(client, code)
        assert blocked.status_code == 429
        assert refusal_code(blocked) == "rate_limited"
        assert 590 <= int(blocked.headers["retry-after"]) <= 600
        assert "Too many wrong codes from your network" in blocked.text
        assert post(other_client(client, "2.2.2.2"), code).status_code == 303
        for n, typed in enumerate(wrong[5:8]):
            assert post(other_client(client, f"3.3.3.{n}"), typed).status_code == 400
        everyone = post(other_client(client, "4.4.4.4"), spare)
        assert everyone.status_code == 429 and refusal_code(everyone) == "rate_limited"
        assert 0 < int(everyone.headers["retry-after"]) <= 60
        assert "on this server" in everyone.text


def test_a_replay_session_has_no_join_codes(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as wire:
        assert isinstance(wire.ask(Hello(ref=1, page_url="http://localhost:1234/")), Welcome)
        started = wire.ask(StartSession(ref=2, host_name="A", host_email="a@x.y", is_replay=True))
        assert isinstance(started, SessionStarted), started
        reply = wire.ask(CreateJoinCode(ref=3))
    assert isinstance(reply, ErrorReply) and reply.code == "invalid_state"


def test_a_flood_of_codes_is_refused_before_the_database(
    live_client: LiveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past CWMN_JOIN_CODE_POSTS_PER_MINUTE (10) codes from one client key, /join answers
    429 from memory: no redemption, no thread, no lock; other clients are not slowed."""
    clock = WallClock(monkeypatch, still=True)
    redeemed: list[str] = []
    real = Store.redeem_join_code

    def counted(self: Store, code: str, *args: Any, **kw: Any) -> Any:
        redeemed.append(code)
        return real(self, code, *args, **kw)

    monkeypatch.setattr(Store, "redeem_join_code", counted)
    settings = {"join_code_attempts": 1000, "join_code_failures_per_minute": 1000}
    with live_client(**settings) as client, host(client) as wire:
        wire.start()
        code = new_code(wire).code
        wrong = [f"{(int(code) + n) % 10**8:08d}" for n in range(1, 12)]
        assert [post(client, typed).status_code for typed in wrong[:10]] == [400] * 10
        flood = post(client, wrong[10])
        assert flood.status_code == 429 and refusal_code(flood) == "rate_limited"
        assert flood.headers["retry-after"] == "6"  # a minute's 10, one every 6 s
        assert "Too many codes sent" in flood.text
        assert post(client, "12").status_code == 400  # not a code: refused as before
        assert len(redeemed) == 10
        assert post(other_client(client, "2.2.2.2"), wrong[10]).status_code == 400
        clock.advance(client, 6)
        assert post(client, code).status_code == 303
        assert len(redeemed) == 12


def test_the_posts_pace_is_per_client_and_bounded() -> None:
    pace = PostPace(per_minute=2, clients=3)
    assert [pace.allow("a", 0.0) for _ in range(3)] == [0.0, 0.0, 30.0]
    assert pace.allow("a", 15.0) == 15.0  # still refused, not counted
    assert pace.allow("a", 30.0) == 0.0
    for key in ("b", "c", "d"):
        assert pace.allow(key, 30.0) == 0.0
    assert len(pace) == 3  # "a", the least recent, was forgotten
