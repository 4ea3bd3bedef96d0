"""Email and SMS invites end to end: a real SMTP server (aiosmtpd) and a local server
speaking Twilio's wire format receive them; limits, refusals, the outbox and its page."""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from contextlib import ExitStack
from email import policy
from email.message import EmailMessage
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from cwmn_web.protocol.messages import (
    ErrorReply,
    GuestJoined,
    Hello,
    InviteGuest,
    InviteSent,
    Message,
    Ping,
    Pong,
    StartSession,
    Welcome,
)
from cwmn_web.server import cli
from cwmn_web.server.app import create_app
from cwmn_web.server.config import Settings
from cwmn_web.server.db import Store
from cwmn_web.testing.providers import FakeTwilio, SmtpSink
from cwmn_web.testing.servers import free_port

from .live import HOST_ORIGIN, SERVER, Host, guest, host

if TYPE_CHECKING:
    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(60)
_refs = count(7000)
SENDER = "Cwmn Invites <invites@cwmn.test>"
TWILIO_FROM = "+15005550006"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def smtp(server: SmtpSink, **more: Any) -> dict[str, Any]:
    return {"smtp_host": server.host, "smtp_port": server.port, "mail_from": SENDER, **more}


def sms(server: FakeTwilio, **more: Any) -> dict[str, Any]:
    return {
        "twilio_account_sid": server.account_sid,
        "twilio_auth_token": server.auth_token,
        "twilio_from": TWILIO_FROM,
        "twilio_base_url": server.url,
        **more,
    }


def invite(h: Host, **fields: str) -> Message:
    return h.ask(InviteGuest(ref=next(_refs), **fields))


def sent(h: Host, **fields: str) -> InviteSent:
    reply = invite(h, **fields)
    assert isinstance(reply, InviteSent), reply
    return reply


def refused(h: Host, code: str, **fields: str) -> ErrorReply:
    reply = invite(h, **fields)
    assert isinstance(reply, ErrorReply), reply
    assert reply.code == code, reply
    return reply


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return tuple(str(p.get_content()).replace("\r\n", "\n") for p in (text, html))  # type: ignore[return-value]


def link_of(text: str) -> str:
    (line,) = [line for line in text.splitlines() if "/join/" in line]
    return line.rsplit(" ", 1)[1]


# -- email --------------------------------------------------------------------------------
def test_an_email_invite_reaches_the_smtp_server(
    live_client: LiveClient, sink: SmtpSink, store: Store
) -> None:
    with live_client(**smtp(sink)) as client, host(client) as h:
        h.start()
        reply = sent(
            h,
            guest_name="Zoë O'Neil, Jr.",
            guest_email="zoe@example.com",
            message="Join <b>me</b> & see\nline 2",
        )
        assert (reply.channel, reply.to, reply.status) == ("email", "zoe@example.com", "sent")
        assert reply.invite_id
    (mail,) = sink.messages
    assert mail.mail_from == "invites@cwmn.test"
    assert mail.rcpt_tos == ["zoe@example.com"]
    message = parse(mail.data)
    assert message["From"] == SENDER
    (to,) = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Zoë O'Neil, Jr.", "zoe@example.com")
    assert message["Subject"] == "Ann invited you to a shared screen"
    assert message["Date"].datetime.timestamp() == pytest.approx(time.time(), abs=30)
    assert message["Message-ID"].endswith("@cwmn.test>")
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert "Join <b>me</b> & see\nline 2" in text
    assert "Join &lt;b&gt;me&lt;/b&gt; &amp; see<br>line 2" in html
    assert "<b>me" not in html
    assert "Zoë O&#x27;Neil, Jr." in html
    url = link_of(text)
    assert url.startswith(SERVER + "/join/") and f'href="{url}"' in html.replace("&amp;", "&")
    assert parse_qs(urlsplit(url).query) == {"name": ["Zoë O'Neil, Jr."]}
    (record,) = store.list_invites()
    assert (record.channel, record.recipient, record.status, record.provider) == (
        "email",
        "zoe@example.com",
        "sent",
        "smtp",
    )
    assert record.provider_id == message["Message-ID"] and record.kind == "guest"
    assert record.id == reply.invite_id and store.kept_messages() == []


def test_the_emailed_link_seats_one_guest_via_invite_with_its_name(
    live_client: LiveClient, sink: SmtpSink
) -> None:
    with live_client(**smtp(sink)) as client, host(client) as h, ExitStack() as stack:
        h.start()
        sent(h, guest_name="Zoë Q", guest_email="zoe@example.com")
        url = link_of(parts(parse(sink.messages[0].data))[0])
        parsed = urlsplit(url)
        page = client.get(f"{parsed.path}?{parsed.query}")
        assert page.status_code == 200 and "cwmn_device" in page.cookies
        name = parse_qs(parsed.query)["name"][0]  # what the viewer's askName() reads
        token = parsed.path.rsplit("/", 1)[1]
        zoe = stack.enter_context(guest(client, "dev-zoe"))
        joined = zoe.joined(token, name)
        (push,) = [m for m in h.drain() if isinstance(m, GuestJoined)]
        assert push.guest["guestId"] == joined.guest_id
        assert (push.guest["name"], push.guest["via"]) == ("Zoë Q", "invite")
        other = stack.enter_context(guest(client, "dev-other"))
        assert other.refused(token).code == "link_used"  # a private link: one device


def test_an_invite_link_names_its_guest_when_the_viewer_does_not(
    live_client: LiveClient,
) -> None:
    with live_client() as client, host(client) as h, guest(client) as bob:
        h.start()
        sent(h, guest_name="Bob B", guest_email="bob@example.com")
        return_link = client.app.state.store.kept_messages()[0].link  # type: ignore[attr-defined]
        token = urlsplit(return_link).path.rsplit("/", 1)[1]
        bob.joined(token, "")
        (push,) = [m for m in h.drain() if isinstance(m, GuestJoined)]
        assert (push.guest["name"], push.guest["via"]) == ("Bob B", "invite")


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")  # aiosmtpd's own
def test_smtp_login(live_client: LiveClient) -> None:
    with SmtpSink(login=("mailer", "pa55")) as server:
        good = smtp(server, smtp_user="mailer", smtp_password="pa55")
        with live_client(**good) as client, host(client) as h:
            h.start()
            sent(h, guest_name="G", guest_email="g@example.com")
        assert [m.login for m in server.messages] == ["mailer"]
        bad = smtp(server, smtp_user="mailer", smtp_password="wrong")
        with live_client(**bad) as client, host(client) as h:
            h.start()
            error = refused(h, "invite_unavailable", guest_name="G", guest_email="g@example.com")
            assert "CWMN_SMTP_USER" in error.message and "535" in error.message
        assert len(server.messages) == 1


def test_an_smtp_refusal_is_invite_failed_with_the_servers_reply(
    live_client: LiveClient, store: Store
) -> None:
    with (
        SmtpSink(refuse="550 5.1.1 No such user here") as server,
        live_client(**smtp(server)) as client,
        host(client) as h,
    ):
        h.start()
        error = refused(h, "invite_failed", guest_name="G", guest_email="nobody@example.com")
        assert "550 5.1.1 No such user here" in error.message
        assert "nobody@example.com" in error.message
        assert server.messages == []
        (record,) = store.list_invites()
        assert record.status == "failed" and "550" in (record.error or "")
        assert record.link_hash is not None
        # Nobody received its link: it was revoked.
        with store.engine.connect() as db:
            from cwmn_web.server.db.schema import links

            row = db.execute(links.select().where(links.c.token_hash == record.link_hash)).one()
        assert row.revoked_at is not None and row.kind == "invite"


def test_an_unreachable_smtp_server_is_invite_unavailable(
    live_client: LiveClient, store: Store
) -> None:
    settings = {"smtp_host": "127.0.0.1", "smtp_port": free_port(), "send_timeout": 5.0}
    with live_client(**settings) as client, host(client) as h:
        h.start()
        error = refused(h, "invite_unavailable", guest_name="G", guest_email="g@example.com")
        assert "mail server" in error.message and "try again later" in error.message
    (record,) = store.list_invites()
    assert record.status == "failed" and store.kept_messages() == []


def test_sending_does_not_hold_up_the_host_socket(live_client: LiveClient) -> None:
    with (
        SmtpSink(delay=0.5) as server,
        live_client(**smtp(server)) as client,
        host(client) as h,
    ):
        h.start()
        request = InviteGuest(ref=next(_refs), guest_name="G", guest_email="g@example.com")
        h.send(request)
        h.send(Ping(ref=next(_refs)))
        assert isinstance(h.receive(), Pong)  # answered while the mail server waits
        answer = h.receive()
        assert isinstance(answer, InviteSent) and answer.ref == request.ref


def test_a_host_has_at_most_four_invites_on_their_way(live_client: LiveClient) -> None:
    with (
        SmtpSink(delay=0.3) as server,
        live_client(**smtp(server)) as client,
        host(client) as h,
    ):
        h.start()
        requests = [InviteGuest(ref=next(_refs), **EMAIL_OK) for _ in range(5)]
        for request in requests:
            h.send(request)
        first = h.receive()  # the fifth is refused at once; the others wait for the server
        assert isinstance(first, ErrorReply) and first.ref == requests[4].ref
        assert first.code == "rate_limited" and "on their way" in first.message
        answers = [h.receive() for _ in range(4)]
        assert all(isinstance(a, InviteSent) for a in answers)
        assert len(server.messages) == 4
        sent(h, **EMAIL_OK)  # answered: room again


# -- SMS --------------------------------------------------------------------------------------
def test_an_sms_invite_reaches_the_provider(
    live_client: LiveClient, twilio: FakeTwilio, store: Store
) -> None:
    with live_client(**sms(twilio)) as client, host(client) as h:
        h.start()
        reply = sent(h, guest_phone="(314) 555-0000", guest_name="Bob", message="See you")
        assert (reply.channel, reply.to, reply.status) == ("sms", "+13145550000", "sent")
    (request,) = twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert request.auth == (twilio.account_sid, twilio.auth_token)
    assert request.content_type == "application/x-www-form-urlencoded"
    assert set(request.form) == {"To", "From", "Body"}
    assert (request.form["To"], request.form["From"]) == ("+13145550000", TWILIO_FROM)
    body = request.form["Body"]
    assert body.startswith("Hi Bob, Ann invited you to a shared screen.\nSee you\nJoin: ")
    url = body.rsplit("Join: ", 1)[1]
    assert url.startswith(SERVER + "/join/") and url.endswith("?name=Bob")
    (record,) = store.list_invites()
    assert (record.status, record.provider, record.recipient) == ("sent", "twilio", "+13145550000")
    assert record.provider_id and record.provider_id.startswith("SM")


def test_sms_numbers_use_the_sites_default_region(
    live_client: LiveClient, twilio: FakeTwilio, store: Store
) -> None:
    store.update_settings("default", {"defaultRegion": "GB", "smsCountries": ["GB", "US"]})
    with live_client(**sms(twilio)) as client, host(client) as h:
        h.start()
        assert sent(h, guest_phone="07400 123456").to == "+447400123456"
        assert sent(h, guest_phone="+1 314 555 0000").to == "+13145550000"
    body = twilio.requests[0].form["Body"]
    assert body.startswith("Ann invited you") and "?name=" not in body  # no name given


def test_a_gb_site_texts_guernsey_jersey_and_man_but_a_us_one_not_the_caribbean(
    live_client: LiveClient, twilio: FakeTwilio, store: Store
) -> None:
    """``phonenumbers`` names some +44 mobiles GG, JE or IM: a GB-only site texts them (they
    share its numbering plan); +1's Caribbean numbers stay refused to a US-only site."""
    store.update_settings("default", {"defaultRegion": "GB"})
    with live_client(**sms(twilio)) as client, host(client) as h:
        h.start()
        assert sent(h, guest_phone="07911 123456").to == "+447911123456"  # Guernsey
        assert sent(h, guest_phone="+44 7797 712345").to == "+447797712345"  # Jersey
    store.update_settings("default", {"defaultRegion": "US"})
    with live_client(**sms(twilio)) as client, host(client) as h:
        h.start()
        refusal = refused(h, "phone_country_refused", guest_phone="+1 876 210 1234")
        assert "is in JM, and this site texts only to US" in refusal.message
    assert [r.form["To"] for r in twilio.requests] == ["+447911123456", "+447797712345"]


@pytest.mark.parametrize(
    ("countries", "number", "code", "words"),
    [
        (["US", "GB"], "+1 900 234 5678", "phone_type_refused", "premium-rate"),  # SMS pumping
        (["US", "GB"], "+44 909 876 5432", "phone_type_refused", "premium-rate"),
        (["US", "GB"], "+1 800 234 5678", "phone_type_refused", "toll-free"),
        (["US", "GB"], "+44 121 234 5678", "phone_type_refused", "fixed-line"),  # a landline
        (None, "+44 7400 123456", "phone_country_refused", "smsCountries"),  # default: US only
        (["US", "GB"], "+33 6 12 34 56 78", "phone_country_refused", "GB, US"),
    ],
)
def test_texts_go_only_to_mobiles_in_the_sites_countries(
    live_client: LiveClient,
    twilio: FakeTwilio,
    store: Store,
    countries: list[str] | None,
    number: str,
    code: str,
    words: str,
) -> None:
    """An attacker with a host page texts invites to numbers that bill the site (premium
    rate, shared cost) or to countries it never serves: refused, nothing reaches Twilio."""
    if countries is not None:
        store.update_settings("default", {"smsCountries": countries})
    with live_client(**sms(twilio)) as client, host(client) as h:
        h.start()
        assert words in refused(h, code, guest_phone=number).message
        assert sent(h, guest_phone="+1 314 555 0000").to == "+13145550000"  # still works
    assert [r.form["To"] for r in twilio.requests] == ["+13145550000"]
    assert [i.recipient for i in store.list_invites()] == ["+13145550000"]


@pytest.mark.parametrize(
    ("refuse", "code", "words"),
    [
        ((400, 21211, "The 'To' number is not a valid phone number."), "invite_failed", "21211"),
        ((503, 20500, "Service unavailable"), "invite_unavailable", "try again later"),
        ((429, 20429, "Too Many Requests"), "invite_unavailable", "429"),
    ],
)
def test_provider_refusals(
    live_client: LiveClient, refuse: tuple[int, int, str], code: str, words: str
) -> None:
    with (
        FakeTwilio(refuse=refuse) as server,
        live_client(**sms(server)) as client,
        host(client) as h,
    ):
        h.start()
        assert words in refused(h, code, guest_phone="3145550000").message


def test_provider_credentials_refused_and_provider_unreachable(
    live_client: LiveClient, twilio: FakeTwilio
) -> None:
    with live_client(**sms(twilio, twilio_auth_token="wrong")) as client, host(client) as h:
        h.start()
        error = refused(h, "invite_unavailable", guest_phone="3145550000")
        assert "CWMN_TWILIO_AUTH_TOKEN" in error.message
    nowhere = f"http://127.0.0.1:{free_port()}"
    with live_client(**sms(twilio, twilio_base_url=nowhere)) as client, host(client) as h:
        h.start()
        error = refused(h, "invite_unavailable", guest_phone="3145550000")
        assert "SMS provider" in error.message


# -- refused before anything is sent -----------------------------------------------------------
EMAIL_OK = {"guest_name": "G", "guest_email": "g@example.com"}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"guest_phone": "12345"}, "guestPhone"),
        ({"guest_phone": "+1 314 555 0000 ext 12"}, "extension"),
        ({"guest_phone": "3145550000\r\nx"}, "guestPhone"),
        ({"guest_phone": "+999 123"}, "guestPhone"),
        ({"guest_name": "G", "guest_email": "not-an-email"}, "guestEmail"),
        ({"guest_name": "G", "guest_email": "g@example.com\r\nBcc: x@evil.test"}, "guestEmail"),
        ({"guest_name": "G", "guest_email": "g@example.com, x@evil.test"}, "guestEmail"),
        ({"guest_name": "G", "guest_email": "G <g@example.com>"}, "guestEmail"),
        ({"guest_name": "G\r\nBcc: x@evil.test", "guest_email": "g@example.com"}, "guestName"),
        ({"guest_name": "G\u2028Bcc", "guest_email": "g@example.com"}, "guestName"),
        ({"guest_email": "g@example.com"}, "guestName"),
        ({"guest_name": "G" * 101, "guest_email": "g@example.com"}, "guestName"),
        ({**EMAIL_OK, "message": "m" * 1001}, "message"),
        ({**EMAIL_OK, "message": "escape \x1b[2J"}, "message"),
        ({"guest_name": "G", "guest_email": "x" * 250 + "@e.com"}, "guestEmail"),
        ({**EMAIL_OK, "guest_phone": "3145550000"}, "not both"),
        ({"guest_name": "G"}, "guestPhone"),
    ],
)
def test_bad_invites_send_nothing(
    live_client: LiveClient,
    sink: SmtpSink,
    twilio: FakeTwilio,
    store: Store,
    fields: dict[str, str],
    words: str,
) -> None:
    with live_client(**smtp(sink), **sms(twilio)) as client, host(client) as h:
        h.start()
        assert words in refused(h, "invalid_params", **fields).message
        assert isinstance(h.ask(Ping(ref=next(_refs))), Pong)
    assert sink.messages == [] and twilio.requests == []
    assert store.list_invites() == [] and store.kept_messages() == []


def test_an_invite_needs_a_session(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        assert isinstance(h.ask(Hello(ref=1)), Welcome)
        refused(h, "invalid_state", **EMAIL_OK)


# -- limits -------------------------------------------------------------------------------------
def test_invites_per_session_are_limited(live_client: LiveClient, store: Store) -> None:
    with live_client(invites_per_session=2) as client, host(client) as h:
        h.start()
        sent(h, **EMAIL_OK)
        sent(h, guest_phone="3145550000")
        error = refused(h, "rate_limited", **EMAIL_OK)
        assert "this session has sent 2 invites in the last 10 minutes" in error.message
        assert "try again in 10 minutes" in error.message
    assert len(store.list_invites()) == 2 and len(store.kept_messages()) == 2


def test_invites_per_site_are_limited_across_sessions(
    live_client: LiveClient, store: Store
) -> None:
    with live_client(invites_per_site=3) as client:
        with host(client) as first:
            first.start()
            sent(first, **EMAIL_OK)
            sent(first, **EMAIL_OK)
        with host(client) as second:
            second.start()
            sent(second, **EMAIL_OK)
            error = refused(second, "rate_limited", **EMAIL_OK)
            assert "this site has sent 3 invites in the last 1 hour" in error.message
    assert len(store.list_invites()) == 3


# -- the outbox ---------------------------------------------------------------------------------
def test_without_settings_invites_go_to_the_outbox(live_client: LiveClient, store: Store) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        mail = sent(h, guest_name="Eve <i>", guest_email="eve@example.com", message="<script>x")
        text = sent(h, guest_phone="3145550000")
        assert (mail.status, text.status) == ("outbox", "outbox")
        newest, oldest = store.kept_messages()
        assert (newest.channel, newest.recipient, newest.subject) == ("sms", "+13145550000", "")
        assert newest.link in newest.body_text and newest.body_html is None
        assert oldest.recipient == '"Eve <i>" <eve@example.com>'
        assert oldest.subject == "Ann invited you to a shared screen"
        assert "&lt;script&gt;x" in (oldest.body_html or "") and "<script>x" in oldest.body_text
        assert oldest.link.endswith("?name=Eve+%3Ci%3E")
        assert [r.provider for r in store.list_invites()] == ["outbox", "outbox"]
        # The page is off for a client that is not on this machine (TestClient's).
        assert client.get("/outbox").status_code == 404


def test_the_outbox_page(live_client: LiveClient) -> None:
    with live_client(outbox_page="on") as client, host(client) as h:
        h.start()
        assert "No messages yet" in client.get("/outbox").text
        sent(h, guest_name="Eve", guest_email="eve@example.com", message="<script>alert(1)")
        sent(h, guest_phone="3145550000")
        page = client.get("/outbox")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    body = page.text
    assert "<script>alert" not in body and "&lt;script&gt;alert(1)" in body
    assert body.index("Text message to +13145550000") < body.index("Ann invited you")
    assert body.count('href="http://testserver/join/') == 2


def test_the_outbox_page_is_local_and_only_while_the_outbox_is_used(
    tmp_path: Path,
    store: Store,
    live_static: Path,
    sink: SmtpSink,
    twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def page(local: bool, **settings: Any) -> int:
        values = {"data_dir": tmp_path, "static_dir": live_static, "outbox_page": "auto"}
        values["public_url"] = "" if local else "http://cwmn.example.com"
        app = create_app(Settings(**{**values, **settings}), store)
        where = ("127.0.0.1", 50000) if local else ("203.0.113.9", 50000)
        base = "http://127.0.0.1:8000" if local else "http://cwmn.example.com"
        with TestClient(app, base_url=base, client=where) as client:
            return client.get("/outbox").status_code

    none = {"smtp_host": "", "twilio_account_sid": "", "twilio_auth_token": "", "twilio_from": ""}
    assert page(True, **none) == 200
    assert page(False, **none) == 404
    assert page(True, **{**none, **smtp(sink)}) == 200  # SMS still goes to the outbox
    assert page(True, **smtp(sink), **sms(twilio)) == 404
    assert page(True, **none, outbox_page="off") == 404
    assert page(False, **smtp(sink), **sms(twilio), outbox_page="on") == 200
    # Off unless asked for: behind a local reverse proxy every request would look local.
    monkeypatch.delenv("CWMN_OUTBOX_PAGE", raising=False)
    assert Settings().outbox_page == "off"


def test_cli_outbox(
    live_client: LiveClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    with live_client() as client, host(client) as h:
        h.start()
        sent(h, guest_name="Eve", guest_email="eve@example.com", message="first")
        sent(h, guest_phone="3145550000")
    monkeypatch.setenv("CWMN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CWMN_DATABASE_URL", raising=False)
    assert cli.main(["outbox", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "sms to +13145550000" in out and "Eve" not in out
    assert "Join: http://testserver/join/" in out
    assert cli.main(["outbox"]) == 0
    out = capsys.readouterr().out
    assert out.index("sms to") < out.index("email to Eve <eve@example.com>")
    assert "Subject: Ann invited you to a shared screen" in out and "first" in out


def test_domain_info_offers_invites(client: TestClient) -> None:
    features = client.get("/api/domain-info", headers={"origin": HOST_ORIGIN}).json()["features"]
    assert features["emailInvites"] is True and features["smsInvites"] is True


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"twilio_account_sid": "AC1"}, "CWMN_TWILIO_AUTH_TOKEN, CWMN_TWILIO_FROM"),
        ({"smtp_host": "mail", "smtp_starttls": "maybe"}, "CWMN_SMTP_STARTTLS"),
        ({"mail_from": "not an address"}, "CWMN_MAIL_FROM"),
        ({"outbox_page": "public"}, "CWMN_OUTBOX_PAGE"),
        (
            {
                "twilio_account_sid": "A",
                "twilio_auth_token": "t",
                "twilio_from": "+1",
                "twilio_base_url": "file:///etc",
            },
            "CWMN_TWILIO_BASE_URL",
        ),
    ],
)
def test_settings_that_cannot_work_stop_the_start(
    tmp_path: Path, store: Store, settings: dict[str, str], words: str
) -> None:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "smtp_host": "",
        "twilio_account_sid": "",
        "twilio_auth_token": "",
        "twilio_from": "",
        **settings,
    }
    with pytest.raises(ValueError, match=words):
        create_app(Settings(**values), store)


def test_host_names_cannot_break_the_subject(live_client: LiveClient, sink: SmtpSink) -> None:
    with live_client(**smtp(sink)) as client, host(client) as h:
        assert isinstance(h.ask(Hello(ref=1)), Welcome)
        start = StartSession(ref=2, host_name="Ann\r\nBcc: x@evil.test", host_email="a@b.co")
        h.ask(start)
        sent(h, **EMAIL_OK)
    message = parse(sink.messages[0].data)
    assert message["Subject"] == "Ann Bcc: x@evil.test invited you to a shared screen"
    assert message["Bcc"] is None and sink.messages[0].rcpt_tos == ["g@example.com"]
