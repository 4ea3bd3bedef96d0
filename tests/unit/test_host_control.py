"""The host core's remote control, drawing and sharing badge (extensions,
docs/control/remote-control.md) against the real server in memory, with real viewers.

The room's side of control (who controls, ``set_control`` answers) is the real server's
(``server/live/control.py``); :class:`ControlRoom` only records what the guests heard and
can make a resume answer as a restarted room would. The relayed pushes
(``control_requested``, ``control_input``, ``guest_draw``) arrive with
``LivePage.push``: the viewer core does not send their requests. Everything else (sessions,
guests, muting, privacy) is the real server.
"""

# mypy: disable-error-code="comparison-overlap"

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.client.states import State
from cwmn_web.errors import ErrorCode
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    ControlInput,
    ControlRefused,
    ControlRequested,
    DeclineControl,
    GuestDraw,
    Message,
    SessionEnded,
    SessionResumed,
    SetControl,
    SetControlAllowed,
    StartSession,
)
from tests.helpers.live_core import Viewer
from tests.helpers.live_page import (
    FEATURES,
    HOST,
    PAGE,
    SERVER,
    SITE_CAPTURE,
    LivePage,
    booted,
    call_error,
    host_of,
    in_session,
)


class ControlRoom(LivePage):
    """The real server; records what the host tells the guests about their inputs, and
    what the room holds for :meth:`resumed_with_control`."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.controller = ""
        self.allowed = True
        self.refused: list[ControlRefused] = []
        """What the guests heard back about their inputs (through the server)."""

    def send_socket(self, core: HostController, name: str, message: Message, now: float) -> None:
        if isinstance(message, ControlRefused):
            self.refused.append(message)
        super().send_socket(core, name, message, now)

    def resumed_with_control(self) -> None:
        """The server's answer to a resume carries :attr:`controller` and :attr:`allowed`
        (a guest granted control on the previous page)."""
        take = self.server.take

        def take_with_control(conn: Any) -> list[str]:
            texts = take(conn)
            out = []
            for text in texts:
                message = codec.decode(text)
                if isinstance(message, SessionResumed):
                    message = replace(
                        message, controller=self.controller, control_allowed=self.allowed
                    )
                    text = codec.encode(message)
                out.append(text)
            return out

        self.server.take = take_with_control  # type: ignore[method-assign]


def hosting() -> tuple[HostController, ControlRoom]:
    controller, ports = in_session(ControlRoom())
    assert isinstance(ports, ControlRoom)
    return controller, ports


def joined(ports: LivePage, name: str = "Ann") -> tuple[Viewer, dict[str, Any]]:
    url = ports.call("guest.getInviteLink", ())
    viewer = ports.live.viewer(url.rsplit("/join/", 1)[1], name)
    assert viewer.take_ops("joined"), viewer.ops
    (guest,) = [g for g in ports.core.view()["guests"] if g["name"] == name]
    return viewer, guest


def listen(ports: LivePage, event: str) -> None:
    ports.core.subscribe(event, f"site-{event}")


def asks(ports: LivePage) -> list[Any]:
    return [o["request"] for o in ports.overlays if o["op"] == "control ask"]


def badges(ports: LivePage) -> list[dict[str, Any]]:
    return [o for o in ports.overlays if o["op"] == "badge"]


def control_input(gid: str, kind: str = "click", **fields: Any) -> ControlInput:
    return ControlInput(kind=kind, guest_id=gid, **fields)


# -- asking, granting, declining ------------------------------------------------------------
def test_a_request_goes_to_the_sites_listener_and_a_grant_gives_control() -> None:
    controller, ports = hosting()
    _, ann = joined(ports)
    gid = ann["guestId"]
    listen(ports, "control request")
    listen(ports, "control change")
    ports.push(ControlRequested(guest_id=gid))
    event, args, state = ports.deliveries[-1]
    assert (event, args[0], args[1]["name"], state) == ("control request", gid, "Ann", "in session")
    assert asks(ports) == []  # the site asks the visitor itself
    assert controller.view()["controller"] is None

    assert ports.call("control.grant", (gid,)) is None
    assert [m.guest_id for m in ports.wire.received if isinstance(m, SetControl)] == [gid]
    view = controller.view()
    assert view["controller"]["guestId"] == gid and view["controller"]["controlling"] is True
    assert [g["controlling"] for g in view["guests"]] == [True]
    change = [d for d in ports.deliveries if d[0] == "control change"]
    assert [(a[0]["guestId"], a[0]["name"]) for _, a, _ in change] == [(gid, "Ann")]
    assert badges(ports)[-1]["controller"] == {"guestId": gid, "name": "Ann", "color": ann["color"]}

    assert ports.call("control.revoke", ()) is None
    assert controller.view()["controller"] is None
    assert [g["controlling"] for g in controller.view()["guests"]] == [False]
    assert ports.deliveries[-1][:2] == ("control change", (None,))
    assert badges(ports)[-1]["controller"] is None


def test_without_a_listener_the_default_dialog_asks_and_closes_on_the_answer() -> None:
    controller, ports = hosting()
    _, ann = joined(ports)
    _, bob = joined(ports, "Bob")
    ports.push(ControlRequested(guest_id=ann["guestId"]))
    want = {"guestId": ann["guestId"], "name": "Ann", "color": ann["color"]}
    assert asks(ports) == [want]
    assert "control request" not in ports.events()
    ports.call("control.grant", ({"guestId": ann["guestId"]},))  # the dialog's Allow
    assert asks(ports) == [want, None]
    assert controller.view()["controller"]["guestId"] == ann["guestId"]

    ports.push(ControlRequested(guest_id=bob["guestId"]))
    ports.call("control.decline", (bob["guestId"],))  # Don't allow
    assert asks(ports)[-1] is None
    assert any(isinstance(m, DeclineControl) and m.guest_id == bob["guestId"]
               for m in ports.wire.received)  # fmt: skip
    assert controller.view()["controller"]["guestId"] == ann["guestId"]  # unchanged
    # The controller asking again, or an unknown guest, asks nothing.
    ports.push(ControlRequested(guest_id=ann["guestId"]))
    ports.push(ControlRequested(guest_id="ghost"))
    assert len(asks(ports)) == 4


def test_the_dialog_closes_when_its_guest_leaves_or_is_muted() -> None:
    _, ports = hosting()
    viewer, ann = joined(ports)
    _, bob = joined(ports, "Bob")
    ports.push(ControlRequested(guest_id=ann["guestId"]))
    ports.live.close(viewer, 1000)
    ports.pump()
    assert asks(ports)[-1] is None
    ports.push(ControlRequested(guest_id=bob["guestId"]))
    assert asks(ports)[-1]["name"] == "Bob"
    ports.call("guest.muteGuest", (bob["guestId"], True))
    assert asks(ports)[-1] is None
    ports.push(ControlRequested(guest_id=bob["guestId"]))  # a muted guest is not asked about
    assert asks(ports)[-1] is None


def test_grant_errors_come_from_the_room_or_the_guest_list() -> None:
    controller, ports = hosting()
    _, ann = joined(ports)
    sent = len(ports.wire.received)
    error = call_error(ports, "control.grant", "ghost")
    assert error.code == ErrorCode.NOT_FOUND and "getGuestList" in error.message
    assert len(ports.wire.received) == sent  # no round trip
    ports.call("guest.muteGuest", (ann["guestId"], True))
    assert call_error(ports, "control.grant", ann["guestId"]).code == ErrorCode.GUEST_MUTED
    ports.call("guest.muteGuest", (ann["guestId"], False))
    assert ports.call("control.setAllowed", (False,)) is False
    assert controller.view()["controlAllowed"] is False
    assert call_error(ports, "control.grant", ann["guestId"]).code == ErrorCode.CONTROL_DISABLED
    ports.push(ControlRequested(guest_id=ann["guestId"]))  # refused for good: nobody asked
    assert asks(ports) == []
    assert ports.call("control.setAllowed", (True,)) is True
    assert controller.view()["controlAllowed"] is True
    assert call_error(ports, "control.grant", {"guestId": 7}).code == ErrorCode.INVALID_PARAMS


def test_control_calls_need_a_session() -> None:
    _, ports = booted()
    for path, args in [("control.grant", ("g",)), ("control.revoke", ()),
                       ("control.setAllowed", (False,))]:  # fmt: skip
        assert call_error(ports, path, *args).code == ErrorCode.INVALID_STATE


# -- inputs ---------------------------------------------------------------------------------
def test_only_the_controllers_inputs_reach_the_page_with_the_masking_rules() -> None:
    controller, ports = hosting()
    _, ann = joined(ports)
    _, bob = joined(ports, "Bob")
    ann_id, bob_id = ann["guestId"], bob["guestId"]
    ports.push(control_input(ann_id, x=10, y=20))  # nobody controls yet
    assert [(r.guest_id, r.code) for r in ports.refused] == [(ann_id, "not_controller")]
    ports.call("control.grant", (ann_id,))
    ports.push(control_input(ann_id, "text", text="hello"))
    (applied,) = [o for o in ports.overlays if o["op"] == "control"]
    assert applied == {
        "op": "control",
        "guestId": ann_id,
        "input": {
            "kind": "text",
            "x": 0.0,
            "y": 0.0,
            "key": "",
            "text": "hello",
            "dx": 0.0,
            "dy": 0.0,
            "mods": 0,
        },
        "rules": controller.capture.config(),
    }
    assert applied["rules"]["mask"][:2] == SITE_CAPTURE["mask"]
    ports.push(control_input(bob_id, "key", key="Enter"))  # another guest
    ports.push(control_input(ann_id, "paste"))  # not a kind of input
    assert [(r.guest_id, r.code) for r in ports.refused[1:]] == [
        (bob_id, "not_controller"),
        (ann_id, "control_refused"),
    ]
    # The page refused one (control.mjs: a password field): the guest hears why.
    controller.on_control_refused(ann_id, "a password field", ports.time)
    ports.pump()
    assert ports.refused[-1] == ControlRefused(
        guest_id=ann_id, code="control_refused", message="a password field"
    )
    # Host privacy: nothing is applied, the guest hears why.
    ports.call("privacy.setEnabled", (True,))
    ports.push(control_input(ann_id, "scroll", dy=100))
    assert ports.refused[-1].code == "control_refused" and "privacy" in ports.refused[-1].message
    ports.call("privacy.setEnabled", (False,))
    # Revoked: the next input is refused, not applied.
    ports.call("control.revoke", ())
    ports.push(control_input(ann_id, "text", text="more"))
    assert ports.refused[-1].code == "not_controller"
    assert len([o for o in ports.overlays if o["op"] == "control"]) == 1


def test_a_muted_controller_is_not_obeyed_before_the_room_says_so() -> None:
    _, ports = hosting()
    _, ann = joined(ports)
    ports.call("control.grant", (ann["guestId"],))
    ports.call("guest.muteAllGuests", (True,))
    ports.push(control_input(ann["guestId"], "text", text="x"))
    assert ports.refused[-1].code == "not_controller"
    assert not [o for o in ports.overlays if o["op"] == "control"]


# -- drawing --------------------------------------------------------------------------------
def test_strokes_reach_the_page_and_go_with_a_muted_or_departed_guest() -> None:
    _, ports = hosting()
    viewer, ann = joined(ports)
    _, bob = joined(ports, "Bob")
    for guest in (ann, bob):
        ports.push(GuestDraw(guest_id=guest["guestId"], name=guest["name"], color=guest["color"],
                             stroke="s1", tool="pen", points=[1.0, 2.0, 3.5, 4.0]))  # fmt: skip
    draws = [o for o in ports.overlays if o["op"] == "draw"]
    assert draws[0] == {
        "op": "draw",
        "guestId": ann["guestId"],
        "name": "Ann",
        "color": ann["color"],
        "stroke": "s1",
        "tool": "pen",
        "points": [1.0, 2.0, 3.5, 4.0],
        "done": False,
    }
    ports.push(GuestDraw(guest_id="ghost", stroke="s", points=[1.0, 1.0]))
    assert len([o for o in ports.overlays if o["op"] == "draw"]) == 2
    ports.call("guest.muteGuest", (bob["guestId"], True))
    ports.live.close(viewer, 1000)
    ports.pump()
    cleared = [o["guestId"] for o in ports.overlays if o["op"] == "draw clear"]
    assert cleared == [bob["guestId"], ann["guestId"]]
    ports.push(GuestDraw(guest_id=bob["guestId"], stroke="s2", points=[5.0, 5.0]))  # muted
    assert len([o for o in ports.overlays if o["op"] == "draw"]) == 2


# -- the badge ------------------------------------------------------------------------------
def test_the_badge_follows_what_it_shows_and_is_sent_only_on_change() -> None:
    controller, ports = booted(ControlRoom())
    assert badges(ports) == []  # not sharing: the page module is not even loaded
    assert ports.call("indicator.setEnabled", (False,)) is False
    assert controller.view()["indicator"] is False and badges(ports) == []
    ports.call("session.start", (dict(HOST),))
    (first,) = badges(ports)
    assert first == {
        "op": "badge",
        "sharing": True,
        "replay": False,
        "guests": 0,
        "privacy": False,
        "controller": None,
        "badge": False,
        "masked": False,
        "rules": controller.capture.config(),
    }
    assert ports.entry["indicator"] is False  # the session's next page keeps it
    ports.call("indicator.setEnabled", (False,))
    assert len(badges(ports)) == 1  # nothing changed
    joined(ports)
    assert badges(ports)[-1]["guests"] == 1 and len(badges(ports)) == 2
    ports.call("indicator.showMasked", (True,))
    ports.call("indicator.setEnabled", (True,))
    assert [(b["badge"], b["masked"]) for b in badges(ports)[2:]] == [(False, True), (True, True)]
    assert ports.entry["masked"] is True and "indicator" not in ports.entry
    ports.call("privacy.setEnabled", (True,))
    assert badges(ports)[-1]["privacy"] is True
    count = len(badges(ports))
    ports.core.publish()  # the view again, unchanged
    assert len(badges(ports)) == count
    ports.call("session.endSession", ())
    assert badges(ports)[-1]["sharing"] is False and len(badges(ports)) == count + 1


def test_a_replay_is_shown_as_recorded() -> None:
    _, ports = booted(ControlRoom())
    ports.call("session.start", ({**HOST, "isReplay": True},))
    assert badges(ports)[-1]["replay"] is True and badges(ports)[-1]["sharing"] is True


# -- sessions -------------------------------------------------------------------------------
def test_idle_timeout_goes_to_the_server_and_an_idle_end_is_an_expiry() -> None:
    controller, ports = booted(ControlRoom())
    ports.call("session.start", ({**HOST, "idleTimeout": 120},))
    (start,) = [m for m in ports.wire.received if isinstance(m, StartSession)]
    assert start.idle_timeout == 120
    ports.push(SessionEnded(session_id=ports.session_id, reason="idle"))
    assert controller.state is State.NO_SESSION
    assert ports.events()[-4:] == ["expired", "end session", "reinit", "ready no session"]


def test_without_idle_timeout_the_server_default_applies() -> None:
    _, ports = in_session(ControlRoom())
    (start,) = [m for m in ports.wire.received if isinstance(m, StartSession)]
    assert start.idle_timeout == 0


def test_the_next_page_keeps_the_controller_and_the_visitors_choices() -> None:
    ports = ControlRoom()
    entry = ports.previous_page()
    ports.controller, ports.allowed = "g-ann", False
    ports.resumed_with_control()
    resume = {**entry, "capture": SITE_CAPTURE, "indicator": False, "masked": True}
    controller = host_of(ports, ClientConfig(SERVER, PAGE, FEATURES, resume=resume))
    ports.boot()
    assert controller.state is State.IN_SESSION
    view = ports.view_at("in session")
    assert view["controller"] == {"guestId": "g-ann", "name": "", "controlling": True}
    assert view["controlAllowed"] is False and view["indicator"] is False
    badge = badges(ports)[-1]
    assert (badge["badge"], badge["masked"], badge["controller"]["guestId"]) == (
        False,
        True,
        "g-ann",
    )
    assert ports.entry["indicator"] is False and ports.entry["masked"] is True


def test_the_end_of_a_session_clears_control_dialog_and_strokes() -> None:
    controller, ports = hosting()
    _, ann = joined(ports)
    ports.call("control.grant", (ann["guestId"],))
    ports.push(GuestDraw(guest_id=ann["guestId"], stroke="s", points=[1.0, 1.0]))
    _, bob = joined(ports, "Bob")
    ports.push(ControlRequested(guest_id=bob["guestId"]))
    ports.call("session.endSession", ())
    assert asks(ports)[-1] is None
    assert [o["guestId"] for o in ports.overlays if o["op"] == "draw clear"] == [ann["guestId"]]
    assert controller.view()["controller"] is None


def test_a_reconnect_learns_control_changed_while_the_socket_was_down() -> None:
    controller, ports = hosting()
    _, ann = joined(ports)
    listen(ports, "control change")
    ports.call("control.grant", (ann["guestId"],))
    ports.controller, ports.allowed = "", False  # what the room holds when the host is back
    ports.resumed_with_control()
    ports.drop()
    ports.advance(1.0)
    assert ports.events()[-1] == "control change" and ports.deliveries[-1][1] == (None,)
    assert controller.view()["controller"] is None
    assert controller.view()["controlAllowed"] is False


def test_taking_control_back_stops_the_inputs_at_once() -> None:
    """Inputs the room relayed before it heard the visitor take control back (revoke,
    setAllowed(false), a grant to another guest) are not applied: the page stops obeying
    when the call is made, not a round trip later."""
    _, ports = hosting()
    _, ann = joined(ports)
    _, bob = joined(ports, "Bob")
    ann_id, bob_id = ann["guestId"], bob["guestId"]

    def applied() -> list[str]:
        return [o["input"]["text"] for o in ports.overlays if o["op"] == "control"]

    for path, args, result in [
        ("control.revoke", (), None),
        ("control.setAllowed", (False,), False),
        ("control.grant", (bob_id,), None),
    ]:
        ports.call("control.setAllowed", (True,))
        ports.call("control.grant", (ann_id,))
        ports.push(control_input(ann_id, "text", text=path))  # obeyed
        assert applied()[-1] == path
        before = len(applied())
        ports.wire.hold = True  # the call is on its way to the room
        call = ports.start_call(path, args)
        for letter in "abc":  # relayed by the room before it heard the call
            ports.push(control_input(ann_id, "text", text=letter))
        assert len(applied()) == before
        assert [r.code for r in ports.refused[-3:]] == ["not_controller"] * 3
        ports.release()  # the room's answer, its control_changed first
        assert ports.outcome(call) is result
        ports.push(control_input(ann_id, "text", text="late"))
        assert len(applied()) == before and ports.refused[-1].code == "not_controller"
    ports.push(control_input(bob_id, "text", text="bob"))  # the new controller is obeyed
    assert applied()[-1] == "bob"


def test_a_withdrawn_request_closes_the_dialog() -> None:
    _, ports = hosting()
    _, ann = joined(ports)
    _, bob = joined(ports, "Bob")
    ports.push(ControlRequested(guest_id=ann["guestId"]))
    assert asks(ports)[-1]["guestId"] == ann["guestId"]
    ports.push(ControlRequested(guest_id=bob["guestId"], withdrawn=True))  # not the one asked
    assert asks(ports)[-1]["guestId"] == ann["guestId"]
    ports.push(ControlRequested(guest_id=ann["guestId"], withdrawn=True))  # the viewer withdrew
    assert asks(ports)[-1] is None
    listen(ports, "control request")
    ports.push(ControlRequested(guest_id=ann["guestId"], withdrawn=True))
    assert "control request" not in ports.events() and asks(ports)[-1] is None


def test_a_refusal_of_control_outlives_a_room_that_lost_it() -> None:
    """setAllowed(false) is the visitor's: the resume entry keeps it, and a room that says
    control is allowed (a restarted server, a handover) is told again, on a reconnect and
    on the session's next page."""
    controller, ports = hosting()
    assert ports.call("control.setAllowed", (False,)) is False
    assert ports.entry["controlAllowed"] is False
    ports.controller, ports.allowed = "", True  # what a room that lost it says
    ports.resumed_with_control()
    sent = len(ports.wire.received)
    ports.drop()
    ports.advance(1.0)
    again = [m for m in ports.wire.received[sent:] if isinstance(m, SetControlAllowed)]
    assert again == [SetControlAllowed(ref=again[0].ref, allowed=False)]
    assert controller.view()["controlAllowed"] is False
    assert ports.entry["controlAllowed"] is False

    ports = ControlRoom()
    entry = ports.previous_page()
    ports.controller, ports.allowed = "", True
    ports.resumed_with_control()
    resume = {**entry, "capture": SITE_CAPTURE, "controlAllowed": False}
    controller = host_of(ports, ClientConfig(SERVER, PAGE, FEATURES, resume=resume))
    ports.boot()
    assert controller.state is State.IN_SESSION
    assert [m.allowed for m in ports.wire.received if isinstance(m, SetControlAllowed)] == [False]
    assert controller.view()["controlAllowed"] is False
    assert ports.entry["controlAllowed"] is False
    assert ports.call("control.setAllowed", (True,)) is True  # the visitor changed its mind
    assert "controlAllowed" not in ports.entry
