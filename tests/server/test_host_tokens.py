"""Sites that require host tokens, attacked as an outsider would: a raw WebSocket client
that forges ``Origin`` (any script can), with no token or a forged one, is refused; a
token signed by the site's backend admits the host, whose identity guests see and the
invite records keep; rotation; the CLI; open sites unchanged."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt
import pytest
from sqlalchemy import create_engine, text

from cwmn_web.protocol.messages import (
    CLOSE_BAD_ORIGIN,
    AcceptHostInvite,
    ErrorReply,
    Hello,
    HostInviteSent,
    InviteGuest,
    InviteSent,
    InviteToHost,
    Joined,
    ResumeSession,
    SessionResumed,
    SessionStarted,
    StartSession,
    Welcome,
)
from cwmn_web.server import cli
from cwmn_web.server.db import Store

from .live import HOST_ORIGIN, Host, guest, host

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(60)
PAGE = HOST_ORIGIN + "/shop"


def token_site(store: Store) -> tuple[str, str]:
    """The default site (it has localhost) requires host tokens; its key."""
    store.require_host_tokens("default")
    return store.add_host_key("default", kid="k1")


def mint(secret: str, kid: str = "k1", lifetime: float = 300, **claims: Any) -> str:
    now = time.time()
    body = {"aud": "default", "iat": now, "exp": now + lifetime, "sub": "agent-7"}
    body |= {"name": "Ann Verified", "email": "ann@shop.example"} | claims
    return jwt.encode(body, secret, algorithm="HS256", headers={"kid": kid})


def hello(h: Host, token: str = "") -> Any:
    return h.ask(Hello(ref=1, page_url=PAGE, host_token=token))


def refused(client: TestClient, token: str, code: str) -> ErrorReply:
    """A forged-Origin client with ``token`` hears ``code`` and is closed."""
    with host(client) as h:
        reply = hello(h, token)
        assert isinstance(reply, ErrorReply), reply
        assert reply.code == code, reply
        assert h.closed_code() == CLOSE_BAD_ORIGIN
    return reply


def started(h: Host, token: str, name: str = "Mallory") -> SessionStarted:
    assert isinstance(hello(h, token), Welcome)
    reply = h.ask(StartSession(ref=2, host_name=name, host_email="m@evil.example"))
    assert isinstance(reply, SessionStarted), reply
    return reply


def test_a_forged_origin_without_a_token_is_refused(client: TestClient, store: Store) -> None:
    token_site(store)
    reply = refused(client, "", "host_token_required")
    assert "data-host-token" in reply.message
    with host(client) as h:  # nothing else gets through either
        h.send(StartSession(ref=2, host_name="Mallory"))
        assert isinstance(h.receive(), ErrorReply)
    assert store.session_rows() == []


def test_forged_tokens_are_refused(client: TestClient, store: Store) -> None:
    _, secret = token_site(store)
    refused(client, mint(secret, lifetime=-60, iat=time.time() - 120), "host_token_expired")
    refused(client, mint("an attacker's own secret, 32+ chars long"), "host_token_invalid")
    refused(client, mint(secret, aud="another-site"), "host_token_invalid")
    refused(client, mint(secret, lifetime=86400), "host_token_invalid")
    none = jwt.encode({"aud": "default", "exp": time.time() + 60}, None, algorithm="none")
    refused(client, none, "host_token_invalid")
    assert store.session_rows() == []


def test_old_and_new_keys_work_until_the_old_is_removed(client: TestClient, store: Store) -> None:
    _, old = token_site(store)
    _, new = store.add_host_key("default", kid="k2")
    for token in (mint(old, "k1"), mint(new, "k2")):
        with host(client) as h:
            started(h, token)
    assert store.remove_host_key("default", "k1")
    refused(client, mint(old, "k1"), "host_token_invalid")
    with host(client) as h:
        started(h, mint(new, "k2"))


def test_the_tokens_identity_reaches_guests_and_invite_records(
    live_client: LiveClient, store: Store
) -> None:
    _, secret = token_site(store)
    with live_client() as client, host(client) as h:
        session = started(h, mint(secret), name="Mallory")
        assert (session.host_name, session.host_email) == ("Ann Verified", "ann@shop.example")
        with guest(client) as g:
            joined = g.joined(h.link())
            assert (joined.host_name, joined.host_verified) == ("Ann Verified", True)
        reply = h.ask(InviteGuest(ref=9, guest_name="G", guest_email="g@example.com"))
        assert isinstance(reply, InviteSent), reply
    (record,) = store.list_invites()
    assert record.host_identity is not None
    assert json.loads(record.host_identity) == {
        "sub": "agent-7",
        "name": "Ann Verified",
        "email": "ann@shop.example",
    }
    (row,) = store.session_rows()
    assert row["host_subject"] == "agent-7"


def test_an_open_site_is_as_before(live_client: LiveClient, store: Store) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        with guest(client) as g:
            joined = g.joined(h.link())
            assert isinstance(joined, Joined)
            assert (joined.host_name, joined.host_verified) == ("Ann", False)


def test_domain_info_never_shows_the_secret(client: TestClient, store: Store) -> None:
    kid, secret = token_site(store)
    answer = client.get("/api/domain-info", headers={"origin": HOST_ORIGIN}).text
    assert secret not in answer and kid not in answer


def test_the_cli_requires_tokens_and_manages_keys(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CWMN_DATABASE_URL", str(store.engine.url))
    assert cli.main(["site", "host-tokens", "default", "require"]) == 0
    assert "no key yet" in capsys.readouterr().err
    assert cli.main(["site", "key-add", "default", "--kid", "2026-12"]) == 0
    out = capsys.readouterr().out
    secret = out.split("secret: ", 1)[1].strip()
    assert store.host_keys(1) == {"2026-12": secret}
    assert cli.main(["site", "key-list", "default"]) == 0
    listed = capsys.readouterr().out
    assert "2026-12" in listed and secret not in listed
    assert cli.main(["site", "list"]) == 0
    assert "host tokens required" in capsys.readouterr().out
    assert cli.main(["site", "key-remove", "default", "2026-12"]) == 0
    assert cli.main(["site", "key-remove", "default", "2026-12"]) == 1
    assert cli.main(["site", "host-tokens", "default", "off"]) == 0
    site = store.site_by_name("default")
    assert site is not None and not site.host_tokens


def test_an_older_database_gets_the_new_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = create_engine(url)
    with old.begin() as db:  # the sites table as it was made before host tokens
        db.execute(
            text(
                "CREATE TABLE sites (id INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL UNIQUE,"
                " settings TEXT NOT NULL)"
            )
        )
        db.execute(text("INSERT INTO sites (name, settings) VALUES ('shop', '{}')"))
    old.dispose()
    store = Store(url)
    store.create()
    store.require_host_tokens("shop")
    site = store.site_by_name("shop")
    assert site is not None and site.host_tokens
    store.engine.dispose()


def test_a_session_resumes_only_with_a_token_of_its_host(client: TestClient, store: Store) -> None:
    _, secret = token_site(store)
    with host(client) as h:
        session = started(h, mint(secret))
    with host(client) as other:  # a valid token, but another user of the site
        assert isinstance(hello(other, mint(secret, sub="agent-8")), Welcome)
        reply = other.ask(ResumeSession(ref=2, resume_token=session.resume_token, page_id="p"))
        assert isinstance(reply, ErrorReply) and reply.code == "host_token_invalid", reply
    with host(client) as same:
        assert isinstance(hello(same, mint(secret)), Welcome)
        reply = same.ask(ResumeSession(ref=2, resume_token=session.resume_token, page_id="p"))
        assert isinstance(reply, SessionResumed), reply


def test_an_invitation_to_host_records_who_sent_it(live_client: LiveClient, store: Store) -> None:
    _, secret = token_site(store)
    with live_client() as client, host(client) as h:
        assert isinstance(hello(h, mint(secret)), Welcome)
        assert isinstance(ask_to_invite_hana(h, "Ann", "ann@shop.example"), HostInviteSent)
    (record,) = store.list_invites()
    assert record.host_identity is not None
    assert json.loads(record.host_identity)["sub"] == "agent-7"
    assert record.client_address == "testclient"


def test_the_frame_log_never_holds_the_token(
    live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    _, secret = token_site(store)
    log, token = tmp_path / "frames.log", mint(secret)
    with live_client(frame_log=log) as client, host(client) as h:
        started(h, token)
    text = log.read_text()
    assert '"host_token":"(not logged)"' in text and token not in text


@pytest.mark.parametrize(
    "claims", [{"name": ""}, {"name": "  "}, {"sub": "", "name": "", "email": ""}]
)
def test_a_name_the_page_chose_is_never_shown_verified(
    live_client: LiveClient, store: Store, claims: dict[str, Any]
) -> None:
    """A token without a name (or without a sub) must not turn the page's hostName into a
    verified one: guests see the page's name, unverified; a token's own name stays verified."""
    _, secret = token_site(store)
    with live_client() as client, host(client) as h:
        session = started(h, mint(secret, **claims), name="Support (official)")
        assert session.host_name == "Support (official)"
        with guest(client) as g:
            joined = g.joined(h.link())
            assert (joined.host_name, joined.host_verified) == ("Support (official)", False)


def ask_to_invite_hana(h: Host, name: str = "Support", email: str = "support@shop.example") -> Any:
    """The page (calling itself ``name``, ``email``) invites Hana to host: the answer."""
    invite = InviteToHost(
        ref=3,
        host_name=name,
        host_email=email,
        invite_name="Hana",
        invite_email="hana@example.com",
        url=PAGE,
    )
    return h.ask(invite)


def invite_hana(h: Host, token: str) -> HostInviteSent:
    """The page claims to be "Support" (support@shop.example) inviting Hana."""
    assert isinstance(hello(h, token), Welcome)
    reply = ask_to_invite_hana(h)
    assert isinstance(reply, HostInviteSent), reply
    return reply


def test_an_invitation_to_host_names_the_tokens_host_not_the_pages(
    live_client: LiveClient, store: Store
) -> None:
    _, secret = token_site(store)
    with live_client() as client, host(client) as h:
        invite_hana(h, mint(secret, name="Mallory", email="mallory@shop.example"))
    (mail,) = store.kept_messages()
    assert "Mallory invites you" in mail.body_text and "Support" not in mail.body_text
    with live_client() as client, host(client) as h:  # a token without an email: refused
        assert isinstance(hello(h, mint(secret, email="")), Welcome)
        reply = ask_to_invite_hana(h)
        assert isinstance(reply, ErrorReply) and reply.code == "unauthorized", reply
        assert "email" in reply.message


def test_only_the_invitee_accepts_an_invitation_to_host(
    live_client: LiveClient, store: Store
) -> None:
    """Eve, a signed-in user of the site, got Hana's forwarded email (link and code): her
    token's email is not Hana's, so she cannot host in Hana's place; Hana can."""
    _, secret = token_site(store)
    with live_client() as client, ExitStack() as stack:
        with host(client) as h:
            sent = invite_hana(h, mint(secret))
        inviter = stack.enter_context(guest(client, "inviter"))
        waiting = inviter.joined(urlsplit(sent.join_url).path.rsplit("/", 1)[1])
        assert waiting.waiting and waiting.host_verified is False  # the room is open
        text = store.kept_messages()[0].body_text
        token = text.split("/host-invite/", 1)[1].split()[0]
        code = text.split("enter the code ", 1)[1][:6]
        with host(client) as eve:
            assert isinstance(
                hello(eve, mint(secret, sub="eve", email="eve@shop.example")), Welcome
            )
            reply = eve.ask(AcceptHostInvite(ref=4, token=token, page_id="p", code=code))
            assert isinstance(reply, ErrorReply) and reply.code == "unauthorized", reply
            assert "hana@example.com" not in reply.message and "email" in reply.message
        with host(client) as hana:
            hana_token = mint(secret, sub="h", name="Hana H.", email="Hana@Example.com")
            assert isinstance(hello(hana, hana_token), Welcome)
            reply = hana.ask(AcceptHostInvite(ref=4, token=token, page_id="p", code=code))
            assert isinstance(reply, SessionStarted), reply
            with guest(client, "zed") as zed:  # a guest from now on sees Hana's signed name
                joined = zed.joined(hana.link())
                assert (joined.host_name, joined.host_verified) == ("Hana H.", True)
        # The accepted session is Hana's: her token's name, shown verified, and only a token
        # of hers resumes it.
        record = store.get_session(reply.session_id)
        assert record is not None
        assert (record.host_name, record.host_subject, record.host_name_verified) == (
            "Hana H.",
            "h",
            True,
        )
        with host(client) as other:
            assert isinstance(hello(other, mint(secret, sub="eve")), Welcome)
            again = other.ask(ResumeSession(ref=2, resume_token=reply.resume_token, page_id="p"))
            assert isinstance(again, ErrorReply) and again.code == "host_token_invalid", again


def test_a_second_hello_never_swaps_the_hosts_identity(
    live_client: LiveClient, store: Store
) -> None:
    """A host signed in as agent-7 says hello again with another user's token (or a
    broken one): refused as out of place, and the connection still hosts as agent-7."""
    _, secret = token_site(store)
    with live_client() as client, host(client) as h:
        assert isinstance(hello(h, mint(secret)), Welcome)
        boss = mint(secret, sub="boss", name="The Boss", email="boss@shop.example")
        for token in (boss, "not a token"):
            again = hello(h, token)
            assert isinstance(again, ErrorReply) and again.code == "invalid_state", again
        session = h.ask(StartSession(ref=2, host_name="Mallory"))
        assert isinstance(session, SessionStarted), session
        assert (session.host_name, session.host_email) == ("Ann Verified", "ann@shop.example")
    (row,) = store.session_rows()
    assert row["host_subject"] == "agent-7"


def test_one_signed_in_user_cannot_spend_the_sites_invite_budget(
    live_client: LiveClient, store: Store
) -> None:
    """agent-7 (any account of the site) sends invite after invite, across sessions: past
    the per-user budget it is refused; another user, from the same address, still invites."""
    _, secret = token_site(store)

    def invite(h: Host, ref: int) -> Any:
        return h.ask(InviteGuest(ref=ref, guest_name="G", guest_email=f"g{ref}@example.com"))

    with live_client(invites_per_client=3) as client:
        for round in range(2):  # a new session each round: the session's budget is fresh
            with host(client) as h:
                started(h, mint(secret))
                replies = [invite(h, 10 + n) for n in range(2)]
                if round == 0:
                    assert all(isinstance(r, InviteSent) for r in replies), replies
        assert isinstance(replies[0], InviteSent), replies
        assert isinstance(replies[1], ErrorReply) and replies[1].code == "rate_limited"
        assert "host" in replies[1].message and "3 invites" in replies[1].message
        with host(client) as other:
            started(other, mint(secret, sub="agent-8"))
            assert isinstance(invite(other, 20), InviteSent)
