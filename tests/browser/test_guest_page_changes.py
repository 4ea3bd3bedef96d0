"""The host moves to another page of the site: its guests keep the last picture, with a quiet
note, until the next page arrives; never a blank frame, never the "connection dropped"
overlay (all real: server, browsers, sockets)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, Route

from cwmn_web.testing import PageServer

from .conftest import wait_state
from .test_cobrowse import host_session, join
from .test_embed import settle

pytestmark = pytest.mark.timeout(180)

#: Watches the guest's viewer at every animation frame until page two shows: how many
#: frames had no host page in the iframe, how many showed the dark overlay, and what was on
#: screen while the note was up.
WATCH = """() => {
    const v = window.cwmnViewer;
    const seen = window.__gap = { frames: 0, blank: 0, overlay: 0, withNote: [] };
    const tick = () => {
        const doc = v.iframe.contentDocument;
        const title = doc && doc.getElementById('title');
        const text = title ? title.textContent : null;
        seen.frames++;
        if (!text) seen.blank++;
        if (!v.status.hidden) seen.overlay++;
        if (!v.note.hidden && v.note.getClientRects().length) {
            if (!seen.withNote.includes(text)) seen.withNote.push(text);
        }
        if (text === 'Host page two') seen.done = true;
        else requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
}"""


def test_guests_keep_the_last_picture_while_the_host_changes_page(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    guest_context: BrowserContext,
) -> None:
    host, link = host_session(open_page, customer_site)
    guest, frame = join(guest_context, link)
    try:
        frame.locator("#title", has_text="Host page one").wait_for(timeout=60_000)
        guest.evaluate(WATCH)
        with host.expect_navigation():
            host.click("#next")
        # During the gap: the old page in full view, the note up, no overlay.
        guest.wait_for_function("window.__gap.withNote.length > 0", polling="raf")
        assert guest.evaluate("window.cwmnViewer.note.textContent") == "Loading the next page\u2026"
        wait_state(host, "in session")
        frame.locator("#title", has_text="Host page two").wait_for(timeout=60_000)
        guest.wait_for_function("window.__gap.done === true")
        seen = guest.evaluate("window.__gap")
        assert seen["withNote"] == ["Host page one"]  # the note only ever over the old page
        assert (seen["blank"], seen["overlay"]) == (0, 0), seen
        assert seen["frames"] > 1
        guest.wait_for_function("window.cwmnViewer.note.hidden")  # gone with the new page
        assert guest.evaluate("window.cwmnViewer.status.hidden") is True
        assert settle(host, "CwmnAPI.session.endSession()")["ok"]
    finally:
        guest.close()


def test_a_guest_who_joins_while_the_host_is_between_pages_gets_the_note(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    host, _ = host_session(open_page, customer_site)
    second = settle(host, "CwmnAPI.guest.getInviteLink()")
    assert second["ok"], second
    # The next page's stub stays unanswered: the old page (and its socket, closed 1001) is
    # gone, the new one cannot resume the session until the test lets it.
    held: list[Route] = []
    host.route("**/cwmn.js", lambda route: held.append(route))
    with host.expect_request("**/cwmn.js"), host.expect_navigation(wait_until="commit"):
        host.click("#next")
    guest, frame = join(guest_context, second["value"], name="Late")
    guests.append(guest)
    guest.wait_for_function(
        "window.cwmnViewer && !window.cwmnViewer.note.hidden"
        " && window.cwmnViewer.note.getClientRects().length > 0",
        timeout=60_000,
    )
    assert held, "the next page's stub was not held"
    assert guest.evaluate("window.cwmnViewer.note.textContent") == "Loading the next page\u2026"
    assert guest.evaluate("window.cwmnViewer.status.hidden") is True
    frame.locator("#title", has_text="Host page one").wait_for()  # the last picture
    guest.evaluate(WATCH)
    for route in held:
        route.continue_()
    held.clear()
    wait_state(host, "in session")
    frame.locator("#title", has_text="Host page two").wait_for(timeout=60_000)
    guest.wait_for_function("window.__gap.done === true")
    seen = guest.evaluate("window.__gap")
    assert (seen["blank"], seen["overlay"]) == (0, 0), seen
    guest.wait_for_function("window.cwmnViewer.note.hidden")
    assert guest.evaluate("window.cwmnViewer.status.hidden") is True
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]
