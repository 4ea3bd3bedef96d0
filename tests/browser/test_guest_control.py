"""The guest's viewer controls and draws on a real host page (extension), end to end: a real
hosted session on a form page (tests/browser/pages/control.html, its own handlers recording
what they see), the real server, and the real /join viewer with its toolbar in a small
window (the stage scaled down, the host's page scrolled). The guest asks from the toolbar,
the site hears it and the visitor allows, the guest's clicks and typing fill the form
and submit it; a masked field is refused with a notice; the guest's pen strokes reach the
host's page where they were drawn; the visitor takes control back mid-typing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from cwmn_web.testing import CwmnServer, PageServer

from .test_embed import START, settle

pytestmark = pytest.mark.timeout(240)


def ok(page: Page, expression: str) -> Any:
    result = settle(page, expression)
    assert result["ok"], result
    return result["value"]


def in_viewer(guest: Page, selector: str) -> tuple[float, float]:
    """The centre of the host page's ``selector`` as the guest sees it (page coordinates)."""
    x, y = guest.evaluate(
        """(s) => { const frame = document.querySelector('iframe.cwmn-frame');
            const outer = frame.getBoundingClientRect(), scale = outer.width / frame.offsetWidth;
            const r = frame.contentDocument.querySelector(s).getBoundingClientRect();
            return [outer.left + (r.left + r.width / 2) * scale,
                    outer.top + (r.top + r.height / 2) * scale]; }""",
        selector,
    )
    return x, y


def centre(host: Page, selector: str) -> tuple[float, float]:
    """The centre of ``selector`` in the host's viewport."""
    x, y = host.evaluate(
        """(s) => { const r = document.querySelector(s).getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2]; }""",
        selector,
    )
    return x, y


def host_module(host: Page, server: CwmnServer, name: str) -> None:
    """``window.<name>_``: the page module the stub loaded (its debugState)."""
    build = host.evaluate("CwmnAPI._debug().build")
    url = f"{server.url}/assets/{build}/{name}.mjs"
    host.evaluate(f"async (url) => {{ window.{name}_ = await import(url); }}", url)


def test_the_viewer_fills_and_submits_a_real_form_draws_and_is_stopped(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    guest_context: BrowserContext,
) -> None:
    host = open_page(customer_site.url("control.html", hostname="localhost"))
    host.set_viewport_size({"width": 800, "height": 600})
    ok(host, START)
    link = ok(host, "CwmnAPI.guest.getInviteLink()")
    host.evaluate("window.scrollTo(0, 40)")
    guest = guest_context.new_page()
    guest.set_viewport_size({"width": 600, "height": 450})  # the stage at 3/4 size
    try:
        guest.goto(f"{link}?name=Ann")
        frame = guest.frame_locator("iframe.cwmn-frame")
        frame.locator("#name").wait_for(timeout=60_000)
        guest.wait_for_function(
            "document.querySelector('iframe.cwmn-frame').contentWindow.scrollY === 40"
        )
        assert guest.evaluate("window.cwmnViewer.scale") == 0.75

        # -- Ann asks from the toolbar; the site hears it and the visitor allows
        guest.get_by_role("button", name="Request control").click()
        guest.get_by_role("button", name="Waiting for the visitor").wait_for()
        requests = "window.__cwmnLog.events.filter((e) => e.name === 'control request')"
        host.wait_for_function(f"{requests}.length === 1")
        guest_id, asker = host.evaluate(f"{requests}[0].args")
        assert asker["name"] == "Ann"
        assert ok(host, f"CwmnAPI.control.grant('{guest_id}')") is None
        guest.get_by_text("You control the page").wait_for()
        assert host.evaluate("CwmnAPI.control.getController().name") == "Ann"
        # The visitor's badge says so, with a way to take control back.
        host_module(host, cwmn_server, "badge")
        host.wait_for_function("badge_.debugState().badge?.controller === 'Ann is controlling'")
        badge = host.evaluate("badge_.debugState()")
        assert badge["badge"]["text"] == "Sharing this page · 1 guest"
        assert badge["frame"] is not None  # the viewport framed while someone else acts
        assert host.evaluate("CwmnAPI.guest.getGuestList()[0].controlling") is True

        # -- Ann fills the form with her mouse and keyboard, and submits it
        host.evaluate("seen.length = 0")
        guest.mouse.click(*in_viewer(guest, "#name"))
        guest.keyboard.type("Ann Lee")
        guest.keyboard.press("Tab")
        guest.keyboard.type("Call after 5")
        host.wait_for_function("document.querySelector('#notes').value === 'Call after 5'")
        assert host.evaluate("document.querySelector('#name').value") == "Ann Lee"
        # The page's own handlers saw a user's events (not "focus": Firefox fires none in a
        # page that is not the active one, as the host's is not while the guest types).
        seen = host.evaluate("seen")
        for event in ("click#name", "input#name", "change#name", "input#notes"):
            assert event in seen, (event, seen)

        # -- a masked field: refused, and Ann reads why
        guest.mouse.click(*in_viewer(guest, "#card"))
        guest.get_by_role("status").filter(has_text="private").wait_for()
        assert host.evaluate("document.activeElement.id") != "card"

        guest.mouse.click(*in_viewer(guest, "#send"))
        host.wait_for_function("submitted.length === 1")
        submitted = host.evaluate("submitted[0]")
        assert (submitted["name"], submitted["notes"]) == ("Ann Lee", "Call after 5")

        # -- a pen stroke over the host's page, where Ann drew it
        guest.get_by_role("button", name="Draw").click()
        start, end = in_viewer(guest, "#name"), in_viewer(guest, "#send")
        guest.mouse.move(*start)
        guest.mouse.down()
        guest.mouse.move(*end, steps=10)
        guest.mouse.up()
        host_module(host, cwmn_server, "cursors")
        host.wait_for_function(
            "cursors_.debugState().strokes.some((s) => s.done && s.tool === 'pen')"
        )
        (stroke,) = host.evaluate("cursors_.debugState().strokes")
        # From the centre of "Name" to the centre of "Send", in the host's viewport.
        (x1, y1), (x2, y2) = (centre(host, "#name"), centre(host, "#send"))
        box = stroke["box"]
        drawn = (box["left"], box["top"], box["left"] + box["width"], box["top"] + box["height"])
        wanted = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
        assert all(abs(a - b) < 6 for a, b in zip(drawn, wanted, strict=True)), (drawn, wanted)
        guest.get_by_role("button", name="Draw").click()

        # -- the visitor takes control back while Ann types: nothing more arrives
        guest.mouse.click(*in_viewer(guest, "#notes"))
        guest.keyboard.press("End")  # the caret after the text, wherever the click put it
        guest.keyboard.type(" or 6")
        host.wait_for_function("document.querySelector('#notes').value.endsWith(' or 6')")
        # The visitor clicks "Take back" on the badge.
        (take,) = [b for b in host.evaluate("badge_.debugState().badge.buttons")
                   if b["part"] == "take-back"]  # fmt: skip
        host.mouse.click(take["left"] + take["width"] / 2, take["top"] + take["height"] / 2)
        guest.get_by_text("You control the page").wait_for(state="hidden")
        host.wait_for_function("CwmnAPI.control.getController() === null")
        assert host.evaluate("badge_.debugState().badge.controller") == ""
        guest.get_by_role("button", name="Request control").wait_for()
        guest.keyboard.type(" never")
        # Anything typed would have reached the host before this move of Ann's pointer.
        guest.mouse.move(*in_viewer(guest, "#agree-text"))
        x, y = centre(host, "#agree-text")
        host.wait_for_function(
            """([x, y]) => cursors_.debugState().cursors.some(
                (c) => Math.abs(c.left - x) < 6 && Math.abs(c.top - y) < 6)""",
            arg=[x, y],
        )
        assert host.evaluate("document.querySelector('#notes').value") == "Call after 5 or 6"
        ok(host, "CwmnAPI.session.endSession()")
        guest.locator(".cwmn-status", has_text="ended").wait_for()
        assert guest.locator(".cwmn-toolbar").is_hidden()
    finally:
        guest.close()
