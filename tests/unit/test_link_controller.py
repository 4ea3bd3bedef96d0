"""cwmn_web.client.requests, .sockets and .controller: the host core on a fake clock, booting,
its calls' states and parameters, and its request channel on its own. Against the real
server in memory (tests/helpers/live_page.py); the page records every delivery with the view
state it would see. Nothing sleeps: time passes with ``advance``. Sessions, guests and
invitations to host: test_host_sessions.py, test_host_guests.py, test_host_invites.py.
"""

# mypy: disable-error-code="comparison-overlap"
# (the state changes through the core's inputs, which mypy does not see)

from __future__ import annotations

from typing import Any

import pytest

from cwmn_web.browser.driver import HostSockets
from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.client.requests import Outcome, RequestChannel
from cwmn_web.client.states import State
from cwmn_web.errors import CwmnError, NetworkError, ProtocolError
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    ErrorReply,
    Hello,
    Message,
    Ping,
    Pong,
    SessionEnded,
    StartSession,
    Welcome,
)
from tests.helpers.live_page import (
    FEATURES,
    HOST,
    PAGE,
    SERVER,
    LivePage,
    booted,
    call_error,
    host_of,
    in_session,
    make,
)


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
    assert view["domainInfo"] == ports.served_domain_info and view["domainInfo"]["authorized"]
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
    ports = LivePage()
    controller = host_of(ports, ClientConfig(SERVER, PAGE))
    ports.boot()
    assert controller.state is State.INCOMPATIBLE


def test_boot_on_an_unauthorized_domain() -> None:
    info = {"domain": "shop.example.com", "authorized": False}
    controller, ports = make(LivePage(domain_info=info))
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


def test_domain_info_in_before_the_page_settles_init_waits_for_the_page() -> None:
    controller, ports = make()
    controller.boot(ports.time)
    assert ports.answer_fetches(controller, ports.time)  # the server is quicker than the page
    assert controller.state is State.INIT and ports.events() == ["init"]
    ports.pump()  # the page's init callbacks are done
    assert ports.events() == ["init", "ready no session"]
    assert controller.view()["domainInfo"] == ports.served_domain_info


def test_an_incompatible_browser_asks_nothing() -> None:
    controller, ports = make(WebSocket=False)
    ports.boot()
    assert controller.state is State.INCOMPATIBLE
    assert ports.fetched == []


def test_boot_when_domain_info_is_unreachable_still_gets_ready() -> None:
    controller, ports = make(LivePage(fetch_error=NetworkError("offline")))
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


# -- session.start refused --------------------------------------------------------------------
def refused_start(ports: LivePage, code: str, message: str) -> CwmnError:
    """Start a session that the server refuses with ``code``: our server has no such reply
    to a start (it refuses a page's origin before the handshake: test_host_sessions.py), so
    its answer is lost and the refusal comes instead."""
    ports.wire.deaf_after = StartSession
    call = ports.start_call("session.start", (dict(HOST),))
    (start,) = [m for m in ports.wire.received if isinstance(m, StartSession)]
    ports.push(ErrorReply(ref=start.ref, code=code, message=message))
    ports.wire.deaf_after = None
    with pytest.raises(CwmnError) as info:
        ports.outcome(call)
    return info.value


def test_session_start_refused_by_the_server() -> None:
    controller, ports = booted()
    error = refused_start(ports, "unauthorized", "not this domain")
    assert (error.code, error.message) == ("unauthorized", "not this domain")
    assert [d[0] for d in ports.deliveries[2:]] == [
        "session pending",
        "session failed",
        "ready no session",
    ]
    assert controller.state is State.NO_SESSION
    # The client may try again.
    ports.call("session.start", (dict(HOST),))
    assert controller.state is State.IN_SESSION


def test_refused_start_closes_its_connection() -> None:
    _, ports = booted()
    error = refused_start(ports, "rate_limited", "slow down")
    assert error.code == "rate_limited"
    assert ports.wire.client is not None and ports.wire.client.closed


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
    controller = HostController(LivePage(), ClientConfig(SERVER, PAGE, FEATURES))
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
    controller = HostController(LivePage(), ClientConfig(SERVER, PAGE, FEATURES))
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
