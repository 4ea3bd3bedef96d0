"""The host core's guests against the real server in memory (tests/helpers/live_page.py):
invites (through the real ``Invites`` into the development outbox), real viewers joining,
pointing, clicking and leaving, muting, the room's settings, the public link."""

# mypy: disable-error-code="comparison-overlap"
# (the state changes through the core's inputs, which mypy does not see)

from __future__ import annotations

import re
from typing import Any

import pytest

from cwmn_web.client.states import State
from cwmn_web.protocol.messages import (
    CreateJoinCode,
    CreatePublicLink,
    ErrorReply,
    GuestClick,
    InviteGuest,
    MuteAll,
    MuteGuest,
    SetPrivacy,
    SetPublicLink,
)
from cwmn_web.server.join_codes import AttemptLimits
from cwmn_web.timing import POINTER_INTERVAL
from tests.helpers.live_core import Viewer
from tests.helpers.live_page import PAGE, LivePage, booted, call_error, in_session


def joined(ports: LivePage, name: str = "Ann") -> tuple[Viewer, dict[str, Any]]:
    """A real viewer that joined through the host's invite link, and its guest object."""
    url = ports.call("guest.getInviteLink", ())
    viewer = ports.live.viewer(url.rsplit("/join/", 1)[1], name)
    assert viewer.take_ops("joined"), viewer.ops
    (guest,) = [g for g in ports.core.view()["guests"] if g["name"] == name]
    return viewer, guest


# -- invites ------------------------------------------------------------------------------------
def test_email_invite_goes_through_the_server() -> None:
    _, ports = in_session()
    params = {"guestName": "Guest Name", "guestEmail": "g@example.com", "message": "Hi\r\n!"}
    result = ports.call("guest.inviteGuest", (params,))
    (invite,) = ports.db.list_invites(ports.session_id)
    assert result == {
        "inviteId": invite.id,
        "channel": "email",
        "to": "g@example.com",
        "status": "outbox",  # the server's email transport without SMTP
    }
    (mail,) = ports.db.kept_messages()
    assert mail.recipient == "Guest Name <g@example.com>" and "Hi\n!" in mail.body_text
    assert mail.invite_id == invite.id
    sent = [m for m in ports.wire.received if isinstance(m, InviteGuest)]
    assert sent == [
        InviteGuest(
            ref=sent[0].ref,
            guest_name="Guest Name",
            guest_email="g@example.com",
            guest_phone="",
            message="Hi\n!",
        )
    ]


def test_sms_invite_goes_through_the_server() -> None:
    _, ports = in_session()
    result = ports.call(
        "guest.inviteGuest", ({"guestName": "Guest Name", "guestPhone": "3145550000"},)
    )
    assert result["channel"] == "sms" and result["to"] == "+13145550000"
    (sent,) = [m for m in ports.wire.received if isinstance(m, InviteGuest)]
    assert (sent.guest_phone, sent.guest_email, sent.guest_name, sent.message) == (
        "3145550000",
        "",
        "Guest Name",
        "",
    )
    (mail,) = ports.db.kept_messages()
    assert mail.recipient == "+13145550000"


@pytest.mark.parametrize(
    "params",
    [
        {"guestName": "G\r\nBcc: x@y.com", "guestEmail": "g@example.com"},
        {"guestName": "G", "guestEmail": "g@example.com\r\nBcc: x@y.com"},
        {"guestName": "G", "guestEmail": "g@example.com", "message": "m" * 1001},
        {"guestName": "G", "guestEmail": "g@example.com", "message": "bell\x07"},
        {"guestPhone": "call me"},
    ],
)
def test_bad_invites_never_reach_the_server(params: dict[str, Any]) -> None:
    _, ports = in_session()
    error = call_error(ports, "guest.inviteGuest", params)
    assert error.code == "invalid_params"
    assert not any(isinstance(m, InviteGuest) for m in ports.wire.received)


def test_invite_refused_by_the_server_rejects_with_its_code() -> None:
    controller, ports = in_session()
    limit = ports.server.settings.invites_per_session
    for i in range(limit):
        ports.call("guest.inviteGuest", ({"guestName": "G", "guestEmail": f"g{i}@example.com"},))
    params = {"guestName": "G", "guestEmail": "one-more@example.com"}
    error = call_error(ports, "guest.inviteGuest", params)
    (refusal,) = [m for m in ports.wire.answers if isinstance(m, ErrorReply)]
    assert (error.code, error.message) == ("rate_limited", refusal.message)
    assert len(ports.db.kept_messages()) == limit
    assert controller.state is State.IN_SESSION


def test_invite_outside_a_session_is_invalid_state() -> None:
    _, ports = booted()
    params = {"guestName": "G", "guestEmail": "g@example.com"}
    error = call_error(ports, "guest.inviteGuest", params)
    assert error.code == "invalid_state"
    assert ports.connected == []


# -- guests ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "args"),
    [
        ("guest.removeGuest", ("ghost",)),
        ("guest.removeGuest", ({"guestId": "ghost"},)),
        ("guest.muteGuest", ("ghost", True)),
        ("guest.muteGuest", ({"guestId": "ghost", "muted": False},)),
    ],
)
def test_unknown_guest_is_not_found(path: str, args: tuple[Any, ...]) -> None:
    _, ports = in_session()
    error = call_error(ports, path, *args)
    assert error.code == "not_found"
    assert "'ghost'" in error.message


def test_guest_pushes_fire_events_and_update_the_list() -> None:
    controller, ports = in_session()
    viewer, guest = joined(ports)
    assert controller.view()["guests"] == [guest]
    assert (guest["name"], guest["muted"], guest["via"]) == ("Ann", False, "private")
    ports.live.close(viewer)
    assert controller.view()["guests"] == []
    names = [(d[0], d[1]) for d in ports.deliveries[-4:]]
    assert names == [
        ("guest connected", (guest["guestId"], guest)),
        ("roomdata update", ([guest],)),
        ("guest disconnected", (guest["guestId"], guest)),
        ("roomdata update", ([],)),
    ]


def test_mute_a_known_guest_goes_through_the_server() -> None:
    controller, ports = in_session()
    viewer, guest = joined(ports)
    assert len(controller.guests) == 1
    assert ports.call("guest.muteGuest", (guest["guestId"], True)) is None
    mute = MuteGuest(ref=ports.wire.received[-1].ref, guest_id=guest["guestId"], muted=True)
    assert mute in ports.wire.received
    # The server's guest_updated came before the answer: the list is current already.
    muted = {**guest, "muted": True}
    assert ports.published[-1]["guests"] == [muted]
    assert ports.deliveries[-1][:2] == ("roomdata update", ([muted],))
    assert viewer.take_ops("status")[-1].get("muted") is True  # the viewer heard it


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        ("guest.muteAllGuests", "muteAll", True),
        ("publicLink.setEnabled", "publicLinkEnabled", False),
        ("privacy.setEnabled", "privacyEnabled", True),
    ],
)
def test_settings_update_the_published_view(path: str, key: str, value: bool) -> None:
    controller, ports = in_session()
    assert controller.view()[key] is not value
    assert ports.call(path, (value,)) is value
    assert ports.published[-1][key] is value
    assert ports.published[-1]["state"] == "in session"
    assert controller.view()[key] is value
    assert ports.call(path, (not value,)) is (not value)
    assert ports.published[-1][key] is (not value)
    sent = {type(m) for m in ports.wire.received}
    assert sent & {MuteAll, SetPublicLink, SetPrivacy}


def test_public_link_comes_from_the_server() -> None:
    _, ports = in_session()
    url = ports.call("publicLink.generate", ())
    assert url.startswith("http://cwmn.test/join/")
    assert any(isinstance(m, CreatePublicLink) for m in ports.wire.received)
    link = ports.db.link_by_token(url.rsplit("/join/", 1)[1])
    assert link is not None and (link.kind, link.session_id) == ("public", ports.session_id)
    assert ports.call("publicLink.generate", ()) == url  # made once


def test_guest_pointers_and_clicks_reach_the_page() -> None:
    controller, ports = in_session()
    viewer, guest = joined(ports)
    gid, color = guest["guestId"], guest["color"]
    viewer.session.pointer(10, 2000, True, ports.time)
    ports.pump()
    assert bool(ports.overlays)
    assert ports.overlays[-1] == {
        "op": "cursors",
        "cursors": [{"id": gid, "name": "Ann", "color": color, "x": 10, "y": 2000}],
    }
    assert controller.view()["guests"][0]["pointer"] == {"x": 10, "y": 2000}
    assert ports.deliveries[-1][:2] == ("roomdata update", (controller.view()["guests"],))
    viewer.session.click(11, 9, ports.time)
    ports.pump()
    assert ports.deliveries[-1][0] == "click"
    assert ports.deliveries[-1][1] == (gid,)
    assert ports.overlays[-1] == {"op": "ripple", "x": 11, "y": 9, "color": color, "name": "Ann"}
    ports.advance(1.0)  # past the server's pointer rate
    viewer.session.pointer(0, 0, False, ports.time)
    ports.pump()
    assert ports.overlays[-1]["op"] == "cursors" and not ports.overlays[-1]["cursors"]
    assert controller.view()["guests"][0]["pointer"] is None
    # Unknown guests are ignored (the server only relays its guests' clicks).
    ports.push(GuestClick(guest_id="ghost"))
    ports.call("session.endSession", ())
    (*_, cleared, badge) = ports.overlays  # the sharing badge goes last (docs/control/)
    assert cleared == {"op": "cursors", "cursors": []} and not badge["sharing"]
    assert [d[0] for d in ports.deliveries].count("click") == 1


def test_host_pointer_frames_are_throttled_with_the_last_one_kept() -> None:
    controller, ports = in_session()
    ports.capture_frame("snapshot", {"nodes": [], "url": PAGE, "base": PAGE})
    for i in range(50):  # one burst, far faster than 30/s
        ports.capture_frame("pointer", {"x": i, "y": i})
    pointers = [f.data for f in ports.wire.frames if f.kind == "pointer"]
    assert pointers == [{"x": 0, "y": 0}]  # the rest is held
    assert controller.next_due() == pytest.approx(ports.time + POINTER_INTERVAL)
    ports.advance(POINTER_INTERVAL - 0.001)
    assert len([f for f in ports.wire.frames if f.kind == "pointer"]) == 1
    ports.advance(0.1)
    pointers = [f.data for f in ports.wire.frames if f.kind == "pointer"]
    assert pointers[0] == {"x": 0, "y": 0} and pointers[-1] == {"x": 49, "y": 49}
    assert len(pointers) == 2


# -- join codes (extension) ---------------------------------------------------------------------
def test_join_code_comes_from_the_server_and_admits_one_device() -> None:
    """guest.getJoinCode: 8 digits for the server's /join page, expiring after the server's
    CWMN_JOIN_CODE_SECONDS; redeemed, it is a private link, which a viewer joins with."""
    _, ports = in_session()
    made = ports.call("guest.getJoinCode", ())
    assert made["url"] == "http://cwmn.test/join"
    assert re.fullmatch(r"[0-9]{8}", made["code"]), made
    assert made["expiresAt"] == ports.time + ports.server.settings.join_code_seconds
    assert any(isinstance(m, CreateJoinCode) for m in ports.wire.received)
    server = ports.server
    link = ports.db.redeem_join_code(
        made["code"], server.invites.key, "client", AttemptLimits(), 3600, now=ports.time
    )
    assert (link.kind, link.session_id) == ("private", ports.session_id)
    viewer = ports.live.viewer(link.token, "Cleo")
    assert viewer.take_ops("joined"), viewer.ops
    assert [g["name"] for g in ports.core.view()["guests"]] == ["Cleo"]
    assert ports.call("guest.getJoinCode", ())["code"] != made["code"]
