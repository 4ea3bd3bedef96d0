"""The extensions' server core: what counts as activity, the idle timeout's timer, the
guests' buckets and the room's controller. Fake clocks, no sockets
(tests/helpers/live_core.py for the whole core)."""

from __future__ import annotations

import pytest

from cwmn_web.client.states import State
from cwmn_web.protocol.constants import Pseudo
from cwmn_web.protocol.messages import (
    CLOSE_GOING_AWAY,
    Draw,
    GuestDraw,
    Hello,
    MirrorFrame,
    Ping,
    PointerMove,
    RequestControl,
    ResumeSession,
    SetControl,
    SetName,
    SetPrivacy,
)
from cwmn_web.server.db import Store
from cwmn_web.server.live import control
from cwmn_web.server.live.activity import (
    guest_acted,
    host_acted,
    session_idle_timeout,
    visitor_frame,
)
from cwmn_web.server.live.fanout import LiveRoom
from cwmn_web.server.live.pace import (
    DECLINED_WAIT,
    DRAW_BURST,
    DRAW_NUMBERS_BURST,
    DRAW_NUMBERS_RATE,
    DRAW_RATE,
    INPUT_BURST,
    MAX_DECLINED_WAIT,
    MIN_REQUEST_INTERVAL,
    GuestPace,
)
from cwmn_web.server.rooms import Guest, Room
from tests.helpers.live_core import HostWire, LiveHarness, Viewer
from tests.helpers.live_page import LivePage, in_session
from tests.unit.test_live_core import SNAPSHOT


# -- what counts as activity ----------------------------------------------------------------
def frame(kind: str, seq: int = 5, **data: object) -> MirrorFrame:
    return MirrorFrame(seq=seq, kind=kind, data=data)


@pytest.mark.parametrize(
    ("message", "acted"),
    [
        (frame("snapshot", seq=1), True),  # a new page
        (frame("snapshot", seq=40), False),  # the server asked for it
        (frame("scroll", id=0, x=0, y=10), True),
        (frame("viewport", w=800, h=600), True),
        (frame("pointer", x=1, y=1), True),
        (frame("focus", id=4), True),
        (frame("mutations", attrs=[[3, Pseudo.VALUE, "a"]]), True),  # typed
        (frame("mutations", attrs=[[3, Pseudo.CHECKED, "1"]]), True),
        (frame("mutations", attrs=[[3, Pseudo.MASKED, "4"]]), True),  # a password
        (frame("mutations", texts=[[5, "12:01"]], attrs=[[3, "class", "x"]]), False),
        (frame("mutations", attrs=[[3, [Pseudo.VALUE], "a"]]), False),  # malformed
        (frame("mutations", attrs="x"), False),
        (frame("audio"), False),
        (Ping(ref=1), False),
        (Hello(ref=1), False),
        (ResumeSession(ref=1), False),  # a reconnect; a new page's snapshot counts
        (SetPrivacy(ref=1, enabled=True), True),
        (SetControl(ref=1, guest_id="g"), True),
    ],
)
def test_the_host_acts(message: MirrorFrame, acted: bool) -> None:
    assert host_acted(message) is acted
    if isinstance(message, MirrorFrame):
        assert visitor_frame(message) is acted


def test_a_guest_acts_with_everything_but_ping_and_asking_for_control() -> None:
    assert guest_acted(PointerMove(x=1, y=1)) and guest_acted(SetName(ref=1, name="B"))
    assert not guest_acted(Ping(ref=1))
    assert not guest_acted(RequestControl(ref=1))


@pytest.mark.parametrize(
    ("server", "asked", "timeout"),
    [
        (1800, 0, 1800),  # the server's
        (1800, 600, 600),  # less
        (1800, 7200, 1800),  # never more
        (1800, 1, 30),  # at least 30 s
        (0, 0, 0),  # never
        (0, 600, 600),  # a session may still ask for one
    ],
)
def test_a_sessions_idle_timeout(server: float, asked: float, timeout: float) -> None:
    assert session_idle_timeout(server, asked) == timeout


# -- the guests' buckets --------------------------------------------------------------------
def test_requests_inputs_and_draws_are_paced_per_guest() -> None:
    pace = GuestPace()
    assert pace.request("bob", 0.0) == 0
    assert pace.request("bob", MIN_REQUEST_INTERVAL - 0.5) == pytest.approx(0.5)
    assert pace.request("eve", 0.0) == 0  # each guest its own
    assert pace.request("bob", MIN_REQUEST_INTERVAL) == 0
    assert sum(pace.input("bob", 10.0) for _ in range(INPUT_BURST + 50)) == INPUT_BURST
    drawn = [pace.draw("bob", 2, 10.0) for _ in range(DRAW_BURST + 50)]
    assert drawn == [""] * DRAW_BURST + ["messages"] * 50
    # Refused ones were not counted: a second later the rate's worth is back.
    assert [pace.draw("bob", 2, 11.0) for _ in range(DRAW_BURST)].count("") == DRAW_RATE
    assert pace.draw("eve", 2, 11.0) == ""


def test_a_declined_guest_waits_longer_each_time() -> None:
    pace = GuestPace()
    waits = []
    now = 0.0
    for _ in range(7):
        assert pace.request("bob", now) == 0
        waits.append(pace.decline("bob", now))
        assert pace.request("bob", now + waits[-1] - 1) == pytest.approx(1)  # still waiting
        now += waits[-1]
    assert waits == [DECLINED_WAIT, 60, 120, 240, 480, MAX_DECLINED_WAIT, MAX_DECLINED_WAIT]
    assert pace.request("eve", now) == 0  # only the declined guest waits
    pace.forget("bob")  # leaving and coming back keeps the wait
    pace.decline("bob", now)
    assert pace.request("bob", now + 1) == pytest.approx(MAX_DECLINED_WAIT - 1)


def test_the_numbers_drawn_are_capped_per_guest_whatever_the_stroke_ids() -> None:
    pace = GuestPace()
    part = 128
    # Alternating two stroke ids (or a new id each time) is the same guest's numbers.
    sent = [pace.draw("bob", part, 0.0) for _ in range(DRAW_NUMBERS_BURST // part + 1)]
    assert sent == [""] * (DRAW_NUMBERS_BURST // part) + ["numbers"]
    assert pace.draw("eve", part, 0.0) == ""  # each guest its own
    # The rate's worth comes back with time (the message bucket is not the limit here).
    back = [pace.draw("bob", part, 1.0) for _ in range(DRAW_NUMBERS_RATE // part + 1)]
    assert back.count("") == DRAW_NUMBERS_RATE // part


# -- the room's controller ------------------------------------------------------------------
def test_the_controller_flag_follows_control_and_survives_a_reconnect() -> None:
    room = Room("s1")
    room.add_guest(Guest("bob", "Bob", 1.0))
    room.add_guest(Guest("eve", "Eve", 2.0))
    assert [g.guest_id for g in room.set_controller("bob")] == ["bob"]
    assert room.set_controller("bob") == []  # no change
    changed = room.set_controller("eve")
    assert [(g.guest_id, g.controlling) for g in changed] == [("bob", False), ("eve", True)]
    room.add_guest(Guest("eve", "Eve", 3.0))  # a newer connection of the same guest
    assert room.guests["eve"].to_dict()["controlling"] is True
    assert [(g.guest_id, g.controlling) for g in room.set_controller("")] == [("eve", False)]


# -- the idle timer -------------------------------------------------------------------------
def idle_session(store: Store, timeout: float) -> tuple[LiveHarness, HostWire, Viewer]:
    live = LiveHarness(store, idle_timeout=timeout)
    host = live.host()
    live.started(host)
    live.mirror(host, 1, "snapshot", **SNAPSHOT)
    return live, host, live.viewer(live.link(host))


def end_reason(store: Store) -> str | None:
    (row,) = store.session_rows()
    reason = row["end_reason"]
    return None if reason is None else str(reason)


def test_a_resume_keeps_the_timer_and_a_new_page_is_activity(store: Store) -> None:
    live, host, bob = idle_session(store, 100)
    (row,) = store.session_rows()
    token = live.resume_tokens[row["id"]]
    live.advance(60)
    live.close(host, CLOSE_GOING_AWAY)  # the page reloads ...
    again = live.host()
    again.send(Hello(ref=1))
    again.send(ResumeSession(ref=2, resume_token=token, page_id="p1"))  # ... the same page
    live.pump()
    live.advance(39)
    assert end_reason(store) is None
    live.advance(1)  # 100 s after the last activity, resume or not
    assert end_reason(store) == "idle"
    assert bob.take_ops("status")[-1] == {"op": "status", "ended": "idle"}
    assert again.take()[-1].type == "session_ended"


def test_a_new_pages_snapshot_postpones_the_end(store: Store) -> None:
    live, host, _bob = idle_session(store, 100)
    (row,) = store.session_rows()
    live.advance(60)
    live.close(host, CLOSE_GOING_AWAY)
    again = live.host()
    again.send(Hello(ref=1))
    again.send(ResumeSession(ref=2, resume_token=live.resume_tokens[row["id"]], page_id="p2"))
    live.pump()
    live.mirror(again, 1, "snapshot", **SNAPSHOT)  # the visitor followed a link
    live.advance(99)
    assert end_reason(store) is None
    live.advance(1)
    assert end_reason(store) == "idle"


def test_without_an_idle_timeout_a_session_lasts(store: Store) -> None:
    live, _host, _bob = idle_session(store, 0)
    live.advance(3000)
    assert end_reason(store) is None


def test_the_host_page_ends_an_idle_session_as_an_expired_one() -> None:
    controller, ports = in_session(LivePage(idle_timeout=100))
    before = len(ports.deliveries)
    ports.advance(99.9)
    assert controller.state is State.IN_SESSION
    ports.advance(0.1)
    assert ports.db.session_rows()[0]["end_reason"] == "idle"
    names = [d[0] for d in ports.deliveries[before:]]
    assert names == ["expired", "end session", "reinit", "ready no session"]
    assert ports.core.state is State.NO_SESSION


def test_a_draw_after_its_guest_was_removed_is_dropped() -> None:
    """The room let the guest go (removed) before its socket closed: a stroke still in
    flight goes nowhere, it does not fail."""
    room = Room("s1")
    room.add_guest(Guest("bob", "Bob", 1.0))
    room.add_guest(Guest("eve", "Eve", 2.0))
    live = LiveRoom(room, guests={"bob": 1, "eve": 2})
    draw = Draw(stroke="s1", points=[1.0, 2.0])
    (relayed,) = control.relay_draw(live, "bob", draw, 1.0).sent_to(2)
    assert isinstance(relayed, GuestDraw) and relayed.guest_id == "bob"
    room.remove_guest("bob")
    assert control.relay_draw(live, "bob", draw, 2.0).items == []
