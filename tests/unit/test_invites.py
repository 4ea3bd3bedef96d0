"""cwmn_web.server.invites' pure parts: composing the email and SMS, phone numbers, the
server's own checks, the rate limits, the outbox views."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from typing import Any

import phonenumbers
import pytest

from cwmn_web.errors import CwmnError, InvalidParams, RateLimited
from cwmn_web.protocol.messages import InviteGuest, InviteToHost
from cwmn_web.server.db import KeptMessage
from cwmn_web.server.invites.checks import InviteRequest, check_invite
from cwmn_web.server.invites.compose import (
    build_email,
    email_content,
    invite_url,
    lifetime,
    parse_sender,
    sms_text,
)
from cwmn_web.server.invites.host import (
    HostInviteRequest,
    check_host_invite_request,
    check_url,
    host_invite_email,
)
from cwmn_web.server.invites.limits import Limit, check_limits, duration, retry_after
from cwmn_web.server.invites.outbox_page import render_outbox, render_outbox_text
from cwmn_web.server.invites.phones import SHARED_PLANS, check_textable, normalise_phone

URL = "https://cwmn.example.com/join/TOKEN?name=Bob"
SENDER = parse_sender("Cwmn <invites@cwmn.example.com>")


def make(
    host: str = "Ann", guest: str = "Bob", to: str = "bob@example.com", message: str = "Hi"
) -> EmailMessage:
    content = email_content(host, guest, URL, message, 86400)
    return build_email(content, SENDER, guest, to, 1_700_000_000.0)


def reparse(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def bodies(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


# -- composing ----------------------------------------------------------------------------
def test_email_headers_and_parts() -> None:
    message = reparse(make())
    assert message["From"] == "Cwmn <invites@cwmn.example.com>"
    assert message["To"] == "Bob <bob@example.com>"
    assert message["Subject"] == "Ann invited you to a shared screen"
    assert message["Date"].datetime.timestamp() == 1_700_000_000.0
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith(
        ".invite@cwmn.example.com>"
    )
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = bodies(message)
    assert URL in text and f'href="{URL}"' in html.replace("&amp;", "&")
    assert "expires in 24 hours" in text and "Ann wrote:" in text


def test_every_value_is_escaped_in_the_html() -> None:
    evil = '<img src=x onerror="alert(1)">&'
    message = reparse(make(host=evil, guest=evil, message=evil + "\nline"))
    _, html = bodies(message)
    assert "<img" not in html and 'onerror="' not in html
    assert html.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;") == 4  # 3 + title
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;<br>line" in html


def test_names_with_quotes_commas_and_accents_stay_one_address() -> None:
    message = reparse(make(guest='Zoë "Z" <z@evil.test>, Bcc: x@evil.test'))
    (to,) = message["To"].addresses
    assert to.display_name == 'Zoë "Z" <z@evil.test>, Bcc: x@evil.test'
    assert to.addr_spec == "bob@example.com"
    assert message["Bcc"] is None
    assert "=?utf-8?" in make(guest="Zoë")["To"].fold(policy=policy.SMTP)  # RFC 2047


@pytest.mark.parametrize(
    ("field", "value"),
    [("guest", "Bob\r\nBcc: x@evil.test"), ("to", "bob@example.com\r\nBcc: x@evil.test")],
)
def test_line_breaks_cannot_reach_the_headers(field: str, value: str) -> None:
    with pytest.raises(ValueError):
        make(**{field: value}).as_bytes()


def test_a_host_name_is_put_on_one_line() -> None:
    message = reparse(make(host="Ann\r\nBcc: x@evil.test\u2028\t Smith"))
    assert message["Subject"] == "Ann Bcc: x@evil.test Smith invited you to a shared screen"
    assert message["Bcc"] is None
    assert make(host=" \r\n")["Subject"] == "Your host invited you to a shared screen"
    assert len(make(host="A" * 500)["Subject"]) == 100 + len(" invited you to a shared screen")


def test_no_message_no_quote() -> None:
    text, html = bodies(reparse(make(message="")))
    assert "wrote:" not in text and "<blockquote" not in html


def test_invite_url_carries_the_name() -> None:
    assert invite_url("http://h:8000", "T", "Zoë Q&A") == "http://h:8000/join/T?name=Zo%C3%AB+Q%26A"
    assert invite_url("http://h", "T", "") == "http://h/join/T"


def test_sms_text() -> None:
    assert sms_text("Ann", "Bob", URL, "") == (
        f"Hi Bob, Ann invited you to a shared screen.\nJoin: {URL}"
    )
    assert sms_text("Ann\n", "", URL, "Now?") == (
        f"Ann invited you to a shared screen.\nNow?\nJoin: {URL}"
    )


@pytest.mark.parametrize("value", ["", "nobody", "a@b.c, d@e.f", "Name <a@b.c>, x@y.z"])
def test_a_sender_must_be_one_address(value: str) -> None:
    with pytest.raises(ValueError, match="CWMN_MAIL_FROM"):
        parse_sender(value)


def test_lifetime() -> None:
    assert [lifetime(s) for s in (86400, 3600, 5400, 1800, 60, 1)] == [
        "24 hours",
        "1 hour",
        "2 hours",
        "30 minutes",
        "1 minute",
        "1 minute",
    ]


# -- phone numbers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("3145550000", "US", "+13145550000"),
        ("(314) 555-0000", "US", "+13145550000"),
        ("314.555.0000", "us", "+13145550000"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("  +1 314 555 0000 ", "GB", "+13145550000"),
    ],
)
def test_phones_become_e164(raw: str, region: str, e164: str) -> None:
    assert normalise_phone(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "words"),
    [
        ("12", "US", "not a valid phone number"),
        ("314555000000", "US", "not a valid"),
        ("+1 314 555 0000 ext 5", "US", "extension"),
        ("call me", "US", "not a phone number"),
        ("+999 123", "US", "no valid country code"),
        ("3145550000", "", "country code"),
        ("3145550000", "XX", "country code"),
        ("314555\n0000", "US", "not a phone number"),
        ("", "US", "not a phone number"),
        ("1" * 40, "US", "not a phone number"),
    ],
)
def test_bad_phones(raw: str, region: str, words: str) -> None:
    with pytest.raises(InvalidParams, match=words):
        normalise_phone(raw, region)


# -- the server's checks ------------------------------------------------------------------------
def test_check_email_invite() -> None:
    request = InviteGuest(
        guest_name=" Bob ", guest_email=" bob@example.com ", message=" Hi\r\nthere\r "
    )
    assert check_invite(request, "US") == InviteRequest(
        "email", "bob@example.com", "Bob", "Hi\nthere"
    )


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ("07911 123456", "Guernsey"),
        ("+44 7781 123456", "Guernsey"),
        ("+44 7797 712345", "Jersey"),
        ("+44 7624 123456", "Isle of Man"),
        ("07400 123456", "Great Britain"),
    ],
)
def test_a_gb_site_texts_the_mobiles_on_its_numbering_plan(raw: str, where: str) -> None:
    """``phonenumbers`` names some +44 mobiles GG, JE or IM: a GB-only site texts them."""
    e164 = normalise_phone(raw, "GB")
    assert check_textable(raw, "GB", {"GB"}) == e164, where


@pytest.mark.parametrize(
    ("raw", "countries", "country"),
    [
        ("+1 876 210 1234", {"US"}, "JM"),  # the Caribbean's +1: premium-rate fraud
        ("+1 268 464 1234", {"US", "CA"}, "AG"),
        ("+1 242 359 1234", {"US"}, "BS"),
        ("+7 771 000 9998", {"RU"}, "KZ"),  # +7 is two states
        ("+44 7400 123456", {"GG", "JE", "IM"}, "GB"),  # a territory allows no more
    ],
)
def test_territories_never_widen_to_other_countries(
    raw: str, countries: set[str], country: str
) -> None:
    with pytest.raises(CwmnError) as info:
        check_textable(raw, "US", countries)
    assert info.value.code == "phone_country_refused"
    assert f"is in {country}, and this site texts only to {', '.join(sorted(countries))}" in (
        info.value.message
    )


def test_the_shared_plans_are_territories_on_their_countrys_calling_code() -> None:
    for country, territories in SHARED_PLANS.items():
        code = phonenumbers.country_code_for_region(country)
        assert code != 1 and phonenumbers.region_code_for_country_code(code) == country
        for territory in territories:
            assert phonenumbers.country_code_for_region(territory) == code, territory


def test_check_sms_invite() -> None:
    request = InviteGuest(guest_phone="3145550000")
    assert check_invite(request, "US") == InviteRequest("sms", "+13145550000", "", "")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({}, "guestPhone"),
        ({"guest_email": "a@b.co", "guest_phone": "3145550000", "guest_name": "A"}, "not both"),
        ({"guest_email": "a@b.co"}, "guestName is required"),
        ({"guest_email": "a@b.co", "guest_name": "A\nB"}, "line breaks"),
        ({"guest_email": "a@b.co", "guest_name": "A\x85B"}, "line breaks"),
        ({"guest_email": "a@b.co", "guest_name": "A" * 101}, "at most 100"),
        ({"guest_email": "a b@c.co", "guest_name": "A"}, "guestEmail"),
        ({"guest_email": "a..b@c.co", "guest_name": "A"}, "guestEmail"),
        ({"guest_email": "ü@c.co", "guest_name": "A"}, "non-ASCII"),
        ({"guest_email": "a@b.co", "guest_name": "A", "message": "m" * 1001}, "at most 1000"),
        ({"guest_email": "a@b.co", "guest_name": "A", "message": "\x00"}, "control"),
        ({"guest_phone": "555", "guest_name": "A\rB"}, "line breaks"),
    ],
)
def test_check_refusals(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidParams, match=words):
        check_invite(InviteGuest(**fields), "US")


# -- rate limits --------------------------------------------------------------------------------
def test_retry_after() -> None:
    limit = Limit("session", 3, 600)
    assert retry_after([], limit, 1000) is None
    assert retry_after([300, 900, 950], limit, 1000) is None  # 300 is out of the window
    assert retry_after([800, 900, 950], limit, 1000) == 400  # when 800 leaves the window
    assert retry_after([950, 800, 900, 990], limit, 1000) == 500  # unsorted, over the limit
    assert retry_after([999], Limit("site", 0, 60), 1000) == float("inf")


def test_check_limits_names_the_scope_and_the_wait() -> None:
    session, site = Limit("session", 2, 600), Limit("site", 100, 3600)
    check_limits([(session, [100.0]), (site, [])], 200)
    with pytest.raises(RateLimited) as info:
        check_limits([(session, [100.0]), (site, [80.0] * 100)], 200)
    assert info.value.code == "rate_limited"
    assert info.value.message == (
        "this site has sent 100 invites in the last 1 hour, the most allowed: "
        "try again in 58 minutes"
    )
    with pytest.raises(CwmnError, match="turned off"):
        check_limits([(Limit("session", 0, 600), [])], 200)


def test_duration() -> None:
    assert [duration(s) for s in (0.2, 1, 59, 60, 61, 3599, 3600, 7500)] == [
        "1 second",
        "1 second",
        "59 seconds",
        "1 minute",
        "2 minutes",
        "1 hour",
        "1 hour",
        "2 hours 5 minutes",
    ]


# -- the outbox views ---------------------------------------------------------------------------
ROW = KeptMessage(
    id=1,
    invite_id="i1",
    channel="email",
    recipient='"<b>Eve</b>" <eve@example.com>',
    subject="<script>alert(1)</script> invited you",
    body_text="<script>x</script>",
    body_html="<p onclick=x>",
    link='http://h/join/T?name="><script>',
    created_at=0.0,
)


def test_the_outbox_page_escapes_everything() -> None:
    page = render_outbox([ROW])
    assert "<script>" not in page and "<b>Eve" not in page and "<p onclick" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; invited you" in page
    assert 'href="http://h/join/T?name=&quot;&gt;&lt;script&gt;"' in page
    assert "1970-01-01 00:00:00 UTC" in page
    assert "No messages yet" in render_outbox([])


def test_the_outbox_as_text() -> None:
    text = render_outbox_text([ROW, ROW])
    assert text.count('email to "<b>Eve</b>" <eve@example.com>') == 2
    assert "Subject: <script>alert(1)</script> invited you" in text
    assert render_outbox_text([]) == "The outbox is empty.\n"


# -- invitations to host ------------------------------------------------------------------------
def host_request(**changes: str) -> InviteToHost:
    fields: dict[str, Any] = {
        "host_name": "Ivy",
        "host_email": "ivy@example.com",
        "invite_name": "Hana",
        "invite_email": "hana@example.com",
        "message": " Show me\r\nplease ",
        "url": "https://shop.example.com:8443/cart#/x",
        **changes,
    }
    return InviteToHost(**fields)


def test_check_host_invite_request() -> None:
    request = check_host_invite_request(host_request(), ("*.example.com",))
    assert request == HostInviteRequest(
        "Ivy",
        "ivy@example.com",
        "Hana",
        "hana@example.com",
        "Show me\nplease",
        "https://shop.example.com:8443/cart#/x",
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://example.com.evil.test/", "authorizes"),
        ("https://shop.example.com\r\n/", "http(s) URL of at most"),
        ("https://shop.example.com /", "http(s) URL of at most"),
        ("data:text/html,shop.example.com", "http(s)"),
        ("//shop.example.com/", "http(s)"),
        ("https://a:b@shop.example.com/", "password"),
    ],
)
def test_host_invite_urls(url: str, words: str) -> None:
    with pytest.raises(InvalidParams, match=re.escape(words)):
        check_url(url, ("*.example.com",))


def test_the_host_invite_email_escapes_and_says_what_is_shared() -> None:
    request = check_host_invite_request(
        host_request(host_name="Ivy <i>", message="<script>x</script>"), ("*.example.com",)
    )
    content = host_invite_email(request, "https://cwmn.test/host-invite/T", "042917", 86400)
    assert content.subject == "Ivy <i> invites you to share your screen"
    assert "enter the code 042917" in content.text and "042917" in content.html
    assert "shop.example.com:8443" in content.text and "<script>x</script>" in content.text
    assert "expires in 24 hours" in content.text
    assert "Open the page and share your screen: https://cwmn.test/host-invite/T" in content.text
    assert "<script>" not in content.html and "&lt;script&gt;" in content.html
    assert "Ivy &lt;i&gt;" in content.html and "<i>" not in content.html
    assert 'href="https://cwmn.test/host-invite/T"' in content.html
    message = reparse(build_email(content, SENDER, "Hana", "hana@example.com", 1.0))
    assert message["Subject"] == content.subject and message["To"] == "Hana <hana@example.com>"
