"""Invitations to host, on the host core against the real server in memory
(tests/helpers/live_page.py): sending one (the real ``send_host_invite`` into the outbox),
and the invitee's page: the invitation's details, accepting (hosting the session the inviter
waits in), declining, refusals."""

# mypy: disable-error-code="comparison-overlap"
# (the state changes through the core's inputs, which mypy does not see)

from __future__ import annotations

import re
from typing import Any

import pytest

from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.client.states import State
from cwmn_web.protocol.messages import (
    AcceptHostInvite,
    ErrorReply,
    GetHostInvite,
    Hello,
    HostInviteSent,
    InviteToHost,
)
from tests.helpers.live_core import ORIGIN
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
)

INVITE_TO_HOST = {
    "hostName": "Ivy",
    "hostEmail": "ivy@example.com",
    "inviteName": "Hana",
    "inviteEmail": "hana@example.com",
    "message": "Show me\r\nplease",
    "url": "https://shop.example.com/cart",
}


def invitation(ports: LivePage) -> tuple[str, HostInviteSent]:
    """Ivy invites Hana to host, from another page, then waits in the session through her
    link; the invitation's token (from the email) and the server's answer."""
    wire = ports.live.host()
    wire.send(Hello(ref=1, page_url=ORIGIN + "/help"))
    wire.send(InviteToHost(ref=2, host_name="Ivy", host_email="ivy@example.com",
                           invite_name="Hana", invite_email="hana@example.com",
                           message="Show me", url=PAGE))  # fmt: skip
    ports.live.pump()
    sent = wire.answer(2)
    assert isinstance(sent, HostInviteSent), sent
    ports.live.close(wire)
    (mail,) = ports.db.kept_messages()
    ivy = ports.live.viewer(sent.join_url.split("/join/")[1].split("?")[0], "Ivy", "ivy-dev")
    assert ivy.take_ops("joined"), ivy.ops
    return mail.link.rsplit("/host-invite/", 1)[1], sent


def emailed_code(ports: LivePage) -> str:
    """The code the invitation's email gave (what the visitor types)."""
    (mail,) = ports.db.kept_messages()
    match = re.search(r"enter the code (\d{6})", mail.body_text)
    assert match, mail.body_text
    return match.group(1)


def invited(ports: LivePage, token: str) -> HostController:
    """Boot a page opened through an invitation to host (the stub passed its token)."""
    config = ClientConfig(server=SERVER, page_url=PAGE, features=FEATURES, host_invite=token)
    controller = host_of(ports, config)
    ports.boot()
    return controller


# -- sending one -------------------------------------------------------------------------------
def test_invite_to_host_goes_through_the_server_and_stays_in_no_session() -> None:
    controller, ports = booted()
    result = ports.call("session.inviteToHost", (dict(INVITE_TO_HOST),))
    (sent_back,) = [m for m in ports.wire.answers if isinstance(m, HostInviteSent)]
    assert result == {
        "inviteId": sent_back.invite_id,
        "joinUrl": sent_back.join_url,
        "expiresAt": sent_back.expires_at,
        "status": "outbox",  # the server's email transport without SMTP
    }
    assert result["joinUrl"].startswith("http://cwmn.test/join/")
    assert result["joinUrl"].endswith("?name=Ivy")
    (mail,) = ports.db.kept_messages()
    assert mail.recipient == "Hana <hana@example.com>" and "Show me\nplease" in mail.body_text
    hello, sent = ports.wire.received
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
    assert ports.wire.client is not None and ports.wire.client.closed  # link closed


def test_invite_to_host_refused_by_the_server_rejects_with_its_code() -> None:
    controller, ports = booted()
    params = {**INVITE_TO_HOST, "url": "https://evil.example.net/"}
    error = call_error(ports, "session.inviteToHost", params)
    (refusal,) = [m for m in ports.wire.answers if isinstance(m, ErrorReply)]
    assert (error.code, error.message) == ("invalid_params", refusal.message)
    assert "url" in error.message
    assert controller.state is State.NO_SESSION
    assert ports.db.kept_messages() == []


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


# -- the invitee's page ---------------------------------------------------------------------
def test_an_invited_page_fires_host_invite_to_a_listener_added_in_ready_no_session() -> None:
    ports = LivePage()
    token, sent = invitation(ports)
    controller: HostController | None = None

    def listen() -> None:  # the page's 'ready no session' callback subscribes
        assert controller is not None
        controller.subscribe("host invite", 7)

    ports.on_event["ready no session"] = listen
    controller = host_of(ports, ClientConfig(SERVER, PAGE, FEATURES, host_invite=token))
    ports.boot()
    assert ports.settles == 2  # after init, then: the listener was known before deciding
    invite = {
        "inviteId": sent.invite_id,
        "inviterName": "Ivy",
        "hostName": "Hana",
        "hostEmail": "hana@example.com",
        "message": "Show me",
        "expiresAt": sent.expires_at,
    }
    assert ports.deliveries[-1] == ("host invite", (invite,), "no session")
    assert ports.handles[-1] == ("host invite", (7,))
    assert not any(o["op"] == "consent" for o in ports.overlays)
    lookup = [m for m in ports.wire.received if isinstance(m, GetHostInvite)]
    assert lookup == [GetHostInvite(ref=lookup[0].ref, token=token)]
    assert controller.state is State.NO_SESSION


def test_without_a_listener_the_page_shows_the_default_dialog() -> None:
    ports = LivePage()
    token, _ = invitation(ports)
    controller = invited(ports, token)
    (consent,) = [o for o in ports.overlays if o["op"] == "consent"]
    assert consent["invite"]["inviterName"] == "Ivy"
    assert consent["invite"]["message"] == "Show me"
    assert [d[0] for d in ports.deliveries] == ["init", "ready no session"]
    assert controller.state is State.NO_SESSION


def test_accepting_hosts_the_invited_session_with_the_waiting_inviter() -> None:
    ports = LivePage()
    token, _ = invitation(ports)
    (row,) = ports.db.session_rows()
    controller = invited(ports, token)
    code = emailed_code(ports)
    result = ports.call("session.acceptHostInvite", ({"code": code},))
    session = ports.db.get_session(row["id"])
    assert session is not None
    assert result == {
        "sessionId": row["id"],
        "isReplay": False,
        "hostName": "Hana",
        "hostEmail": "hana@example.com",
        "startedAt": session.created_at,
        "pageUrl": PAGE,
    }
    (accept,) = [m for m in ports.wire.received if isinstance(m, AcceptHostInvite)]
    assert (accept.token, accept.page_id, accept.code) == (
        token,
        controller.config.page_id,
        code,
    )
    events = [d[0] for d in ports.deliveries]
    assert events[2:5] == ["session pending", "in session", "guest connected"]
    assert ports.view_at("in session")["sessionInfo"] == result
    entry = ports.stored["cwmn:session"]
    assert entry is not None
    assert entry == {"token": entry["token"], "sessionId": row["id"], "capture": SITE_CAPTURE}
    resumable = ports.db.session_by_resume_token(entry["token"])  # the new resume token
    assert resumable is not None and resumable.id == row["id"]
    assert ports.captures[-1][0] is True
    # The inviter, pushed right after the answer, is in the list.
    assert [g["name"] for g in controller.guests] == ["Ivy"]
    # The invitation is used: there is nothing left to accept after the session.
    ports.call("session.endSession", ())
    error = call_error(ports, "session.acceptHostInvite")
    assert error.code == "not_found"


def test_a_refused_acceptance_fails_the_session_and_forgets_the_invitation() -> None:
    ports = LivePage()
    token, _ = invitation(ports)
    controller = invited(ports, token)
    # Accepted in another tab meanwhile.
    other = ports.live.host()
    other.send(Hello(ref=1, page_url=PAGE))
    code = emailed_code(ports)
    other.send(AcceptHostInvite(ref=2, token=token, page_id="other-tab", code=code))
    ports.pump()
    assert other.answer(2).type == "session_started"
    error = call_error(ports, "session.acceptHostInvite")
    (refusal,) = [m for m in ports.wire.answers if isinstance(m, ErrorReply)]
    assert (error.code, error.message) == ("link_used", refusal.message)
    assert [d[0] for d in ports.deliveries][-3:] == [
        "session pending",
        "session failed",
        "ready no session",
    ]
    assert controller.state is State.NO_SESSION
    assert (call_error(ports, "session.acceptHostInvite")).code == "not_found"


def test_a_wrong_code_may_be_given_again() -> None:
    ports = LivePage()
    token, _ = invitation(ports)
    controller = invited(ports, token)
    code = emailed_code(ports)
    wrong = "000000" if code != "000000" else "111111"
    for given in ((), ({"code": wrong},)):
        error = call_error(ports, "session.acceptHostInvite", *given)
        assert error.code == "invite_code_invalid" and "tries left" in error.message
        assert controller.state is State.NO_SESSION
    result = ports.call("session.acceptHostInvite", ({"code": code},))
    assert result["hostName"] == "Hana" and controller.state is State.IN_SESSION


def test_declining_forgets_the_invitation() -> None:
    ports = LivePage()
    token, _ = invitation(ports)
    controller = invited(ports, token)
    assert ports.call("session.declineHostInvite", ()) is None
    assert controller.state is State.NO_SESSION
    assert not any(isinstance(m, AcceptHostInvite) for m in ports.wire.received)
    for path in ("session.acceptHostInvite", "session.declineHostInvite"):
        assert (call_error(ports, path)).code == "not_found"
    # The page may still start a session of its own.
    ports.call("session.start", (dict(HOST),))
    assert controller.state is State.IN_SESSION


def test_an_unusable_invitation_is_reported_on_the_console_only() -> None:
    ports = LivePage()
    invited(ports, token="expired-token-that-no-invitation-has")
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
    ports = LivePage()
    token, _ = invitation(ports)
    entry = ports.previous_page()
    config = ClientConfig(
        SERVER, PAGE, FEATURES, resume={"token": entry["token"]}, host_invite=token
    )
    controller = host_of(ports, config)
    ports.boot()
    assert controller.state is State.IN_SESSION
    assert controller.view()["sessionInfo"]["sessionId"] == entry["sessionId"]
    assert not any(isinstance(m, GetHostInvite) for m in ports.wire.received)


@pytest.mark.parametrize(
    ("path", "args"),
    [
        ("session.acceptHostInvite", (1,)),
        ("session.acceptHostInvite", ({"code": 123456},)),
        ("session.acceptHostInvite", ({"code": "12ab"},)),
        ("session.acceptHostInvite", ({"pin": "1234"},)),
        ("session.declineHostInvite", ({},)),
    ],
)
def test_answers_to_an_invitation_take_a_code_or_nothing(path: str, args: tuple[Any, ...]) -> None:
    _, ports = booted()
    assert (call_error(ports, path, *args)).code == "invalid_params"
