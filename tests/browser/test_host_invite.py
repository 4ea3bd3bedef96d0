"""Invitations to host ("with me") end to end: the inviter's page calls inviteToHost, a real
SMTP server receives the invitation, the inviter's own link waits, the invitee follows the
email's link to the customer page, agrees (CWMN's dialog, or the site's own UI through the
'host invite' event), and the inviter then sees the invitee's page."""

from __future__ import annotations

import email
import email.policy
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from cwmn_web.testing import CwmnServer, PageServer
from cwmn_web.testing.providers import SmtpSink

from .conftest import wait_state
from .test_embed import settle

pytestmark = pytest.mark.timeout(240)
LINK = re.compile(r"https?://\S+/host-invite/[A-Za-z0-9_-]+")
CODE = re.compile(r"enter the code (\d{6})")
STATUS = "document.querySelector('.cwmn-status')"


def invite_to_host(inviter: Page, url: str, sink: SmtpSink) -> tuple[dict[str, Any], str, str]:
    """Call inviteToHost from ``inviter``; return its result, the emailed link and code."""
    before = len(sink.messages)
    params = {
        "hostName": "Ivy",
        "hostEmail": "ivy@example.com",
        "inviteName": "Hana",
        "inviteEmail": "hana@example.com",
        "message": "Could you show me your cart?",
        "url": url,
    }
    result = inviter.evaluate(
        "p => CwmnAPI.session.inviteToHost(p).then(v => ({ok: true, value: v}),"
        " e => ({ok: false, code: e.code, message: e.message}))",
        params,
    )
    assert result["ok"], result
    assert inviter.evaluate("CwmnAPI.getCurrentState()") == "no session"
    assert len(sink.messages) == before + 1
    mail = email.message_from_bytes(sink.messages[-1].data, policy=email.policy.default)
    assert mail["To"].addresses[0].addr_spec == "hana@example.com"
    assert mail["Subject"] == "Ivy invites you to share your screen"
    text = mail.get_body(("plain",))
    assert text is not None
    match, code = LINK.search(text.get_content()), CODE.search(text.get_content())
    assert match and code, text.get_content()
    return result["value"], match.group(0), code.group(1)


def wait_for_host(viewer: Page) -> None:
    """The viewer shows the invitee's page (the status line is gone)."""
    viewer.frame_locator("iframe.cwmn-frame").locator("#title").wait_for(timeout=60_000)
    viewer.wait_for_function(f"{STATUS}.hidden", timeout=30_000)


def consent(page: Page, server: CwmnServer) -> dict[str, Any]:
    """The default dialog's state, once it shows (the module the stub loaded: same URL)."""
    build = page.evaluate("CwmnAPI._debug().build")
    url = f"{server.url}/assets/{build}/consent.mjs"
    page.evaluate("async (url) => { window.consent_ = await import(url); }", url)
    page.wait_for_function("consent_.debugState().open", timeout=60_000)
    state: dict[str, Any] = page.evaluate("consent_.debugState()")
    return state


def status_of(url: str) -> tuple[int, str]:
    """GET ``url`` without following redirects: (status, Location or body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("location") or exc.read().decode()


def test_invite_to_host_with_the_default_dialog(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    smtp_sink: SmtpSink,
    contexts: Callable[..., BrowserContext],
) -> None:
    inviter = open_page(customer_site.url("plain.html", hostname="localhost"))
    page_url = customer_site.url("host.html", hostname="localhost") + "?from=email"
    result, link, code = invite_to_host(inviter, page_url, smtp_sink)
    assert result["status"] == "sent" and result["inviteId"]
    assert result["joinUrl"].startswith(cwmn_server.url + "/join/")

    # The inviter opens its own link first: it waits for the invitee.
    viewer = contexts(other=True).new_page()
    viewer.goto(result["joinUrl"])
    viewer.wait_for_function(
        f"{STATUS} && !{STATUS}.hidden && {STATUS}.dataset.kind === 'waiting'", timeout=60_000
    )
    assert viewer.locator(".cwmn-status").inner_text() == "Waiting for Hana to start sharing\u2026"
    assert not viewer.locator("#cwmn-name").is_visible()  # the link names the inviter

    # The invitee follows the email: the customer page, the token out of the address bar.
    invitee = contexts().new_page()
    invitee.goto(link)
    invitee.wait_for_function("window.CwmnAPI && CwmnAPI.getCurrentState() === 'no session'")
    assert invitee.url == page_url  # the fragment is gone
    dialog = consent(invitee, cwmn_server)
    assert (dialog["role"], dialog["modal"]) == ("dialog", True)
    assert dialog["label"] == "Share your screen with Ivy?"
    assert dialog["description"] == (
        "Ivy invites you to share this page with them. They will see this page and your "
        "pointer, but not passwords or masked fields."
    )
    assert dialog["message"] == "Could you show me your cart?"
    no, yes = dialog["buttons"]
    assert (no["label"], yes["label"]) == ("Not now", "Share my screen")
    assert dialog["code"]["label"] == ("Code from the invitation email sent to hana@example.com")
    assert dialog["code"]["focused"] and not yes["focused"] and not no["focused"]
    invitee.keyboard.press("Tab")  # focus stays inside the dialog
    assert invitee.evaluate("consent_.debugState().buttons[0].focused")
    invitee.keyboard.press("Tab")
    assert invitee.evaluate("consent_.debugState().buttons[1].focused")
    invitee.keyboard.press("Tab")
    assert invitee.evaluate("consent_.debugState().code.focused")
    # The link alone hosts nothing: without the code the dialog asks again, saying why.
    invitee.mouse.click(yes["x"], yes["y"])
    invitee.wait_for_function("consent_.debugState().error", timeout=60_000)
    again = invitee.evaluate("consent_.debugState()")
    assert again["open"] and "code is missing" in again["error"]
    assert invitee.evaluate("CwmnAPI.getCurrentState()") == "no session"
    invitee.keyboard.type(code)  # the code field has focus
    invitee.keyboard.press("Enter")
    wait_state(invitee, "in session")
    assert invitee.evaluate("consent_.debugState().open") is False
    info = invitee.evaluate("CwmnAPI.session.getSessionInfo()")
    assert (info["hostName"], info["hostEmail"]) == ("Hana", "hana@example.com")
    invitee.wait_for_function("CwmnAPI.guest.getGuestList().length === 1")
    assert invitee.evaluate("CwmnAPI.guest.getGuestList()[0].name") == "Ivy"

    # The inviter's viewer now shows the invitee's page.
    wait_for_host(viewer)
    title = viewer.frame_locator("iframe.cwmn-frame").locator("#title").inner_text()
    assert title == "Host page one"

    # The email's link works once: a second use gets a clear page.
    again = contexts().new_page()
    response = again.goto(link)
    assert response is not None and response.status == 410
    assert "already used" in again.locator("body").inner_text()
    assert settle(invitee, "CwmnAPI.session.endSession()")["ok"]


def test_a_site_asks_in_its_own_words(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    smtp_sink: SmtpSink,
    contexts: Callable[..., BrowserContext],
) -> None:
    inviter = open_page(customer_site.url("plain.html", hostname="localhost"))
    page_url = customer_site.url("invite.html", hostname="localhost") + "#/cart"
    _, link, code = invite_to_host(inviter, page_url, smtp_sink)
    invitee = contexts().new_page()
    invitee.goto(link)
    invitee.locator("#ask").wait_for(state="visible", timeout=60_000)
    invitee.fill("#code", code)
    assert invitee.url == page_url  # the page's own fragment is kept
    assert invitee.locator("#who").inner_text() == "Ivy would like to see this page"
    invite = invitee.evaluate("window.receivedInvite")
    assert invite["hostName"] == "Hana" and invite["message"] == "Could you show me your cart?"
    assert invitee.evaluate("document.querySelector('cwmn-consent')") is None  # no CWMN dialog
    invitee.click("#share")
    wait_state(invitee, "in session")
    invitee.wait_for_function("window.answered && window.answered.ok")
    assert invitee.evaluate("window.answered.value.hostName") == "Hana"
    assert settle(invitee, "CwmnAPI.session.endSession()")["ok"]


def test_not_now_keeps_the_invitation(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    smtp_sink: SmtpSink,
    contexts: Callable[..., BrowserContext],
) -> None:
    inviter = open_page(customer_site.url("plain.html", hostname="localhost"))
    _, link, _ = invite_to_host(
        inviter, customer_site.url("plain.html", hostname="localhost"), smtp_sink
    )
    invitee = contexts().new_page()
    invitee.goto(link)
    consent(invitee, cwmn_server)
    invitee.keyboard.press("Escape")  # = "Not now"
    invitee.wait_for_function("!consent_.debugState().open")
    assert invitee.evaluate("document.querySelector('cwmn-consent')") is None
    invitee.wait_for_timeout(300)
    assert invitee.evaluate("CwmnAPI.getCurrentState()") == "no session"
    no_more = settle(invitee, "CwmnAPI.session.acceptHostInvite()")
    assert no_more["code"] == "not_found"  # declined on this page
    status, location = status_of(link)
    assert status == 303 and "#cwmn-host-invite=" in location  # the link still works
