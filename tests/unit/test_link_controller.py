"""cwmn_web.client.requests, .sockets and .controller: the host core on a fake clock.

The page and a server stand-in that answers like ``cwmn_web.server`` would are in memory
(tests/unit/host_page.py); the page records every delivery with the view state it would see.
Nothing sleeps: time passes with ``Page.advance``.
"""

# mypy: disable-error-code="comparison-overlap"
# (the state changes through the core's inputs, which mypy does not see)

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cwmn_web.browser.driver import HostSockets
from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.client.hosting import RECONNECT_GIVE_UP
from cwmn_web.client.requests import Outcome, RequestChannel
from cwmn_web.client.sockets import CONNECT_TIMEOUT
from cwmn_web.client.states import State
from cwmn_web.errors import CwmnError, NetworkError, ProtocolError
from cwmn_web.protocol import codec
from cwmn_web.protocol.guests import GuestObject
from cwmn_web.protocol.messages import (
    AcceptHostInvite,
    CreatePublicLink,
    EndSession,
    ErrorReply,
    GetHostInvite,
    GuestClick,
    GuestJoined,
    GuestLeft,
    GuestPointer,
    Hello,
    InviteGuest,
    InviteToHost,
    Message,
    MuteAll,
    MuteGuest,
    Ping,
    Pong,
    SessionEnded,
    SetPrivacy,
    SetPublicLink,
    StartSession,
    Welcome,
)
from cwmn_web.timing import POINTER_INTERVAL, RECONNECT_FIRST

from .host_page import (
    DOMAIN_INFO,
    FEATURES,
    HOST,
    HOST_TOKEN,
    PAGE,
    SERVER,
    SITE_CAPTURE,
    Page,
    booted,
    call_error,
    host_of,
    in_session,
    make,
)

INVITE_TO_HOST = {
    "hostName": "Ivy",
    "hostEmail": "ivy@example.com",
    "inviteName": "Hana",
    "inviteEmail": "hana@example.com",
    "message": "Show me\r\nplease",
    "url": "https://shop.example.com/cart",
}


# -- config -----------------------------------------------------------------------------------
def test_client_config_urls() -> None:
    assert ClientConfig("http://cwmn.test:8000/", PAGE).ws_url == "ws://cwmn.test:8000/ws"
    assert ClientConfig("https://cwmn.test", PAGE).ws_url == "wss://cwmn.test/ws"
    assert ClientConfig(SERVER, PAGE).domain == "shop.example.com"


# -- boot ----------------------------------------------------------------------------------------
def test_boot_fires_init_then_ready_no_session() -> None:
    controller, ports = make()
    ports.boot()
    assert ports.deliveries == [
        ("init", (), "init"),
        ("ready no session", (), "no session"),
    ]
    assert ports.fetched == [f"{SERVER}/api/domain-info"]
    assert controller.state is State.NO_SESSION
    view = controller.view()
    assert view["state"] == "no session"
    assert view["initFired"] is True
    assert view["compatible"] is True
    assert view["domainInfo"] == DOMAIN_INFO
    assert view["sessionInfo"] is None
    assert ports.views[0]["initFired"] is True


def test_boot_twice_is_invalid_state() -> None:
    _, ports = booted()
    with pytest.raises(CwmnError) as info:
        ports.boot()
    assert info.value.code == "invalid_state"
    assert len(ports.deliveries) == 2


@pytest.mark.parametrize("missing", ["WebAssembly", "Worker", "sessionStorage"])
def test_boot_with_a_missing_feature_is_incompatible(missing: str) -> None:
    features: dict[str, bool] = {missing: False}
    controller, ports = make(None, **features)
    ports.boot()
    assert ports.deliveries == [
        ("init", (), "init"),
        ("incompatible", (), "incompatible browser"),
        ("init failed", (), "incompatible browser"),
    ]
    assert ports.fetched == []
    assert controller.state is State.INCOMPATIBLE
    assert controller.view()["compatible"] is False


def test_boot_with_no_features_reported_is_incompatible() -> None:
    ports = Page()
    controller = host_of(ports, ClientConfig(SERVER, PAGE))
    ports.boot()
    assert controller.state is State.INCOMPATIBLE


def test_boot_on_an_unauthorized_domain() -> None:
    info = {"domain": "shop.example.com", "authorized": False}
    controller, ports = make(Page(domain_info=info))
    ports.boot()
    assert ports.deliveries == [
        ("init", (), "init"),
        ("unauthorized", (), "unauthorized"),
        ("init failed", (), "unauthorized"),
    ]
    assert controller.state is State.UNAUTHORIZED
    assert controller.view()["domainInfo"] == info


def test_boot_asks_for_domain_info_before_the_page_settles_init() -> None:
    # The round trip to the server overlaps the page's 'init' callbacks (start-up time).
    controller, ports = make()
    controller.boot(ports.time)
    assert ports.events() == ["init"]
    assert ports.fetched == [f"{SERVER}/api/domain-info"]
    assert controller.state is State.INIT
    ports.pump()
    assert ports.events() == ["init", "ready no session"]
    assert ports.fetched == [f"{SERVER}/api/domain-info"]  # asked once


def test_an_incompatible_browser_asks_nothing() -> None:
    controller, ports = make(WebSocket=False)
    ports.boot()
    assert controller.state is State.INCOMPATIBLE
    assert ports.fetched == []


def test_boot_when_domain_info_is_unreachable_still_gets_ready() -> None:
    controller, ports = make(Page(fetch_error=NetworkError("offline")))
    ports.boot()
    assert [d[0] for d in ports.deliveries] == ["init", "ready no session"]
    assert controller.state is State.NO_SESSION
    info = controller.view()["domainInfo"]
    assert info["authorized"] is None
    assert info["domain"] == "shop.example.com"
    assert info["error"] == {"code": "network", "message": "offline"}


def test_subscriptions_get_their_handles() -> None:
    controller, ports = make()
    with pytest.raises(CwmnError) as info:
        controller.subscribe("ready no session", 1)
    assert info.value.code == "invalid_state"
    controller.subscribe("init", 2)
    ports.boot()
    assert ports.handles == [("init", (2,)), ("ready no session", ())]
    controller.subscribe("init", 3, once=True)
    assert ports.handles[-1] == ("init", (3,))
    assert ports.deliveries[-1] == ("init", (), "no session")
    controller.subscribe("session pending", 4)
    controller.subscribe("session pending", 5)
    controller.unsubscribe(4)
    ports.call("session.start", (dict(HOST),))
    assert ("session pending", (5,)) in ports.handles


# -- session.start --------------------------------------------------------------------------------
def test_session_start() -> None:
    controller, ports = booted()
    result = ports.call("session.start", (dict(HOST),))
    assert result == {
        "sessionId": "s1",
        "isReplay": False,
        "hostName": "Host Name",
        "hostEmail": "noreply@clickwithmenow.com",
        "startedAt": 1000.0,
        "pageUrl": PAGE,
    }
    assert ports.deliveries[2:] == [
        ("session pending", (), "session pending"),
        ("in session", (False,), "in session"),
    ]
    assert ports.view_at("session pending")["sessionInfo"] is None
    assert ports.view_at("in session")["sessionInfo"] == result
    assert controller.view()["sessionInfo"] == result
    assert ports.connected == ["ws://cwmn.test/ws"]
    hello, start = ports.server.received
    assert isinstance(hello, Hello)
    assert hello.page_url == PAGE
    assert start == StartSession(
        ref=start.ref,
        host_name="Host Name",
        host_email=str(HOST["hostEmail"]),
        is_replay=False,
        page_id=controller.config.page_id,
    )
    assert isinstance(start, StartSession) and len(start.page_id) == 16
    assert start.ref != hello.ref


def test_session_start_when_connect_fails() -> None:
    controller, ports = booted(Page(connect_error=NetworkError("refused")))
    error = call_error(ports, "session.start", dict(HOST))
    assert error.code == "network"
    assert ports.deliveries[2:] == [
        ("session pending", (), "session pending"),
        ("session failed", (), "session pending"),
        ("ready no session", (), "no session"),
    ]
    assert controller.state is State.NO_SESSION
    assert controller.view()["sessionInfo"] is None


def test_session_start_refused_by_the_server() -> None:
    ports = Page()
    ports.server.start_error = ErrorReply(code="unauthorized", message="not this domain")
    controller, ports = booted(ports)
    error = call_error(ports, "session.start", dict(HOST))
    assert (error.code, error.message) == ("unauthorized", "not this domain")
    assert [d[0] for d in ports.deliveries[2:]] == [
        "session pending",
        "session failed",
        "ready no session",
    ]
    assert controller.state is State.NO_SESSION
    # The client may try again.
    ports.server.start_error = None
    ports.call("session.start", (dict(HOST),))
    assert controller.state is State.IN_SESSION


def test_session_start_reloads_missing_domain_info() -> None:
    ports = Page(fetch_error=NetworkError("offline"))
    controller, ports = booted(ports)
    ports.fetch_error = None
    ports.call("session.start", (dict(HOST),))
    assert len(ports.fetched) == 2
    assert controller.view()["domainInfo"] == DOMAIN_INFO


# -- ending -----------------------------------------------------------------------------------
def test_end_session() -> None:
    controller, ports = in_session()
    before = len(ports.deliveries)
    result = ports.call("session.endSession", ())
    assert result == {"sessionId": "s1", "reason": "ended"}
    assert ports.deliveries[before:] == [
        ("end session", (), "in session"),
        ("reinit", (), "init"),
        ("ready no session", (), "no session"),
    ]
    assert isinstance(ports.server.received[-1], EndSession)
    assert ports.server.client is not None and ports.server.client.closed
    assert controller.state is State.NO_SESSION
    assert controller.view()["sessionInfo"] is None
    assert controller.view()["guests"] == []


@pytest.mark.parametrize(
    ("reason", "events"),
    [
        ("expired", ["expired", "end session", "reinit", "ready no session"]),
        ("ended", ["end session", "reinit", "ready no session"]),
    ],
)
def test_server_ends_the_session(reason: str, events: list[str]) -> None:
    controller, ports = in_session()
    before = len(ports.deliveries)
    ports.push(SessionEnded(session_id="s1", reason=reason))
    assert controller.state is State.NO_SESSION
    staged = ports.deliveries[before:]
    assert [d[0] for d in staged] == events
    assert [d[2] for d in staged] == ["in session"] * (len(events) - 2) + [
        "init",
        "no session",
    ]
    assert ports.server.client is not None and ports.server.client.closed
    # A new session can start afterwards.
    ports.call("session.start", (dict(HOST),))
    assert controller.state is State.IN_SESSION


def test_lost_connection_is_a_connection_issue() -> None:
    controller, ports = in_session()
    ports.drop()
    assert ports.deliveries[-1][0] == "connection issue"
    assert ports.deliveries[-1] == ("connection issue", (), "in session")
    assert controller.state is State.IN_SESSION


# -- wrong states, unbuilt capabilities, local settings --------------------------------------------
@pytest.mark.parametrize(
    ("stage", "path", "args"),
    [
        ("init", "session.start", (HOST,)),
        ("no session", "session.endSession", ()),
        ("no session", "guest.muteAllGuests", (True,)),
        ("no session", "guest.removeGuest", ("g1",)),
        ("no session", "replay.dismissError", ()),
        ("no session", "replay.sendVideo", ()),
        ("in session", "session.start", (HOST,)),
        ("in session", "session.inviteToHost", ({},)),
        ("in session", "replay.getVideoURL", ()),
    ],
)
def test_calls_in_the_wrong_state(stage: str, path: str, args: tuple[Any, ...]) -> None:
    if stage == "init":
        controller, ports = make()
    elif stage == "no session":
        controller, ports = booted()
    else:
        controller, ports = in_session()
    state, delivered = controller.state, len(ports.deliveries)
    error = call_error(ports, path, *args)
    assert error.code == "invalid_state"
    assert f'"{stage}"' in error.message
    assert controller.state is state
    assert len(ports.deliveries) == delivered


def test_state_is_checked_before_params() -> None:
    _, ports = booted()
    error = call_error(ports, "guest.muteGuest", 1, 2, 3)
    assert error.code == "invalid_state"


def test_bad_params_leave_the_state_alone() -> None:
    controller, ports = booted()
    bad = {**HOST, "hostEmail": "a@b.com\r\nBcc: x@y.com"}
    error = call_error(ports, "session.start", bad)
    assert error.code == "invalid_params"
    assert "hostEmail" in error.message
    assert controller.state is State.NO_SESSION
    assert len(ports.deliveries) == 2
    assert ports.connected == []


@pytest.mark.parametrize("path", ["getCurrentState", "on", "guest.getGuestList", "nope.nothing"])
def test_call_refuses_sync_and_unknown_functions(path: str) -> None:
    _, ports = booted()
    error = call_error(ports, path)
    assert error.code == "invalid_params"
    assert path in error.message


def test_email_invite_goes_through_the_server() -> None:
    _, ports = in_session()
    params = {"guestName": "Guest Name", "guestEmail": "g@example.com", "message": "Hi\r\n!"}
    result = ports.call("guest.inviteGuest", (params,))
    assert result == {
        "inviteId": "inv1",
        "channel": "email",
        "to": "g@example.com",
        "status": "sent",
    }
    sent = [m for m in ports.server.received if isinstance(m, InviteGuest)]
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
    (sent,) = [m for m in ports.server.received if isinstance(m, InviteGuest)]
    assert (sent.guest_phone, sent.guest_email, sent.guest_name, sent.message) == (
        "3145550000",
        "",
        "Guest Name",
        "",
    )


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
    assert not any(isinstance(m, InviteGuest) for m in ports.server.received)


def test_invite_refused_by_the_server_rejects_with_its_code() -> None:
    controller, ports = in_session()
    params = {"guestName": "G", "guestEmail": "nobody@refused.test"}
    error = call_error(ports, "guest.inviteGuest", params)
    assert (error.code, error.message) == ("invite_failed", "550 no such user")
    assert controller.state is State.IN_SESSION


def test_invite_outside_a_session_is_invalid_state() -> None:
    _, ports = booted()
    params = {"guestName": "G", "guestEmail": "g@example.com"}
    error = call_error(ports, "guest.inviteGuest", params)
    assert error.code == "invalid_state"
    assert ports.connected == []


# -- invitations to host ---------------------------------------------------------------------
def test_invite_to_host_goes_through_the_server_and_stays_in_no_session() -> None:
    controller, ports = booted()
    result = ports.call("session.inviteToHost", (dict(INVITE_TO_HOST),))
    assert result == {
        "inviteId": "hi1",
        "joinUrl": "http://cwmn.test/join/wait1?name=Ivy",
        "expiresAt": 87400.0,
        "status": "sent",
    }
    hello, sent = ports.server.received
    assert isinstance(hello, Hello) and hello.page_url == PAGE
    assert sent == InviteToHost(
        ref=sent.ref,
        host_name="Ivy",
        host_email="ivy@example.com",
        invite_name="Hana",
        invite_email="hana@example.com",
        message="Show me\nplease",
        url="https://shop.example.com/cart",
    )
    assert controller.state is State.NO_SESSION
    assert [d[0] for d in ports.deliveries] == ["init", "ready no session"]
    assert ports.server.client is not None and ports.server.client.closed  # link closed


def test_invite_to_host_refused_by_the_server_rejects_with_its_code() -> None:
    controller, ports = booted()
    params = {**INVITE_TO_HOST, "url": "https://evil.example.net/"}
    error = call_error(ports, "session.inviteToHost", params)
    assert (error.code, error.message) == ("invalid_params", "url: not this site")
    assert controller.state is State.NO_SESSION


@pytest.mark.parametrize(
    "changes",
    [
        {"url": "ftp://shop.example.com/"},
        {"inviteEmail": "hana@example.com\r\nBcc: x@y.com"},
        {"inviteName": ""},
        {"extra": 1},
    ],
)
def test_bad_invitations_to_host_never_reach_the_server(changes: dict[str, Any]) -> None:
    _, ports = booted()
    error = call_error(ports, "session.inviteToHost", {**INVITE_TO_HOST, **changes})
    assert error.code == "invalid_params"
    assert ports.connected == []


def invited(ports: Page, token: str = HOST_TOKEN) -> HostController:
    """Boot a page opened through an invitation to host (the stub passed its token)."""
    config = ClientConfig(server=SERVER, page_url=PAGE, features=FEATURES, host_invite=token)
    controller = host_of(ports, config)
    ports.boot()
    return controller


def test_an_invited_page_fires_host_invite_to_a_listener_added_in_ready_no_session() -> None:
    ports = Page()
    controller: HostController | None = None

    def listen() -> None:  # the page's 'ready no session' callback subscribes
        assert controller is not None
        controller.subscribe("host invite", 7)

    ports.on_event["ready no session"] = listen
    controller = host_of(ports, ClientConfig(SERVER, PAGE, FEATURES, host_invite=HOST_TOKEN))
    ports.boot()
    assert ports.settles == 2  # after init, then: the listener was known before deciding
    invite = {
        "inviteId": "hi1",
        "inviterName": "Ivy",
        "hostName": "Hana",
        "hostEmail": "hana@example.com",
        "message": "Show me",
        "expiresAt": 87400.0,
    }
    assert ports.deliveries[-1] == ("host invite", (invite,), "no session")
    assert ports.handles[-1] == ("host invite", (7,))
    assert not any(o["op"] == "consent" for o in ports.overlays)
    lookup = [m for m in ports.server.received if isinstance(m, GetHostInvite)]
    assert lookup == [GetHostInvite(ref=lookup[0].ref, token=HOST_TOKEN)]
    assert controller.state is State.NO_SESSION


def test_without_a_listener_the_page_shows_the_default_dialog() -> None:
    ports = Page()
    controller = invited(ports)
    (consent,) = [o for o in ports.overlays if o["op"] == "consent"]
    assert consent["invite"]["inviterName"] == "Ivy"
    assert consent["invite"]["message"] == "Show me"
    assert [d[0] for d in ports.deliveries] == ["init", "ready no session"]
    assert controller.state is State.NO_SESSION


def test_accepting_hosts_the_invited_session_with_the_waiting_inviter() -> None:
    ports = Page()
    controller = invited(ports)
    result = ports.call("session.acceptHostInvite", ())
    assert result == {
        "sessionId": "s2",
        "isReplay": False,
        "hostName": "Hana",
        "hostEmail": "hana@example.com",
        "startedAt": 2000.0,
        "pageUrl": PAGE,
    }
    (accept,) = [m for m in ports.server.received if isinstance(m, AcceptHostInvite)]
    assert (accept.token, accept.page_id) == (HOST_TOKEN, controller.config.page_id)
    events = [d[0] for d in ports.deliveries]
    assert events[2:5] == ["session pending", "in session", "guest connected"]
    assert ports.view_at("in session")["sessionInfo"] == result
    assert ports.stored["cwmn:session"] == {
        "token": "tok2",
        "sessionId": "s2",
        "capture": SITE_CAPTURE,
    }
    assert ports.captures[-1][0] is True
    # The inviter, pushed right after the answer, is in the list.
    assert [g["guestId"] for g in controller.guests] == ["g-ivy"]
    # The invitation is used: there is nothing left to accept after the session.
    ports.call("session.endSession", ())
    error = call_error(ports, "session.acceptHostInvite")
    assert error.code == "not_found"


def test_a_refused_acceptance_fails_the_session_and_forgets_the_invitation() -> None:
    ports = Page()
    controller = invited(ports)
    ports.server.invite_used = True  # accepted in another tab meanwhile
    error = call_error(ports, "session.acceptHostInvite")
    assert (error.code, error.message) == ("link_used", "already used")
    assert [d[0] for d in ports.deliveries][-3:] == [
        "session pending",
        "session failed",
        "ready no session",
    ]
    assert controller.state is State.NO_SESSION
    assert (call_error(ports, "session.acceptHostInvite")).code == "not_found"


def test_declining_forgets_the_invitation() -> None:
    ports = Page()
    controller = invited(ports)
    assert ports.call("session.declineHostInvite", ()) is None
    assert controller.state is State.NO_SESSION
    assert not any(isinstance(m, AcceptHostInvite) for m in ports.server.received)
    for path in ("session.acceptHostInvite", "session.declineHostInvite"):
        assert (call_error(ports, path)).code == "not_found"
    # The page may still start a session of its own.
    ports.call("session.start", (dict(HOST),))
    assert controller.state is State.IN_SESSION


def test_an_unusable_invitation_is_reported_on_the_console_only() -> None:
    ports = Page()
    invited(ports, token="expired-tok")
    assert [d[0] for d in ports.deliveries] == ["init", "ready no session"]
    assert ports.overlays == [] and ports.settles == 1  # boot's, after init
    (warning,) = ports.warnings
    assert "invitation to host" in warning and "expired" in warning
    assert (call_error(ports, "session.acceptHostInvite")).code == "not_found"


def test_a_page_without_an_invitation_has_nothing_to_accept() -> None:
    _, ports = booted()
    error = call_error(ports, "session.acceptHostInvite")
    assert error.code == "not_found" and "host invite" in error.message
    assert ports.connected == [] and ports.settles == 1  # boot's, after init


def test_a_resumed_session_wins_over_an_invitation() -> None:
    ports = Page()
    config = ClientConfig(SERVER, PAGE, FEATURES, resume={"token": "tok"}, host_invite=HOST_TOKEN)
    controller = host_of(ports, config)
    ports.boot()
    assert controller.state is State.IN_SESSION
    assert not any(isinstance(m, GetHostInvite) for m in ports.server.received)


@pytest.mark.parametrize(
    ("path", "args"),
    [("session.acceptHostInvite", (1,)), ("session.declineHostInvite", ({},))],
)
def test_answers_to_an_invitation_take_no_arguments(path: str, args: tuple[Any, ...]) -> None:
    _, ports = booted()
    assert (call_error(ports, path, *args)).code == "invalid_params"


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


def test_mute_a_known_guest_goes_through_the_server() -> None:
    controller, ports = in_session()
    ports.push(GuestJoined(guest={"guestId": "g1", "name": "G", "muted": False}))
    assert len(controller.guests) == 1
    assert ports.call("guest.muteGuest", ("g1", True)) is None
    assert MuteGuest(ref=ports.server.received[-1].ref, guest_id="g1", muted=True) in (
        ports.server.received
    )
    # The server's guest_updated came before the answer: the list is current already.
    assert ports.published[-1]["guests"] == [{"guestId": "g1", "name": "G", "muted": True}]
    assert ports.deliveries[-1][:2] == (
        "roomdata update",
        ([{"guestId": "g1", "name": "G", "muted": True}],),
    )


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
    sent = {type(m) for m in ports.server.received}
    assert sent & {MuteAll, SetPublicLink, SetPrivacy}


def test_public_link_comes_from_the_server() -> None:
    _, ports = in_session()
    url = ports.call("publicLink.generate", ())
    assert url == "http://cwmn.test/join/public1"
    assert any(isinstance(m, CreatePublicLink) for m in ports.server.received)


def test_guest_pointers_and_clicks_reach_the_page() -> None:
    controller, ports = in_session()
    guest: GuestObject = {
        "guestId": "g1",
        "name": "Ann",
        "muted": False,
        "pointer": None,
        "color": "#f00",
    }
    ports.push(GuestJoined(guest=guest))
    ports.push(GuestPointer(guest_id="g1", name="Ann", color="#f00", x=10, y=2000))
    assert bool(ports.overlays)
    assert ports.overlays[-1] == {
        "op": "cursors",
        "cursors": [{"id": "g1", "name": "Ann", "color": "#f00", "x": 10, "y": 2000}],
    }
    assert controller.view()["guests"][0]["pointer"] == {"x": 10, "y": 2000}
    assert ports.deliveries[-1][:2] == ("roomdata update", (controller.view()["guests"],))
    ports.push(GuestClick(guest_id="g1", name="Ann", color="#f00", x=11, y=9))
    assert ports.deliveries[-1][0] == "click"
    assert ports.deliveries[-1][1] == ("g1",)
    assert ports.overlays[-1] == {
        "op": "ripple",
        "x": 11,
        "y": 9,
        "color": "#f00",
        "name": "Ann",
    }
    ports.push(GuestPointer(guest_id="g1", visible=False))
    assert ports.overlays[-1]["op"] == "cursors" and not ports.overlays[-1]["cursors"]
    assert controller.view()["guests"][0]["pointer"] is None
    # Unknown guests are ignored; ending the session clears the page.
    ports.push(GuestClick(guest_id="ghost"))
    ports.call("session.endSession", ())
    assert ports.overlays[-1] == {"op": "cursors", "cursors": []}
    assert [d[0] for d in ports.deliveries].count("click") == 1


def test_host_pointer_frames_are_throttled_with_the_last_one_kept() -> None:
    controller, ports = in_session()
    ports.capture_frame("snapshot", {"nodes": [], "url": PAGE, "base": PAGE})
    for i in range(50):  # one burst, far faster than 30/s
        ports.capture_frame("pointer", {"x": i, "y": i})
    pointers = [f.data for f in ports.server.frames if f.kind == "pointer"]
    assert pointers == [{"x": 0, "y": 0}]  # the rest is held
    assert controller.next_due() == pytest.approx(ports.time + POINTER_INTERVAL)
    ports.advance(POINTER_INTERVAL - 0.001)
    assert len([f for f in ports.server.frames if f.kind == "pointer"]) == 1
    ports.advance(0.1)
    pointers = [f.data for f in ports.server.frames if f.kind == "pointer"]
    assert pointers[0] == {"x": 0, "y": 0} and pointers[-1] == {"x": 49, "y": 49}
    assert len(pointers) == 2


# -- the request channel on its own ------------------------------------------------------------
class ChannelRig:
    """A RequestChannel whose messages the test answers by hand."""

    def __init__(self) -> None:
        self.channel = RequestChannel()
        self.outcomes: list[Outcome] = []
        self.pushes: list[Message] = []

    def sent(self) -> list[Message]:
        return self.channel.to_send()

    def receive(self, message: Message) -> None:
        push = self.channel.receive(message)
        if push is not None:
            self.pushes.append(push)


def test_channel_handshake_refs_and_pushes() -> None:
    rig = ChannelRig()
    rig.channel.greet(PAGE, 0.0, rig.outcomes.append)
    (hello,) = rig.sent()
    assert hello == Hello(ref=1, page_url=PAGE)
    rig.receive(Welcome(ref=1, server_time=1000.0))
    (welcome,) = rig.outcomes
    assert isinstance(welcome, Welcome) and welcome.ref == 1
    assert rig.channel.server_time == 1000.0
    rig.channel.request(Ping(), 0.0, rig.outcomes.append)
    assert rig.sent() == [Ping(ref=2)]
    rig.receive(Pong(ref=2))
    assert rig.outcomes[-1] == Pong(ref=2)
    rig.receive(SessionEnded(session_id="s1", reason="expired"))
    rig.receive(Pong(ref=99))  # an answer to nothing is dropped
    assert rig.pushes == [SessionEnded(session_id="s1", reason="expired")]
    assert len(rig.outcomes) == 2 and rig.channel.next_due() is None


def test_channel_error_reply_fails_with_its_code() -> None:
    rig = ChannelRig()
    rig.channel.request(StartSession(host_name="a", host_email="a@b.com"), 0.0, rig.outcomes.append)
    (start,) = rig.sent()
    rig.receive(ErrorReply(ref=start.ref, code="rate_limited", message="slow down"))
    (error,) = rig.outcomes
    assert isinstance(error, CwmnError)
    assert (error.code, error.message) == ("rate_limited", "slow down")


def test_channel_unknown_error_code_is_protocol() -> None:
    rig = ChannelRig()
    rig.channel.request(StartSession(), 0.0, rig.outcomes.append)
    (start,) = rig.sent()
    rig.receive(ErrorReply(ref=start.ref, code="teapot", message="short"))
    assert isinstance(rig.outcomes[0], ProtocolError)


def test_channel_timeout() -> None:
    rig = ChannelRig()
    rig.channel.request(Ping(), 10.0, rig.outcomes.append, timeout=0.01)
    assert rig.channel.next_due() == pytest.approx(10.01)
    rig.channel.tick(10.009)
    assert rig.outcomes == []
    rig.channel.tick(10.01)
    (error,) = rig.outcomes
    assert isinstance(error, CwmnError) and error.code == "timeout"
    assert "ping" in error.message
    rig.receive(Pong(ref=1))  # too late: nothing happens twice
    assert len(rig.outcomes) == 1 and rig.channel.pending == 0


def test_channel_greeting_expects_welcome() -> None:
    rig = ChannelRig()
    rig.channel.greet(PAGE, 0.0, rig.outcomes.append)
    rig.receive(Pong(ref=1))
    (error,) = rig.outcomes
    assert isinstance(error, ProtocolError) and "expected welcome" in error.message


def test_channel_lost_fails_pending_requests() -> None:
    rig = ChannelRig()
    rig.channel.request(Ping(), 0.0, rig.outcomes.append)
    rig.channel.lost(NetworkError("the connection was closed"))
    (error,) = rig.outcomes
    assert isinstance(error, NetworkError) and error.code == "network"
    rig.channel.request(Ping(), 0.0, rig.outcomes.append)  # on a closed channel: at once
    assert isinstance(rig.outcomes[-1], NetworkError) and rig.sent() == []


def test_a_bad_frame_from_the_server_loses_the_socket_with_protocol() -> None:
    controller = HostController(Page(), ClientConfig(SERVER, PAGE, FEATURES))
    sockets = HostSockets(controller)
    lost: list[CwmnError] = []
    socket = controller.open_socket(lambda s: None, on_lost=lost.append)
    (name,) = sockets.opens()
    sockets.connected(name, 0.0)
    (_hello,) = sockets.to_send()
    sockets.receive(name, codec.encode(Welcome(ref=1)), 0.0)
    assert socket.open
    sockets.receive(name, '{"type":"bogus"}', 0.0)
    assert [e.code for e in lost] == ["protocol"] and sockets.closes() == [name]


def test_closing_a_socket_fails_pending_without_reporting_loss() -> None:
    controller = HostController(Page(), ClientConfig(SERVER, PAGE, FEATURES))
    lost: list[CwmnError] = []
    outcomes: list[Outcome] = []
    socket = controller.open_socket(lambda s: None, on_lost=lost.append)
    (name,) = controller.opens()
    controller.connected(name, 0.0)
    controller.receive(name, Welcome(ref=1), 0.0)
    socket.request(Ping(), outcomes.append)
    socket.close()
    assert controller.closes() == [name]
    assert isinstance(outcomes[0], NetworkError) and lost == []
    controller.lost(name, NetworkError("closed"), 0.0)  # the driver's late report: ignored
    assert lost == []


# -- regressions --------------------------------------------------------------------------------
def test_connect_timeout_fails_the_session_with_timeout() -> None:
    controller, ports = booted()
    ports.server.hang = True  # the socket never opens
    call = ports.start_call("session.start", (dict(HOST),))
    ports.advance(CONNECT_TIMEOUT - 0.01)
    assert call not in ports.results and controller.state is State.SESSION_PENDING
    ports.advance(0.01)
    with pytest.raises(CwmnError) as info:
        ports.outcome(call)
    assert info.value.code == "timeout"
    assert ports.hanging == ["ws1"] and controller.closes() == []  # closed by the timeout
    assert [d[0] for d in ports.deliveries][-2:] == ["session failed", "ready no session"]
    assert controller.state is State.NO_SESSION


def test_refused_start_closes_its_connection() -> None:
    ports = Page()
    ports.server.start_error = ErrorReply(code="rate_limited", message="slow down")
    _, ports = booted(ports)
    error = call_error(ports, "session.start", dict(HOST))
    assert error.code == "rate_limited"
    assert ports.server.client is not None and ports.server.client.closed


def test_unexpected_start_reply_is_a_protocol_error() -> None:
    ports = Page()
    original = ports.server.answer
    ports.server.answer = lambda m: Pong(ref=m.ref) if isinstance(m, StartSession) else original(m)
    controller, ports = booted(ports)
    error = call_error(ports, "session.start", dict(HOST))
    assert error.code == "protocol"
    assert controller.state is State.NO_SESSION


def test_end_session_racing_a_server_expiry_ends_once() -> None:
    ports = Page()
    controller, ports = in_session(ports)
    ports.server.silent = True
    call = ports.start_call("session.endSession")
    assert any(isinstance(m, EndSession) for m in ports.server.received)
    assert call not in ports.results  # waiting for the server's answer
    ports.push(SessionEnded(session_id="s1", reason="expired"))
    assert controller.state is State.NO_SESSION
    ports.push(SessionEnded(ref=3, session_id="s1", reason="ended"))
    result = ports.outcome(call)
    assert result == {"sessionId": "s1", "reason": "expired"}
    names = [d[0] for d in ports.deliveries]
    assert names.count("end session") == 1 and names.count("expired") == 1


def test_end_session_event_still_sees_the_session_info() -> None:
    _, ports = in_session()
    ports.call("session.endSession", ())
    assert ports.view_at("end session")["sessionInfo"]["sessionId"] == "s1"
    assert ports.view_at("reinit")["sessionInfo"] is None


def test_start_on_a_domain_found_unauthorized_is_refused() -> None:
    ports = Page(fetch_error=NetworkError("offline"))
    controller, ports = booted(ports)
    ports.fetch_error = None
    ports.domain_info = {"domain": "shop.example.com", "authorized": False}
    error = call_error(ports, "session.start", dict(HOST))
    assert error.code == "unauthorized"
    assert controller.state is State.NO_SESSION and ports.connected == []


# -- live session: privacy, mirror stream, guests, reconnect, resume ---------------------------
# (links and removals through the real server core: tests/unit/test_live_core.py)
def test_session_start_captures_and_remembers_the_session() -> None:
    _, ports = in_session()
    assert ports.captures[-1][0] is True
    config = ports.captures[-1][1]
    assert config is not None and "[data-cwmn-mask]" in config["mask"]
    assert ports.stored["cwmn:session"] == {
        "token": "tok",
        "sessionId": "s1",
        "capture": SITE_CAPTURE,
    }
    ports.call("session.endSession", ())
    assert ports.captures[-1] == (False, None)
    assert ports.stored["cwmn:session"] is None


def test_capture_frames_are_masked_numbered_and_acked() -> None:
    controller, ports = in_session()
    raw = {"nodes": [[1, 0, 1, "html", []], [2, 1, 3, None, 6]], "url": PAGE, "base": PAGE}
    ports.capture_frame("snapshot", raw)
    ports.capture_frame("scroll", {"id": 0, "x": 0, "y": 40})
    assert len(ports.server.frames) == 2
    snap = ports.server.frames[0]
    assert (snap.seq, snap.kind) == (1, "snapshot")
    assert snap.data["nodes"][1] == [2, 1, 3, "******"]
    assert controller.session is not None and controller.session.drained


def test_privacy_stops_capture_and_drops_frames() -> None:
    _, ports = in_session()
    assert ports.call("privacy.setEnabled", (True,)) is True
    assert ports.captures[-1] == (False, None)
    ports.capture_frame("scroll", {"id": 0, "x": 0, "y": 1})
    ports.advance(1.0)
    assert ports.server.frames == []
    assert any(isinstance(m, SetPrivacy) and m.enabled for m in ports.server.received)
    assert ports.call("privacy.setEnabled", (False,)) is False
    assert ports.captures[-1][0] is True


def test_guest_pushes_fire_events_and_update_the_list() -> None:
    controller, ports = in_session()
    guest: GuestObject = {
        "guestId": "g1",
        "name": "Ann",
        "muted": False,
        "pointer": None,
        "via": "private",
    }
    ports.push(GuestJoined(guest=guest))
    assert controller.view()["guests"] == [guest]
    ports.push(GuestLeft(guest={"guestId": "g1"}))
    assert controller.view()["guests"] == []
    names = [(d[0], d[1]) for d in ports.deliveries[-4:]]
    assert names == [
        ("guest connected", ("g1", guest)),
        ("roomdata update", ([guest],)),
        ("guest disconnected", ("g1", guest)),
        ("roomdata update", ([],)),
    ]


def test_reconnect_resends_what_the_server_lacks() -> None:
    controller, ports = in_session()
    ports.capture_frame("snapshot", {"nodes": [], "url": PAGE})
    assert len(ports.server.frames) == 1
    ports.server.silent = True  # frames 2 and 3 reach nobody and are never acked
    ports.capture_frame("scroll", {"id": 0, "x": 0, "y": 2})
    ports.capture_frame("scroll", {"id": 0, "x": 0, "y": 3})
    assert len(ports.server.received) >= 4
    ports.server.silent = False
    ports.drop()
    assert [d[0] for d in ports.deliveries][-1] == "connection issue"
    ports.advance(RECONNECT_FIRST - 0.01)
    assert [d[0] for d in ports.deliveries][-1] == "connection issue"
    ports.advance(0.01)
    assert [d[0] for d in ports.deliveries][-1] == "connection issue resolved"
    assert [f.seq for f in ports.server.frames] == [1, 2, 3]
    names = [d[0] for d in ports.deliveries]
    assert names.count("connection issue") == 1
    assert controller.state is State.IN_SESSION


def test_boot_with_a_stale_resume_token_fails_the_session() -> None:
    ports = Page()
    config = ClientConfig(
        server=SERVER, page_url=PAGE, features=FEATURES, resume={"token": "stale"}
    )
    controller = host_of(ports, config)
    ports.boot()
    assert controller.state is State.NO_SESSION
    assert [d[0] for d in ports.deliveries][-2:] == ["session failed", "ready no session"]
    assert ports.stored["cwmn:session"] is None


def test_reconnects_back_off_and_give_up_after_three_minutes() -> None:
    controller, ports = in_session()
    ports.server.refuse = NetworkError("connection refused")  # the server is down
    dropped, attempts = ports.time, len(ports.opened_at)
    ports.drop()
    ports.advance(RECONNECT_GIVE_UP - 1)
    assert controller.state is State.IN_SESSION
    times = [dropped, *ports.opened_at[attempts:]]
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    assert gaps[:7] == [0.25, 0.5, 1, 2, 4, 8, 8] and set(gaps[5:]) == {8}
    ports.advance(1)
    assert controller.state is State.NO_SESSION
    assert ports.events()[-4:] == ["expired", "end session", "reinit", "ready no session"]


def test_a_server_that_comes_back_is_resumed_before_the_give_up() -> None:
    controller, ports = in_session()
    ports.server.refuse = NetworkError("connection refused")
    ports.drop()
    ports.advance(60)
    ports.server.refuse = None
    ports.advance(8)
    assert ports.events()[-1] == "connection issue resolved"
    ports.advance(RECONNECT_GIVE_UP)
    assert controller.state is State.IN_SESSION
