"""Guests' pointers and clicks drawn on the host's page (static/cursors.mjs), in real
browsers: where they are drawn while the page scrolls, that they never take a click, change
the page's layout or get restyled by it, that the stub forwards the worker's ops to them, and
that the page capture never mirrors the overlay they are drawn in."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import pytest
from playwright.sync_api import Page

from cwmn_web.testing import CwmnServer, PageServer

from .test_capture import SHADOW_PATCH, frames, start_capture

ANN = {"id": "g1", "name": "Ann", "color": "#e11d48", "x": 300, "y": 200}
BOB = {"id": "g2", "name": "Bob", "color": "rgb(37, 99, 235)", "x": 1500, "y": 2500}

# The overlay element, read through its light-DOM side only (its shadow root is closed).
OVERLAY = "document.querySelector('cwmn-overlay[data-cwmn-overlay]')"


# Resolves once the page has not scrolled for 5 frames (a wheel scroll may be smooth).
STILL = """() => new Promise((resolve) => {
  let last = -1, same = 0;
  const frame = () => {
    same = scrollY === last ? same + 1 : 0;
    last = scrollY;
    if (same >= 5) resolve(); else requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})"""


# Keeps the stub's worker reachable, to play the worker's part.
KEEP_WORKER = """
const NativeWorker = window.Worker;
window.Worker = class extends NativeWorker {
  constructor(...args) { super(...args); window.__worker = this; }
};
"""


def open_cursors_page(
    open_page: Callable[..., Page], site: PageServer, init_script: str | None = None
) -> Page:
    page = open_page("about:blank", wait_for_state=None)
    if init_script:
        page.add_init_script(init_script)
    page.set_viewport_size({"width": 800, "height": 600})
    page.goto(site.url("cursors.html", hostname="localhost"))
    page.wait_for_function("CwmnAPI.getCurrentState() === 'no session'", timeout=60_000)
    return page


def module_url(page: Page, server: CwmnServer) -> str:
    build = page.evaluate("CwmnAPI._debug().build")
    return f"{server.url}/assets/{build}/cursors.mjs"


def load_cursors(page: Page, server: CwmnServer) -> None:
    """``window.cursors_``: the module the stub would load (the same URL, so the same module)."""
    url = module_url(page, server)
    page.evaluate("async (url) => { window.cursors_ = await import(url); }", url)


def handle(page: Page, message: dict[str, Any]) -> None:
    page.evaluate("(m) => cursors_.handle(m)", message)


def state(page: Page) -> dict[str, Any]:
    return cast(dict[str, Any], page.evaluate("cursors_.debugState()"))


def drawn(page: Page) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in state(page)["cursors"]}


def settle(page: Page, ms: int = 250) -> None:
    """Past the moves' transition (80 ms), then two animation frames."""
    page.wait_for_timeout(ms)
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def page_size(page: Page) -> list[int]:
    return cast(
        list[int],
        page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        ),
    )


def assert_at(cursor: dict[str, Any], left: float, top: float) -> None:
    assert abs(cursor["left"] - left) <= 1 and abs(cursor["top"] - top) <= 1, (cursor, left, top)


def test_pointers_follow_the_page_as_it_scrolls(
    open_page: Callable[..., Page], customer_site: PageServer, cwmn_server: CwmnServer
) -> None:
    page = open_cursors_page(open_page, customer_site)
    load_cursors(page, cwmn_server)
    size = page_size(page)
    assert size == [2400, 4000]
    handle(page, {"op": "cursors", "cursors": [ANN, BOB]})
    settle(page)
    s = state(page)
    assert s["attached"] and s["ripples"] == 0
    cursors = drawn(page)
    assert {c["name"] for c in cursors.values()} == {"Ann", "Bob"}
    assert cursors["g1"]["color"] == "#e11d48"
    assert_at(cursors["g1"], 300, 200)
    assert cursors["g1"]["visible"]
    assert_at(cursors["g2"], 1500, 2500)
    assert not cursors["g2"]["visible"]  # far below the viewport

    page.evaluate("window.scrollTo(1000, 2200)")
    settle(page, 50)
    assert page.evaluate("[scrollX, scrollY]") == [1000, 2200]
    cursors = drawn(page)
    assert_at(cursors["g1"], 300 - 1000, 200 - 2200)
    assert not cursors["g1"]["visible"]
    assert_at(cursors["g2"], 500, 300)
    assert cursors["g2"]["visible"]

    # A move animates briefly, then the pointer is where the guest's is.
    handle(page, {"op": "cursors", "cursors": [ANN, {**BOB, "x": 1600, "y": 2350}]})
    settle(page)
    assert_at(drawn(page)["g2"], 600, 150)

    # A smaller scroll (the kind a wheel makes) with no message: the pointers stay put on
    # the page.
    page.mouse.move(400, 300)
    page.mouse.wheel(0, 120)
    page.wait_for_function("scrollY > 2200")
    page.evaluate(STILL)
    x, y = page.evaluate("[scrollX, scrollY]")
    assert_at(drawn(page)["g2"], 1600 - x, 2350 - y)

    # Nothing in the overlay takes the pointer: the page gets hit-testing and clicks.
    left, top = drawn(page)["g2"]["left"], drawn(page)["g2"]["top"]
    hit = page.evaluate("([x, y]) => document.elementFromPoint(x, y).id", [left + 2, top + 2])
    assert hit == "tall"
    page.mouse.click(left + 2, top + 2)
    assert page.evaluate("clicks") == ["section#tall"]

    # Pointers far outside the page change neither its layout nor its scroll size.
    far = {"id": "g3", "name": "Far", "color": "green", "x": 9000, "y": 12000}
    handle(page, {"op": "cursors", "cursors": [ANN, BOB, far]})
    settle(page)
    assert page_size(page) == size
    assert page.evaluate("[scrollX, scrollY]") == [x, y]


def test_the_overlay_is_fixed_closed_inert_and_beyond_the_pages_css(
    open_page: Callable[..., Page], customer_site: PageServer, cwmn_server: CwmnServer
) -> None:
    page = open_cursors_page(open_page, customer_site)
    load_cursors(page, cwmn_server)
    assert page.evaluate(OVERLAY) is None  # nothing in the page until there is a pointer
    handle(page, {"op": "cursors", "cursors": [ANN]})
    settle(page)
    info = page.evaluate(
        f"""() => {{
        const o = {OVERLAY}, cs = getComputedStyle(o), r = o.getBoundingClientRect();
        return {{ parent: o.parentNode === document.documentElement, shadow: o.shadowRoot,
                 position: cs.position, pointer: cs.pointerEvents, z: cs.zIndex,
                 display: cs.display, transform: cs.transform, transition: cs.transition,
                 rect: [r.left, r.top, r.width, r.height],
                 count: document.querySelectorAll('[data-cwmn-overlay]').length }};
    }}"""
    )
    assert info["parent"] and info["count"] == 1
    assert info["shadow"] is None  # closed
    assert info["position"] == "fixed" and info["pointer"] == "none"
    assert info["z"] == "2147483647" and info["display"] == "block"
    assert info["transform"] == "none"
    # The viewport, less any scroll bars (Firefox's take room).
    assert info["rect"] == page.evaluate(
        "[0, 0, document.documentElement.clientWidth, document.documentElement.clientHeight]"
    )
    # The page's `div, b, svg { display: none !important }` and its overlay rules do not
    # reach into the overlay: Ann is drawn where she is.
    assert_at(drawn(page)["g1"], 300, 200)
    assert page.evaluate("document.elementFromPoint(305, 205).id") == "tall"

    # A single-page app that replaces what <html> holds: the next update puts it back.
    page.evaluate(f"{OVERLAY}.remove()")
    assert not state(page)["attached"]
    handle(page, {"op": "cursors", "cursors": [{**ANN, "x": 310}]})
    settle(page)
    assert state(page)["attached"]
    assert_at(drawn(page)["g1"], 310, 200)

    # An empty list removes every pointer, and the overlay with them.
    handle(page, {"op": "cursors", "cursors": []})
    assert state(page) == {"attached": False, "cursors": [], "ripples": 0, "strokes": []}
    assert page.evaluate(OVERLAY) is None
    handle(page, {"op": "cursors", "cursors": [ANN, BOB]})
    page.evaluate("cursors_.clear()")
    assert state(page) == {"attached": False, "cursors": [], "ripples": 0, "strokes": []}
    assert page.evaluate(OVERLAY) is None


def test_a_click_ripple_shows_and_goes(
    open_page: Callable[..., Page], customer_site: PageServer, cwmn_server: CwmnServer
) -> None:
    page = open_cursors_page(open_page, customer_site)
    load_cursors(page, cwmn_server)
    size = page_size(page)
    page.evaluate("window.scrollTo(0, 1000)")
    handle(page, {"op": "ripple", "x": 200, "y": 1150, "color": "#e11d48", "name": "Ann"})
    s = state(page)
    assert s["attached"] and s["ripples"] == 1 and s["cursors"] == []
    # Its ring shows around the click (read from the pixels: the shadow root is closed).
    settle(page, 100)
    shot = page.screenshot(clip={"x": 170, "y": 120, "width": 60, "height": 60})
    assert shot != page.screenshot(clip={"x": 470, "y": 420, "width": 60, "height": 60})
    assert page.evaluate("document.elementFromPoint(200, 150).id") == "tall"
    assert page_size(page) == size
    page.wait_for_timeout(1000)
    assert state(page) == {"attached": False, "cursors": [], "ripples": 0, "strokes": []}
    assert page.evaluate(OVERLAY) is None


def test_the_stub_forwards_the_workers_ops(
    open_page: Callable[..., Page], customer_site: PageServer, cwmn_server: CwmnServer
) -> None:
    page = open_cursors_page(open_page, customer_site, KEEP_WORKER)

    def post(message: dict[str, Any], mod: str = "cursors") -> None:
        """As if the worker had posted it (the stub only reads the event's data; ``mod``
        names the page module that handles it)."""
        page.evaluate(
            "(m) => __worker.dispatchEvent(new MessageEvent('message', {data: JSON.stringify(m)}))",
            {**message, "mod": mod},
        )

    post({"op": "cursors", "cursors": [ANN, BOB]})
    page.wait_for_function(OVERLAY)
    load_cursors(page, cwmn_server)  # the same module instance the stub imported
    settle(page)
    assert {c["name"] for c in state(page)["cursors"]} == {"Ann", "Bob"}
    assert_at(drawn(page)["g1"], 300, 200)
    post({"op": "ripple", "x": 20, "y": 30, "color": "blue", "name": "Bob"})
    page.wait_for_function("cursors_.debugState().ripples === 1")
    # The overlay's closed root was made with the attachShadow from before the page's own
    # patch: the page never got hold of it.
    assert "cwmn-overlay" not in page.evaluate("spied")
    assert page.evaluate(f"{OVERLAY}.shadowRoot") is None
    # A guest's stroke (extension: drawing) goes to the same module.
    post({"op": "draw", "guestId": "g1", "color": "red", "stroke": 1, "tool": "pen",
          "points": [10, 10, 50, 50], "done": True})  # fmt: skip
    page.wait_for_function("cursors_.debugState().strokes.length === 1")
    post({"op": "draw clear", "guestId": "g1"})
    page.wait_for_function("cursors_.debugState().strokes.length === 0")
    post({"op": "cursors", "cursors": []})
    page.wait_for_function(f"!{OVERLAY}", timeout=5_000)

    # The sharing badge (extension) is badge.mjs's, given the stub's attachShadow and API.
    badge = "document.querySelector('cwmn-badge[data-cwmn-overlay]')"
    message = {"op": "badge", "sharing": True, "replay": False, "guests": 1, "privacy": False,
               "controller": None, "badge": True, "masked": False, "rules": {}}  # fmt: skip
    post(message, "badge")
    page.wait_for_function(badge)
    assert "cwmn-badge" not in page.evaluate("spied")
    assert page.evaluate(f"{badge}.shadowRoot") is None
    post({**message, "sharing": False}, "badge")
    page.wait_for_function(f"!{badge}", timeout=5_000)
    assert page.evaluate("__cwmnLog.consoleErrors") == []


@pytest.mark.parametrize("when", ["before the snapshot", "after the snapshot"])
def test_capture_never_mirrors_the_overlay(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    when: str,
) -> None:
    page = open_page("about:blank", wait_for_state=None)
    page.add_init_script(SHADOW_PATCH)
    page.goto(customer_site.url("capture.html", hostname="localhost"))
    page.wait_for_function("CwmnAPI.getCurrentState() === 'no session'", timeout=60_000)
    load_cursors(page, cwmn_server)
    if when == "before the snapshot":
        handle(page, {"op": "cursors", "cursors": [ANN]})
        settle(page)
    start_capture(page, cwmn_server)
    page.wait_for_function("window.frames_.length >= 1")
    assert frames(page)[0][0] == "snapshot"
    # Pointers come, move, go and come back (the overlay is added, changed, removed and
    # re-added); clicks ripple; the page changes too, so mutation batches go out.
    for step in range(4):
        handle(page, {"op": "cursors", "cursors": [{**ANN, "x": 100 + step, "y": 50}, BOB]})
        handle(page, {"op": "ripple", "x": 100, "y": 50, "color": "red", "name": "Ann"})
        settle(page, 30)
        page.evaluate(
            """(step) => { const p = document.createElement('p'); p.id = 'p' + step;
                          p.textContent = 'added ' + step; document.body.appendChild(p); }""",
            step,
        )
        if step == 2:
            handle(page, {"op": "cursors", "cursors": []})
        settle(page, 30)
    page.evaluate("cursors_.handle({op: 'cursors', cursors: [{id: 'g4', x: 1, y: 1}]})")
    page.wait_for_function(
        "window.frames_.some(f => f[0] === 'mutations' && JSON.stringify(f).includes('added 3'))"
    )
    page.wait_for_timeout(200)
    assert state(page)["attached"]
    out = frames(page)
    assert "cwmn-overlay" not in json.dumps(out)
    known = {r[0] for r in out[0][1]["nodes"]}
    for kind, data in out[1:]:
        if kind != "mutations":
            continue
        known |= {r[0] for r in data["adds"]}
        for parent, children in data["order"]:
            assert {parent, *children} <= known, "an order list names a node never sent"
        assert set(data["removes"]) <= known
        assert {a[0] for a in data["attrs"]} <= known
    html = next(r for r in out[0][1]["nodes"] if r[3] == "html")
    body_kids = [r for r in out[0][1]["nodes"] if r[1] == html[0]]
    assert [r[3] for r in body_kids if r[2] == 1] == ["head", "body"]
