"""cwmn_web.viewer.session, the extensions: asking for control, the controller's inputs,
drawing, and the notices the guest reads — no browser, no socket, the time passed in."""

from __future__ import annotations

from typing import Any

import pytest

from cwmn_web.errors import ErrorCode
from cwmn_web.protocol import codec
from cwmn_web.protocol.constants import DEFAULT_GUEST_COLOR
from cwmn_web.protocol.messages import (
    MAX_DRAW_NUMBERS,
    ControlChanged,
    ControlDeclined,
    ControlInput,
    ControlRefused,
    Draw,
    ErrorReply,
    GuestDraw,
    Muted,
    ReleaseControl,
    RequestControl,
    Welcome,
)
from cwmn_web.viewer.session import (
    CONTROL_INTERVAL,
    DRAW_INTERVAL,
    NOTICES,
    GuestSession,
)

from .test_viewer_session import joined, sent, started


def controlling(**fields: Any) -> GuestSession:
    """A joined guest (g1) that controls the host's page."""
    session = started(controller="g1", **fields)
    assert session.controlling
    return session


def control_ops(session: GuestSession) -> list[dict[str, Any]]:
    return [op for op in session.page_ops() if op["op"] in ("control", "notice")]


def inputs(session: GuestSession) -> list[ControlInput]:
    out = sent(session)
    assert all(isinstance(m, ControlInput) for m in out), out
    return [m for m in out if isinstance(m, ControlInput)]


def control_op(controller: str = "", **fields: Any) -> dict[str, Any]:
    base = {"op": "control", "controller": controller, "name": "", "you": controller == "g1"}
    return {**base, "allowed": True, "pending": False, **fields}


# -- asking ----------------------------------------------------------------------------------
def test_joined_tells_the_page_who_controls() -> None:
    session = GuestSession("tok", "Ann")
    session.connected()
    session.receive(codec.encode(Welcome(ref=1)))
    session.receive(joined(controller="g2", control_allowed=False))
    ops = session.page_ops()
    assert [op["op"] for op in ops] == ["joined", "control"]
    assert ops[1] == control_op("g2", allowed=False)


def test_a_request_waits_for_the_visitor_then_control_is_granted() -> None:
    session = started()
    session.request_control()
    session.request_control()  # once is enough while waiting
    assert sent(session) == [RequestControl(ref=4)]
    assert control_ops(session) == [control_op(pending=True)]
    session.receive(codec.encode(ControlChanged(guest_id="g1", name="Ann")))
    assert session.controlling
    assert control_ops(session) == [control_op("g1", name="Ann")]
    session.request_control()  # already in control
    assert sent(session) == []


def test_a_declined_request_is_a_notice_and_may_be_asked_again() -> None:
    session = started()
    session.request_control()
    sent(session)
    session.page_ops()
    session.receive(codec.encode(ControlDeclined()))
    assert control_ops(session) == [
        control_op(),
        {"op": "notice", "code": "control_declined", "message": NOTICES["control_declined"]},
    ]
    session.request_control()
    assert sent(session) == [RequestControl(ref=4)]


def test_another_guest_in_control_leaves_the_request_waiting() -> None:
    session = started()
    session.request_control()
    session.receive(codec.encode(ControlChanged(guest_id="g2", name="Bo")))
    assert control_ops(session)[-1] == control_op("g2", name="Bo", pending=True)


@pytest.mark.parametrize(
    ("code", "allowed"),
    [
        (ErrorCode.CONTROL_DISABLED, False),
        (ErrorCode.GUEST_MUTED, True),
        (ErrorCode.RATE_LIMITED, True),
        ("something_new", True),
    ],
)
def test_a_refused_request_is_a_notice_not_the_end(code: str, allowed: bool) -> None:
    session = started()
    session.request_control()
    sent(session)
    session.page_ops()
    session.receive(codec.encode(ErrorReply(ref=4, code=code, message="server words")))
    assert session.open and not session.done
    ops = control_ops(session)
    assert ops[0] == control_op(allowed=allowed)
    assert ops[1]["op"] == "notice" and ops[1]["code"] == code
    assert ops[1]["message"] == NOTICES.get(code, "server words")
    session.request_control()
    assert sent(session) == ([RequestControl(ref=4)] if allowed else [])


def test_a_page_that_refuses_control_is_never_asked() -> None:
    session = started(control_allowed=False)
    session.request_control()
    assert sent(session) == []
    session.receive(codec.encode(ControlChanged(guest_id="", allowed=True)))
    session.request_control()
    assert sent(session) == [RequestControl(ref=4)]


def test_a_muted_guest_cannot_ask_and_muting_ends_a_wait() -> None:
    session = started(muted=True)
    session.request_control()
    assert sent(session) == []
    session = started()
    session.request_control()
    session.page_ops()
    session.receive(codec.encode(Muted(muted=True)))
    assert control_op() in session.page_ops()


def test_releasing_gives_control_back_at_once() -> None:
    session = controlling()
    session.release_control()
    assert sent(session) == [ReleaseControl(ref=4)]
    assert control_ops(session) == [control_op()]
    session.control_input({"kind": "click", "x": 1, "y": 2}, 0.0)
    session.release_control()  # nothing to give back
    assert sent(session) == []


# -- the controller's inputs -----------------------------------------------------------------
def test_clicks_and_keys_go_at_once_in_document_coordinates() -> None:
    session = controlling()
    session.control_input({"kind": "click", "x": 10, "y": 2000.5}, 0.0)
    session.control_input({"kind": "dblclick", "x": 10, "y": 2000.5}, 0.001)
    session.control_input({"kind": "key", "key": "Enter", "mods": 1 | 2}, 0.002)
    assert inputs(session) == [
        ControlInput(ref=5, kind="click", x=10, y=2000.5),
        ControlInput(ref=5, kind="dblclick", x=10, y=2000.5),
        ControlInput(ref=5, kind="key", key="Enter", mods=3),
    ]


def test_quick_typing_is_coalesced_and_order_is_kept() -> None:
    session = controlling()
    for n, char in enumerate("hello"):
        session.control_input({"kind": "text", "text": char}, n * 0.005)
    assert inputs(session) == [ControlInput(ref=5, kind="text", text="h")]  # the leading edge
    assert session.next_due() == pytest.approx(CONTROL_INTERVAL)
    session.control_input({"kind": "key", "key": "Enter"}, 0.03)  # flushes the text first
    assert [(m.kind, m.text, m.key) for m in inputs(session)] == [
        ("text", "ello", ""),
        ("key", "", "Enter"),
    ]
    session.control_input({"kind": "text", "text": "a"}, 0.031)
    session.control_input({"kind": "text", "text": "b"}, 0.032)
    assert inputs(session) == []
    assert session.next_due() == pytest.approx(0.03 + CONTROL_INTERVAL)
    session.tick(0.03 + CONTROL_INTERVAL)
    assert [m.text for m in inputs(session)] == ["ab"]
    assert session.next_due() is None


def test_scrolls_are_summed_at_the_newest_point() -> None:
    session = controlling()
    session.control_input({"kind": "scroll", "x": 5, "y": 6, "dx": 0, "dy": 100}, 0.0)
    session.control_input({"kind": "scroll", "x": 7, "y": 8, "dx": 1, "dy": 50}, 0.01)
    session.control_input({"kind": "scroll", "x": 9, "y": 9, "dx": 2, "dy": -25}, 0.02)
    assert inputs(session) == [ControlInput(ref=5, kind="scroll", x=5, y=6, dy=100)]
    session.tick(0.02)
    assert inputs(session) == []
    session.tick(CONTROL_INTERVAL)
    assert inputs(session) == [ControlInput(ref=5, kind="scroll", x=9, y=9, dx=3, dy=25)]


def test_long_text_goes_in_pieces_of_256() -> None:
    session = controlling()
    text = "é" * 300 + "z" * 300
    session.control_input({"kind": "text", "text": text}, 0.0)
    pieces = [m.text for m in inputs(session)]
    assert [len(p) for p in pieces] == [256, 256, 88]
    assert "".join(pieces) == text
    for piece in pieces:  # each fits the wire's limit
        codec.encode(ControlInput(kind="text", text=piece))


@pytest.mark.parametrize(
    "data",
    [
        None,
        "click",
        {"kind": "drag", "x": 1, "y": 1},
        {"kind": "click", "x": float("nan"), "y": 1},
        {"kind": "click", "x": 1},
        {"kind": "click", "x": True, "y": 1},
        {"kind": "scroll", "x": 1, "y": 1, "dx": float("inf"), "dy": 0},
        {"kind": "key", "key": ""},
        {"kind": "key", "key": "x" * 33},
        {"kind": "key", "key": "a", "mods": 16},
        {"kind": "key", "key": "a", "mods": True},
        {"kind": "text", "text": ""},
        {"kind": "text", "text": 5},
    ],
)
def test_malformed_inputs_are_dropped(data: Any) -> None:
    session = controlling()
    session.control_input(data, 0.0)
    assert sent(session) == [] and session.next_due() is None


def test_nothing_goes_out_without_control() -> None:
    session = started(controller="g2")
    session.control_input({"kind": "click", "x": 1, "y": 1}, 0.0)
    assert sent(session) == []
    session = controlling()
    session.control_input({"kind": "text", "text": "a"}, 0.0)
    session.control_input({"kind": "text", "text": "b"}, 0.01)  # held
    sent(session)
    session.receive(codec.encode(ControlChanged(guest_id="", name="")))  # revoked mid-typing
    session.tick(1.0)
    session.control_input({"kind": "text", "text": "c"}, 1.0)
    assert sent(session) == []
    assert session.next_due() is None


def test_a_muted_controller_sends_nothing() -> None:
    session = controlling()
    session.receive(codec.encode(Muted(muted=True)))
    session.control_input({"kind": "click", "x": 1, "y": 1}, 0.0)
    assert sent(session) == []


@pytest.mark.parametrize(
    "code",
    [ErrorCode.NOT_CONTROLLER, ErrorCode.CONTROL_REFUSED, ErrorCode.RATE_LIMITED],
)
def test_a_refused_input_is_a_notice(code: str) -> None:
    session = controlling()
    session.control_input({"kind": "click", "x": 1, "y": 1}, 0.0)
    sent(session)
    session.receive(codec.encode(ErrorReply(ref=5, code=code, message="words")))
    assert session.open
    ops = control_ops(session)
    assert ops[-1] == {"op": "notice", "code": code, "message": NOTICES[code]}
    # Only "not the controller" takes control away here (the server says so too).
    assert session.controlling is (code != ErrorCode.NOT_CONTROLLER)
    assert (ops[0] == control_op()) is (code == ErrorCode.NOT_CONTROLLER)


def test_the_host_page_refusing_an_input_is_a_notice() -> None:
    session = controlling()
    session.receive(codec.encode(ControlRefused(guest_id="g1", message="<b>pwd</b>")))
    assert control_ops(session) == [
        {"op": "notice", "code": "control_refused", "message": NOTICES["control_refused"]}
    ]
    assert session.controlling


def test_a_reconnect_forgets_control_until_joined_says_again() -> None:
    session = controlling()
    session.control_input({"kind": "text", "text": "a"}, 0.0)
    session.control_input({"kind": "text", "text": "b"}, 0.01)  # held
    sent(session)
    session.page_ops()
    assert session.lost(1006) is not None
    assert not session.controlling
    assert control_op() in session.page_ops()
    session.connected()
    sent(session)
    session.tick(1.0)
    assert sent(session) == []  # the held "b" is not typed after the reconnect
    session.receive(codec.encode(Welcome(ref=1)))
    session.receive(joined(controller="g1"))
    assert control_op("g1") in session.page_ops()
    session.control_input({"kind": "text", "text": "c"}, 2.0)
    assert [m.text for m in inputs(session)] == ["c"]


# -- drawing ---------------------------------------------------------------------------------
def draws(session: GuestSession) -> list[Draw]:
    out = sent(session)
    assert all(isinstance(m, Draw) for m in out), out
    return [m for m in out if isinstance(m, Draw)]


def test_a_stroke_is_coalesced_at_25_messages_a_second() -> None:
    session = started()
    session.draw("s1", "pen", [1, 2], False, 0.0)
    assert draws(session) == [Draw(ref=6, stroke="s1", tool="pen", points=[1, 2])]
    now = 0.0
    for n in range(10):  # a move every 3 ms: 10 moves within one interval
        now = 0.003 + n * 0.003
        session.draw("s1", "pen", [n, n], False, now)
    session.draw("s1", "pen", [], True, now)
    assert draws(session) == []
    assert session.next_due() == pytest.approx(DRAW_INTERVAL)
    session.tick(DRAW_INTERVAL)
    points = [float(v) for n in range(10) for v in (n, n)]
    assert draws(session) == [Draw(ref=6, stroke="s1", tool="pen", points=points, done=True)]
    assert session.next_due() is None


def test_a_long_stroke_goes_in_parts_of_128_numbers_and_ends_once() -> None:
    session = started()
    session.draw("s1", "pen", [0, 0], False, 0.0)
    draws(session)
    session.draw("s1", "pen", [float(v) for v in range(300)], True, 0.01)
    parts: list[Draw] = []
    now = 0.0
    while session.next_due() is not None:
        now = session.next_due() or now
        session.tick(now)
        parts += draws(session)
    assert [len(p.points) for p in parts] == [MAX_DRAW_NUMBERS, MAX_DRAW_NUMBERS, 44]
    assert [p.done for p in parts] == [False, False, True]
    assert now == pytest.approx(3 * DRAW_INTERVAL)  # ≤ 25 a second
    assert [v for p in parts for v in p.points] == list(range(300))
    for part in parts:
        codec.encode(part)


def test_strokes_follow_one_another_in_order() -> None:
    session = started()
    session.draw("s1", "laser", [1, 1], False, 0.0)
    session.draw("s1", "laser", [2, 2], True, 0.01)
    session.draw("s2", "pen", [3, 3], True, 0.02)
    session.tick(DRAW_INTERVAL)
    session.tick(2 * DRAW_INTERVAL)
    assert [(d.stroke, d.tool, d.points, d.done) for d in draws(session)] == [
        ("s1", "laser", [1, 1], False),
        ("s1", "laser", [2, 2], True),
        ("s2", "pen", [3, 3], True),
    ]


@pytest.mark.parametrize(
    ("stroke", "tool", "points", "done"),
    [
        ("", "pen", [1, 1], False),
        ("x" * 17, "pen", [1, 1], False),
        (5, "pen", [1, 1], False),
        ("s", "marker", [1, 1], False),
        ("s", "pen", [1], False),
        ("s", "pen", [1, float("nan")], False),
        ("s", "pen", [1, "2"], False),
        ("s", "pen", "1,2", False),
        ("s", "pen", [1, 2], "yes"),
    ],
)
def test_malformed_drawing_is_dropped(stroke: Any, tool: Any, points: Any, done: Any) -> None:
    session = started()
    session.draw(stroke, tool, points, done, 0.0)
    assert sent(session) == [] and session.next_due() is None


def test_a_muted_guest_draws_nothing_and_muting_drops_what_waits() -> None:
    session = started(muted=True)
    session.draw("s1", "pen", [1, 1], False, 0.0)
    assert sent(session) == []
    session = started()
    session.draw("s1", "pen", [1, 1], False, 0.0)
    session.draw("s1", "pen", [2, 2], False, 0.01)
    sent(session)
    session.receive(codec.encode(Muted(muted=True)))
    session.tick(1.0)
    assert sent(session) == [] and session.next_due() is None


def test_drawing_held_is_bounded() -> None:
    session = started()
    session.draw("s1", "pen", [0, 0], False, 0.0)
    draws(session)
    for n in range(100):  # a hostile page: 10,000 numbers at once
        session.draw(f"s{n}", "pen", [1.0] * 100, False, 0.001)
    total = 0
    now = 0.0
    while session.next_due() is not None:
        now = session.next_due() or now
        session.tick(now)
        total += sum(len(d.points) for d in draws(session))
    assert total == 4096


def test_drawing_too_fast_is_a_notice_in_its_own_words() -> None:
    session = started()
    session.receive(codec.encode(ErrorReply(ref=6, code="rate_limited", message="slow")))
    ops = control_ops(session)
    assert session.open and ops[0]["code"] == "rate_limited"
    assert "drawing too fast" in ops[0]["message"]
    session.receive(codec.encode(ErrorReply(ref=6, code="guest_muted", message="muted")))
    assert control_ops(session)[0]["message"] == NOTICES["guest_muted"]


def test_other_guests_drawing_becomes_page_ops_never_our_own() -> None:
    session = started()
    other = GuestDraw(
        guest_id="g2", name="Bo", color="#16a34a", stroke="a", tool="laser", points=[1, 2]
    )
    session.receive(codec.encode(other))
    session.receive(codec.encode(GuestDraw(guest_id="g1", stroke="b", points=[1, 2])))
    session.receive(codec.encode(GuestDraw(guest_id="g3", color="red", points=[3, 4])))
    session.receive(codec.encode(GuestDraw(guest_id="g4", tool="spray", points=[3, 4])))
    ops = session.page_ops()
    assert ops == [
        {
            "op": "draw",
            "guestId": "g2",
            "name": "Bo",
            "color": "#16a34a",
            "stroke": "a",
            "tool": "laser",
            "points": [1, 2],
            "done": False,
        },
        {
            "op": "draw",
            "guestId": "g3",
            "name": "",
            "color": DEFAULT_GUEST_COLOR,  # "red" is not a plain hex colour
            "stroke": "",
            "tool": "pen",
            "points": [3, 4],
            "done": False,
        },
    ]
