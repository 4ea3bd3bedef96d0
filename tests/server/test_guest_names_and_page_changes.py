"""A guest names itself after joining (``set_name``), and a host's page change (its socket
closed "going away") reaches guests as ``host_status(navigating)``."""

from __future__ import annotations

import itertools
from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest

from cwmn_web.protocol.messages import (
    CLOSE_GOING_AWAY,
    CLOSE_PROTOCOL,
    MAX_NAME_CHARS,
    ErrorReply,
    GuestJoined,
    GuestPointer,
    GuestUpdated,
    Hello,
    HostStatus,
    Ok,
    PointerMove,
    SetName,
    Welcome,
)
from cwmn_web.server.db.schema import guests as guest_rows
from cwmn_web.server.rooms import MIN_RENAME_INTERVAL, Guest, Room

from .live import WallClock, Wire, eventually, guest, host

if TYPE_CHECKING:
    from cwmn_web.server.db import Store

    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(30)
_refs = itertools.count(100)


def rename(wire: Wire, name: str) -> object:
    return wire.ask(SetName(ref=next(_refs), name=name))


def stored_names(store: Store) -> list[str]:
    with store.engine.connect() as db:
        return [row.name for row in db.execute(guest_rows.select()).all()]


# -- the room's rule ----------------------------------------------------------------------
def test_a_room_takes_one_rename_a_second() -> None:
    room = Room("s1")
    room.add_guest(Guest("g1", "Guest", joined_at=0))
    assert room.rename("g1", "Zoe", now=10.0) is True
    assert room.guests["g1"].name == "Zoe"
    with pytest.raises(Exception, match="once a second") as info:
        room.rename("g1", "Zed", now=10.0 + MIN_RENAME_INTERVAL / 2)
    assert getattr(info.value, "code", "") == "rate_limited"
    assert room.guests["g1"].name == "Zoe"
    assert room.rename("g1", "Zoe", now=12.0) is False  # the same name: nothing to tell
    assert room.rename("nobody", "Eve", now=20.0) is False


def test_a_host_back_on_the_same_page_hears_of_renames() -> None:
    room = Room("s1", page_id="p1")
    room.add_guest(Guest("g1", "Guest", joined_at=0))
    room.detach_host()
    room.rename("g1", "Zoe", now=1.0)
    back = room.attach_host("p1")
    assert (back.left, back.joined, [g.name for g in back.renamed]) == ([], [], ["Zoe"])


# -- over the sockets ---------------------------------------------------------------------
def test_a_guest_renames_itself(live_client: LiveClient, store: Store) -> None:
    with live_client() as client, host(client) as h, ExitStack() as stack:
        h.start()
        token = h.link()
        bob = stack.enter_context(guest(client))
        joined = bob.joined(token, name="")
        assert joined.name == "Guest"  # no name given: the server's
        (arrived,) = [m for m in h.drain() if isinstance(m, GuestJoined)]
        assert arrived.guest["name"] == "Guest"
        cat = stack.enter_context(guest(client, device="device-b"))
        cat.joined(h.link(), name="Cat")
        h.drain()
        # Bob points, so Cat draws his labelled cursor.
        bob.send(PointerMove(x=5, y=6))
        assert isinstance(cat.push(), GuestPointer)
        h.drain()

        assert isinstance(rename(bob, "  Zoë  "), Ok)
        (updated,) = h.drain()
        assert isinstance(updated, GuestUpdated)
        assert (updated.guest["guestId"], updated.guest["name"]) == (joined.guest_id, "Zoë")
        assert cat.drain() == [
            GuestPointer(guest_id=joined.guest_id, name="Zoë", color=joined.color, x=5, y=6)
        ]
        eventually(lambda: sorted(stored_names(store)) == ["Cat", "Zoë"])

        # Too soon after: refused, and the session goes on.
        reply = rename(bob, "Zed")
        assert isinstance(reply, ErrorReply) and reply.code == "rate_limited"
        assert h.drain() == [] and cat.drain() == []


def test_a_guest_that_comes_back_without_a_name_keeps_its_own(
    live_client: LiveClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = WallClock(monkeypatch)
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        with guest(client) as bob:
            bob.joined(token, name="")
            rename(bob, "Zoe")
        with guest(client) as bob:
            assert bob.joined(token, name="").name == "Zoe"
        h.drain()
        clock.advance(client, MIN_RENAME_INTERVAL)
        with guest(client) as bob:  # a name given wins
            assert bob.joined(token, name="Zed").name == "Zed"
            # A second tab of the same guest, named otherwise: the host hears the new name.
            clock.advance(client, MIN_RENAME_INTERVAL)
            with guest(client) as again:
                assert again.joined(token, name="Zoe").name == "Zoe"
                pushes = h.drain()
        assert [m.guest["name"] for m in pushes if isinstance(m, GuestJoined)] == ["Zed"]
        assert [m.guest["name"] for m in pushes if isinstance(m, GuestUpdated)] == ["Zoe"]


def test_leaving_and_coming_back_renamed_is_held_to_the_same_limit(
    live_client: LiveClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = WallClock(monkeypatch)
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        with guest(client) as bob:
            bob.joined(token, name="Zoe")
            assert isinstance(rename(bob, "Zed"), Ok)
        # Back at once under a new name: the join is taken, the rename is not.
        with guest(client) as bob:
            assert bob.joined(token, name="Yves").name == "Zed"
        with guest(client) as bob:
            assert bob.joined(token, name="Zed").name == "Zed"  # no rename: no limit
            reply = rename(bob, "Xan")
            assert isinstance(reply, ErrorReply) and reply.code == "rate_limited"
        h.drain()
        clock.advance(client, MIN_RENAME_INTERVAL)
        with guest(client) as bob:
            assert bob.joined(token, name="Yves").name == "Yves"
            (updated,) = [m for m in h.drain() if isinstance(m, GuestJoined)]
            assert updated.guest["name"] == "Yves"
            reply = rename(bob, "Xan")  # that join was the rename of this second
            assert isinstance(reply, ErrorReply) and reply.code == "rate_limited"
        eventually(lambda: stored_names(store) == ["Yves"])


def test_a_room_keeps_a_guests_last_rename_while_it_is_away() -> None:
    room = Room("s1")
    room.add_guest(Guest("g1", "Zoe", joined_at=0))
    room.rename("g1", "Zed", now=10.0)
    room.remove_guest("g1")
    assert room.take_rename("g1", now=10.5) is False
    room.add_guest(Guest("g1", "Zed", joined_at=0))
    with pytest.raises(Exception, match="once a second"):
        room.rename("g1", "Yves", now=10.9)
    assert room.take_rename("g1", now=11.0) is True


def test_a_name_past_the_limit_closes_the_socket(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, guest(client) as bob:
        h.start()
        bob.joined(h.link())
        bob.send(SetName(ref=9, name="x" * (MAX_NAME_CHARS + 1)))
        assert bob.closed_code() == CLOSE_PROTOCOL


def test_a_long_name_is_cut_like_a_join_name(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, guest(client) as bob:
        h.start()
        bob.joined(h.link())
        h.drain()
        assert isinstance(rename(bob, " " + "y" * 150 + " "), Ok)
        (updated,) = h.drain()
        assert isinstance(updated, GuestUpdated) and updated.guest["name"] == "y" * 100


def test_a_name_before_joining_is_refused(live_client: LiveClient) -> None:
    with live_client() as client, guest(client) as bob:
        assert isinstance(bob.ask(Hello(ref=1, role="guest")), Welcome)
        reply = rename(bob, "Zoe")
        assert isinstance(reply, ErrorReply) and reply.code == "invalid_state"


# -- page changes -------------------------------------------------------------------------
def test_a_host_socket_going_away_is_a_page_change(live_client: LiveClient) -> None:
    with live_client(host_grace_seconds=30) as client, guest(client) as bob:
        with host(client) as h:
            started = h.start()
            bob.joined(h.link())
            h.ws.close(CLOSE_GOING_AWAY)
        assert bob.push() == HostStatus(connected=False, navigating=True)
        with host(client) as h:
            h.resumed(started.resume_token, "p2")
            assert bob.push() == HostStatus(connected=True)
        # Any other close (a dropped connection, a closed socket) is not.
        assert bob.push() == HostStatus(connected=False, navigating=False)


def test_a_guest_joining_during_a_page_change_hears_of_it(live_client: LiveClient) -> None:
    with live_client(host_grace_seconds=30) as client:
        with host(client) as h:
            started = h.start()
            bobs, cats = h.link(), h.link()
            with guest(client) as bob:
                bob.joined(bobs)
            h.ws.close(CLOSE_GOING_AWAY)
        with guest(client) as bob:  # back (a reload, a reconnect) while the page changes
            joined = bob.joined(bobs)
            assert (joined.host_connected, joined.navigating) == (False, True)
        with guest(client, device="device-b") as cat:  # and a first join
            joined = cat.joined(cats)
            assert (joined.host_connected, joined.navigating) == (False, True)
            with host(client) as h:
                h.resumed(started.resume_token, "p2")
                assert cat.push() == HostStatus(connected=True)
                with guest(client) as bob:
                    joined = bob.joined(bobs)
                    assert (joined.host_connected, joined.navigating) == (True, False)
        # Any other drop is not a page change, for those who join after it either.
        with guest(client) as bob:
            joined = bob.joined(bobs)
            assert (joined.host_connected, joined.navigating) == (False, False)


def test_a_room_knows_its_host_is_changing_page_until_a_host_attaches() -> None:
    room = Room("s1", page_id="p1")
    room.detach_host(navigating=True)
    assert (room.host_connected, room.host_navigating) == (False, True)
    room.attach_host("p2")
    assert (room.host_connected, room.host_navigating) == (True, False)
    room.detach_host()
    assert (room.host_connected, room.host_navigating) == (False, False)
