"""cwmn_web.server.live: the server core with a real viewer core and a host, in memory, on a
fake clock (tests/helpers/live_core.py). No sockets, threads or sleeps."""

from __future__ import annotations

from cwmn_web.client.states import State
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    CLOSE_REMOVED,
    CLOSE_REPLACED,
    CLOSE_SESSION_ENDED,
    Ack,
    EndSession,
    ErrorReply,
    GuestJoined,
    GuestLeft,
    GuestPointer,
    Hello,
    MirrorFrame,
    MuteGuest,
    Ok,
    Ping,
    PointerMove,
    Pong,
    RemoveGuest,
    ResumeSession,
    SessionEnded,
    SessionResumed,
    SetPrivacy,
    SnapshotRequest,
)
from cwmn_web.server.db import Store
from cwmn_web.server.db.schema import guests
from cwmn_web.server.rooms import MIN_POINTER_INTERVAL
from cwmn_web.timing import RECONNECT_FIRST
from tests.helpers.host_core import PAGE_URL, real_host
from tests.helpers.live_core import HostWire, LiveHarness, Viewer

SNAPSHOT = {"nodes": [[1, 0, 1, "html", []]]}


def session(store: Store, **server: float) -> tuple[LiveHarness, HostWire, str]:
    """A harness, its host in a session, and a private link's token."""
    live = LiveHarness(store, **server)
    host = live.host()
    live.started(host)
    return live, host, live.link(host)


def resume(live: LiveHarness, page_id: str = "p1") -> tuple[HostWire, SessionResumed]:
    """Another host connection resumes the session."""
    (row,) = live.server.store.session_rows()
    host = live.host()
    host.send(Hello(ref=1))
    host.send(ResumeSession(ref=2, resume_token=live.resume_tokens[row["id"]], page_id=page_id))
    live.pump()
    host.answer(1)
    reply = host.answer(2)
    assert isinstance(reply, SessionResumed), reply
    return host, reply


def joined(live: LiveHarness, token: str, name: str = "Bob", device: str = "dev-a") -> Viewer:
    viewer = live.viewer(token, name, device)
    assert viewer.take_ops("joined"), viewer.ops
    return viewer


def frames(viewer: Viewer) -> list[tuple[int, str]]:
    return [(op["seq"], op["kind"]) for op in viewer.take_ops("frame")]


def test_frames_reach_a_viewer_in_order_and_are_acked(store: Store) -> None:
    live, host, token = session(store)
    bob = joined(live, token)
    assert [type(m) for m in host.take()] == [GuestJoined]
    live.mirror(host, 1, "snapshot", **SNAPSHOT)
    for seq in (2, 3):
        live.mirror(host, seq, "mutations", adds=[], removes=[], texts=[], attributes=[])
    assert host.take() == [Ack(seq=1), Ack(seq=2), Ack(seq=3)]
    assert frames(bob) == [(1, "snapshot"), (2, "mutations"), (3, "mutations")]
    live.mirror(host, 7)  # a hole: nothing a viewer could apply
    assert host.take() == [Ack(seq=7), SnapshotRequest()]
    assert frames(bob) == []


def test_dispatch_checks_the_phase_first(store: Store) -> None:
    live = LiveHarness(store)
    host = live.host()
    host.send(MirrorFrame(seq=1, kind="snapshot"))
    host.send(Hello(ref=5))
    host.send(SetPrivacy(ref=6, enabled=True))
    host.send(Ping(ref=7))
    live.pump()
    before_hello, welcome, not_yet, pong = host.take()
    assert isinstance(before_hello, ErrorReply) and before_hello.code == "protocol"
    assert welcome.type == "welcome" and welcome.ref == 5
    assert isinstance(not_yet, ErrorReply) and not_yet.code == "invalid_state"
    assert pong == Pong(ref=7)


def test_a_pointer_flood_is_cut_to_the_rate_and_the_last_move_is_kept(store: Store) -> None:
    live, host, token = session(store)
    bob, cy = joined(live, token), joined(live, live.link(host), "Cy", "dev-c")
    host.take()
    for i in range(200):  # at one instant, straight onto the server's socket
        live.server.receive(bob.conn, codec.encode(PointerMove(x=i, y=i)))
    live.pump()
    moves = [m for m in host.take() if isinstance(m, GuestPointer)]
    assert [(m.x, m.y) for m in moves] == [(0, 0)]  # the first at once, the rest held
    assert [op["x"] for op in cy.take_ops("pointer")] == [0]
    live.advance(MIN_POINTER_INTERVAL)
    moves = [m for m in host.take() if isinstance(m, GuestPointer)]
    assert [(m.x, m.y) for m in moves] == [(199, 199)]  # only the newest, when due
    assert [op["x"] for op in cy.take_ops("pointer")] == [199]
    live.advance(10)
    assert host.take() == []


def test_a_muted_guests_held_move_never_goes_out(store: Store) -> None:
    live, host, token = session(store)
    bob = joined(live, token)
    guest_id = bob.session.guest_id
    for x in (1, 2):
        live.server.receive(bob.conn, codec.encode(PointerMove(x=x, y=0)))
    host.send(MuteGuest(ref=9, guest_id=guest_id, muted=True))
    live.pump()
    host.take()
    live.advance(1)
    assert [m for m in host.take() if isinstance(m, GuestPointer)] == []


def test_the_host_leaves_and_its_grace_ends_the_session(store: Store) -> None:
    live, host, token = session(store, host_grace_seconds=30)
    bob = joined(live, token)
    live.close(host)
    assert bob.take_ops("status") == [{"op": "status", "hostConnected": False, "navigating": False}]
    live.advance(29)
    assert store.session_rows()[0]["ended_at"] is None
    live.advance(1)
    assert bob.take_ops("status") == [{"op": "status", "ended": "expired"}]
    assert bob.retry_in is None  # closed with 4410: no reconnect
    assert live.server.closed[bob.conn][0] == CLOSE_SESSION_ENDED
    assert store.session_rows()[0]["end_reason"] == "expired"
    assert live.server.rooms.rooms == {}


def test_a_resume_within_the_grace_keeps_the_session(store: Store) -> None:
    live, host, token = session(store, host_grace_seconds=30)
    bob = joined(live, token)
    guest_id = bob.session.guest_id
    live.close(host)
    bob.take_ops()
    live.advance(20)
    again, reply = resume(live, "p2")
    assert reply.acked_seq == 0  # another page starts over
    roster = again.take()
    assert [m.guest["guestId"] for m in roster if isinstance(m, GuestJoined)] == [guest_id]
    assert bob.take_ops("status") == [{"op": "status", "hostConnected": True, "navigating": False}]
    live.advance(3600 - 21)  # the grace was called off; the maximum duration still holds
    assert store.session_rows()[0]["ended_at"] is None
    live.advance(1)
    assert store.session_rows()[0]["end_reason"] == "expired"


def test_the_maximum_duration_ends_the_session(store: Store) -> None:
    live, host, token = session(store, max_session_seconds=100)
    bob = joined(live, token)
    host.take()
    live.advance(99.5)
    assert host.take() == []
    live.advance(0.5)
    (ended,) = host.take()
    assert isinstance(ended, SessionEnded) and ended.reason == "expired"
    assert bob.take_ops("status") == [{"op": "status", "ended": "expired"}]


def test_removing_a_guest_closes_its_viewer_for_good(store: Store) -> None:
    live, host, token = session(store)
    bob = joined(live, token)
    guest_id = bob.session.guest_id
    host.take()
    host.send(RemoveGuest(ref=4, guest_id=guest_id))
    live.pump()
    left, ok = host.take()
    assert isinstance(left, GuestLeft) and left.guest["guestId"] == guest_id
    assert ok == Ok(ref=4)
    assert live.server.closed[bob.conn][0] == CLOSE_REMOVED
    assert bob.retry_in is None
    again = live.viewer(token, device="dev-a")  # the link no longer admits it
    (refused,) = again.take_ops("status")
    assert refused["error"]["code"] == "guest_removed"
    assert again.retry_in is None


def test_a_second_host_connection_takes_over(store: Store) -> None:
    live, host, token = session(store)
    bob = joined(live, token)
    bob.take_ops()
    second, _ = resume(live)
    assert host.close_code == CLOSE_REPLACED
    assert bob.take_ops("status") == []  # the host never left
    live.mirror(second, 1, "snapshot", **SNAPSHOT)
    assert frames(bob) == [(1, "snapshot")]


def test_end_session_tells_the_viewer(store: Store) -> None:
    live, host, token = session(store)
    bob = joined(live, token)
    host.take()
    host.send(EndSession(ref=3))
    live.pump()
    (ended,) = host.take()
    assert isinstance(ended, SessionEnded) and ended.ref == 3
    assert bob.take_ops("status") == [{"op": "status", "ended": "ended"}]
    assert store.session_rows()[0]["end_reason"] == "ended"
    assert live.server.closed[bob.conn][0] == CLOSE_SESSION_ENDED


# -- with the real host core ----------------------------------------------------------------
def test_the_host_core_the_server_core_and_a_viewer_core_together(store: Store) -> None:
    live = LiveHarness(store)
    host = real_host(live)
    host.call("session.start", {"hostName": "Ann", "hostEmail": "ann@example.com"})
    assert host.core.state is State.IN_SESSION
    url = host.call("guest.getInviteLink")
    bob = joined(live, url.rsplit("/join/", 1)[1])
    assert "guest connected" in host.page.events()
    raw = {"nodes": [[1, 0, 1, "html", []]], "url": PAGE_URL, "base": PAGE_URL}
    host.capture("snapshot", raw)
    assert frames(bob) == [(1, "snapshot")]
    assert host.core.session is not None and host.core.session.drained  # acked
    bob.session.pointer(10, 20, True, live.now)
    live.pump()
    (cursors,) = [o for o in host.page.overlays if o.get("op") == "cursors"][-1:]
    assert [(c["x"], c["y"]) for c in cursors["cursors"]] == [(10, 20)]
    host.call("session.endSession")
    assert bob.take_ops("status")[-1] == {"op": "status", "ended": "ended"}
    assert store.session_rows()[0]["end_reason"] == "ended"


def test_a_rename_while_the_host_is_away_is_stored(store: Store) -> None:
    live, host, token = session(store)
    bob = joined(live, token)
    live.close(host)
    bob.session.set_name("Zoë")
    live.pump()
    with store.engine.connect() as db:
        assert [row.name for row in db.execute(guests.select()).all()] == ["Zoë"]


def test_the_host_cores_invite_link_is_one_the_server_admits(store: Store) -> None:
    live = LiveHarness(store)
    host = real_host(live)
    host.call("session.start", {"hostName": "Ann", "hostEmail": "ann@example.com"})
    url = host.call("guest.getInviteLink")
    assert url.startswith("http://cwmn.test/join/")
    joined(live, url.rsplit("/join/", 1)[1])
    assert [g["name"] for g in host.core.view()["guests"]] == ["Bob"]


def test_the_host_core_removes_a_guest_through_the_server(store: Store) -> None:
    live = LiveHarness(store)
    host = real_host(live)
    host.call("session.start", {"hostName": "Ann", "hostEmail": "ann@example.com"})
    bob = joined(live, host.call("guest.getInviteLink").rsplit("/join/", 1)[1])
    (guest,) = host.core.view()["guests"]
    host.call("guest.removeGuest", {"guestId": guest["guestId"]})
    assert host.core.view()["guests"] == []
    assert host.page.published[-1]["guests"] == []
    assert host.page.events()[-2:] == ["guest disconnected", "roomdata update"]
    assert live.server.closed[bob.conn][0] == CLOSE_REMOVED
    with store.engine.connect() as db:
        assert [row.removed_at is not None for row in db.execute(guests.select()).all()] == [True]


def test_a_host_away_past_the_servers_grace_finds_its_session_expired(store: Store) -> None:
    live = LiveHarness(store, host_grace_seconds=0.1)
    host = real_host(live)
    host.call("session.start", {"hostName": "Ann", "hostEmail": "ann@example.com"})
    host.drop()
    assert host.page.events()[-1] == "connection issue"
    live.advance(RECONNECT_FIRST)  # the server ended it 0.1 s after the host went
    assert host.core.state is State.NO_SESSION
    assert host.page.events()[-5:] == [
        "connection issue",
        "expired",
        "end session",
        "reinit",
        "ready no session",
    ]


def test_the_next_page_resumes_the_session_where_the_server_has_it(store: Store) -> None:
    live = LiveHarness(store)
    first = real_host(live)
    first.call("session.start", {"hostName": "Ann", "hostEmail": "ann@example.com"})
    entry = first.page.stored["cwmn:session"]
    assert entry is not None
    first.unload()
    host = real_host(live, resume={"token": entry["token"], "sessionId": entry["sessionId"]})
    assert host.core.state is State.IN_SESSION
    assert [(d[0], d[1]) for d in host.page.deliveries] == [
        ("init", ()),
        ("session pending", ()),
        ("in session", (True,)),
    ]
    assert host.page.captures[-1][0] is True
