"""cwmn_web.viewer.session: joining, frame order, statuses, reconnects, the guest's pointer —
no browser, no socket.

Frames are fed to a GuestSession by hand, with the time passed in; tests/unit/test_driver.py
runs it over in-memory sockets.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    CLOSE_BAD_ORIGIN,
    CLOSE_REMOVED,
    CLOSE_REPLACED,
    CLOSE_SESSION_ENDED,
    CLOSE_TRY_AGAIN_LATER,
    PROTOCOL_VERSION,
    ErrorReply,
    GuestClick,
    GuestPointer,
    Hello,
    HostStatus,
    Join,
    Joined,
    Message,
    Muted,
    Ok,
    Paused,
    Ping,
    PointerClick,
    PointerMove,
    Pong,
    Removed,
    SessionEnded,
    SetName,
    Welcome,
)
from cwmn_web.timing import RECONNECT_FIRST, RECONNECT_LIMIT
from cwmn_web.viewer.session import (
    CLICK_INTERVAL,
    JOIN_TIMEOUT,
    NAVIGATION_GRACE,
    GuestSession,
    guest_ws_url,
)
from tests.helpers.viewer_frames import SAFE_NODES, SNAPSHOT, frame


def joined(**fields: Any) -> str:
    return codec.encode(Joined(ref=2, guest_id="g1", session_id="s1", host_name="Hal", **fields))


def sent(session: GuestSession) -> list[Message]:
    return [codec.decode(f) for f in session.to_send()]


def started(last_seq: int = 0, **fields: Any) -> GuestSession:
    session = GuestSession("tok", "Ann")
    session.last_seq = last_seq
    session.connected()
    session.to_send()
    session.receive(codec.encode(Welcome(ref=1)))
    session.receive(joined(**fields))
    session.page_ops()
    return session


# -- pieces ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("server", "url"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws/guest"),
        ("https://cwmn.example.com", "wss://cwmn.example.com/ws/guest"),
        ("https://cwmn.example.com/", "wss://cwmn.example.com/ws/guest"),
    ],
)
def test_guest_ws_url(server: str, url: str) -> None:
    assert guest_ws_url(server) == url


def test_the_viewer_reconnects_on_the_hosts_policy_a_quarter_second_doubling_to_eight() -> None:
    backoff = GuestSession("tok", "Ann").backoff
    assert [backoff.next() for _ in range(8)] == [0.25, 0.5, 1, 2, 4, 8, 8, 8]
    assert (backoff.first, backoff.limit) == (RECONNECT_FIRST, RECONNECT_LIMIT)
    backoff.reset()
    assert backoff.next() == 0.25


# -- one connection, by hand -------------------------------------------------------------------
def test_a_verified_host_reaches_the_viewer_as_verified() -> None:
    session = GuestSession("tok", "Ann")
    session.connected()
    session.receive(codec.encode(Welcome(ref=1, version=PROTOCOL_VERSION)))
    session.receive(joined(host_verified=True))
    (op,) = [op for op in session.page_ops() if op["op"] == "joined"]
    assert (op["hostName"], op["hostVerified"]) == ("Hal", True)


def test_connecting_says_hello_as_a_guest_then_joins() -> None:
    session = GuestSession("tok", "Ann")
    session.connected()
    assert sent(session) == [
        Hello(ref=1, role="guest"),
        Join(ref=2, token="tok", name="Ann", last_seq=0),
    ]
    assert session.to_send() == []
    session.receive(codec.encode(Welcome(ref=1, version=PROTOCOL_VERSION)))
    session.receive(joined(paused=True, host_connected=False, muted=True, color="#2563eb"))
    assert session.joined and session.muted
    assert session.page_ops() == [
        {
            "op": "joined",
            "guestId": "g1",
            "sessionId": "s1",
            "hostName": "Hal",
            "hostVerified": False,
            "paused": True,
            "hostConnected": False,
            "muted": True,
            "color": "#2563eb",
            "waiting": False,
            "name": "Ann",  # an older server names none: the one the guest gave
            "navigating": False,
        }
    ]
    assert session.page_ops() == []


def test_a_session_waiting_for_its_invited_host_says_so() -> None:
    session = GuestSession("tok", "Ann")
    session.connected()
    session.receive(joined(host_connected=False, waiting=True))
    (op,) = session.page_ops()
    assert (op["hostName"], op["hostConnected"], op["waiting"]) == ("Hal", False, True)


@pytest.mark.parametrize("color", ["", "red", "#12", "#1234567", "url(x)", "#e5484d;x:y"])
def test_a_colour_that_is_not_plain_hex_becomes_the_default(color: str) -> None:
    """Colours end up in the page's CSS: nothing but ``#hex`` gets there."""
    session = started(color=color)
    session.receive(codec.encode(GuestPointer(guest_id="g2", name="Bo", color=color, x=1, y=2)))
    session.receive(codec.encode(GuestClick(guest_id="g2", name="Bo", color=color, x=1, y=2)))
    assert session.color == "#e5484d"
    assert [op["color"] for op in session.page_ops()] == ["#e5484d", "#e5484d"]


def test_frames_are_sanitized_and_numbered() -> None:
    session = started()
    session.receive(frame(1, "snapshot"))
    session.receive(frame(2, adds=[[6, 3, 3, "under the dropped script"], [7, 2, 3, "ok"]]))
    session.receive(frame(3, "pointer", x=10, y=20))
    ops = session.page_ops()
    assert [(op["op"], op["seq"], op["kind"]) for op in ops] == [
        ("frame", 1, "snapshot"),
        ("frame", 2, "mutations"),
        ("frame", 3, "pointer"),
    ]
    assert ops[0]["data"]["nodes"] == SAFE_NODES
    assert ops[1]["data"]["adds"] == [[7, 2, 3, "ok"]]
    assert ops[2]["data"] == {"x": 10, "y": 20}
    assert session.last_seq == 2  # the pointer is not logged by the server: never resumed from


def test_the_hosts_last_pointer_is_shown_whatever_its_seq() -> None:
    """A joining guest gets the log, then the host's last pointer, which may be older."""
    session = started()
    for text in (frame(1, "snapshot"), frame(3, texts=[[5, "x"]]), frame(2, "pointer", x=4, y=5)):
        session.receive(text)
    ops = session.page_ops()
    assert [(op["seq"], op["kind"]) for op in ops] == [
        (1, "snapshot"),
        (3, "mutations"),
        (2, "pointer"),
    ]
    assert session.last_seq == 3


def test_frames_already_applied_are_ignored() -> None:
    session = started()
    for seq in (1, 2, 3, 2, 3, 4):
        session.receive(frame(seq, "snapshot" if seq == 1 else "scroll", id=0, x=seq, y=0))
    assert [op["seq"] for op in session.page_ops()] == [1, 2, 3, 4]


def test_a_snapshot_is_always_taken_and_resets_the_sanitizer() -> None:
    """The host numbers frames from 1 on each page it loads."""
    session = started()
    session.receive(frame(1, "snapshot"))
    session.receive(frame(40, "scroll", id=0, x=0, y=1))
    assert 3 in session.sanitizer.dropped
    new_page = {**SNAPSHOT, "nodes": [[1, 0, 1, "html", []], [3, 1, 1, "main", []]]}
    session.receive(frame(1, "snapshot", **new_page))
    session.receive(frame(2, adds=[[8, 3, 3, "under main, not under a script any more"]]))
    ops = session.page_ops()
    assert [(op["seq"], op["kind"]) for op in ops] == [
        (1, "snapshot"),
        (40, "scroll"),
        (1, "snapshot"),
        (2, "mutations"),
    ]
    assert ops[3]["data"]["adds"] == [[8, 3, 3, "under main, not under a script any more"]]
    assert session.last_seq == 2


def test_a_malformed_frame_is_skipped_with_a_warning() -> None:
    session = started()
    session.receive(frame(1, "teleport"))
    session.receive(frame(2, "pointer", x="1", y=2))
    session.receive(frame(3, "scroll", id=0, x=1, y=2))
    ops = session.page_ops()
    assert [op["op"] for op in ops] == ["warning", "warning", "frame"]
    assert "teleport" in ops[0]["message"]
    assert session.last_seq == 3 and not session.done


@pytest.mark.parametrize(
    ("message", "op"),
    [
        (Paused(paused=True), {"op": "status", "paused": True}),
        (Paused(paused=False), {"op": "status", "paused": False}),
        (
            HostStatus(connected=False),
            {"op": "status", "hostConnected": False, "navigating": False},
        ),
        (HostStatus(connected=True), {"op": "status", "hostConnected": True, "navigating": False}),
    ],
)
def test_pushes_become_statuses(message: Message, op: dict[str, Any]) -> None:
    session = started()
    session.receive(codec.encode(message))
    assert session.page_ops() == [op]
    assert not session.done


@pytest.mark.parametrize("reason", ["ended", "expired"])
def test_session_ended_stops_everything(reason: str) -> None:
    session = started()
    session.receive(codec.encode(SessionEnded(session_id="s1", reason=reason)))
    session.receive(frame(1, "snapshot"))
    assert session.page_ops() == [{"op": "status", "ended": reason}]
    assert session.done
    assert session.lost(CLOSE_SESSION_ENDED) is None
    assert session.page_ops() == []


@pytest.mark.parametrize("code", ["link_invalid", "link_used", "session_ended", "unauthorized"])
def test_a_refused_join_is_final(code: str) -> None:
    session = GuestSession("tok", "Ann")
    session.connected()
    session.receive(codec.encode(ErrorReply(ref=2, code=code, message="Ask the host.")))
    assert session.page_ops() == [
        {"op": "status", "error": {"code": code, "message": "Ask the host."}}
    ]
    assert session.done and session.lost(1000) is None


def test_an_unknown_error_code_is_final_too() -> None:
    session = GuestSession("tok", "Ann")
    session.receive(codec.encode(ErrorReply(ref=2, code="cookies_required", message="Cookies!")))
    [op] = session.page_ops()
    assert op["error"]["message"].endswith("Cookies!") and session.done


@pytest.mark.parametrize("code", ["server_error", "rate_limited", "timeout"])
def test_a_transient_error_asks_for_another_try(code: str) -> None:
    session = GuestSession("tok", "Ann")
    session.connected()
    session.receive(codec.encode(ErrorReply(ref=2, code=code, message="later")))
    assert session.drop and not session.done
    assert session.page_ops() == []
    assert session.lost() == RECONNECT_FIRST
    session.connected()
    assert not session.drop


def test_pings_are_answered() -> None:
    session = started()
    session.receive(codec.encode(Ping(ref=7)))
    session.receive(codec.encode(Pong(ref=3)))
    session.receive(codec.encode(Ok(ref=4)))
    assert sent(session) == [Pong(ref=7)]
    assert session.page_ops() == []


@pytest.mark.parametrize(
    "text", ["not json", '{"type": "teleport"}', '{"type": "mirror", "seq": "one"}']
)
def test_a_broken_frame_from_the_server_is_final(text: str) -> None:
    session = started()
    session.receive(text)
    [op] = session.page_ops()
    assert op["error"]["code"] == "protocol" and session.done


def test_a_server_of_another_protocol_version_is_final() -> None:
    session = GuestSession("tok", "Ann")
    session.receive(codec.encode(Welcome(ref=1, version=PROTOCOL_VERSION + 1)))
    [op] = session.page_ops()
    assert op["error"]["code"] == "protocol" and "reload" in op["error"]["message"]


# -- other guests' pointers, muting, removal -----------------------------------------------
def test_other_guests_pointers_and_clicks_become_page_ops() -> None:
    session = started()
    for message in (
        GuestPointer(guest_id="g2", name="Bo", color="#16a34a", x=10.5, y=2000, visible=True),
        GuestPointer(guest_id="g2", name="Bo", color="#16a34a", x=11, y=2001, visible=False),
        GuestClick(guest_id="g3", name="Cy", color="#D97706", x=3, y=4),
        GuestPointer(guest_id="g1", name="Ann", color="#e5484d", x=1, y=1),  # its own: no
        GuestClick(guest_id="g1", name="Ann", color="#e5484d", x=1, y=1),
    ):
        session.receive(codec.encode(message))
    assert session.page_ops() == [
        {
            "op": "pointer",
            "guestId": "g2",
            "name": "Bo",
            "color": "#16a34a",
            "x": 10.5,
            "y": 2000,
            "visible": True,
        },
        {
            "op": "pointer",
            "guestId": "g2",
            "name": "Bo",
            "color": "#16a34a",
            "x": 11,
            "y": 2001,
            "visible": False,
        },
        {"op": "click", "guestId": "g3", "name": "Cy", "color": "#D97706", "x": 3, "y": 4},
    ]
    assert session.to_send() == []


def test_muted_becomes_a_status_and_silences_the_guest() -> None:
    session = started()
    session.pointer(1, 1, True, now=10.0)
    assert sent(session) == [PointerMove(x=1, y=1, visible=True)]
    session.pointer(2, 2, True, now=10.01)  # held for the trailing edge…
    session.receive(codec.encode(Muted(muted=True)))
    assert session.page_ops() == [{"op": "status", "muted": True}]
    assert session.muted and session.next_due() is None
    session.tick(11.0)  # …and forgotten: it must not go out once muted
    session.pointer(3, 3, True, now=12.0)
    session.click(3, 3, now=12.0)
    assert session.to_send() == []
    session.receive(codec.encode(Muted(muted=False)))
    assert session.page_ops() == [{"op": "status", "muted": False}]
    session.pointer(4, 4, False, now=13.0)
    session.click(4, 4, now=13.0)
    assert sent(session) == [PointerMove(x=4, y=4, visible=False), PointerClick(x=4, y=4)]


def test_a_guest_that_joins_muted_sends_nothing() -> None:
    session = started(muted=True)
    session.pointer(1, 1, True, now=1.0)
    session.click(1, 1, now=1.0)
    assert session.to_send() == [] and session.next_due() is None


def test_removed_is_final() -> None:
    session = started()
    session.receive(codec.encode(Removed()))
    assert session.done
    assert session.page_ops() == [{"op": "status", "removed": True}]
    session.pointer(1, 1, True, now=1.0)
    session.receive(frame(1, "snapshot"))
    assert session.to_send() == [] and session.page_ops() == []
    assert session.lost(CLOSE_REMOVED) is None
    assert session.page_ops() == []  # said once


def test_the_removed_close_code_alone_is_final_too() -> None:
    session = started()
    assert session.lost(CLOSE_REMOVED) is None
    assert session.page_ops() == [{"op": "status", "removed": True}] and session.done


# -- the guest's own pointer ------------------------------------------------------------------
def test_pointer_moves_are_throttled_to_30_a_second_and_the_last_one_goes_out() -> None:
    session = started()
    moves: list[tuple[float, Message]] = []
    t = 100.0
    for i in range(400):  # 2 seconds of moves every 5 ms
        t = 100.0 + i * 0.005
        session.tick(t)
        session.pointer(i, 2 * i, True, now=t)
        moves += [(t, m) for m in sent(session)]
    assert moves[0] == (100.0, PointerMove(x=0, y=0, visible=True))  # the leading edge
    assert moves[-1][1] != PointerMove(x=399, y=798, visible=True)  # still held…
    due = session.next_due()
    assert due is not None and t < due <= t + 1 / 30
    session.tick(due - 0.001)
    assert session.to_send() == []
    session.tick(due)  # …until its time comes
    moves += [(due, m) for m in sent(session)]
    assert moves[-1][1] == PointerMove(x=399, y=798, visible=True)
    assert session.next_due() is None
    times = [when for when, _ in moves]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1 / 30 - 1e-9
    assert len(moves) <= 2 * 30 + 1
    assert all(isinstance(m, PointerMove) for _, m in moves)


def test_a_hidden_pointer_is_the_last_word() -> None:
    session = started()
    session.pointer(5, 5, True, now=1.0)
    session.pointer(6, 6, True, now=1.01)
    session.pointer(6, 6, False, now=1.02)  # left the page
    session.tick(1.0 + 1 / 30)
    assert sent(session) == [
        PointerMove(x=5, y=5, visible=True),
        PointerMove(x=6, y=6, visible=False),
    ]


def test_clicks_go_out_at_most_ten_a_second() -> None:
    session = started()
    assert pytest.approx(0.1) == CLICK_INTERVAL
    for i in range(64):  # 64 clicks in a second (times exact in binary)
        session.click(i, i, now=50.0 + i / 64)
    clicks = sent(session)
    assert clicks[0] == PointerClick(x=0, y=0)
    # 7/64 s is the first ≥ 0.1 s
    assert [c.x for c in clicks if isinstance(c, PointerClick)] == [7 * i for i in range(10)]


@pytest.mark.parametrize(
    ("x", "y", "visible"),
    [
        (math.nan, 1, True),
        (1, math.inf, True),
        (-math.inf, 1, True),
        ("1", 2, True),
        (None, 2, True),
        (True, 2, True),
        (1, [2], True),
        (1, 2, "yes"),
        (1, 2, None),
        (1, 2, 1),
    ],
)
def test_garbage_from_the_page_is_dropped(x: Any, y: Any, visible: Any) -> None:
    session = started()
    session.pointer(x, y, visible, now=1.0)
    if visible is True:
        session.click(x, y, now=1.0)
    assert session.to_send() == [] and session.next_due() is None
    session.pointer(1, 2, True, now=1.0)  # and the throttle did not count it
    assert sent(session) == [PointerMove(x=1, y=2, visible=True)]


def test_nothing_is_sent_before_joining_and_nothing_stale_after_a_reconnect() -> None:
    session = GuestSession("tok", "Ann")
    session.pointer(1, 1, True, now=1.0)
    session.click(1, 1, now=1.0)
    session.connected()
    session.pointer(1, 1, True, now=1.0)  # connected, not joined yet
    assert [type(m) for m in sent(session)] == [Hello, Join]
    session.receive(joined())
    session.pointer(1, 1, True, now=2.0)
    session.pointer(2, 2, True, now=2.01)  # held
    session.click(3, 3, now=2.02)  # queued, never written: the socket dropped
    assert session.lost(1006) == RECONNECT_FIRST
    assert session.next_due() is None
    session.tick(5.0)
    session.connected()
    assert [type(m) for m in sent(session)] == [Hello, Join]
    session.tick(5.0)
    session.pointer(1, 1, True, now=5.0)
    assert session.to_send() == []  # not joined again yet


def test_integers_go_out_as_floats() -> None:
    session = started()
    session.pointer(3, 4, True, now=1.0)
    [move] = session.to_send()
    assert move == '{"type":"pointer_move","ref":0,"x":3.0,"y":4.0,"visible":true}'


# -- losing the connection -------------------------------------------------------------------
def test_a_lost_connection_reconnects_with_backoff_and_rejoins_after_last_seq() -> None:
    session = started()
    session.receive(frame(1, "snapshot"))
    session.receive(frame(2, "scroll", id=0, x=1, y=1))
    session.page_ops()
    delays = []
    for _ in range(6):
        delays.append(session.lost(1006))
        assert session.page_ops() == [{"op": "status", "reconnecting": True}]
        session.connected()
        assert sent(session)[1] == Join(ref=2, token="tok", name="Ann", last_seq=2)
    assert delays == [0.25, 0.5, 1, 2, 4, 8]
    session.receive(joined())
    session.page_ops()
    assert session.lost(None) == RECONNECT_FIRST  # joining again resets the backoff


@pytest.mark.parametrize(
    ("close_code", "code", "text"),
    [
        (CLOSE_REPLACED, "network", "This session is now open in another tab or window."),
        (CLOSE_BAD_ORIGIN, "unauthorized", "This page may not connect to the CWMN server."),
    ],
)
def test_some_close_codes_are_final(close_code: int, code: str, text: str) -> None:
    session = started()
    assert session.lost(close_code) is None
    assert session.page_ops() == [{"op": "status", "error": {"code": code, "message": text}}]
    assert session.done


def test_the_session_ended_close_code_ends_it() -> None:
    session = started()
    assert session.lost(CLOSE_SESSION_ENDED) is None
    assert session.page_ops() == [{"op": "status", "ended": "ended"}] and session.done


def test_try_again_later_reconnects() -> None:
    session = started()
    assert session.lost(CLOSE_TRY_AGAIN_LATER) == RECONNECT_FIRST
    assert not session.done


# -- the name, chosen after joining -----------------------------------------------------
def test_a_guest_joins_before_naming_itself_then_sends_its_name() -> None:
    session = GuestSession("tok", "")
    session.set_name("  Zoe  ")  # before any connection: the join carries it
    session.connected()
    assert sent(session)[1] == Join(ref=2, token="tok", name="Zoe")
    session.receive(codec.encode(Welcome(ref=1)))
    session.receive(joined(name="Zoe"))
    assert sent(session) == []
    assert session.page_ops()[0]["name"] == "Zoe"
    session.set_name("Zed")
    assert sent(session) == [SetName(ref=3, name="Zed")]
    session.set_name("   ")
    assert sent(session) == [SetName(ref=3, name="Guest")]
    session.set_name(7)  # garbage from the page
    assert sent(session) == []


def test_a_name_chosen_while_the_join_was_on_its_way_follows_it() -> None:
    session = GuestSession("tok", "")
    session.connected()
    assert sent(session)[1] == Join(ref=2, token="tok", name="")
    session.set_name("Zoe")  # not joined yet: nothing goes out now
    assert sent(session) == []
    session.receive(joined(name="Guest"))
    assert sent(session) == [SetName(ref=3, name="Zoe")]
    assert session.page_ops()[0]["name"] == "Guest"


def test_a_refused_name_is_a_warning_not_the_end() -> None:
    session = started()
    session.set_name("Zoe")
    session.to_send()
    session.receive(codec.encode(ErrorReply(ref=3, code="rate_limited", message="slow down")))
    assert session.page_ops() == [{"op": "warning", "message": "name: slow down"}]
    assert not (session.done or session.drop)


# -- the host's page changes ------------------------------------------------------------
def test_a_page_change_keeps_the_picture_until_the_next_snapshot() -> None:
    session = started()
    session.receive(frame(1, "snapshot"))
    session.page_ops()
    session.receive(codec.encode(HostStatus(connected=False, navigating=True)))
    assert session.page_ops() == [{"op": "status", "hostConnected": False, "navigating": True}]
    session.tick(100.0)
    assert session.next_due() == 100.0 + NAVIGATION_GRACE
    session.receive(codec.encode(HostStatus(connected=True)))
    # Back, but the page is still the old one: the note stays.
    assert session.page_ops() == [{"op": "status", "hostConnected": True, "navigating": True}]
    session.receive(frame(1, "snapshot"))  # the next page's seqs start over
    assert [op["op"] for op in session.page_ops()] == ["frame", "status"]
    assert not session.navigating and session.next_due() is None
    session.tick(200.0)
    assert session.page_ops() == []


def test_joining_while_the_host_changes_page_shows_the_note_not_the_drop() -> None:
    session = GuestSession("tok", "Ann")
    session.connected()
    session.receive(joined(host_connected=False, navigating=True))
    (op,) = session.page_ops()
    assert (op["op"], op["hostConnected"], op["navigating"]) == ("joined", False, True)
    # The old page's snapshot (what the server kept) does not end the page change.
    session.receive(frame(5, "snapshot"))
    assert [op["op"] for op in session.page_ops()] == ["frame"]
    session.tick(50.0)  # the grace runs on the session's clock
    assert session.next_due() == 50.0 + NAVIGATION_GRACE
    # A reconnect during the change keeps its grace; the next page ends it.
    assert session.lost() is not None
    session.connected()
    session.receive(joined(host_connected=False, navigating=True))
    assert session.page_ops()[-1]["navigating"] is True
    session.tick(51.0)
    assert session.next_due() == 50.0 + NAVIGATION_GRACE
    session.receive(codec.encode(HostStatus(connected=True)))
    session.receive(frame(1, "snapshot"))
    assert session.page_ops()[-1] == {"op": "status", "navigating": False}
    assert session.next_due() is None


def test_joining_while_the_host_is_gone_otherwise_shows_the_drop() -> None:
    session = started()
    session.receive(codec.encode(HostStatus(connected=False, navigating=True)))
    session.tick(1.0)
    session.lost()
    session.connected()
    session.receive(joined(host_connected=False))  # gone for good since: no note
    assert session.page_ops()[-1]["navigating"] is False
    assert not session.navigating and session.next_due() is None


def test_a_host_that_does_not_come_back_is_shown_as_gone_after_the_grace() -> None:
    session = started()
    session.receive(codec.encode(HostStatus(connected=False, navigating=True)))
    session.page_ops()
    session.tick(10.0)
    session.tick(10.0 + NAVIGATION_GRACE - 0.01)
    assert session.page_ops() == []
    session.tick(10.0 + NAVIGATION_GRACE)
    assert session.page_ops() == [{"op": "status", "navigating": False}]
    assert session.next_due() is None


def test_a_plain_drop_during_a_page_change_shows_at_once() -> None:
    session = started()
    session.receive(codec.encode(HostStatus(connected=False, navigating=True)))
    session.tick(1.0)
    session.receive(codec.encode(HostStatus(connected=False)))
    assert session.page_ops()[-1] == {"op": "status", "hostConnected": False, "navigating": False}
    assert session.next_due() is None


def test_a_socket_that_never_says_joined_is_given_up_after_the_join_timeout() -> None:
    session = GuestSession("tok", "Ann")
    session.connected()
    session.tick(100.0)  # the first tick after connecting starts the wait
    assert session.next_due() == 100.0 + JOIN_TIMEOUT
    session.receive(codec.encode(Welcome(ref=1)))  # a frame: the wait starts over
    session.tick(110.0)
    assert session.open and session.next_due() == 110.0 + JOIN_TIMEOUT
    session.tick(110.0 + JOIN_TIMEOUT - 0.01)
    assert session.open
    session.tick(110.0 + JOIN_TIMEOUT)
    assert not session.open and session.next_due() is None
    assert session.lost() == RECONNECT_FIRST
    session.connected()
    session.receive(joined())
    session.tick(500.0)
    assert session.open and session.next_due() is None  # joined: no deadline
