"""The host core's sessions against the real server in memory (tests/helpers/live_page.py),
on its fake clock: starting, ending, the server ending it, capture and privacy, losing the
connection, reconnecting and resuming. Nothing sleeps: time passes with ``advance``."""

# mypy: disable-error-code="comparison-overlap"
# (the state changes through the core's inputs, which mypy does not see)

from __future__ import annotations

import itertools

import pytest

from cwmn_web.client.controller import ClientConfig
from cwmn_web.client.hosting import RECONNECT_GIVE_UP
from cwmn_web.client.sockets import CONNECT_TIMEOUT
from cwmn_web.client.states import State
from cwmn_web.errors import CwmnError, NetworkError
from cwmn_web.protocol.messages import (
    EndSession,
    Hello,
    Pong,
    SessionEnded,
    SetPrivacy,
    StartSession,
)
from cwmn_web.timing import RECONNECT_FIRST
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


# -- session.start --------------------------------------------------------------------------------
def test_session_start() -> None:
    controller, ports = booted()
    result = ports.call("session.start", (dict(HOST),))
    (row,) = ports.db.session_rows()
    assert result == {
        "sessionId": row["id"],
        "isReplay": False,
        "hostName": "Host Name",
        "hostEmail": "noreply@clickwithmenow.com",
        "startedAt": ports.time,
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
    hello, start = ports.wire.received
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
    assert (row["host_name"], row["page_url"]) == ("Host Name", PAGE)


def test_session_start_when_connect_fails() -> None:
    controller, ports = booted(LivePage(connect_error=NetworkError("refused")))
    error = call_error(ports, "session.start", dict(HOST))
    assert error.code == "network"
    assert ports.deliveries[2:] == [
        ("session pending", (), "session pending"),
        ("session failed", (), "session pending"),
        ("ready no session", (), "no session"),
    ]
    assert controller.state is State.NO_SESSION
    assert controller.view()["sessionInfo"] is None


def test_session_start_refused_for_a_domain_no_site_has() -> None:
    controller, ports = booted()
    assert ports.db.remove_domain("shop.example.com")  # the site's owner removed it
    error = call_error(ports, "session.start", dict(HOST))
    assert error.code == "network"  # the server refuses the socket's handshake
    assert [d[0] for d in ports.deliveries[2:]] == [
        "session pending",
        "session failed",
        "ready no session",
    ]
    assert controller.state is State.NO_SESSION and ports.db.session_rows() == []
    # The client may try again.
    ports.db.add_domain("shop.example.com")
    ports.call("session.start", (dict(HOST),))
    assert controller.state is State.IN_SESSION


def test_session_start_reloads_missing_domain_info() -> None:
    ports = LivePage(fetch_error=NetworkError("offline"))
    controller, ports = booted(ports)
    ports.fetch_error = None
    ports.call("session.start", (dict(HOST),))
    assert len(ports.fetched) == 2
    assert controller.view()["domainInfo"] == ports.served_domain_info
    assert controller.view()["domainInfo"]["authorized"] is True


def test_start_on_a_domain_found_unauthorized_is_refused() -> None:
    ports = LivePage(fetch_error=NetworkError("offline"))
    controller, ports = booted(ports)
    ports.fetch_error = None
    ports.db.remove_domain("shop.example.com")  # the site's owner takes the domain off
    error = call_error(ports, "session.start", dict(HOST))
    assert error.code == "unauthorized"
    assert controller.state is State.NO_SESSION and ports.connected == []


def test_connect_timeout_fails_the_session_with_timeout() -> None:
    controller, ports = booted()
    ports.wire.hang = True  # the socket never opens
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


def test_unexpected_start_reply_is_a_protocol_error() -> None:
    controller, ports = booted()
    ports.wire.deaf_after = StartSession  # the server's answer is lost...
    call = ports.start_call("session.start", (dict(HOST),))
    (start,) = [m for m in ports.wire.received if isinstance(m, StartSession)]
    # ...and a reply of the wrong type comes instead: no server of ours sends one.
    ports.push(Pong(ref=start.ref))
    with pytest.raises(CwmnError) as info:
        ports.outcome(call)
    assert info.value.code == "protocol"
    assert controller.state is State.NO_SESSION


# -- ending -----------------------------------------------------------------------------------
def test_end_session() -> None:
    controller, ports = in_session()
    session_id = ports.session_id
    before = len(ports.deliveries)
    result = ports.call("session.endSession", ())
    assert result == {"sessionId": session_id, "reason": "ended"}
    assert ports.deliveries[before:] == [
        ("end session", (), "in session"),
        ("reinit", (), "init"),
        ("ready no session", (), "no session"),
    ]
    assert isinstance(ports.wire.received[-1], EndSession)
    assert ports.wire.client is not None and ports.wire.client.closed
    assert ports.db.session_rows()[0]["end_reason"] == "ended"
    assert controller.state is State.NO_SESSION
    assert controller.view()["sessionInfo"] is None
    assert controller.view()["guests"] == []


def ended_by_the_server(events: list[str], ports: LivePage, before: int) -> None:
    """The session ended with ``events`` since delivery ``before``; another may start."""
    controller = ports.core
    assert controller.state is State.NO_SESSION
    staged = ports.deliveries[before:]
    assert [d[0] for d in staged] == events
    assert [d[2] for d in staged] == ["in session"] * (len(events) - 2) + [
        "init",
        "no session",
    ]
    assert ports.wire.client is not None and ports.wire.client.closed
    # A new session can start afterwards.
    ports.call("session.start", (dict(HOST),))
    assert controller.state is State.IN_SESSION


def test_the_server_ends_the_session_at_its_maximum_duration() -> None:
    controller, ports = in_session(LivePage(max_session_seconds=100))
    before = len(ports.deliveries)
    ports.advance(99.9)
    assert controller.state is State.IN_SESSION
    ports.advance(0.1)
    assert ports.db.session_rows()[0]["end_reason"] == "expired"
    events = ["expired", "end session", "reinit", "ready no session"]
    ended_by_the_server(events, ports, before)


def test_the_server_ends_the_session() -> None:
    _, ports = in_session()
    before = len(ports.deliveries)
    # The real server tells a host its live session "ended" only when the session's replay
    # is abandoned from another page (a replay session, which then ends otherwise).
    ports.push(SessionEnded(session_id=ports.session_id, reason="ended"))
    ended_by_the_server(["end session", "reinit", "ready no session"], ports, before)


def test_lost_connection_is_a_connection_issue() -> None:
    controller, ports = in_session()
    ports.drop()
    assert ports.deliveries[-1][0] == "connection issue"
    assert ports.deliveries[-1] == ("connection issue", (), "in session")
    assert controller.state is State.IN_SESSION


def test_end_session_racing_a_server_expiry_ends_once() -> None:
    controller, ports = in_session(LivePage(max_session_seconds=100))
    session_id = ports.session_id
    ports.advance(99.9)
    ports.wire.hold = True  # the end is slow to reach the server
    call = ports.start_call("session.endSession")
    assert any(isinstance(m, EndSession) for m in ports.wire.received)
    assert call not in ports.results  # waiting for the server's answer
    ports.advance(0.1)  # meanwhile the server ends the session: expired
    assert controller.state is State.NO_SESSION
    ports.release()  # the end arrives after the session ended: the server drops it
    (end,) = [m for m in ports.wire.received if isinstance(m, EndSession)]
    # A server that answered that late end anyway (ours does not): nothing happens twice.
    ports.push(SessionEnded(ref=end.ref, session_id=session_id, reason="ended"))
    result = ports.outcome(call)
    assert result == {"sessionId": session_id, "reason": "expired"}
    names = [d[0] for d in ports.deliveries]
    assert names.count("end session") == 1 and names.count("expired") == 1
    assert ports.db.session_rows()[0]["end_reason"] == "expired"


def test_end_session_event_still_sees_the_session_info() -> None:
    _, ports = in_session()
    session_id = ports.session_id
    ports.call("session.endSession", ())
    assert ports.view_at("end session")["sessionInfo"]["sessionId"] == session_id
    assert ports.view_at("reinit")["sessionInfo"] is None


# -- capture and privacy ------------------------------------------------------------------------
def test_session_start_captures_and_remembers_the_session() -> None:
    _, ports = in_session()
    assert ports.captures[-1][0] is True
    config = ports.captures[-1][1]
    assert config is not None and "[data-cwmn-mask]" in config["mask"]
    entry = ports.stored["cwmn:session"]
    assert entry is not None
    assert entry == {"token": entry["token"], "sessionId": entry["sessionId"],
                     "capture": SITE_CAPTURE}  # fmt: skip
    session = ports.db.session_by_resume_token(entry["token"])  # the server's token
    assert session is not None and session.id == entry["sessionId"]
    ports.call("session.endSession", ())
    assert ports.captures[-1] == (False, None)
    assert ports.stored["cwmn:session"] is None


def test_capture_frames_are_masked_numbered_and_acked() -> None:
    controller, ports = in_session()
    raw = {"nodes": [[1, 0, 1, "html", []], [2, 1, 3, None, 6]], "url": PAGE, "base": PAGE}
    ports.capture_frame("snapshot", raw)
    ports.capture_frame("scroll", {"id": 0, "x": 0, "y": 40})
    assert len(ports.wire.frames) == 2
    snap = ports.wire.frames[0]
    assert (snap.seq, snap.kind) == (1, "snapshot")
    assert snap.data["nodes"][1] == [2, 1, 3, "******"]
    assert controller.session is not None and controller.session.drained


def test_privacy_stops_capture_and_drops_frames() -> None:
    _, ports = in_session()
    assert ports.call("privacy.setEnabled", (True,)) is True
    assert ports.captures[-1] == (False, None)
    ports.capture_frame("scroll", {"id": 0, "x": 0, "y": 1})
    ports.advance(1.0)
    assert ports.wire.frames == []
    assert any(isinstance(m, SetPrivacy) and m.enabled for m in ports.wire.received)
    assert ports.call("privacy.setEnabled", (False,)) is False
    assert ports.captures[-1][0] is True


# -- reconnecting and resuming -------------------------------------------------------------------
def test_reconnect_resends_what_the_server_lacks() -> None:
    controller, ports = in_session()
    ports.capture_frame("snapshot", {"nodes": [], "url": PAGE})
    assert len(ports.wire.frames) == 1
    ports.wire.silent = True  # frames 2 and 3 reach nobody and are never acked
    ports.capture_frame("scroll", {"id": 0, "x": 0, "y": 2})
    ports.capture_frame("scroll", {"id": 0, "x": 0, "y": 3})
    assert len(ports.wire.received) >= 4
    ports.wire.silent = False
    ports.drop()
    assert [d[0] for d in ports.deliveries][-1] == "connection issue"
    ports.advance(RECONNECT_FIRST - 0.01)
    assert [d[0] for d in ports.deliveries][-1] == "connection issue"
    ports.advance(0.01)
    assert [d[0] for d in ports.deliveries][-1] == "connection issue resolved"
    assert [f.seq for f in ports.wire.frames] == [1, 2, 3]
    names = [d[0] for d in ports.deliveries]
    assert names.count("connection issue") == 1
    assert controller.state is State.IN_SESSION


def test_boot_with_a_stale_resume_token_fails_the_session() -> None:
    ports = LivePage()
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
    ports.wire.refuse = NetworkError("connection refused")  # the server is down
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
    # A server that waits for its hosts as long as they try (CWMN_HOST_GRACE_SECONDS).
    controller, ports = in_session(LivePage(host_grace_seconds=RECONNECT_GIVE_UP))
    ports.wire.refuse = NetworkError("connection refused")
    ports.drop()
    ports.advance(60)
    ports.wire.refuse = None
    ports.advance(8)
    assert ports.events()[-1] == "connection issue resolved"
    ports.advance(RECONNECT_GIVE_UP)
    assert controller.state is State.IN_SESSION
    assert ports.db.session_rows()[0]["ended_at"] is None
