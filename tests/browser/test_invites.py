"""Invites end to end: the host invites by email and by SMS from its page, a real SMTP
server and a Twilio-shaped HTTP endpoint receive them, and the guest follows the link."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from playwright.sync_api import BrowserContext, Page

from cwmn_web.testing import PageServer
from cwmn_web.testing.providers import FakeTwilio, SmtpSink

from .test_embed import START, settle

pytestmark = pytest.mark.timeout(180)
LINK = re.compile(r"https?://\S+/join/[A-Za-z0-9_-]+\?name=[^\s\"<]+")


def received_email(sink: SmtpSink, count: int) -> EmailMessage:
    assert len(sink.messages) == count, sink.messages
    parsed = email.message_from_bytes(sink.messages[-1].data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def follow(context: BrowserContext, link: str) -> Page:
    guest = context.new_page()
    guest.goto(link)
    guest.frame_locator("iframe.cwmn-frame").locator("#title").wait_for(timeout=60_000)
    assert not guest.locator("#cwmn-name").is_visible()  # the invite named the guest
    return guest


def test_email_and_sms_invites_reach_their_guests(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    smtp_sink: SmtpSink,
    fake_twilio: FakeTwilio,
    contexts: Callable[..., BrowserContext],
) -> None:
    host = open_page(customer_site.url("host.html", hostname="localhost"))
    assert settle(host, START)["ok"]
    mails, texts = len(smtp_sink.messages), len(fake_twilio.requests)

    # Bad inputs are refused before anything is sent.
    for params, code in (
        ("{guestName: 'Eve', guestEmail: 'not-an-address'}", "invalid_params"),
        ("{guestEmail: 'eve@example.com'}", "invalid_params"),
        (
            "{guestName: 'Eve\\r\\nBcc: x@evil.example', guestEmail: 'eve@example.com'}",
            "invalid_params",
        ),
        (
            "{guestName: 'Eve', guestEmail: 'eve@example.com', message: 'x'.repeat(5000)}",
            "invalid_params",
        ),
        ("{guestPhone: '12'}", "invalid_params"),
    ):
        result = settle(host, f"CwmnAPI.guest.inviteGuest({params})")
        assert (result["ok"], result["code"]) == (False, code), (params, result)
    assert (len(smtp_sink.messages), len(fake_twilio.requests)) == (mails, texts)

    # Email: accepted by the SMTP server; the message carries a personal link.
    sent = settle(
        host,
        "CwmnAPI.guest.inviteGuest({guestName: 'Gus <b>', guestEmail: 'gus@example.com',"
        " message: 'Join my session! <script>x</script>'})",
    )
    assert sent["ok"], sent
    assert sent["value"]["channel"] == "email" and sent["value"]["status"] == "sent"
    mail = received_email(smtp_sink, mails + 1)
    assert mail["To"].addresses[0].addr_spec == "gus@example.com"
    assert "Host Name" in mail["Subject"]
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert "Join my session!" in text.get_content()
    assert "<script>" not in html.get_content() and "&lt;script&gt;" in html.get_content()
    match = LINK.search(text.get_content())
    assert match, text.get_content()
    gus = follow(contexts(other=True), match.group(0))
    host.wait_for_function("CwmnAPI.guest.getGuestList().length === 1")
    (guest,) = host.evaluate("CwmnAPI.guest.getGuestList()")
    assert (guest["name"], guest["via"]) == ("Gus <b>", "invite")

    # SMS: a number without country code uses the site's region (US).
    sent = settle(host, "CwmnAPI.guest.inviteGuest({guestName: 'Sam', guestPhone: '3145550000'})")
    assert sent["ok"], sent
    assert sent["value"]["channel"] == "sms" and sent["value"]["to"] == "+13145550000"
    assert len(fake_twilio.requests) == texts + 1
    sms = fake_twilio.requests[-1]
    assert sms.form["To"] == "+13145550000" and sms.auth == (
        fake_twilio.account_sid,
        fake_twilio.auth_token,
    )
    match = LINK.search(sms.form["Body"])
    assert match, sms.form["Body"]
    sam = follow(contexts(), match.group(0))
    host.wait_for_function("CwmnAPI.guest.getGuestList().length === 2")
    names = sorted(g["name"] for g in host.evaluate("CwmnAPI.guest.getGuestList()"))
    assert names == ["Gus <b>", "Sam"]
    # The personal link is one device's: another profile is turned away.
    stranger = contexts().new_page()
    response = stranger.goto(match.group(0))
    assert response is not None and response.status == 403
    for page in (gus, sam):
        page.close()
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]
