"""Invitations to host ("with me") end to end over the sockets: the invitation reaches a real
SMTP server (aiosmtpd), its link redirects to the page, the invitee accepts and hosts, and the
inviter, waiting as a guest since before, sees the page. Expiry, reuse, refusals, limits."""

from __future__ import annotations

import email
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from email import policy
from email.message import EmailMessage
from itertools import count
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cwmn_web.protocol.messages import (
    AcceptHostInvite,
    ErrorReply,
    GetHostInvite,
    GuestJoined,
    Hello,
    HostInviteInfo,
    HostInviteSent,
    HostStatus,
    InviteToHost,
    Message,
    MirrorFrame,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    StartSession,
    Welcome,
)
from cwmn_web.server.db import Store
from cwmn_web.server.db.schema import host_invites, links
from cwmn_web.server.host_invites import invite_target
from cwmn_web.testing.providers import SmtpSink

from .live import HOST_ORIGIN, SERVER, Guest, Host, WallClock, guest, host

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(60)
_refs = count(9000)
PAGE = HOST_ORIGIN + "/cart?step=2"
INVITATION = {
    "host_name": "Ivy",
    "host_email": "ivy@example.com",
    "invite_name": "Hana <Q>",
    "invite_email": "hana@example.com",
    "message": "Can you show me <b>that</b>?\nThanks",
    "url": PAGE,
}
LINK = re.compile(re.escape(SERVER) + r"/host-invite/([A-Za-z0-9_-]+)")
CODE = re.compile(r"enter the code (\d{6})")
HOW = "enter the 6-digit code from the invitation email"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> WallClock:
    return WallClock(monkeypatch)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def smtp(server: SmtpSink, **more: Any) -> dict[str, Any]:
    return {"smtp_host": server.host, "smtp_port": server.port, **more}


def greet(h: Host, page_url: str = PAGE) -> None:
    assert isinstance(h.ask(Hello(ref=1, page_url=page_url)), Welcome)


def invite(h: Host, **changes: str) -> Message:
    return h.ask(InviteToHost(ref=next(_refs), **{**INVITATION, **changes}))


def sent(h: Host, **changes: str) -> HostInviteSent:
    reply = invite(h, **changes)
    assert isinstance(reply, HostInviteSent), reply
    return reply


def refused(h: Host, message: Message, code: str) -> ErrorReply:
    reply = h.ask(message)
    assert isinstance(reply, ErrorReply), reply
    assert reply.code == code, reply
    return reply


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def join_token(reply: HostInviteSent) -> str:
    return urlsplit(reply.join_url).path.rsplit("/", 1)[1]


def outbox_token(store: Store) -> str:
    match = LINK.search(store.kept_messages()[0].body_text)
    assert match, store.kept_messages()[0].body_text
    return match.group(1)


def emailed_code(text: str) -> str:
    """The code an invitation's email gives with its link."""
    match = CODE.search(text)
    assert match, text
    return match.group(1)


def outbox_code(store: Store) -> str:
    return emailed_code(store.kept_messages()[0].body_text)


def ended(wire: Host | Guest) -> SessionEnded:
    """The next ``SessionEnded`` push (what comes before it is skipped)."""
    while not isinstance(message := wire.push(), SessionEnded):
        pass
    return message


def accept(h: Host, token: str, code: str, page_id: str = "p1") -> SessionStarted:
    greet(h)
    reply = h.ask(AcceptHostInvite(ref=next(_refs), token=token, page_id=page_id, code=code))
    assert isinstance(reply, SessionStarted), reply
    return reply


# -- the whole flow -----------------------------------------------------------------------------
def test_invitation_email_redirect_acceptance_and_the_waiting_inviter(
    clock: WallClock, live_client: LiveClient, sink: SmtpSink, store: Store
) -> None:
    settings = smtp(sink, host_grace_seconds=0.2, link_ttl_seconds=3600.0)
    with live_client(**settings) as client, ExitStack() as stack:
        ivy = stack.enter_context(host(client))
        greet(ivy, HOST_ORIGIN + "/support")
        reply = sent(ivy)
        assert reply.status == "sent" and reply.invite_id
        assert reply.expires_at == pytest.approx(time.time() + 3600, abs=30)
        assert reply.join_url.startswith(SERVER + "/join/")
        assert parse_qs(urlsplit(reply.join_url).query) == {"name": ["Ivy"]}

        # The email: to the invitee, from the inviter's name, with the one-time link.
        (mail,) = sink.messages
        assert mail.rcpt_tos == ["hana@example.com"]
        message = parse(mail.data)
        (to,) = message["To"].addresses
        assert (to.display_name, to.addr_spec) == ("Hana <Q>", "hana@example.com")
        assert message["Subject"] == "Ivy invites you to share your screen"
        text, html = body(message, "plain"), body(message, "html")
        assert "Can you show me <b>that</b>?\nThanks" in text and "localhost:1234" in text
        assert "&lt;b&gt;that&lt;/b&gt;" in html and "<b>that" not in html
        assert "passwords" in text and "works once" in text
        match = LINK.search(text)
        assert match, text
        token = match.group(1)
        assert f'href="{SERVER}/host-invite/{token}"' in html
        (record,) = store.list_invites()
        assert (record.kind, record.channel, record.status) == ("host", "email", "sent")
        assert record.recipient == "hana@example.com" and record.session_id

        # The inviter opens its link before the invitee hosts: it waits, and the room outlives
        # the host grace period (there is no host to wait for yet).
        waiter: Guest = stack.enter_context(guest(client, "dev-ivy"))
        joined = waiter.joined(join_token(reply), "Ivy")
        assert (joined.host_connected, joined.waiting, joined.host_name) == (
            False,
            True,
            "Hana <Q>",
        )
        clock.advance(client, 1.0)  # five times the host grace period
        assert not any(isinstance(m, SessionEnded) for m in waiter.drain())

        # The email's link: to the page, the token in the fragment; opening it uses nothing.
        for _ in range(2):
            page = client.get(f"/host-invite/{token}", follow_redirects=False)
            assert page.status_code == 303
            assert page.headers["location"] == f"{PAGE}#cwmn-host-invite={token}"
            assert page.headers["referrer-policy"] == "no-referrer"
            assert page.headers["cache-control"] == "no-store"

        # The invitee's page learns what the invitation says, then accepts.
        hana = stack.enter_context(host(client))
        greet(hana)
        info = hana.ask(GetHostInvite(ref=next(_refs), token=token))
        assert isinstance(info, HostInviteInfo), info
        assert (info.inviter_name, info.host_name, info.host_email) == (
            "Ivy",
            "Hana <Q>",
            "hana@example.com",
        )
        assert info.message == INVITATION["message"] and info.invite_id == reply.invite_id
        code = emailed_code(text)
        assert code in html
        started = hana.ask(AcceptHostInvite(ref=next(_refs), token=token, page_id="p1", code=code))
        assert isinstance(started, SessionStarted), started
        assert (started.host_name, started.host_email) == ("Hana <Q>", "hana@example.com")
        assert started.started_at == pytest.approx(time.time(), abs=5)
        assert started.resume_token and started.session_id == record.session_id
        (push,) = [m for m in hana.drain() if isinstance(m, GuestJoined)]
        assert (push.guest["guestId"], push.guest["name"]) == (joined.guest_id, "Ivy")

        # The inviter's viewer: the host is here, then the page.
        hana.mirror(1, "snapshot", nodes=[[1, 9, "html"]], viewport=[800, 600])
        pushes = waiter.drain()
        assert HostStatus(connected=True) in pushes
        assert [(m.seq, m.kind) for m in pushes if isinstance(m, MirrorFrame)] == [(1, "snapshot")]

        # Used: the link says so, and it cannot start another session.
        used = client.get(f"/host-invite/{token}", follow_redirects=False)
        assert used.status_code == 410 and "already used" in used.text
        with host(client) as other:
            greet(other)
            refused(other, AcceptHostInvite(ref=next(_refs), token=token), "link_used")
            refused(other, GetHostInvite(ref=next(_refs), token=token), "link_used")

        # The session is the invitee's: it resumes on the next page with its resume token.
        hana.ws.close()
        with host(client) as back:
            resumed = back.resume(started.resume_token, "p2")
            assert isinstance(resumed, SessionResumed) and resumed.host_name == "Hana <Q>"
        session = store.get_session(record.session_id)
        assert session is not None and session.waiting_until is None


def test_the_invitee_accepts_before_the_inviter_joins(
    live_client: LiveClient, store: Store
) -> None:
    with live_client() as client, host(client) as ivy, host(client) as hana:
        greet(ivy)
        reply = sent(ivy)
        assert reply.status == "outbox"  # no mail settings
        accept(hana, outbox_token(store), outbox_code(store))
        assert [m for m in hana.drain() if isinstance(m, GuestJoined)] == []
        hana.mirror(1, "snapshot", nodes=[[1, 9, "html"]])
        with guest(client, "dev-ivy") as waiter:
            joined = waiter.joined(join_token(reply), "Ivy")
            assert (joined.host_connected, joined.waiting) == (True, False)
            assert [m.kind for m in waiter.drain() if isinstance(m, MirrorFrame)] == ["snapshot"]
        (push,) = [m for m in hana.drain() if isinstance(m, GuestJoined)]
        assert push.guest["via"] == "private"


def test_the_maximum_duration_counts_from_the_acceptance(
    clock: WallClock, live_client: LiveClient, store: Store
) -> None:
    with live_client(max_session_seconds=60) as client, host(client) as ivy:
        greet(ivy)
        reply = sent(ivy)
        token = outbox_token(store)
        clock.advance(client, 80)  # longer than a session may last: the invitation still waits
        with guest(client, "dev-ivy") as waiter:
            assert waiter.joined(join_token(reply), "Ivy").waiting
            with host(client) as hana:
                started = accept(hana, token, outbox_code(store))
                assert started.session_id
                clock.advance(client, 59)
                assert not any(isinstance(m, SessionEnded) for m in hana.drain())
                clock.advance(client, 1)
                assert ended(hana).reason == "expired"
            assert ended(waiter).reason == "expired"


# -- expiry and refusals ------------------------------------------------------------------------
def test_an_expired_invitation(clock: WallClock, live_client: LiveClient, store: Store) -> None:
    with live_client(link_ttl_seconds=60) as client, host(client) as ivy:
        greet(ivy)
        reply = sent(ivy)
        token = outbox_token(store)
        with guest(client, "dev-ivy") as waiter:
            assert waiter.joined(join_token(reply), "Ivy").waiting
            clock.advance(client, 59)
            assert not any(isinstance(m, SessionEnded) for m in waiter.drain())
            clock.advance(client, 1)
            assert ended(waiter).reason == "expired"
        page = client.get(f"/host-invite/{token}", follow_redirects=False)
        assert page.status_code == 404 and "expired" in page.text
        assert "cwmn-host-invite" not in page.headers.get("location", "")
        with host(client) as hana:
            greet(hana)
            refused(hana, GetHostInvite(ref=next(_refs), token=token), "link_invalid")
            refused(hana, AcceptHostInvite(ref=next(_refs), token=token), "link_invalid")
        assert client.get(urlsplit(reply.join_url).path).status_code == 410  # session over


@pytest.mark.parametrize("token", ["nope", "x" * 300, "%00"])
def test_an_unknown_invitation(live_client: LiveClient, token: str) -> None:
    with live_client() as client, host(client) as hana:
        page = client.get(f"/host-invite/{token}", follow_redirects=False)
        assert page.status_code == 404 and "This invitation has expired" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        greet(hana)
        refused(hana, AcceptHostInvite(ref=next(_refs), token=token), "link_invalid")


def test_another_sites_page_cannot_use_the_invitation(
    live_client: LiveClient, store: Store
) -> None:
    store.add_domain("other.test", "other")
    with live_client() as client, host(client) as ivy:
        greet(ivy)
        sent(ivy)
        token = outbox_token(store)
        with host(client, origin="http://other.test:8080") as stranger:
            greet(stranger, "http://other.test:8080/")
            refused(stranger, GetHostInvite(ref=next(_refs), token=token), "link_invalid")
            refused(stranger, AcceptHostInvite(ref=next(_refs), token=token), "link_invalid")
        with host(client) as hana:
            accept(hana, token, outbox_code(store))  # still unused


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"url": "https://evil.example.net/"},
            "authorizes (127.0.0.1, localhost), not evil.example.net",
        ),
        ({"url": "https://localhost.evil.example.net/"}, "authorizes"),
        ({"url": "ftp://localhost/"}, "http(s)"),
        ({"url": "javascript:alert(1)//localhost"}, "http(s)"),
        ({"url": "http://user:pw@localhost/"}, "password"),
        ({"url": "http://localhost:99999999/"}, "not a valid URL"),
        ({"url": ""}, "url"),
        ({"url": "http://localhost/" + "a" * 2100}, "2048"),
        ({"invite_email": "hana@example.com\r\nBcc: x@evil.test"}, "inviteEmail"),
        ({"invite_email": "Hana <hana@example.com>"}, "inviteEmail"),
        ({"invite_name": ""}, "inviteName is required"),
        ({"invite_name": "H\r\nBcc: x@evil.test"}, "inviteName"),
        ({"host_name": ""}, "hostName"),
        ({"host_email": "nope"}, "hostEmail"),
        ({"message": "m" * 1001}, "message"),
    ],
)
def test_bad_invitations_send_nothing_and_make_no_session(
    live_client: LiveClient, sink: SmtpSink, store: Store, changes: dict[str, str], words: str
) -> None:
    with live_client(**smtp(sink)) as client, host(client) as ivy:
        greet(ivy)
        error = invite(ivy, **changes)
        assert isinstance(error, ErrorReply) and error.code == "invalid_params", error
        assert words in error.message
    assert sink.messages == [] and store.list_invites() == [] and store.session_rows() == []


def test_a_refused_email_cancels_the_invitation(live_client: LiveClient, store: Store) -> None:
    with (
        SmtpSink(refuse="550 5.1.1 No such user here") as server,
        live_client(**smtp(server)) as client,
        host(client) as ivy,
    ):
        greet(ivy)
        error = invite(ivy)
        assert isinstance(error, ErrorReply) and error.code == "invite_failed"
        assert "550 5.1.1" in error.message
    (record,) = store.list_invites()
    assert (record.kind, record.status) == ("host", "failed")
    (row,) = store.session_rows()
    assert row["end_reason"] == "invite_failed"
    with store.engine.connect() as db:
        invitation = db.execute(host_invites.select()).one()
        (link,) = db.execute(links.select()).all()
    assert invitation.token_hash == record.link_hash  # only its hash is stored
    assert invitation.expires_at <= time.time() and link.revoked_at is not None


def test_invitations_count_against_the_sites_limit(live_client: LiveClient, store: Store) -> None:
    with live_client(invites_per_site=2) as client, host(client) as ivy:
        greet(ivy)
        sent(ivy)
        sent(ivy, invite_email="ken@example.com")
        error = invite(ivy)
        assert isinstance(error, ErrorReply) and error.code == "rate_limited"
        assert "this site has sent 2 invites" in error.message
    assert len(store.list_invites()) == 2 and len(store.session_rows()) == 2


def test_invitations_are_before_a_session_only(live_client: LiveClient, store: Store) -> None:
    with live_client() as client, host(client) as ivy, host(client) as hana:
        greet(ivy)
        sent(ivy)
        token = outbox_token(store)
        ivy.ask(StartSession(ref=next(_refs), host_name="Ivy", host_email="ivy@example.com"))
        refused(ivy, InviteToHost(ref=next(_refs), **INVITATION), "invalid_state")
        refused(ivy, AcceptHostInvite(ref=next(_refs), token=token), "invalid_state")
        accept(hana, token, outbox_code(store))


def test_a_forwarded_link_without_its_code_hosts_nothing(
    live_client: LiveClient, store: Store
) -> None:
    """A stranger invites themself and forwards the link (or it leaks from a log): whoever
    opens it must also give the code the email carried; five wrong codes cancel it."""
    with live_client() as client, host(client) as eve:
        greet(eve)
        sent(eve, invite_email="eve@example.com", invite_name="Support")
        token, code = outbox_token(store), outbox_code(store)
        wrong = next(c for c in ("000000", "111111") if c != code)
        with host(client) as victim:
            greet(victim)
            missing = refused(
                victim, AcceptHostInvite(ref=next(_refs), token=token), "invite_code_invalid"
            )
            assert "code is missing" in missing.message and "5 tries left" in missing.message
            for left in (4, 3, 2, 1):
                guess = AcceptHostInvite(ref=next(_refs), token=token, code=wrong)
                assert f"{left} tries left" in refused(victim, guess, "invite_code_invalid").message
            guess = AcceptHostInvite(ref=next(_refs), token=token, code=wrong)
            assert "too many wrong codes" in refused(victim, guess, "link_invalid").message
            right = AcceptHostInvite(ref=next(_refs), token=token, code=code)
            refused(victim, right, "link_invalid")  # cancelled for good
        assert client.get(f"/host-invite/{token}", follow_redirects=False).status_code == 404
    (session,) = store.session_rows()
    assert session["end_reason"] == "invite_failed"


def test_the_code_is_checked_before_the_invitation_is_used(
    live_client: LiveClient, store: Store
) -> None:
    with live_client() as client, host(client) as ivy:
        greet(ivy)
        sent(ivy)
        token, code = outbox_token(store), outbox_code(store)
        with host(client) as hana:
            greet(hana)
            refused(
                hana,
                AcceptHostInvite(ref=next(_refs), token=token, code="12"),
                "invite_code_invalid",
            )
        with host(client) as hana:
            accept(hana, token, f" {code[:3]} {code[3:]} ")  # spaces as people type them


def test_the_invitation_keeps_the_pages_own_fragment() -> None:
    assert (
        invite_target("http://a.test/app#/cart", "T")
        == "http://a.test/app#/cart&cwmn-host-invite=T"
    )
    assert invite_target("http://a.test/?q=1", "T") == "http://a.test/?q=1#cwmn-host-invite=T"


def test_the_redirect_keeps_a_hash_route(live_client: LiveClient, store: Store) -> None:
    with live_client() as client, host(client) as ivy:
        greet(ivy)
        sent(ivy, url=HOST_ORIGIN + "/app#/cart")
        token = outbox_token(store)
        page = client.get(f"/host-invite/{token}", follow_redirects=False)
        assert page.headers["location"] == f"{HOST_ORIGIN}/app#/cart&cwmn-host-invite={token}"


def guess(client: TestClient, token: str, given: str) -> ErrorReply:
    """One try at an invitation's code from a new socket (a stranger's page)."""
    with host(client) as stranger:
        greet(stranger)
        reply = stranger.ask(AcceptHostInvite(ref=next(_refs), token=token, code=given))
    assert isinstance(reply, ErrorReply), reply
    return reply


def test_wrong_codes_count_across_server_processes_and_restarts(
    live_client: LiveClient, store: Store
) -> None:
    """An attacker spreads guesses over two server processes (one database), then waits for a
    restart: the five tries are the invitation's, not each process's."""
    with live_client() as client, host(client) as eve:
        greet(eve)
        sent(eve, invite_email="eve@example.com")
    token, code = outbox_token(store), outbox_code(store)
    wrong = next(c for c in ("000000", "111111") if c != code)
    with live_client() as first, live_client() as second:
        assert "4 tries left" in guess(first, token, wrong).message
        assert "3 tries left" in guess(second, token, wrong).message
        assert "2 tries left" in guess(first, token, wrong).message
    with live_client() as restarted:
        assert "1 tries left" in guess(restarted, token, wrong).message
        last = guess(restarted, token, wrong)
        assert last.code == "link_invalid" and "too many wrong codes" in last.message
        assert guess(restarted, token, code).code == "link_invalid"  # cancelled for good
    (session,) = store.session_rows()
    assert session["end_reason"] == "invite_failed"


def test_concurrent_wrong_codes_from_many_sockets_burn_the_invitation(
    live_client: LiveClient, store: Store
) -> None:
    """Many sockets send a wrong code at once: five of them are counted, the rest refused,
    and the right code afterwards hosts nothing."""
    with live_client() as client, host(client) as eve:
        greet(eve)
        sent(eve, invite_email="eve@example.com")
        token, code = outbox_token(store), outbox_code(store)
        wrong = next(c for c in ("000000", "111111") if c != code)
        with ExitStack() as stack:
            sockets = [stack.enter_context(host(client)) for _ in range(16)]
            for socket in sockets:
                greet(socket)
            for ref, socket in enumerate(sockets, 50):
                socket.send(AcceptHostInvite(ref=ref, token=token, code=wrong))
            replies = [socket.receive() for socket in sockets]
        assert all(isinstance(r, ErrorReply) for r in replies), replies
        tries = [r for r in replies if isinstance(r, ErrorReply)]
        left = sorted(r.message for r in tries if r.code == "invite_code_invalid")
        assert left == [f"the code is wrong: {HOW} ({n} tries left)" for n in (1, 2, 3, 4)]
        assert sum(r.code == "link_invalid" for r in tries) == 12
        assert guess(client, token, code).code == "link_invalid"
    (session,) = store.session_rows()
    assert session["end_reason"] == "invite_failed"
