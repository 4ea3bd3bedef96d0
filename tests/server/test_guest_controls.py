"""Pointers, clicks, muting, removal and the public link, end to end over the sockets."""

from __future__ import annotations

from contextlib import ExitStack
from itertools import count
from typing import TYPE_CHECKING, TypeVar

import pytest

from cwmn_web.protocol.messages import (
    CLOSE_REMOVED,
    CreatePublicLink,
    ErrorReply,
    GuestClick,
    GuestJoined,
    GuestLeft,
    GuestPointer,
    GuestUpdated,
    LinkCreated,
    Message,
    MuteAll,
    Muted,
    MuteGuest,
    Ok,
    Paused,
    PointerClick,
    PointerMove,
    Removed,
    RemoveGuest,
    SetPrivacy,
    SetPublicLink,
)

from .live import Guest, Host, guest, host

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(30)
_refs = count(5000)


def ok(h: Host, message: Message) -> None:
    reply = h.ask(message)
    assert isinstance(reply, Ok), reply


def public_token(h: Host) -> str:
    reply = h.ask(CreatePublicLink(ref=next(_refs)))
    assert isinstance(reply, LinkCreated), reply
    return reply.url.rsplit("/join/", 1)[1]


M = TypeVar("M", bound=Message)


def of(wire: Host | Guest, kind: type[M]) -> list[M]:
    return [m for m in wire.drain() if isinstance(m, kind)]


def moves(wire: Host | Guest) -> list[tuple[str, float, float, bool]]:
    return [(m.guest_id, m.x, m.y, m.visible) for m in of(wire, GuestPointer)]


def test_pointers_and_clicks_reach_the_host_and_the_other_guests(
    live_client: LiveClient,
) -> None:
    with live_client() as client, host(client) as h, ExitStack() as stack:
        h.start()
        bob, eve = (stack.enter_context(guest(client, d)) for d in ("dev-b", "dev-e"))
        bob_joined, eve_joined = bob.joined(h.link(), "Bob"), eve.joined(h.link(), "Eve")
        assert bob_joined.color and eve_joined.color and bob_joined.color != eve_joined.color
        h.drain()
        bob.send(PointerMove(x=120.5, y=3400, visible=True))
        bob.send(PointerClick(x=121, y=3401))
        bob.sync()
        host_saw = h.drain()
        pointer, click = host_saw
        assert pointer == GuestPointer(
            guest_id=bob_joined.guest_id,
            name="Bob",
            color=bob_joined.color,
            x=120.5,
            y=3400,
            visible=True,
        )
        assert isinstance(click, GuestClick) and (click.x, click.y) == (121, 3401)
        assert [type(m) for m in eve.drain()] == [GuestPointer, GuestClick]
        assert bob.drain() == []  # never one's own
        bob.send(PointerMove(x=0, y=0, visible=False))
        bob.sync()
        assert moves(h) == [(bob_joined.guest_id, 0, 0, False)]


def test_a_pointer_flood_is_cut_to_a_steady_rate(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, guest(client) as bob:
        h.start()
        bob.joined(h.link())
        h.drain()
        for i in range(200):  # as fast as the socket takes them
            bob.send(PointerMove(x=i, y=i))
        relayed: list[GuestPointer] = []
        while not relayed or (relayed[-1].x, relayed[-1].y) != (199, 199):
            if isinstance(push := h.push(), GuestPointer):  # the held move's timer sends it
                relayed.append(push)
        assert 2 <= len(relayed) < 50  # the exact rate: tests/unit/test_live_core.py


def test_muting_is_enforced_by_the_server_and_independent_of_mute_all(
    live_client: LiveClient,
) -> None:
    with live_client() as client, host(client) as h, ExitStack() as stack:
        h.start()
        bob, eve = (stack.enter_context(guest(client, d)) for d in ("dev-b", "dev-e"))
        bob_id, eve_id = bob.joined(h.link(), "Bob").guest_id, eve.joined(h.link()).guest_id
        bob.send(PointerMove(x=5, y=5))
        bob.sync()
        h.drain()
        eve.drain()

        ok(h, MuteGuest(ref=next(_refs), guest_id=bob_id, muted=True))
        (updated,) = [m for m in h.pushes if isinstance(m, GuestUpdated)]  # before the Ok
        assert updated.guest["guestId"] == bob_id and updated.guest["muted"] is True
        assert bob.drain() == [Muted(muted=True)]
        assert moves(eve) == [(bob_id, 0, 0, False)]  # its pointer disappears for everyone
        assert moves(h) == [(bob_id, 0, 0, False)]
        bob.send(PointerMove(x=9, y=9))
        bob.send(PointerClick(x=9, y=9))
        bob.sync()
        assert of(h, GuestPointer) == [] and of(eve, GuestClick) == []

        ok(h, MuteAll(ref=next(_refs), muted=True))
        assert eve.drain() == [Muted(muted=True)] and bob.drain() == []  # bob already muted
        ok(h, MuteGuest(ref=next(_refs), guest_id=bob_id, muted=False))
        assert bob.drain() == []  # still muted by mute-all
        ok(h, MuteGuest(ref=next(_refs), guest_id=bob_id, muted=True))
        ok(h, MuteAll(ref=next(_refs), muted=False))
        assert eve.drain() == [Muted(muted=False)] and bob.drain() == []
        eve.send(PointerMove(x=1, y=2))
        eve.sync()
        assert moves(h) == [(eve_id, 1, 2, True)]


def test_a_muted_guest_stays_muted_after_reconnecting(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        with guest(client) as bob:
            bob_id = bob.joined(token).guest_id
            ok(h, MuteGuest(ref=next(_refs), guest_id=bob_id, muted=True))
        with guest(client) as bob:
            assert bob.joined(token).muted is True


@pytest.mark.parametrize("mute_all", [False, True])
def test_privacy_and_mutes_survive_a_server_restart(
    live_client: LiveClient, mute_all: bool
) -> None:
    """The host's controls are stored with the session: after a restart a guest coming
    back is still paused and muted, and the host's resume hears privacy on."""
    with live_client() as client, host(client) as h:
        started = h.start()
        token = h.link()
        with guest(client) as bob:
            bob_id = bob.joined(token).guest_id
            ok(h, SetPrivacy(ref=next(_refs), enabled=True))
            if mute_all:
                ok(h, MuteAll(ref=next(_refs), muted=True))
            else:
                ok(h, MuteGuest(ref=next(_refs), guest_id=bob_id, muted=True))
    # Another server process, on the same database:
    with live_client() as client, guest(client) as bob:
        joined = bob.joined(token)
        assert (joined.guest_id, joined.paused, joined.muted) == (bob_id, True, True)
        with host(client) as h:
            reply = h.resumed(started.resume_token, "p2")
            assert (reply.privacy, reply.mute_all) == (True, mute_all)
            h.drain()
            bob.drain()
            ok(h, SetPrivacy(ref=next(_refs), enabled=False))
            assert bob.push() == Paused(paused=False)
            bob.send(PointerMove(x=3, y=4))
            bob.sync()
            assert of(h, GuestPointer) == []  # still muted
    with live_client() as client, guest(client) as bob:
        assert bob.joined(token).paused is False  # turning it off is kept too


def test_unknown_guests_are_not_found_and_nothing_changes(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, guest(client) as bob:
        h.start()
        bob.joined(h.link())
        h.drain()
        for request in (
            MuteGuest(ref=next(_refs), guest_id="nobody", muted=True),
            RemoveGuest(ref=next(_refs), guest_id="nobody"),
        ):
            reply = h.ask(request)
            assert isinstance(reply, ErrorReply) and reply.code == "not_found"
            assert "getGuestList" in reply.message
        assert bob.drain() == [] and h.drain() == []


def removed(client: TestClient, h: Host, bob: Guest, bob_id: str) -> None:
    ok(h, RemoveGuest(ref=next(_refs), guest_id=bob_id))
    assert isinstance(bob.push(), Removed)
    assert bob.closed_code() == CLOSE_REMOVED
    left = of(h, GuestLeft)
    assert [m.guest["guestId"] for m in left] == [bob_id]


def test_a_removed_private_guest_cannot_come_back(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        with guest(client) as bob:
            bob_id = bob.joined(token).guest_id
            h.drain()
            removed(client, h, bob, bob_id)
        with guest(client) as bob:
            refused = bob.refused(token)
            assert refused.code == "guest_removed" and "removed" in refused.message
        page = client.get(f"/join/{token}", headers={"cookie": "cwmn_device=" + "device-a"})
        assert page.status_code == 403 and "removed you" in page.text


def test_the_public_link_admits_many_until_it_is_turned_off(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, ExitStack() as stack:
        h.start()
        token = public_token(h)
        assert public_token(h) == token  # one public link per session
        ids = set()
        for device in ("d1", "d2", "d3"):
            wire = stack.enter_context(guest(client, device))
            ids.add(wire.joined(token, device).guest_id)
        assert len(ids) == 3
        joined = of(h, GuestJoined)
        assert {m.guest["via"] for m in joined} == {"public"}

        ok(h, SetPublicLink(ref=next(_refs), enabled=False))
        with guest(client, "d4") as newcomer:
            refused = newcomer.refused(token)
            assert (
                refused.code == "public_link_disabled" and "turned this link off" in refused.message
            )
        page = client.get(f"/join/{token}", headers={"cookie": "cwmn_device=" + "d5"})
        assert page.status_code == 403 and "turned this link off" in page.text
        # A guest already in may reload its page and reconnect.
        assert (
            client.get(f"/join/{token}", headers={"cookie": "cwmn_device=" + "d1"}).status_code
            == 200
        )
        with guest(client, "d1") as back:
            assert back.joined(token).guest_id in ids

        ok(h, SetPublicLink(ref=next(_refs), enabled=True))
        with guest(client, "d4") as newcomer:
            newcomer.joined(token)


def test_a_guest_removed_from_the_public_link_cannot_come_back(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        token = public_token(h)
        with guest(client, "d1") as bob:
            bob_id = bob.joined(token).guest_id
            h.drain()
            removed(client, h, bob, bob_id)
        with guest(client, "d1") as bob:
            assert bob.refused(token).code == "guest_removed"
        with guest(client, "d2") as eve:
            eve.joined(token)  # the link itself still works for others


def test_resuming_host_learns_the_rooms_flags(live_client: LiveClient) -> None:
    with live_client() as client:
        with host(client) as h:
            started = h.start()
            ok(h, MuteAll(ref=next(_refs), muted=True))
            ok(h, SetPublicLink(ref=next(_refs), enabled=False))
        with host(client) as h:
            back = h.resumed(started.resume_token, "page-2")
            assert (back.mute_all, back.public_link) == (True, False)


def test_a_joining_guest_learns_where_the_others_point(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, ExitStack() as stack:
        h.start()
        bob = stack.enter_context(guest(client, "dev-b"))
        bob_id = bob.joined(h.link(), "Bob").guest_id
        bob.send(PointerMove(x=40, y=900))
        bob.sync()
        eve = stack.enter_context(guest(client, "dev-e"))
        eve.joined(h.link(), "Eve")
        assert moves(eve) == [(bob_id, 40, 900, True)]
        ok(h, MuteGuest(ref=next(_refs), guest_id=bob_id, muted=True))
        cat = stack.enter_context(guest(client, "dev-c"))
        cat.joined(h.link(), "Cat")
        assert moves(cat) == []  # a muted guest's pointer reaches no one
