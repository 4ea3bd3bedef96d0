"""Guests end to end: one host, three guests in Chromium and Firefox mixed, private and
public links, pointers both ways, clicks, muting, removal, the public link switch and the
guest limit (all real: server, browsers, sockets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from cwmn_web.testing import CwmnServer, PageServer

from .conftest import wait_state
from .test_embed import START, settle

pytestmark = pytest.mark.timeout(240)
ROOM = "CwmnAPI.guest.getGuestList()"


def join(context: BrowserContext, link: str, name: str) -> Page:
    page = context.new_page()
    page.goto(f"{link}?name={name}")
    page.frame_locator("iframe.cwmn-frame").locator("#title").wait_for(timeout=60_000)
    return page


def cursors_on_host(host: Page, server: CwmnServer) -> list[dict[str, Any]]:
    """The guests' cursors the host page draws (the module the stub loaded)."""
    build = host.evaluate("CwmnAPI._debug().build")
    url = f"{server.url}/assets/{build}/cursors.mjs"
    state = host.evaluate("async (url) => (await import(url)).debugState()", url)
    return [c for c in state["cursors"] if c["visible"]]


def wait_cursors(
    host: Page, server: CwmnServer, check: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    for _ in range(100):
        drawn = cursors_on_host(host, server)
        if check(drawn):
            return drawn
        host.wait_for_timeout(50)
    raise AssertionError(f"host cursors never matched: {cursors_on_host(host, server)}")


def target_in_viewer(guest: Page) -> tuple[float, float]:
    """The centre of the host page's button as the guest sees it (page coordinates)."""
    x, y = guest.evaluate("""() => {
        const frame = document.querySelector('iframe.cwmn-frame');
        const outer = frame.getBoundingClientRect(), scale = outer.width / frame.offsetWidth;
        const r = frame.contentDocument.getElementById('target').getBoundingClientRect();
        return [outer.left + (r.left + r.width / 2) * scale,
                outer.top + (r.top + r.height / 2) * scale];
    }""")
    return x, y


def iframe_scroll(guest: Page) -> float:
    scroll: float = guest.evaluate(
        "document.querySelector('iframe.cwmn-frame').contentWindow.scrollY"
    )
    return scroll


def host_events(host: Page, name: str) -> list[list[Any]]:
    args: list[list[Any]] = host.evaluate(
        "n => window.__cwmnLog.events.filter(e => e.name === n).map(e => e.args)", name
    )
    return args


def ok(host: Page, expression: str) -> Any:
    result = settle(host, expression)
    assert result["ok"], result
    return result["value"]


def test_one_host_three_guests_in_two_browsers(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    guest_context: BrowserContext,
    contexts: Callable[..., BrowserContext],
) -> None:
    host = open_page(customer_site.url("guests.html", hostname="localhost"))
    ok(host, START)
    private = ok(host, "CwmnAPI.guest.getInviteLink()")
    public = ok(host, "CwmnAPI.publicLink.generate()")
    assert public != private and ok(host, "CwmnAPI.publicLink.generate()") == public
    assert host.evaluate("CwmnAPI.publicLink.getEnabled()") is True

    # -- three guests: private link here, public link in the other browser and here
    ann = join(guest_context, private, "Ann")
    bob = join(contexts(other=True), public, "Bob")
    cat = join(contexts(), public, "Cat")
    host.wait_for_function(f"{ROOM}.length === 3")
    room = {g["name"]: g for g in host.evaluate(ROOM)}
    assert {n: g["via"] for n, g in room.items()} == {
        "Ann": "private",
        "Bob": "public",
        "Cat": "public",
    }
    assert len({g["color"] for g in room.values()}) == 3
    assert all(g["muted"] is False and g["pointer"] is None for g in room.values())
    last_roomdata = host_events(host, "roomdata update")[-1][0]
    assert sorted(g["name"] for g in last_roomdata) == ["Ann", "Bob", "Cat"]
    ann_id, bob_id, cat_id = (room[n]["guestId"] for n in ("Ann", "Bob", "Cat"))

    # -- the host scrolls; Ann points at the button in her (scaled) view of the page
    host.evaluate("window.scrollTo(0, 1300)")
    for guest in (ann, bob):
        guest.wait_for_function(
            "document.querySelector('iframe.cwmn-frame').contentWindow.scrollY > 1200"
        )
    x, y = target_in_viewer(ann)
    ann.mouse.move(x - 20, y - 5)
    ann.mouse.move(x, y, steps=4)
    target = host.evaluate(
        "(() => { const r = document.getElementById('target').getBoundingClientRect();"
        " return [r.left + r.width / 2 + scrollX, r.top + r.height / 2 + scrollY]; })()"
    )
    drawn = wait_cursors(
        host,
        cwmn_server,
        lambda cs: any(c["id"] == ann_id and abs(c["left"] - target[0]) < 6 for c in cs),
    )
    (cursor,) = [c for c in drawn if c["id"] == ann_id]
    scroll_y = host.evaluate("scrollY")
    assert cursor["name"] == "Ann" and cursor["color"] == room["Ann"]["color"]
    assert abs(cursor["left"] - target[0]) < 6 and abs(cursor["top"] + scroll_y - target[1]) < 6
    # The host's own list has the pointer in page coordinates.
    host.wait_for_function(f"{ROOM}.find(g => g.name === 'Ann').pointer !== null", polling=50)
    pointer = host.evaluate(f"{ROOM}.find(g => g.name === 'Ann').pointer")
    assert abs(pointer["x"] - target[0]) < 6 and abs(pointer["y"] - target[1]) < 6
    # Scrolling the host page keeps the cursor on the button.
    host.evaluate("window.scrollBy(0, 150)")
    moved = wait_cursors(
        host, cwmn_server, lambda cs: any(abs(c["top"] - (cursor["top"] - 150)) < 2 for c in cs)
    )
    assert abs(moved[0]["top"] + host.evaluate("scrollY") - target[1]) < 6
    # Bob, in the other browser, sees Ann's labelled cursor over the same button.
    bob.wait_for_function(
        "document.querySelector('iframe.cwmn-frame').contentWindow.scrollY > 1400"
    )
    ann_on_bob = bob.locator(f".cwmn-guest-cursor[data-guest-id='{ann_id}']")
    ann_on_bob.wait_for()
    assert "Ann" in (ann_on_bob.text_content() or "")
    for _ in range(40):  # the cursor glides (a short transition) after the page scrolled
        bx, by = target_in_viewer(bob)
        box = ann_on_bob.bounding_box()
        assert box is not None
        if abs(box["x"] - bx) < 8 and abs(box["y"] - by) < 8:
            break
        bob.wait_for_timeout(50)
    else:
        raise AssertionError(f"Ann's cursor for Bob is at {box}, the button at {(bx, by)}")

    # -- a click: the host gets `click` with Ann's id, and a ripple where she clicked
    ann.mouse.click(x, y - 150 * ann.evaluate("window.cwmnViewer.scale"))
    host.wait_for_function("window.__cwmnLog.events.some(e => e.name === 'click')", polling=50)
    assert host_events(host, "click") == [[ann_id]]

    # -- muting: Ann's pointer and clicks reach nobody, her viewer says so
    assert ok(host, f"CwmnAPI.guest.muteGuest('{ann_id}', true)") is None
    ann.locator(".cwmn-muted").wait_for()
    assert "muted" in (ann.locator(".cwmn-muted").text_content() or "")
    wait_cursors(host, cwmn_server, lambda cs: all(c["id"] != ann_id for c in cs))
    ann.mouse.move(x + 30, y + 10, steps=3)
    ann.mouse.click(x + 30, y + 10)
    host.wait_for_timeout(600)
    assert host_events(host, "click") == [[ann_id]]  # no second click
    assert all(c["id"] != ann_id for c in cursors_on_host(host, cwmn_server))
    muted = {g["name"]: g["muted"] for g in host.evaluate(ROOM)}
    assert muted == {"Ann": True, "Bob": False, "Cat": False}

    # mute-all is independent of each guest's own flag
    assert ok(host, "CwmnAPI.guest.muteAllGuests(true)") is True
    assert host.evaluate("CwmnAPI.guest.getMuteAllGuests()") is True
    bob.locator(".cwmn-muted").wait_for()
    assert ok(host, "CwmnAPI.guest.muteAllGuests(false)") is False
    bob.locator(".cwmn-muted").wait_for(state="hidden")
    ann.wait_for_timeout(300)
    assert ann.locator(".cwmn-muted").is_visible()  # still muted on her own
    ok(host, f"CwmnAPI.guest.muteGuest({{guestId: '{ann_id}', muted: false}})")
    ann.locator(".cwmn-muted").wait_for(state="hidden")
    ann.mouse.move(x, y, steps=3)
    wait_cursors(host, cwmn_server, lambda cs: any(c["id"] == ann_id for c in cs))

    # -- removing Cat: her viewer says so, the public link no longer admits her device
    ok(host, f"CwmnAPI.guest.removeGuest('{cat_id}')")
    cat.locator(".cwmn-status", has_text="removed you").wait_for()
    host.wait_for_function(f"{ROOM}.length === 2")
    gone = host_events(host, "guest disconnected")
    assert gone[-1][0] == cat_id
    response = cat.goto(public)
    assert response is not None and response.status == 403
    assert "removed you" in (cat.text_content("body") or "")

    # -- turning the public link off turns newcomers away; guests already in stay
    assert ok(host, "CwmnAPI.publicLink.setEnabled(false)") is False
    assert host.evaluate("CwmnAPI.publicLink.getEnabled()") is False
    newcomer = contexts(other=True).new_page()
    response = newcomer.goto(public)
    assert response is not None and response.status == 403
    assert "turned this link off" in (newcomer.text_content("body") or "")
    host.evaluate("document.getElementById('news').textContent = 'still here'")
    bob.frame_locator("iframe.cwmn-frame").locator("#news", has_text="still here").wait_for()

    # -- the site's guest limit refuses one more with a clear message
    ok(host, "CwmnAPI.publicLink.setEnabled(true)")
    cwmn_server.cli("site", "settings", "default", "--max-guests", "2")
    try:
        third = contexts().new_page()
        third.goto(f"{public}?name=Dan")
        third.locator(".cwmn-status", has_text="full").wait_for(timeout=60_000)
    finally:
        cwmn_server.cli("site", "settings", "default", "--max-guests", "10")
    assert host.evaluate(f"{ROOM}.length") == 2

    # -- errors: unknown ids, bad types, the wrong state; nothing changes
    for expression, code in (
        ("CwmnAPI.guest.muteGuest('nobody', true)", "not_found"),
        ("CwmnAPI.guest.removeGuest({guestId: 'nobody'})", "not_found"),
        (f"CwmnAPI.guest.muteGuest('{bob_id}', 'yes')", "invalid_params"),
        ("CwmnAPI.guest.removeGuest(42)", "invalid_params"),
        ("CwmnAPI.guest.muteAllGuests('on')", "invalid_params"),
        ("CwmnAPI.publicLink.setEnabled()", "invalid_params"),
    ):
        result = settle(host, expression)
        assert (result["ok"], result["code"], result["isError"]) == (False, code, True), result
    assert host.evaluate(f"{ROOM}.length") == 2 and not bob.locator(".cwmn-muted").is_visible()
    ok(host, "CwmnAPI.session.endSession()")
    wait_state(host, "no session")
    result = settle(host, "CwmnAPI.guest.muteAllGuests(true)")
    assert result["code"] == "invalid_state"
    assert cursors_on_host(host, cwmn_server) == []
    bob.locator(".cwmn-status", has_text="ended").wait_for()
