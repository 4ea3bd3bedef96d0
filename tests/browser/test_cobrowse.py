"""Live co-browsing end to end: a host page on a customer origin, guests in another browser
profile through private links, the server between them (all real)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, FrameLocator, Page

from cwmn_web.testing import CwmnServer, PageServer, free_port

from .conftest import PAGES, events, wait_state
from .test_embed import START, settle

SECRETS = ("SECRET-ACCOUNT-NUMBER", "SECRET-PASSWORD", "SECRET-MASKED-BY-THE-SCRIPT-TAG")


def host_session(
    open_page: Callable[..., Page], site: PageServer, page: str = "host.html"
) -> tuple[Page, str]:
    host = open_page(site.url(page, hostname="localhost"))
    assert settle(host, START)["ok"]
    link = settle(host, "CwmnAPI.guest.getInviteLink()")
    assert link["ok"], link
    return host, link["value"]


def join(context: BrowserContext, link: str, name: str = "Ann") -> tuple[Page, FrameLocator]:
    guest = context.new_page()
    guest.goto(f"{link}?name={name}")
    frame = guest.frame_locator("iframe.cwmn-frame")
    return guest, frame


def frames_sent(server: CwmnServer) -> str:
    log = Path(server.env["CWMN_FRAME_LOG"])
    return log.read_text() if log.exists() else ""


def test_guest_watches_the_host_page_live(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    guest_context: BrowserContext,
    browser: Browser,
    guests: list[Page],
) -> None:
    host, link = host_session(open_page, customer_site)
    assert link.startswith(cwmn_server.url + "/join/") and len(link.rsplit("/", 1)[1]) >= 22
    guest, frame = join(guest_context, link)
    guests.append(guest)
    frame.locator("#title").wait_for()
    assert frame.locator("#title").text_content() == "Host page one"
    host.wait_for_function("window.__cwmnLog.events.some(e => e.name === 'guest connected')")
    connected = [
        e for e in host.evaluate("window.__cwmnLog.events") if e["name"] == "guest connected"
    ]
    assert connected[0]["args"][1]["name"] == "Ann"
    assert host.evaluate("CwmnAPI.guest.getGuestList().map(g => g.name)") == ["Ann"]

    # Changes on the host appear in the guest's view, in order.
    host.evaluate("""() => {
        for (let i = 1; i <= 30; i++) {
            const li = document.createElement('li'); li.textContent = 'item ' + i;
            document.getElementById('list').appendChild(li);
        }
        document.getElementById('counter').textContent = '42';
    }""")
    frame.locator("#list li").nth(29).wait_for()
    assert frame.locator("#list li").all_text_contents() == [f"item {i}" for i in range(1, 31)]
    assert frame.locator("#counter").text_content() == "42"
    host.fill("#name", "typed by host")
    host.wait_for_timeout(300)
    assert frame.locator("#name").input_value() == "typed by host"
    # The host's focus shows as an outline; a same-origin frame's page is mirrored too.
    frame.locator("#name[style*='outline']").wait_for(state="attached")
    assert frame.locator("#inframe").text_content() == "Text inside a frame"
    host.evaluate(
        "document.getElementById('embedded').contentDocument"
        ".getElementById('inframe').textContent = 'frame changed live'"
    )
    frame.locator("#inframe", has_text="frame changed live").wait_for()

    # Masked content shows as stars and never left the host's browser.
    assert set(frame.locator("#secret").text_content() or "") == {"*"}
    assert set(frame.locator("#tag-secret").text_content() or "") == {"*"}  # data-mask-selectors
    assert set(frame.locator("#pw").input_value()) == {"*"}
    sent = frames_sent(cwmn_server)
    assert '"type":"mirror"' in sent and "Host page one" in sent
    for secret in SECRETS:
        assert secret not in sent

    # The link is one person's: another device is turned away, the same guest may come back.
    other = browser.new_context()
    try:
        stranger = other.new_page()
        response = stranger.goto(link)
        assert response is not None and response.status == 403
        assert "another device" in (stranger.text_content("body") or "")
    finally:
        other.close()
    guest.reload()
    frame = guest.frame_locator("iframe.cwmn-frame")
    frame.locator("#counter").wait_for()
    assert frame.locator("#counter").text_content() == "42"

    assert settle(host, "CwmnAPI.session.endSession()")["ok"]
    guest.wait_for_function("document.body.textContent.includes('ended')")


def test_privacy_pauses_the_guest_view_and_sends_nothing(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    host, link = host_session(open_page, customer_site)
    guest, frame = join(guest_context, link)
    guests.append(guest)
    frame.locator("#title").wait_for()
    before = len(frames_sent(cwmn_server))  # the log is shared by every test of the session
    assert settle(host, "CwmnAPI.privacy.setEnabled(true)")["ok"]
    assert host.evaluate("CwmnAPI.privacy.getEnabled()") is True
    guest.wait_for_function(
        "document.querySelector('.cwmn-status') && !document.querySelector('.cwmn-status').hidden"
    )
    assert "paused" in (guest.text_content(".cwmn-status") or "")
    host.evaluate("document.getElementById('counter').textContent = 'PRIVATE-WHILE-PAUSED'")
    host.wait_for_timeout(500)
    assert "PRIVATE-WHILE-PAUSED" not in frames_sent(cwmn_server)[before:]
    assert settle(host, "CwmnAPI.privacy.setEnabled(false)")["ok"]
    guest.wait_for_function("document.querySelector('.cwmn-status').hidden")
    frame.locator("#counter", has_text="PRIVATE-WHILE-PAUSED").wait_for()
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]


def test_session_resumes_across_navigation_and_guests_follow(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    host, link = host_session(open_page, customer_site)
    session_id = host.evaluate("CwmnAPI.session.getSessionInfo().sessionId")
    guest, frame = join(guest_context, link)
    guests.append(guest)
    frame.locator("#title").wait_for()
    guest.evaluate("window.notReloaded = true")
    with host.expect_navigation():
        host.click("#next")
    wait_state(host, "in session")
    # Then the guests already there, as on any page: 'guest connected', 'roomdata update'.
    assert events(host)[:3] == ["init", "session pending", "in session"]
    assert host.evaluate("window.__cwmnLog.events[2].args") == [True]
    assert host.evaluate("CwmnAPI.session.getSessionInfo().sessionId") == session_id
    frame.locator("#title", has_text="Host page two").wait_for()
    assert guest.evaluate("window.notReloaded") is True
    host.evaluate("document.getElementById('counter').textContent = 'on page two'")
    frame.locator("#counter", has_text="on page two").wait_for()
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]
    # Ended: the next page of the site does not resume.
    with host.expect_navigation():
        host.click("#back")
    wait_state(host, "no session")
    assert events(host) == ["init", "ready no session"]


def test_hostile_page_runs_nothing_in_the_viewer(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    host, link = host_session(open_page, customer_site, "hostile.html")
    guest, frame = join(guest_context, link)
    guests.append(guest)
    frame.locator("#title").wait_for()
    frame.locator("#v17").wait_for(state="attached")
    guest.mouse.move(200, 200)
    guest.wait_for_timeout(1000)
    assert guest.evaluate("window.__pwned") is None
    inner = guest.evaluate("document.querySelector('iframe.cwmn-frame').contentWindow.__pwned")
    assert inner is None
    assert frame.locator("script").count() == 0
    assert (
        frame.locator(
            "[onerror], [onload], [onclick], [onmouseover], [ontoggle], [onfocus]"
        ).count()
        == 0
    )
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]


def test_reconnect_after_a_server_restart_loses_nothing(
    open_page: Callable[..., Page],
    tmp_path: Path,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    port = free_port()
    server = CwmnServer(tmp_path / "restart", port=port).start()
    try:
        with PageServer(PAGES, lambda: server.url).running() as site:
            host, link = host_session(open_page, site)
            guest, frame = join(guest_context, link)
            guests.append(guest)
            frame.locator("#title").wait_for()
            server.stop()
            host.wait_for_function(
                "window.__cwmnLog.events.some(e => e.name === 'connection issue')"
            )
            host.evaluate("""() => {
                for (let i = 1; i <= 200; i++) {
                    const li = document.createElement('li'); li.textContent = 'burst ' + i;
                    document.getElementById('list').appendChild(li);
                }
            }""")
            server.start()
            host.wait_for_function(
                "window.__cwmnLog.events.some(e => e.name === 'connection issue resolved')",
                timeout=30_000,
            )
            frame.locator("#list li").nth(199).wait_for(timeout=30_000)
            texts = frame.locator("#list li").all_text_contents()
            assert texts == [f"burst {i}" for i in range(1, 201)]
            assert host.evaluate("CwmnAPI.getCurrentState()") == "in session"
            assert settle(host, "CwmnAPI.session.endSession()")["ok"]
    finally:
        server.stop()
