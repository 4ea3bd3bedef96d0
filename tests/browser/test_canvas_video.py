"""Canvases and videos as a guest sees them (docs/fidelity/pictures.md): a 2D canvas, a
WebGL canvas drawn once and a canvas too large to encode on the page's main thread show
their pixels at the host's size, a redrawn canvas is updated; a video shows its poster or its
current frame and a badge with its play state, and never plays in the viewer."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, ViewportSize

from cwmn_web.testing import PageServer

from .test_embed import START, settle

HOST_VIEWPORT = ViewportSize(width=900, height=600)
RED, BLUE, GREEN = (220, 30, 30), (40, 60, 200), (30, 160, 60)
GL_GREEN, YELLOW = (26, 178, 51), (240, 200, 20)
TEAL, MAGENTA = (20, 170, 170), (200, 40, 200)
FRAME = "document.querySelector('iframe.cwmn-frame')"
Box = tuple[float, float, float, float]


@pytest.fixture
def pair(browser: Browser, customer_site: PageServer) -> Iterator[tuple[Page, Page]]:
    """The host on canvas.html in a session, and a guest who joined it (another profile)."""
    host_ctx = browser.new_context(viewport=HOST_VIEWPORT)
    guest_ctx = browser.new_context(viewport=ViewportSize(width=1000, height=700))
    try:
        host = host_ctx.new_page()
        host.goto(customer_site.url("canvas.html", hostname="localhost"))
        host.wait_for_function("window.CwmnAPI && CwmnAPI.getCurrentState() === 'no session'")
        assert settle(host, START)["ok"]
        link = settle(host, "CwmnAPI.guest.getInviteLink()")["value"]
        guest = guest_ctx.new_page()
        guest.goto(f"{link}?name=Checker")
        guest.frame_locator("iframe.cwmn-frame").locator("#live").wait_for(
            state="attached", timeout=60_000
        )
        yield host, guest
        assert settle(host, "CwmnAPI.session.endSession()")["ok"]
    finally:
        host_ctx.close()
        guest_ctx.close()


def box(page: Page, doc: str, element_id: str) -> Box:
    """An element's box (x, y, width, height) in its document's viewport."""
    r: dict[str, float] = page.evaluate(
        f"() => {doc}.getElementById('{element_id}').getBoundingClientRect().toJSON()"
    )
    return r["x"], r["y"], r["width"], r["height"]


def close_to(found: tuple[int, ...], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 40 for a, b in zip(found[:3], expected, strict=True))


def colours(guest: Page, points: list[tuple[float, float]]) -> list[tuple[int, ...]]:
    """The guest's frame (a screenshot) at host page points."""
    shot = Image.open(io.BytesIO(guest.locator("iframe.cwmn-frame").screenshot())).convert("RGB")
    scale = shot.size[0] / HOST_VIEWPORT["width"]
    found: list[tuple[int, ...]] = []
    for x, y in points:
        pixel = shot.getpixel((int(x * scale), int(y * scale)))
        assert isinstance(pixel, tuple)
        found.append(pixel)
    return found


def wait_colours(guest: Page, expected: dict[tuple[float, float], tuple[int, int, int]]) -> None:
    """Until the guest's frame shows each colour at its point (10 s at most)."""
    points = list(expected)
    deadline = time.monotonic() + 10
    while True:
        found = colours(guest, points)
        if all(close_to(f, expected[p]) for f, p in zip(found, points, strict=True)):
            return
        assert time.monotonic() < deadline, dict(zip(points, found, strict=True))
        guest.wait_for_timeout(100)  # the next screenshot: the pictures decode as they come


def middle(b: Box, fx: float = 0.5, fy: float = 0.5) -> tuple[float, float]:
    return b[0] + b[2] * fx, b[1] + b[3] * fy


def test_guests_see_canvases_at_the_host_size_and_kept_current(pair: tuple[Page, Page]) -> None:
    host, guest = pair
    guest_doc = f"{FRAME}.contentDocument"
    host.wait_for_function("window.tainted")
    boxes = {name: box(host, "document", name) for name in ("plot", "gl", "big", "tainted")}
    assert boxes["plot"][2:] == (240, 120) and boxes["big"][2:] == (300, 150)
    expected = {
        middle(boxes["plot"], 0.25): RED,
        middle(boxes["plot"], 0.75): BLUE,
        middle(boxes["big"]): YELLOW,  # encoded in the capture's worker
    }
    assert host.evaluate("window.webgl"), "no WebGL in the host's browser (launch_args)"
    expected[middle(boxes["gl"])] = GL_GREEN  # drawn once, at load
    wait_colours(guest, expected)
    for name, host_box in boxes.items():  # the host's CSS boxes, not 0 by 0, not fallback text
        assert box(guest, guest_doc, name) == host_box, name
    host.evaluate("plot('rgb(30, 160, 60)', 'rgb(240, 200, 20)')")
    wait_colours(guest, {middle(boxes["plot"], 0.25): GREEN, middle(boxes["plot"], 0.75): YELLOW})


def badges(guest: Page) -> list[str]:
    texts: list[str] = guest.eval_on_selector_all(
        ".cwmn-media:not([hidden])", "els => els.map(e => e.textContent).sort()"
    )
    return texts


def test_guests_see_a_videos_poster_frame_and_play_state(pair: tuple[Page, Page]) -> None:
    host, guest = pair
    poster, live = box(host, "document", "poster"), box(host, "document", "live")
    # The poster of a video that never played; the current frame of the one playing.
    wait_colours(guest, {middle(poster): TEAL, middle(live): MAGENTA})
    guest.wait_for_function(
        "() => [...document.querySelectorAll('.cwmn-media')].map(e => e.dataset.state).sort()"
        ".join() === 'paused,playing'"
    )
    assert [text.split()[:2] for text in badges(guest)] == [
        ["\u25b6", "Playing"],
        ["\u275a\u275a", "Paused"],
    ]
    # The badge sits on its video (the stage's scale aside).
    badge: dict[str, Any] = guest.evaluate(
        """() => {
            const frame = document.querySelector('iframe.cwmn-frame').getBoundingClientRect();
            const badge = document.querySelector('.cwmn-media[data-state=playing]');
            const b = badge.getBoundingClientRect();
            return {x: b.x - frame.x, y: b.y - frame.y, scale: frame.width / 900};
        }"""
    )
    assert abs(badge["x"] / badge["scale"] - live[0] - 6) < 2
    assert abs(badge["y"] / badge["scale"] - live[1] - 6) < 2
    # Nothing plays in the viewer, whatever the host's attributes say.
    state = guest.evaluate(
        f"""() => [...{FRAME}.contentDocument.querySelectorAll('video, audio')]
            .map(v => [v.id, v.paused, v.hasAttribute('autoplay')])"""
    )
    assert state == [["poster", True, False], ["live", True, False], ["sound", True, False]]
    host.evaluate("document.getElementById('live').pause()")
    guest.wait_for_function(
        "() => [...document.querySelectorAll('.cwmn-media')]"
        ".every(e => e.dataset.state === 'paused')"
    )
    assert all(text.startswith("\u275a\u275a Paused") for text in badges(guest))


def test_a_canvas_too_large_for_a_frame_is_scaled_down_and_the_session_goes_on(
    browser: Browser, customer_site: PageServer
) -> None:
    host_ctx = browser.new_context(viewport=HOST_VIEWPORT)
    guest_ctx = browser.new_context(viewport=ViewportSize(width=1000, height=700))
    try:
        host = host_ctx.new_page()
        host.goto(customer_site.url("canvas-noise.html", hostname="localhost"))
        host.wait_for_function("window.CwmnAPI && CwmnAPI.getCurrentState() === 'no session'")
        assert settle(host, START)["ok"]
        link = settle(host, "CwmnAPI.guest.getInviteLink()")["value"]
        guest = guest_ctx.new_page()
        guest.goto(f"{link}?name=Checker")
        # Its picture comes scaled down (held in an SVG of the canvas's size), not whole.
        guest.wait_for_function(
            f"""() => {{
                const doc = {FRAME}.contentDocument, el = doc && doc.getElementById('noise');
                const content = el ? getComputedStyle(el).content : '';
                return content.startsWith('url("data:image/svg+xml,') &&
                    content.includes('base64');
            }}""",
            timeout=60_000,
        )
        assert box(guest, f"{FRAME}.contentDocument", "noise") == (0, 0, 700, 700)
        # The small ones, below the host's viewport: all of them once the host scrolled to
        # them, over several frames, within the pictures' budget (250 kB a second).
        host.evaluate("scrollTo(0, document.body.scrollHeight)")
        guest.wait_for_function(
            f"""() => [...{FRAME}.contentDocument.querySelectorAll('.tile')].filter(el =>
                getComputedStyle(el).content.startsWith('url("data:image/png')).length === 8""",
            timeout=60_000,
        )
        assert host.evaluate("CwmnAPI.getCurrentState()") == "in session"
        assert settle(host, "CwmnAPI.session.endSession()")["ok"]
    finally:
        host_ctx.close()
        guest_ctx.close()
