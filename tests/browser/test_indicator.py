"""What the visitor sees of a shared page (static/badge.mjs) and the guests' drawing on it
(static/cursors.mjs), in real browsers: the built modules are loaded into a real-looking page
(pages/checkout.html) and given the messages the worker sends, with a fake ``CwmnAPI`` that
records what the badge's buttons call.

``CWMN_DOCS_SHOTS=docs/images`` (Chromium) also writes the docs' screenshots:
indicator.png, masked-overlay.png, drawing-host.png."""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page

from cwmn_web.testing import CwmnServer, PageServer
from cwmn_web.testing.recorder import recorder_script

BUILD = Path(__file__).resolve().parents[2] / "static" / "dist" / "BUILD"
SHOTS = os.environ.get("CWMN_DOCS_SHOTS")
RULES = {"mask": [".private"], "block": ["#support-chat"]}
ANN = {"guestId": "g1", "name": "Ann", "color": "#16a34a"}

# The built modules, and a CwmnAPI that records calls (``calls``) instead of making them.
LOAD = """async ([badge, cursors]) => {
  window.calls = [];
  const rec = (path) => (...args) => { calls.push([path, ...args]); return Promise.resolve(true); };
  window.fakeApi = {
    privacy: { setEnabled: rec('privacy.setEnabled') },
    session: { endSession: rec('session.endSession') },
    control: { revoke: rec('control.revoke') },
  };
  window.badge_ = await import(badge);
  window.cursors_ = await import(cursors);
}"""
#: A site that shows its own indicator turns CWMN's badge off (tests comparing the host's
#: screenshots with what guests see: the badge is the visitor's, never mirrored).
NO_BADGE = "CwmnAPI.indicator.setEnabled(false)"
FRAMES = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
HOST = "document.querySelector('cwmn-badge[data-cwmn-overlay]')"


@pytest.fixture
def own_page(browser: Browser) -> Iterator[Page]:
    """A page in a context of its own: Playwright's clock is the whole context's, and a
    paused one would stop the timers of the shared context's later pages."""
    context = browser.new_context()
    context.add_init_script(recorder_script())  # as the shared context's pages have
    yield context.new_page()
    context.close()


def open_checkout(
    open_page: Callable[..., Page],
    site: PageServer,
    server: CwmnServer,
    clock: Page | None = None,
) -> Page:
    """The checkout page with the modules loaded; ``clock``: a page of its own context, whose
    timers the test moves on (paused)."""
    page = clock or open_page("about:blank", wait_for_state=None)
    page.set_viewport_size({"width": 1024, "height": 680})
    if clock:  # the page's timers only, paused: the test moves time on
        page.clock.install()
        page.clock.pause_at(int(time.time() * 1000) + 1000)
    page.goto(site.url("checkout.html", hostname="localhost"))
    assets = f"{server.url}/assets/{BUILD.read_text().strip()}"
    page.evaluate(LOAD, [f"{assets}/badge.mjs", f"{assets}/cursors.mjs"])
    return page


def badge(page: Page, **fields: Any) -> dict[str, Any]:
    """Send ``{op: 'badge'}`` (sharing, no guests, the badge on) with ``fields``; what shows."""
    message = {
        "op": "badge", "sharing": True, "replay": False, "guests": 0, "privacy": False,
        "controller": None, "badge": True, "masked": False, "rules": RULES, **fields,
    }  # fmt: skip
    page.evaluate("(m) => badge_.handle(m, undefined, fakeApi)", message)
    return shown(page)


def shown(page: Page) -> dict[str, Any]:
    return cast(dict[str, Any], page.evaluate("badge_.debugState()"))


def buttons(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["part"]: b for b in state["badge"]["buttons"]}


def click(page: Page, box: dict[str, Any]) -> None:
    page.mouse.click(box["left"] + box["width"] / 2, box["top"] + box["height"] / 2)


def calls(page: Page) -> list[list[Any]]:
    return cast(list[list[Any]], page.evaluate("calls.splice(0)"))


def viewport(page: Page) -> list[int]:
    return cast(
        list[int],
        page.evaluate(
            "[document.documentElement.clientWidth, document.documentElement.clientHeight]"
        ),
    )


def pixel(page: Page, x: float, y: float) -> tuple[int, int, int]:
    png = page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1})
    return cast(tuple[int, int, int], Image.open(io.BytesIO(png)).convert("RGB").getpixel((0, 0)))


def near(color: tuple[int, int, int], want: tuple[int, int, int], by: int = 40) -> bool:
    return all(abs(a - b) <= by for a, b in zip(color, want, strict=True))


def shot(page: Page, browser_name: str, name: str) -> None:
    """Save the viewport as docs/images/``name`` (256 colours: small) when asked to."""
    if SHOTS and browser_name == "chromium":
        image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
        image.quantize(256, dither=Image.Dither.NONE).save(Path(SHOTS) / name, optimize=True)


def test_the_badge_says_what_is_shared_and_its_buttons_act(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    browser_name: str,
) -> None:
    page = open_checkout(open_page, customer_site, cwmn_server)
    width, height = viewport(page)
    s = badge(page)
    b = s["badge"]
    assert s["attached"] and s["frame"] is None and s["boxes"] == []
    assert b["text"] == "Sharing this page · waiting for guests" and b["controller"] == ""
    assert (b["role"], b["live"]) == ("status", "polite")
    assert [x["label"] for x in b["buttons"]] == ["Pause", "Stop"]
    # Small, in the bottom-right corner, clear of the page's own corner widget (bottom-left).
    r = b["rect"]
    assert abs(width - 16 - (r["left"] + r["width"])) <= 1
    assert abs(height - 16 - (r["top"] + r["height"])) <= 1
    assert r["width"] < 460 and r["height"] < 48
    info = page.evaluate(f"() => ({{ n: document.querySelectorAll('[data-cwmn-overlay]').length,"
                         f" parent: {HOST}.parentNode === document.documentElement,"
                         f" shadow: {HOST}.shadowRoot }})")  # fmt: skip
    assert info == {"n": 1, "parent": True, "shadow": None}
    # Nothing but the pill takes the pointer: the page under the rest of the overlay does.
    assert page.evaluate("document.elementFromPoint(120, 400).closest('main') !== null")

    assert badge(page, guests=1)["badge"]["text"] == "Sharing this page · 1 guest"
    assert badge(page, guests=2)["badge"]["text"] == "Sharing this page · 2 guests"
    assert badge(page, guests=2, replay=True)["badge"]["text"] == "Recording this page · 2 guests"
    assert badge(page, replay=True)["badge"]["text"] == "Recording this page"

    # Pause, then Resume: the privacy switch, each way; Stop ends the session.
    click(page, buttons(badge(page, guests=2))["pause"])
    assert calls(page) == [["privacy.setEnabled", True]]
    b = badge(page, guests=2, privacy=True)["badge"]
    assert b["text"] == "Sharing paused"
    assert [x["label"] for x in b["buttons"]] == ["Resume", "Stop"]
    click(page, buttons(shown(page))["pause"])
    assert calls(page) == [["privacy.setEnabled", False]]
    click(page, buttons(badge(page, guests=2))["stop"])
    assert calls(page) == [["session.endSession"]]

    # The keyboard reaches it after the page's last control, and Enter presses.
    page.focus("#inside")
    page.keyboard.press("Tab")
    assert [x["part"] for x in buttons(shown(page)).values() if x["focused"]] == ["pause"]
    page.keyboard.press("Tab")
    assert buttons(shown(page))["stop"]["focused"]
    page.keyboard.press("Enter")
    assert calls(page) == [["session.endSession"]]

    # A guest controls: it says who, offers Take back, and frames the viewport in its colour.
    page.mouse.click(800, 450)  # (the visitor clicks the page: the focus leaves the badge)
    s = badge(page, guests=2, controller=ANN)
    assert s["badge"]["controller"] == "Ann is controlling"
    assert [x["label"] for x in s["badge"]["buttons"]] == ["Take back", "Pause", "Stop"]
    assert s["frame"]["color"] == "rgb(22, 163, 74)" and s["frame"]["border"] == "4px"
    frame = [s["frame"][k] for k in ("left", "top", "width", "height")]
    assert frame == [0, 0, width, height]
    shot(page, browser_name, "indicator.png")
    click(page, buttons(s)["take-back"])
    assert calls(page) == [["control.revoke"]]
    s = badge(page, guests=2, controller=None)
    assert s["frame"] is None and s["badge"]["controller"] == ""
    assert "take-back" not in buttons(s)

    # Dark mode: a light pill (a dark one otherwise); print: not on paper.
    assert s["badge"]["background"] == "rgb(31, 35, 40)"
    if browser_name == "chromium":  # (Firefox ESR under Playwright ignores these emulations)
        page.emulate_media(color_scheme="dark")
        assert shown(page)["badge"]["background"] == "rgb(246, 248, 250)"
        page.emulate_media(color_scheme="light", media="print")
        assert shown(page)["badge"]["rect"]["width"] == 0
        page.emulate_media(media="screen")
    assert shown(page)["badge"]["rect"]["width"] > 100

    # The page's CSS hides it only on purpose: a stray rule does not, custom properties on
    # :root and ::part() rules restyle it.
    page.add_style_tag(
        content="cwmn-badge, [data-cwmn-overlay] { display: none !important; opacity: 0 "
        "!important; transform: scale(0) !important } button { display: none !important }"
    )
    s = shown(page)
    assert s["badge"]["rect"]["width"] > 100 and len(s["badge"]["buttons"]) == 2
    assert page.evaluate(f"getComputedStyle({HOST}).display") == "block"
    page.add_style_tag(
        content=":root { --cwmn-badge-bg: rgb(10, 20, 30); --cwmn-badge-fg: rgb(250, 240, 200);"
        " --cwmn-badge-bottom: 40px; --cwmn-badge-right: 50px; }"
        " cwmn-badge::part(stop) { background: rgb(0, 128, 0); }"
    )
    s = shown(page)
    b = s["badge"]
    assert (b["background"], b["color"]) == ("rgb(10, 20, 30)", "rgb(250, 240, 200)")
    assert abs(width - 50 - (b["rect"]["left"] + b["rect"]["width"])) <= 1
    assert abs(height - 40 - (b["rect"]["top"] + b["rect"]["height"])) <= 1
    assert buttons(s)["stop"]["background"] == "rgb(0, 128, 0)"

    # Dragged by its text to the top-left, it stays there.
    r = b["rect"]
    page.mouse.move(r["left"] + 30, r["top"] + r["height"] / 2)
    page.mouse.down()
    page.mouse.move(200, 150, steps=5)
    page.mouse.move(120, 100, steps=5)
    page.mouse.up()
    b = badge(page, guests=3)["badge"]
    assert b["corner"] == "top left"
    assert (round(b["rect"]["left"]), round(b["rect"]["top"])) == (50, 40)
    assert calls(page) == []

    # Not shown: the site's own UI (badge off), or no session; then it leaves the page.
    s = badge(page, badge=False)
    assert s == {"attached": False, "badge": None, "frame": None, "boxes": []}
    assert page.evaluate(HOST) is None
    badge(page)
    assert shown(page)["badge"] is not None
    assert badge(page, sharing=False)["attached"] is False
    # The page removing it (a single-page app replacing <html>'s children) does not hide it.
    badge(page)
    page.evaluate(f"{HOST}.remove()")
    page.wait_for_function(f"{HOST} !== null")
    assert shown(page)["badge"]["text"] == "Sharing this page · waiting for guests"
    assert page.evaluate("__cwmnLog.consoleErrors") == []


def box_of(page: Page, element_id: str) -> list[float]:
    return cast(
        list[float],
        page.evaluate(
            "(id) => { const r = document.getElementById(id).getBoundingClientRect();"
            " return [r.left, r.top, r.width, r.height]; }",
            element_id,
        ),
    )


def assert_covered(page: Page, boxes: list[dict[str, Any]], expected: dict[str, str]) -> None:
    assert {b["id"]: b["kind"] for b in boxes} == expected
    for b in boxes:
        drawn = [b["left"], b["top"], b["width"], b["height"]]
        assert all(abs(a - e) <= 1 for a, e in zip(drawn, box_of(page, b["id"]), strict=True)), (
            b,
            box_of(page, b["id"]),
        )
        label = "Blocked" if b["kind"] == "blocked" else "Hidden from guests"
        assert b["label"] == label


def test_the_masked_overlay_covers_what_guests_cannot_see(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    browser_name: str,
) -> None:
    page = open_checkout(open_page, customer_site, cwmn_server)
    # Capture runs meanwhile, with the same rules: it must never mirror the overlay.
    page.evaluate(
        """async ([url, rules]) => { window.frames_ = []; const m = await import(url);
        await m.start(rules, (kind, data) => frames_.push(JSON.stringify([kind, data]))); }""",
        [f"{cwmn_server.url}/assets/{BUILD.read_text().strip()}/capture.mjs", RULES],
    )
    # Out of a session too: the visitor checks what a guest would not see.
    s = badge(page, sharing=False, masked=True)
    assert s["attached"] and s["badge"] is None
    expected = {
        "support-chat": "blocked",
        "balance": "masked",
        "iban": "masked",
        "statement": "masked",  # and the field inside it, in its box
        "card": "secret",
        "cvc": "secret",
        "password": "secret",
    }  # not #token (hidden: no box), nor #name, #email, #note
    assert_covered(page, s["boxes"], expected)
    # The boxes take no pointer: the page's fields still do.
    assert page.evaluate("document.elementFromPoint(...(() => { const r ="
                         " document.getElementById('password').getBoundingClientRect();"
                         " return [r.left + 5, r.top + 5]; })()).id") == "password"  # fmt: skip
    shot(page, browser_name, "masked-overlay.png")

    # A scroll moves them with the page (the fixed chat widget stays).
    page.evaluate("window.scrollTo(0, 150)")
    page.evaluate(FRAMES)
    assert box_of(page, "balance")[1] < 150
    assert_covered(page, shown(page)["boxes"], expected)

    # The page changes: a new masked element, a class removed, a field hidden.
    page.evaluate(
        """() => { const p = document.createElement('p'); p.id = 'added'; p.className = 'private';
        p.textContent = 'New secret'; document.getElementById('form').append(p);
        document.getElementById('iban').classList.remove('private');
        document.getElementById('cvc').style.display = 'none'; }"""
    )
    page.evaluate(FRAMES)
    changed = {**expected, "added": "masked"}
    del changed["iban"], changed["cvc"]
    assert_covered(page, shown(page)["boxes"], changed)

    # Along with the badge; then bounded: at most 500 boxes, however many masked elements.
    s = badge(page, masked=True, guests=1)
    assert s["badge"]["text"] == "Sharing this page · 1 guest"
    assert_covered(page, s["boxes"], changed)
    page.evaluate(
        """() => { const d = document.createElement('div'); d.id = 'many';
        for (let i = 0; i < 800; i++) { const s = document.createElement('span');
          s.className = 'private'; s.style.cssText = 'display: inline-block; width: 4px;'
            + ' height: 4px; margin: 1px'; d.append(s); }
        document.getElementById('form').prepend(d); }"""
    )
    page.evaluate(FRAMES)
    assert len(shown(page)["boxes"]) == 500
    badge(page, masked=True, guests=1, controller=ANN)

    # What capture sent: the page's changes, never the badge, its frame or its boxes.
    page.wait_for_function("frames_.some(f => f.includes('many'))")
    sent = page.evaluate("frames_.join('\\n')")
    assert sent.startswith('["snapshot"') and "New secret" not in sent
    for ours in ("cwmn-badge", "Hidden from guests", "Blocked", "Sharing this page", "Ann"):
        assert ours not in sent

    # Off: the boxes go; with no badge either, the overlay leaves the page.
    s = badge(page, masked=False)
    assert s["boxes"] == [] and s["badge"] is not None
    s = badge(page, sharing=False, masked=False)
    assert s == {"attached": False, "badge": None, "frame": None, "boxes": []}
    assert page.evaluate(HOST) is None
    assert page.evaluate("__cwmnLog.consoleErrors") == []


def draw(page: Page, **fields: Any) -> None:
    message = {"op": "draw", "guestId": "g1", "name": "Ann", "color": "#16a34a", "stroke": 1,
               "tool": "pen", "points": [], "done": False, **fields}  # fmt: skip
    page.evaluate("(m) => cursors_.handle(m)", message)


def strokes(page: Page) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], page.evaluate("cursors_.debugState().strokes"))


def advance(page: Page, ms: int) -> None:
    page.clock.run_for(ms)


def until(page: Page, check: Callable[[], bool], what: str) -> None:
    """Move the page's clock on a frame at a time until ``check()``, for 5 s at most."""
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, f"waited in vain: {what}"
        advance(page, 16)


def test_guests_strokes_are_drawn_on_the_page_and_fade(
    open_page: Callable[..., Page],
    own_page: Page,
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    browser_name: str,
) -> None:
    page = open_checkout(open_page, customer_site, cwmn_server, clock=own_page)
    page.evaluate("window.scrollTo(0, 200)")
    # A pen stroke, in document coordinates, sent in two parts.
    draw(page, points=[100, 400, 300, 400])
    draw(page, points=[300, 600], done=True)
    advance(page, 20)
    (s,) = strokes(page)
    assert (s["guestId"], s["tool"], s["points"], s["done"]) == ("g1", "pen", 3, True)
    assert s["color"] == "#16a34a" and s["opacity"] == 1
    box = s["box"]  # (100, 400)-(300, 600) on the page, scrolled by 200
    assert abs(box["left"] - 100) <= 3 and abs(box["top"] - 200) <= 3, box
    assert abs(box["width"] - 200) <= 5 and abs(box["height"] - 200) <= 5, box
    assert near(pixel(page, 200, 200), (22, 163, 74))  # on the line, in Ann's colour
    assert page.evaluate("document.elementFromPoint(200, 200).tagName") != "CWMN-OVERLAY"
    # The page scrolls: the stroke stays on the same spot of the page.
    page.evaluate("window.scrollTo(0, 300)")
    # The browser delivers the scroll event on a real frame; the page's own frames are on
    # the fake clock.
    until(page, lambda: abs(strokes(page)[0]["box"]["top"] - 100) <= 3, "the stroke moved")
    assert near(pixel(page, 200, 100), (22, 163, 74))

    # A laser beside it: a trail whose points fade a second after they came.
    draw(page, stroke="L", tool="laser", points=[500, 400, 520, 410, 540, 420])
    advance(page, 600)
    draw(page, stroke="L", tool="laser", points=[560, 430, 580, 440])
    advance(page, 20)
    laser = next(x for x in strokes(page) if x["tool"] == "laser")
    assert (laser["points"], laser["segments"]) == (5, 4)
    assert near(pixel(page, 570, 135), (255, 45, 45), by=70)  # red, on the newest segment
    advance(page, 500)  # the first three points have had their second
    laser = next(x for x in strokes(page) if x["tool"] == "laser")
    assert (laser["points"], laser["segments"]) == (2, 1)

    # The pen holds ~2.4 s after its end, then fades, gone at 3 s.
    pen = next(x for x in strokes(page) if x["tool"] == "pen")
    assert pen["opacity"] == 1
    advance(page, 1_400)  # 2.54 s after its end
    pen = next(x for x in strokes(page) if x["tool"] == "pen")
    assert 0 < pen["opacity"] < 1
    advance(page, 500)
    assert strokes(page) == []  # the laser went too (its last point: 1.9 s ago)
    state = page.evaluate("cursors_.debugState()")
    assert state == {"attached": False, "cursors": [], "ripples": 0, "strokes": []}
    assert page.evaluate("document.querySelector('cwmn-overlay')") is None

    # 'draw clear' takes one guest's strokes away at once, not the others'.
    draw(page, stroke=1, points=[10, 400, 20, 410])
    draw(page, stroke=2, points=[10, 420, 20, 430])
    draw(page, guestId="g2", color="#2563eb", stroke=1, points=[30, 400, 40, 420])
    assert len(strokes(page)) == 3
    page.evaluate("cursors_.handle({op: 'draw clear', guestId: 'g1'})")
    assert [x["guestId"] for x in strokes(page)] == ["g2"]

    # A flood: at most 20 live strokes a guest (the newest), 2,000 points a stroke (the newest).
    page.evaluate(
        """() => { for (let i = 0; i < 50; i++) cursors_.handle({op: 'draw', guestId: 'g3',
          color: 'red', stroke: 's' + i, tool: i % 2 ? 'laser' : 'pen',
          points: [i, 400, i + 5, 405], done: true});
        const big = []; for (let i = 0; i < 3000; i++) big.push(i % 1000, 300 + i);
        for (let i = 0; i < big.length; i += 128) cursors_.handle({op: 'draw', guestId: 'g2',
          color: 'blue', stroke: 'big', tool: 'pen', points: big.slice(i, i + 128)});
        cursors_.handle({op: 'draw', guestId: 'g2', stroke: 'bad', tool: 'pen',
          points: [1, 'x', NaN, 2, Infinity, 3, 1e12, 4]}); }"""
    )
    live = strokes(page)
    g3 = [x["stroke"] for x in live if x["guestId"] == "g3"]
    assert g3 == [f"s{i}" for i in range(30, 50)]
    (big,) = [x for x in live if x["stroke"] == "big"]
    assert big["points"] == 2000
    assert not [x for x in live if x["stroke"] == "bad"]  # no valid point: nothing drawn
    advance(page, 3_100)
    assert strokes(page) == []
    assert page.evaluate("document.querySelector('cwmn-overlay')") is None
    assert page.evaluate("__cwmnLog.consoleErrors") == []
    if SHOTS and browser_name == "chromium":
        drawing_shot(page)  # after the assertions: it changes what is drawn


def drawing_shot(page: Page) -> None:
    """docs/images/drawing-host.png: Ann circles the Pay button and points at the card
    number with the laser, her pointer at the end of the trail."""
    page.evaluate("window.scrollTo(0, 0)")
    pay = box_of(page, "pay")
    cx, cy = pay[0] + pay[2] / 2, pay[1] + pay[3] / 2
    rx, ry = pay[2] / 2 + 22, pay[3] / 2 + 16
    ring: list[float] = []
    for i in range(41):
        a = 6.6 * i / 40 - 1.8
        ring += [round(cx + rx * math.cos(a), 1), round(cy + ry * math.sin(a), 1)]
    draw(page, stroke="ring", points=ring, done=True)
    card = box_of(page, "card")
    x0, y0 = card[0] + card[2] + 90, card[1] + card[3] + 70
    trail: list[float] = []
    for i in range(12):
        trail = [round(x0 - 8 * i, 1), round(y0 - 6 * i + 2 * math.sin(i), 1)]
        draw(page, stroke="dot", tool="laser", points=trail)
        advance(page, 40)
    page.evaluate(
        "(c) => cursors_.handle({op: 'cursors', cursors: [c]})",
        {"id": "g1", "name": "Ann", "color": "#16a34a", "x": trail[0] + 4, "y": trail[1] + 4},
    )
    advance(page, 200)
    shot(page, "chromium", "drawing-host.png")
