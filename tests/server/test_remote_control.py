"""Remote control with consent and drawing (extensions), end to end over the sockets: who
hears what, and the attacker's view (inputs without control, spam, malformed strokes)."""

from __future__ import annotations

from contextlib import ExitStack
from itertools import count
from typing import TYPE_CHECKING, TypeVar

import pytest

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    CLOSE_GOING_AWAY,
    CLOSE_PROTOCOL,
    MAX_DRAW_NUMBERS,
    ControlChanged,
    ControlDeclined,
    ControlInput,
    ControlRefused,
    ControlRequested,
    DeclineControl,
    Draw,
    ErrorReply,
    GuestDraw,
    GuestJoined,
    GuestUpdated,
    Message,
    MuteAll,
    MuteGuest,
    Ok,
    ReleaseControl,
    RemoveGuest,
    RequestControl,
    SetControl,
    SetControlAllowed,
    SetName,
    SetPrivacy,
)
from cwmn_web.server.live.pace import (
    DECLINED_WAIT,
    DRAW_BURST,
    DRAW_NUMBERS_BURST,
    DRAW_NUMBERS_RATE,
    INPUT_BURST,
    MIN_REQUEST_INTERVAL,
)

from .live import Guest, Host, WallClock, guest, host

if TYPE_CHECKING:
    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(30)
_refs = count(7000)
M = TypeVar("M", bound=Message)


def ref() -> int:
    return next(_refs)


def ok(wire: Host | Guest, message: Message) -> None:
    reply = wire.ask(message)
    assert isinstance(reply, Ok), reply


def refused(wire: Host | Guest, message: Message) -> str:
    """The error code ``message`` is answered with."""
    reply = wire.ask(message)
    assert isinstance(reply, ErrorReply), reply
    return reply.code


def of(wire: Host | Guest, kind: type[M]) -> list[M]:
    return [m for m in wire.drain() if isinstance(m, kind)]


def controller(wire: Host | Guest) -> list[tuple[str, bool]]:
    """The ``control_changed`` pushes ``wire`` received: (guest id, allowed)."""
    return [(m.guest_id, m.allowed) for m in of(wire, ControlChanged)]


def flags(pushes: list[Message]) -> list[tuple[str, bool]]:
    """The host's ``guest_updated`` pushes: (guest id, controlling)."""
    updates = [m for m in pushes if isinstance(m, GuestUpdated)]
    return [(m.guest["guestId"], m.guest["controlling"]) for m in updates]


def text(typed: str) -> ControlInput:
    return ControlInput(ref=ref(), kind="text", text=typed)


def typed(h: Host) -> list[tuple[str, str]]:
    """The text inputs the host received: (guest id, text)."""
    return [(m.guest_id, m.text) for m in of(h, ControlInput)]


def test_request_decline_grant_input_handover_and_release(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, ExitStack() as stack:
        h.start()
        bob, eve = (stack.enter_context(guest(client, d)) for d in ("dev-b", "dev-e"))
        bob_id = bob.joined(h.link(), "Bob").guest_id
        eve_id = eve.joined(h.link(), "Eve").guest_id
        h.drain()

        ok(bob, RequestControl(ref=ref()))
        assert h.drain() == [ControlRequested(guest_id=bob_id)]
        assert refused(bob, RequestControl(ref=ref())) == "rate_limited"  # asking again
        assert h.drain() == []
        ok(h, DeclineControl(ref=ref(), guest_id=bob_id))
        assert bob.drain() == [ControlDeclined()] and eve.drain() == []

        ok(h, SetControl(ref=ref(), guest_id=bob_id))  # the visitor said yes
        pushes = list(h.pushes)  # before the Ok
        assert flags(pushes) == [(bob_id, True)]
        assert ControlChanged(guest_id=bob_id, name="Bob", allowed=True) in pushes
        h.pushes.clear()
        assert controller(bob) == [(bob_id, True)] and controller(eve) == [(bob_id, True)]

        bob.send(ControlInput(ref=ref(), kind="click", x=10, y=2000, mods=2))
        bob.send(text("hello"))
        bob.sync()
        click, hello = h.drain()
        assert click == ControlInput(kind="click", x=10, y=2000, mods=2, guest_id=bob_id)
        assert isinstance(hello, ControlInput) and (hello.guest_id, hello.text) == (bob_id, "hello")
        assert bob.drain() == []  # no answer to an input taken

        # Eve without control: refused, and the host receives nothing.
        assert refused(eve, text("pwned")) == "not_controller"
        assert refused(eve, ControlInput(ref=ref(), kind="click", guest_id=bob_id)) == (
            "not_controller"  # naming the controller changes nothing
        )
        assert h.drain() == []

        # The visitor hands control to Eve: Bob loses it, everyone hears.
        ok(h, SetControl(ref=ref(), guest_id=eve_id))
        assert sorted(flags(list(h.pushes))) == sorted([(bob_id, False), (eve_id, True)])
        h.pushes.clear()
        assert controller(bob) == [(eve_id, True)] and controller(eve) == [(eve_id, True)]
        assert refused(bob, text("more")) == "not_controller"
        eve.send(text("mine"))
        eve.sync()
        assert typed(h) == [(eve_id, "mine")]

        ok(eve, SetName(ref=ref(), name="Eve Smith"))  # everyone's label follows
        changed = ControlChanged(guest_id=eve_id, name="Eve Smith", allowed=True)
        assert changed in h.drain() and of(bob, ControlChanged) == [changed]
        assert of(eve, ControlChanged) == [changed]

        ok(eve, ReleaseControl(ref=ref()))
        assert controller(h) == [("", True)] and controller(bob) == [("", True)]
        assert controller(eve) == [("", True)]
        ok(eve, ReleaseControl(ref=ref()))  # had none: nothing happens
        ok(h, SetControl(ref=ref(), guest_id=""))
        assert h.drain() == [] and bob.drain() == []
        assert refused(h, SetControl(ref=ref(), guest_id="nobody")) == "not_found"


def test_revoking_mid_typing_stops_the_next_inputs(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, guest(client) as bob:
        h.start()
        bob_id = bob.joined(h.link()).guest_id
        ok(h, SetControl(ref=ref(), guest_id=bob_id))
        h.drain()
        for letter in "abc":
            bob.send(text(letter))
        ok(h, SetControl(ref=ref(), guest_id=""))  # the visitor takes control back
        codes = [refused(bob, text(letter)) for letter in "def"]
        assert codes == ["not_controller"] * 3
        assert typed(h) == [(bob_id, "a"), (bob_id, "b"), (bob_id, "c")]

        # The page refusing an input (a masked field): its guest hears why.
        ok(h, SetControl(ref=ref(), guest_id=bob_id))
        bob.drain()
        h.send(ControlRefused(guest_id=bob_id, message="that field is masked"))
        h.sync()
        (told,) = of(bob, ControlRefused)
        assert (told.ref, told.code, told.message) == (0, "control_refused", "that field is masked")

        # Privacy on: the page is not shared, nor controlled.
        ok(h, SetPrivacy(ref=ref(), enabled=True))
        reply = bob.ask(text("x"))
        assert isinstance(reply, ErrorReply) and reply.code == "control_refused"
        assert "paused" in reply.message
        assert typed(h) == []


def test_refusing_control_for_good_and_who_knows_the_controller(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, ExitStack() as stack:
        started = h.start()
        bob = stack.enter_context(guest(client, "dev-b"))
        bob_id = bob.joined(h.link(), "Bob").guest_id
        ok(h, SetControl(ref=ref(), guest_id=bob_id))

        # A guest joining late, and the host's next page, know who controls.
        eve = stack.enter_context(guest(client, "dev-e"))
        joined = eve.joined(h.link(), "Eve")
        assert (joined.controller, joined.control_allowed) == (bob_id, True)
        h.ws.close(CLOSE_GOING_AWAY)  # the visitor follows a link of the site
        with host(client) as next_page:
            resumed = next_page.resumed(started.resume_token, "page-2")
            assert (resumed.controller, resumed.control_allowed) == (bob_id, True)
            roster = [m for m in next_page.drain() if isinstance(m, GuestJoined)]
            assert {m.guest["name"]: m.guest["controlling"] for m in roster} == {
                "Bob": True,
                "Eve": False,
            }
            bob.send(text("still mine"))
            bob.sync()
            assert typed(next_page) == [(bob_id, "still mine")]

            ok(next_page, SetControlAllowed(ref=ref(), allowed=False))
            assert controller(bob)[-1] == ("", False) and controller(eve)[-1] == ("", False)
            assert refused(bob, RequestControl(ref=ref())) == "control_disabled"
            assert refused(next_page, SetControl(ref=ref(), guest_id=bob_id)) == (
                "control_disabled"
            )
            assert refused(bob, text("no")) == "not_controller"
            next_page.drain()
            with guest(client, "dev-c") as carl:
                assert carl.joined(next_page.link(), "Carl").control_allowed is False
            ok(next_page, SetControlAllowed(ref=ref(), allowed=True))
            assert controller(bob) == [("", True)]
            ok(bob, RequestControl(ref=ref()))


def test_muting_removing_or_leaving_takes_control_away(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, guest(client, "dev-b") as bob:
        h.start()
        bob_id = bob.joined(h.link(), "Bob").guest_id
        with guest(client, "dev-e") as eve:
            eve_id = eve.joined(h.link(), "Eve").guest_id
            mute_and_leave(h, bob, bob_id, eve, eve_id)
        # The controller (Eve) left.
        assert controller(bob) == [("", True)]
        assert (eve_id, False) in flags(h.drain())

        ok(h, SetControl(ref=ref(), guest_id=bob_id))
        bob.drain()
        ok(h, RemoveGuest(ref=ref(), guest_id=bob_id))
        assert ("", True) in controller(h)


def mute_and_leave(h: Host, bob: Guest, bob_id: str, eve: Guest, eve_id: str) -> None:
    """Muting Bob, then muting everyone, takes control away; then Eve controls."""
    ok(h, SetControl(ref=ref(), guest_id=bob_id))
    ok(h, MuteGuest(ref=ref(), guest_id=bob_id, muted=True))
    assert controller(eve)[-1] == ("", True)
    assert (bob_id, False) in flags(h.drain())
    assert refused(bob, RequestControl(ref=ref())) == "guest_muted"
    assert refused(h, SetControl(ref=ref(), guest_id=bob_id)) == "guest_muted"
    assert refused(bob, Draw(ref=ref(), stroke="s1", points=[1, 2])) == "guest_muted"
    assert refused(bob, text("x")) == "not_controller"

    ok(h, MuteGuest(ref=ref(), guest_id=bob_id, muted=False))
    ok(h, SetControl(ref=ref(), guest_id=bob_id))
    ok(h, MuteAll(ref=ref(), muted=True))
    assert controller(eve)[-1] == ("", True)
    ok(h, MuteAll(ref=ref(), muted=False))

    ok(h, SetControl(ref=ref(), guest_id=eve_id))
    h.drain()
    bob.drain()


def test_drawing_reaches_the_host_and_the_other_guests(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, ExitStack() as stack:
        h.start()
        bob = stack.enter_context(guest(client, "dev-b"))
        joined = bob.joined(h.link(), "Bob")
        eve = stack.enter_context(guest(client, "dev-e"))
        eve.joined(h.link(), "Eve")
        h.drain()
        bob.drain()

        bob.send(Draw(ref=ref(), stroke="s1", tool="laser", points=[1, 2, 3.5, 4], done=True))
        bob.sync()
        expected = GuestDraw(
            guest_id=joined.guest_id,
            name="Bob",
            color=joined.color,
            stroke="s1",
            tool="laser",
            points=[1, 2, 3.5, 4],
            done=True,
        )
        assert h.drain() == [expected] and eve.drain() == [expected]
        assert bob.drain() == []  # never back to the one drawing

        assert refused(bob, Draw(ref=ref(), stroke="s2", points=[1, 2, 3])) == "invalid_params"
        assert refused(bob, Draw(ref=ref(), stroke="s2", tool="spray")) == "invalid_params"
        assert refused(bob, Draw(ref=ref(), stroke="", points=[1, 2])) == "invalid_params"
        assert refused(bob, Draw(ref=ref(), stroke="s2", points=[1, 1e9])) == "invalid_params"
        assert h.drain() == [] and eve.drain() == []

        ok(h, SetPrivacy(ref=ref(), enabled=True))
        bob.send(Draw(ref=ref(), stroke="s3", points=[5, 5]))
        bob.sync()
        assert of(h, GuestDraw) == [] and of(eve, GuestDraw) == []


def test_spam_is_cut_to_the_buckets(
    live_client: LiveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    WallClock(monkeypatch, still=True)  # the buckets refill only when the clock moves
    with live_client() as client, host(client) as h, ExitStack() as stack:
        h.start()
        bob = stack.enter_context(guest(client, "dev-b"))
        bob_id = bob.joined(h.link(), "Bob").guest_id
        eve = stack.enter_context(guest(client, "dev-e"))
        eve.joined(h.link(), "Eve")
        ok(h, SetControl(ref=ref(), guest_id=bob_id))
        h.drain()
        eve.drain()

        for i in range(DRAW_BURST + 40):
            bob.send(Draw(ref=ref(), stroke=f"s{i}", points=[i, i], done=True))
        for _ in range(INPUT_BURST + 40):
            bob.send(ControlInput(ref=ref(), kind="scroll", dy=10))
        errors = [m for m in bob.drain() if isinstance(m, ErrorReply)]
        assert [e.code for e in errors] == ["rate_limited"] * 80
        host_got = h.drain()
        assert len([m for m in host_got if isinstance(m, GuestDraw)]) == DRAW_BURST
        assert len([m for m in host_got if isinstance(m, ControlInput)]) == INPUT_BURST
        assert len(of(eve, GuestDraw)) == DRAW_BURST


def test_endless_strokes_are_cut_whatever_their_ids(
    live_client: LiveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = WallClock(monkeypatch, still=True)
    with live_client() as client, host(client) as h, guest(client) as bob:
        h.start()
        bob.joined(h.link())
        h.drain()
        part = [1.0] * 128
        parts = DRAW_NUMBERS_BURST // len(part)
        for i in range(parts + 1):  # two strokes in turn: still one guest's numbers
            bob.send(Draw(ref=ref(), stroke=f"s{i % 2}", points=part))
        errors = [m for m in bob.drain() if isinstance(m, ErrorReply)]
        assert [e.code for e in errors] == ["rate_limited"]
        assert "points a second" in errors[0].message
        assert len(of(h, GuestDraw)) == parts
        bob.send(Draw(ref=ref(), stroke="next", points=part))  # a new id is no way round
        assert refused(bob, Draw(ref=ref(), stroke="new", points=part)) == "rate_limited"
        clock.advance(client, 1)  # a second's worth comes back
        for i in range(DRAW_NUMBERS_RATE // len(part) + 1):
            bob.send(Draw(ref=ref(), stroke=f"t{i}", points=part))
        bob.sync()
        assert len(of(h, GuestDraw)) == DRAW_NUMBERS_RATE // len(part)

        # More numbers than a message may hold: not our protocol, the socket closes.
        too_many = Draw(ref=ref(), stroke="big", points=[1.0] * (MAX_DRAW_NUMBERS + 2))
        bob.ws.send_text(codec.encode(too_many))
        assert bob.closed_code() == CLOSE_PROTOCOL
        assert of(h, GuestDraw) == []


def test_a_declined_guest_waits_longer_each_time(
    live_client: LiveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guest cannot keep the consent dialog over the visitor's page: after "Don't allow"
    it waits 30 s, then 60 s, ...; other guests keep the plain interval."""
    clock = WallClock(monkeypatch, still=True)
    with live_client() as client, host(client) as h, ExitStack() as stack:
        h.start()
        bob = stack.enter_context(guest(client, "dev-b"))
        bob_id = bob.joined(h.link(), "Bob").guest_id
        eve = stack.enter_context(guest(client, "dev-e"))
        eve.joined(h.link(), "Eve")
        h.drain()
        for wait in (DECLINED_WAIT, 2 * DECLINED_WAIT):
            ok(bob, RequestControl(ref=ref()))
            assert of(h, ControlRequested) == [ControlRequested(guest_id=bob_id)]
            ok(h, DeclineControl(ref=ref(), guest_id=bob_id))
            clock.advance(client, wait - 1)
            reply = bob.ask(RequestControl(ref=ref()))
            assert isinstance(reply, ErrorReply) and reply.code == "rate_limited", reply
            assert "declined" in reply.message and "in 1 s" in reply.message
            assert of(h, ControlRequested) == []
            clock.advance(client, 1)
        ok(bob, RequestControl(ref=ref()))  # the second wait is over
        # Eve was never declined: 3 s between her requests, as before.
        ok(eve, RequestControl(ref=ref()))
        clock.advance(client, MIN_REQUEST_INTERVAL)
        ok(eve, RequestControl(ref=ref()))


def test_a_withdrawn_request_is_told_to_the_host(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h, guest(client) as bob:
        h.start()
        bob_id = bob.joined(h.link(), "Bob").guest_id
        h.drain()
        ok(bob, ReleaseControl(ref=ref()))  # nothing asked: the host hears nothing
        assert of(h, ControlRequested) == []
        ok(bob, RequestControl(ref=ref()))
        ok(bob, ReleaseControl(ref=ref()))  # the viewer withdraws before the answer
        assert of(h, ControlRequested) == [
            ControlRequested(guest_id=bob_id),
            ControlRequested(guest_id=bob_id, withdrawn=True),
        ]
        ok(bob, ReleaseControl(ref=ref()))  # once only
        assert of(h, ControlRequested) == []
        # A grant answers the request: releasing afterwards is giving control back.
        ok(h, SetControl(ref=ref(), guest_id=bob_id))
        h.drain()
        ok(bob, ReleaseControl(ref=ref()))
        pushes = h.drain()
        assert not [m for m in pushes if isinstance(m, ControlRequested)]
        assert ControlChanged(guest_id="", name="", allowed=True) in pushes
