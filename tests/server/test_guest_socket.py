"""cwmn_web.server.guest_socket: /ws/guest — Origin, hello, join rules, device binding."""

from __future__ import annotations

import hashlib
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest
from starlette.websockets import WebSocketDisconnect

from cwmn_web.protocol.messages import (
    CLOSE_BAD_ORIGIN,
    CLOSE_NORMAL,
    CLOSE_REPLACED,
    CLOSE_SESSION_ENDED,
    PROTOCOL_VERSION,
    CreatePublicLink,
    EndSession,
    ErrorReply,
    GuestJoined,
    GuestLeft,
    Hello,
    HostStatus,
    Join,
    LinkCreated,
    Ping,
    Pong,
    Welcome,
)
from cwmn_web.server.db.schema import guests, links
from cwmn_web.server.relay import Relay

from .live import SERVER, eventually, guest, host

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from cwmn_web.server.db import Store

    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(30)


def relay_of(client: TestClient) -> Relay:
    relay: Relay = client.app.state.relay  # type: ignore[attr-defined]
    return relay


def link_row(store: Store) -> dict[str, object]:
    with store.engine.connect() as db:
        (row,) = db.execute(links.select()).all()
    return dict(row._mapping)


# -- Origin -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "origin",
    [
        None,
        "null",
        "http://evil.example",
        "http://testserver:8080",  # same host, another port
        "http://localhost:1234",  # an authorized customer site is still not this server
        "http://testserver.evil.example",
    ],
)
def test_only_this_servers_pages_may_connect(live_client: LiveClient, origin: str | None) -> None:
    with (
        live_client() as client,
        pytest.raises(WebSocketDisconnect) as info,
        guest(client, origin=origin),
    ):
        pass
    assert info.value.code == CLOSE_BAD_ORIGIN


# https: a Host header without a port is the Origin's default port (TLS ended at a proxy).
@pytest.mark.parametrize(
    "origin", [SERVER, "http://TestServer", "http://testserver:80", "https://testserver"]
)
def test_same_origin_is_accepted(live_client: LiveClient, origin: str) -> None:
    with live_client() as client, guest(client, origin=origin) as g:
        assert isinstance(g.ask(Hello(ref=1, role="guest")), Welcome)


def test_public_url_origin_is_accepted_behind_a_proxy(live_client: LiveClient) -> None:
    public = "https://cobrowse.example.com"
    proxied = live_client(public_url=public, allowed_hosts="testserver")  # Host rewritten
    with proxied as client, guest(client, origin=public) as g:
        assert isinstance(g.ask(Hello(ref=1, role="guest")), Welcome)


# -- handshake ----------------------------------------------------------------------------
def test_hello_ping_and_phases(live_client: LiveClient) -> None:
    with live_client() as client, guest(client) as g:
        reply = g.ask(Join(ref=1, token="t"))
        assert isinstance(reply, ErrorReply)
        assert (reply.code, "hello" in reply.message) == ("protocol", True)
        host_hello = g.ask(Hello(ref=2, role="host"))
        assert isinstance(host_hello, ErrorReply)
        assert host_hello.code == "protocol"
        old = g.ask(Hello(ref=3, role="guest", version=PROTOCOL_VERSION + 1))
        assert isinstance(old, ErrorReply)
        assert old.code == "protocol"
        assert isinstance(g.ask(Hello(ref=4, role="guest")), Welcome)
        assert g.ask(Ping(ref=5)) == Pong(ref=5)
        again = g.ask(Hello(ref=6, role="guest"))
        assert isinstance(again, ErrorReply)
        assert again.code == "invalid_state"


def test_malformed_frames_close_4400(live_client: LiveClient) -> None:
    with live_client() as client, guest(client) as g:
        g.ws.send_text("{")
        with pytest.raises(WebSocketDisconnect) as info:
            g.receive()
        assert info.value.code == 4400
    with live_client() as client, guest(client) as g:
        g.ws.send_bytes(b"{}")
        with pytest.raises(WebSocketDisconnect) as info:
            g.receive()
        assert info.value.code == 4400


# -- joining --------------------------------------------------------------------------------
def test_join_and_device_binding(live_client: LiveClient, store: Store) -> None:
    with live_client() as client, host(client) as h:
        started = h.start()
        token = h.link()
        with guest(client, "device-a") as bob:
            joined = bob.joined(token, "  Bob  ")
            assert joined.ref == 2
            assert joined.session_id == started.session_id
            assert (joined.host_name, joined.paused, joined.host_connected) == ("Ann", False, True)
            assert bob.ask(Ping(ref=3)) == Pong(ref=3)
            twice = bob.ask(Join(ref=4, token=token))
            assert isinstance(twice, ErrorReply)
            assert twice.code == "invalid_state"
        row = link_row(store)
        assert row["device_hash"] == hashlib.sha256(b"device-a").hexdigest()
        assert (row["guest_id"], row["guest_name"], row["kind"]) == (
            joined.guest_id,
            "Bob",
            "private",
        )
        assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
        assert token not in row.values()

        for _ in range(3):  # the same device, any number of times; always the same guest
            with guest(client, "device-a") as bob:
                assert bob.joined(token, "Robert").guest_id == joined.guest_id
        assert link_row(store)["guest_name"] == "Robert"

        for device in ("device-b", None):
            with guest(client, device) as other:
                refused = other.refused(token)
                assert refused.code == "link_used"
                assert "another device" in refused.message
                assert other.closed_code() == CLOSE_NORMAL


def test_a_link_needs_the_device_cookie_to_bind(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        with guest(client, device=None) as g:
            refused = g.refused(token)
            assert refused.code == "cookies_required"
            assert "cookie" in refused.message
        with guest(client) as g:
            g.joined(token)  # still unbound: the next device with a cookie gets it


@pytest.mark.parametrize("token", ["", "nope", "x" * 500])
def test_an_unknown_link_is_invalid(live_client: LiveClient, token: str) -> None:
    with live_client() as client, guest(client) as g:
        refused = g.refused(token)
        assert refused.code == "link_invalid"
        assert "not valid" in refused.message
        assert g.closed_code() == CLOSE_NORMAL


def test_revoked_and_expired_links_are_invalid(live_client: LiveClient, store: Store) -> None:
    with live_client(link_ttl_seconds=0.2) as client, host(client) as h:
        h.start()
        revoked, expired = h.link(), h.link()
        assert store.revoke_link(revoked)
        with guest(client) as g:
            assert g.refused(revoked).code == "link_invalid"
        relay_of(client).clock = lambda: time.time() + 0.25  # past the link's lifetime
        with guest(client) as g:
            assert g.refused(expired).code == "link_invalid"


def test_a_link_to_an_ended_session(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        h.ask(EndSession(ref=5))
        with guest(client) as g:
            refused = g.refused(token)
            assert refused.code == "session_ended"
            assert g.closed_code() == CLOSE_SESSION_ENDED


@pytest.mark.parametrize(
    ("given", "kept"),
    [("", "Guest"), ("   ", "Guest"), (" Zoë ", "Zoë"), ("n" * 150, "n" * 100)],
)
def test_guest_names(live_client: LiveClient, given: str, kept: str) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        with guest(client) as g:
            g.joined(token, given)
            joined = next(m for m in h.drain() if isinstance(m, GuestJoined))
            assert joined.guest["name"] == kept


def test_a_reconnect_replaces_the_old_socket(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        with ExitStack() as old_socket:
            old = old_socket.enter_context(guest(client))
            guest_id = old.joined(token).guest_id
            with guest(client) as new:
                assert new.joined(token).guest_id == guest_id
                assert old.closed_code() == CLOSE_REPLACED
                old_socket.close()
                h.mirror(1, "snapshot")
                h.sync()
                assert new.frames() == [(1, "snapshot")]
                roster = [m for m in h.drain() if isinstance(m, GuestJoined | GuestLeft)]
                assert [type(m) for m in roster] == [GuestJoined]  # one guest all along
        assert isinstance(h.push(), GuestLeft)


def test_joining_while_the_host_is_away(live_client: LiveClient) -> None:
    with live_client() as client, ExitStack() as stack:
        with host(client) as h:
            started = h.start()
            token = h.link()
        bob = stack.enter_context(guest(client))
        assert bob.joined(token).host_connected is False
        with host(client) as h:
            h.resumed(started.resume_token, "p1")
            assert bob.push() == HostStatus(connected=True)
            assert [m.type for m in h.drain()] == ["guest_joined"]


def test_joining_after_a_server_restart(live_client: LiveClient, store: Store) -> None:
    """No room in memory: the guest's join recreates it, waiting for the host."""
    record = store.create_session(1, "Ann", "ann@example.com", False, "o", "p")
    link = store.create_link(record.id, 3600)
    with live_client(host_grace_seconds=0.3) as client, guest(client) as bob:
        joined = bob.joined(link.token)
        assert (joined.session_id, joined.host_name) == (record.id, "Ann")
        assert joined.host_connected is False
        assert relay_of(client).core.grace_armed(record.id)
        assert bob.push().type == "session_ended"  # nobody came back
    eventually(lambda: store.session_rows()[0]["end_reason"] == "expired")


def test_the_sites_guest_limit(live_client: LiveClient, store: Store) -> None:
    store.update_settings("default", {"maxGuests": 1})
    with live_client() as client, host(client) as h:
        h.start()
        first, second = h.link(), h.link()

        def seated() -> int:
            return len(next(iter(relay_of(client).rooms.values())).room.guests)

        with guest(client, "device-a") as bob:
            bob_id = bob.joined(first).guest_id
            with guest(client, "device-b") as eve:
                refused = eve.refused(second)
                assert refused.code == "room_full"
                assert "full" in refused.message
        eventually(lambda: seated() == 0)
        # The guest who had the seat may come back; the room is not fuller for it.
        with guest(client, "device-a") as again:
            assert again.joined(first).guest_id == bob_id
            with guest(client, "device-b") as eve:
                assert eve.refused(second).code == "room_full"
        eventually(lambda: seated() == 0)
        with guest(client, "device-b") as eve:
            eve.joined(second)  # a free seat: the second guest gets it


def guest_devices(store: Store) -> list[str]:
    """The device hashes of every guest row."""
    with store.engine.connect() as db:
        return [row.device_hash for row in db.execute(guests.select()).all()]


def test_a_refused_join_leaves_no_guest_row(live_client: LiveClient, store: Store) -> None:
    """A stranger hammering a full room's public link, from ever new devices, must not
    fill the guests table: each refusal leaves the store as it found it."""
    store.update_settings("default", {"maxGuests": 1})
    with live_client() as client, host(client) as h:
        h.start()
        reply = h.ask(CreatePublicLink(ref=3))
        assert isinstance(reply, LinkCreated), reply
        public = reply.url.rsplit("/join/", 1)[1]
        with guest(client, "device-a") as bob:
            bob.joined(public)
            for n in range(3):
                with guest(client, f"intruder-{n}") as eve:
                    assert eve.refused(public).code == "room_full"
        with guest(client, "device-x") as eve:
            assert eve.refused("no-such-token").code == "link_invalid"
    a = hashlib.sha256(b"device-a").hexdigest()
    assert guest_devices(store) == [a]
