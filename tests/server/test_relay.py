"""cwmn_web.server.relay: host → guests over in-process sockets, the timers, and Peer."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pytest

from cwmn_web.errors import CODES
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    CLOSE_REPLACED,
    CLOSE_SESSION_ENDED,
    CLOSE_TRY_AGAIN_LATER,
    Ack,
    CreateLink,
    EndSession,
    ErrorReply,
    GuestJoined,
    GuestLeft,
    Hello,
    HostStatus,
    Message,
    MirrorFrame,
    Ok,
    Paused,
    Ping,
    Pong,
    SessionEnded,
    SessionStarted,
    SetPrivacy,
    SnapshotRequest,
    StartSession,
    Welcome,
)
from cwmn_web.server.peer import Peer, close_reason
from cwmn_web.server.relay import Relay
from cwmn_web.server.sites import DEFAULT_SETTINGS
from tests.helpers.aio import run_on_own_loop, until

from .live import HOST_ORIGIN, Host, WallClock, Wire, eventually, guest, host

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from cwmn_web.server.db import Store

    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(30)


def relay_of(client: TestClient) -> Relay:
    relay: Relay = client.app.state.relay  # type: ignore[attr-defined]
    return relay


def send_page(h: Host, first: int, last: int) -> None:
    """A snapshot at ``first``, mutations after it up to ``last``."""
    for seq in range(first, last + 1):
        h.mirror(seq, "snapshot" if seq == first else "mutations", n=seq)


def without_roster(messages: list[Message]) -> list[Message]:
    return [m for m in messages if not isinstance(m, GuestJoined | GuestLeft)]


def wait_for(wire: Wire, kind: type[Message]) -> Any:
    """The next push of type ``kind`` (skipping others)."""
    while not isinstance(message := wire.push(), kind):
        pass
    return message


# -- relay --------------------------------------------------------------------------------
def test_frames_reach_guests_in_order_and_are_acked(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        with guest(client) as bob:
            bob.joined(token)
            send_page(h, 1, 5)
            assert without_roster(h.drain()) == [Ack(seq=s) for s in range(1, 6)]
            frames = bob.drain()
            assert [(m.seq, m.kind) for m in frames if isinstance(m, MirrorFrame)] == [
                (1, "snapshot"),
                (2, "mutations"),
                (3, "mutations"),
                (4, "mutations"),
                (5, "mutations"),
            ]
            assert all(m.ref == 0 for m in frames)
            assert frames[2] == MirrorFrame(seq=3, kind="mutations", data={"n": 3})


def test_two_guests_get_the_same_stream(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        first, second = h.link(), h.link()
        assert first != second
        with guest(client, "device-a") as bob, guest(client, "device-b") as cy:
            bob_id = bob.joined(first, "Bob").guest_id
            cy_id = cy.joined(second, "Cy").guest_id
            assert bob_id != cy_id
            send_page(h, 1, 3)
            h.sync()
            expected = [(1, "snapshot"), (2, "mutations"), (3, "mutations")]
            assert bob.frames() == expected
            assert cy.frames() == expected
            joined = [m.guest for m in h.drain() if isinstance(m, GuestJoined)]
            assert [(g["guestId"], g["name"], g["via"]) for g in joined] == [
                (bob_id, "Bob", "private"),
                (cy_id, "Cy", "private"),
            ]
            assert joined[0]["muted"] is False
            assert joined[0]["pointer"] is None
            assert time.time() - 30 < joined[0]["joinedAt"] <= time.time()


def test_duplicates_are_ignored_and_a_gap_asks_for_a_snapshot(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        with guest(client) as bob:
            bob.joined(token)
            send_page(h, 1, 3)
            h.mirror(2)  # resent after a reconnect
            h.mirror(3)
            assert without_roster(h.drain()) == [Ack(seq=1), Ack(seq=2), Ack(seq=3)]
            assert bob.frames() == [(1, "snapshot"), (2, "mutations"), (3, "mutations")]
            h.mirror(7)  # 4-6 never came
            h.mirror(8)
            assert h.drain() == [Ack(seq=7), SnapshotRequest(), Ack(seq=8)]
            assert bob.frames() == []  # nothing a guest could apply
            h.mirror(9, "snapshot")
            h.mirror(10)
            h.sync()
            assert bob.frames() == [(9, "snapshot"), (10, "mutations")]


def test_a_late_joiner_gets_the_snapshot_and_what_followed(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        send_page(h, 1, 4)
        send_page(h, 5, 7)  # a fresh snapshot starts the log over
        h.sync()
        token = h.link()
        with guest(client) as late:
            late.joined(token)
            assert late.frames() == [(5, "snapshot"), (6, "mutations"), (7, "mutations")]
            h.mirror(8)
            h.sync()
            assert late.frames() == [(8, "mutations")]


def test_a_reconnecting_guest_gets_only_newer_frames(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        token = h.link()
        with guest(client) as bob:
            guest_id = bob.joined(token).guest_id
            send_page(h, 1, 3)
            h.sync()
            assert len(bob.frames()) == 3
        joined = wait_for(h, GuestJoined)
        assert wait_for(h, GuestLeft) == GuestLeft(guest=joined.guest)
        h.mirror(4)
        h.mirror(5)
        h.sync()
        with guest(client) as bob:
            assert bob.joined(token, last_seq=3).guest_id == guest_id
            assert bob.frames() == [(4, "mutations"), (5, "mutations")]
        with guest(client) as bob:
            bob.joined(token, last_seq=5)
            assert bob.frames() == []
        with guest(client) as bob:
            bob.joined(token, last_seq=0)
            assert len(bob.frames()) == 5


def test_a_dying_guest_does_not_break_the_relay(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        started = h.start()
        first, second = h.link(), h.link()
        with guest(client, "device-a") as bob, guest(client, "device-b") as cy:
            bob_id = bob.joined(first).guest_id
            cy.joined(second)
            relay = relay_of(client)
            live = relay.rooms[started.session_id]

            async def broken(text: str) -> None:
                raise RuntimeError("connection reset")

            relay.peers[live.guests[bob_id]].ws.send_text = broken  # type: ignore[method-assign,assignment]
            send_page(h, 1, 3)
            assert wait_for(h, GuestLeft).guest["guestId"] == bob_id
            h.sync()
            assert cy.frames() == [(1, "snapshot"), (2, "mutations"), (3, "mutations")]
            assert bob_id not in live.guests
            assert bob_id not in live.room.guests


# -- privacy and ending ---------------------------------------------------------------------
def test_privacy_pauses_the_relay_and_tells_guests(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        first, second = h.link(), h.link()
        with guest(client, "device-a") as bob:
            bob.joined(first)
            send_page(h, 1, 2)
            h.drain()
            assert len(bob.frames()) == 2
            assert h.ask(SetPrivacy(ref=5, enabled=True)) == Ok(ref=5)
            assert h.ask(SetPrivacy(ref=6, enabled=True)) == Ok(ref=6)  # no change: no news
            assert bob.drain() == [Paused(paused=True)]
            h.mirror(3)
            h.mirror(4, "snapshot")
            assert without_roster(h.drain()) == [Ack(seq=3), Ack(seq=4)]
            assert bob.drain() == []
            with guest(client, "device-b") as cy:
                joined = cy.joined(second)
                assert joined.paused is True
                assert cy.drain() == [Paused(paused=True)]  # and no frames
                assert h.ask(SetPrivacy(ref=7, enabled=False)) == Ok(ref=7)
                assert cy.drain() == [Paused(paused=False)]
                assert bob.drain() == [Paused(paused=False)]
                send_page(h, 5, 6)
                h.sync()
                assert cy.frames() == bob.frames() == [(5, "snapshot"), (6, "mutations")]


def test_end_session_tells_guests(live_client: LiveClient, store: Store) -> None:
    with live_client() as client, host(client) as h:
        started = h.start()
        token = h.link()
        with guest(client) as bob:
            bob.joined(token)
            ended = h.ask(EndSession(ref=9))
            assert ended == SessionEnded(ref=9, session_id=started.session_id, reason="ended")
            assert bob.push() == SessionEnded(session_id=started.session_id, reason="ended")
            assert bob.closed_code() == CLOSE_SESSION_ENDED
        assert relay_of(client).rooms == {}
        assert h.ask(Ping(ref=10)) == Pong(ref=10)
    (row,) = store.session_rows()
    assert row["end_reason"] == "ended"


def test_host_drop_then_grace_expiry(
    live_client: LiveClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = WallClock(monkeypatch)
    with live_client(host_grace_seconds=60) as client, ExitStack() as guests:
        with host(client) as h:
            started = h.start()
            token = h.link()
            bob = guests.enter_context(guest(client))
            bob.joined(token)
        assert bob.push() == HostStatus(connected=False)
        clock.advance(client, 59)  # within the grace: the session waits for its host
        assert relay_of(client).rooms != {}
        clock.advance(client, 1)
        assert bob.push() == SessionEnded(session_id=started.session_id, reason="expired")
        assert bob.closed_code() == CLOSE_SESSION_ENDED
        eventually(lambda: store.session_rows()[0]["end_reason"] == "expired")
        assert relay_of(client).rooms == {}
        with host(client) as again:
            reply = again.resume(started.resume_token, "p1")
            assert isinstance(reply, ErrorReply)
            assert reply.code == "session_ended"


def test_resume_within_grace(live_client: LiveClient, store: Store) -> None:
    with live_client(host_grace_seconds=30) as client, ExitStack() as guests:
        with host(client) as h:
            started = h.start()
            token = h.link()
            bob = guests.enter_context(guest(client))
            bob_id = bob.joined(token).guest_id
        assert bob.push() == HostStatus(connected=False)
        sid = started.session_id
        assert relay_of(client).core.grace_armed(sid)

        with host(client) as h:
            reply = h.resumed(started.resume_token, "p1")
            # StartSession names no page, so the first resume starts over.
            assert (reply.session_id, reply.acked_seq, reply.privacy) == (sid, 0, False)
            assert (reply.host_name, reply.host_email) == ("Ann", "ann@example.com")
            assert reply.started_at == started.started_at
            assert reply.settings == DEFAULT_SETTINGS
            roster = h.drain()
            assert [m.guest["guestId"] for m in roster if isinstance(m, GuestJoined)] == [bob_id]
            assert bob.push() == HostStatus(connected=True)
            assert not relay_of(client).core.grace_armed(sid)
            send_page(h, 1, 3)
            h.sync()
            assert len(bob.frames()) == 3
        assert bob.push() == HostStatus(connected=False)

        with host(client) as h:
            assert h.resumed(started.resume_token, "p1").acked_seq == 3  # same page
            assert bob.push() == HostStatus(connected=True)
            h.mirror(3)  # already there
            h.mirror(4)
            assert h.drain() == [Ack(seq=4)]  # and no roster: the page knows bob
            assert bob.frames() == [(4, "mutations")]

        with host(client) as h:
            assert h.resumed(started.resume_token, "p2").acked_seq == 0  # a new page
            h.mirror(1, "snapshot")
            h.sync()
            assert bob.drain() == [
                HostStatus(connected=False),
                HostStatus(connected=True),
                MirrorFrame(seq=1, kind="snapshot"),
            ]
    assert store.session_rows()[0]["ended_at"] is None  # a restart keeps it open


def test_a_second_connection_takes_the_session_over(live_client: LiveClient) -> None:
    with live_client() as client, ExitStack() as first_socket:
        first = first_socket.enter_context(host(client))
        started = first.start()
        token = first.link()
        with guest(client) as bob:
            bob.joined(token)
            with host(client) as second:
                second.resumed(started.resume_token, "p1")
                assert first.closed_code() == CLOSE_REPLACED
                first_socket.close()
                # The replaced connection going away is not the host leaving.
                live = relay_of(client).rooms[started.session_id]
                second.sync()
                assert live.room.host_connected is True
                assert bob.drain() == []
                assert second.ask(CreateLink(ref=3)).type == "link_created"


def test_maximum_duration(live_client: LiveClient, store: Store) -> None:
    with live_client(max_session_seconds=1.0) as client, host(client) as h:
        started = h.start()
        token = h.link()
        with guest(client) as bob:
            bob.joined(token)
            ended = SessionEnded(session_id=started.session_id, reason="expired")
            assert wait_for(h, SessionEnded) == ended
            assert bob.push() == ended
            assert bob.closed_code() == CLOSE_SESSION_ENDED
        eventually(lambda: store.session_rows()[0]["end_reason"] == "expired")
        reply = h.ask(CreateLink(ref=20))
        assert isinstance(reply, ErrorReply)
        assert reply.code == "invalid_state"
        h.mirror(99)  # frames still in flight are dropped quietly
        assert h.ask(Ping(ref=21)) == Pong(ref=21)


def test_resuming_a_session_past_its_maximum_ends_it(live_client: LiveClient, store: Store) -> None:
    record = store.create_session(1, "A", "a@b.com", False, "o", "p", now=time.time() - 100)
    with live_client(max_session_seconds=50) as client, host(client) as h:
        reply = h.resume(record.resume_token, "p1")
        assert isinstance(reply, ErrorReply)
        assert reply.code == "session_ended"
    assert store.session_rows()[0]["end_reason"] == "expired"
    assert "session_ended" in CODES


# -- Peer ---------------------------------------------------------------------------------
class FakeSocket:
    def __init__(self, block: bool = False, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.block, self.fail = block, fail
        self.writing = False

    async def send_text(self, text: str) -> None:
        if self.fail:
            raise RuntimeError("gone")
        if self.block:
            self.writing = True
            await asyncio.Event().wait()  # a write that never completes
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason or "")


def make_peer(ws: FakeSocket, max_queued: int = 1000) -> tuple[Peer, list[str]]:
    calls: list[str] = []
    peer = Peer(ws, asyncio.ensure_future, max_queued=max_queued)  # type: ignore[arg-type]
    peer.on_failed = lambda: calls.append("failed")
    return peer, calls


def test_peer_sends_in_order_then_closes() -> None:
    async def body() -> None:
        ws = FakeSocket()
        peer, calls = make_peer(ws)
        assert peer.send(Ping(ref=1))
        assert peer.send("raw")
        peer.close(4410, "done")
        assert peer.send("late") is False
        await peer.flush()
        assert ws.sent == [codec.encode(Ping(ref=1)), "raw"]
        assert ws.closed == (4410, "done")
        assert calls == []

    run_on_own_loop(body)


def test_a_slow_peer_is_closed_with_1013() -> None:
    async def body() -> None:
        ws = FakeSocket(block=True)
        peer, calls = make_peer(ws, max_queued=10)
        assert peer.send("12345")
        await until(lambda: ws.writing)  # the writer took it and blocks
        assert peer.send("12345")
        assert peer.send("123456") is False
        await until(lambda: ws.closed is not None)
        assert ws.closed is not None and ws.closed[0] == CLOSE_TRY_AGAIN_LATER
        assert calls == ["failed"]
        assert peer.send("x") is False

    run_on_own_loop(body)


def test_a_failing_peer_reports_once() -> None:
    async def body() -> None:
        peer, calls = make_peer(FakeSocket(fail=True))
        peer.send("a")
        peer.send("b")
        await peer.flush(0.1)
        assert calls == ["failed"]
        assert peer.open is False

    run_on_own_loop(body)


def test_discard_stops_the_writer() -> None:
    async def body() -> None:
        ws = FakeSocket()
        peer, _ = make_peer(ws)
        peer.discard()
        assert peer.send("a") is False
        await peer.flush()  # the writer is done (cancelled)
        assert ws.sent == []

    run_on_own_loop(body)


def test_close_reason_fits_the_protocol() -> None:
    assert close_reason("short") == "short"
    assert len(close_reason("é" * 200).encode()) <= 123
    assert close_reason("é" * 200) == "é" * 60


def test_resume_right_after_start_knows_the_page(live_client: LiveClient) -> None:
    with live_client(host_grace_seconds=30) as client:
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1, page_url=HOST_ORIGIN + "/shop")), Welcome)
            started = h.ask(StartSession(ref=2, host_name="Ann", host_email="a@b.co", page_id="p0"))
            assert isinstance(started, SessionStarted)
            send_page(h, 1, 2)
            h.sync()
        with host(client) as h:
            # The connection dropped on the same page: the server still holds frames 1-2.
            assert h.resumed(started.resume_token, "p0").acked_seq == 2
