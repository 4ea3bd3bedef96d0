"""The guest's tools in real browsers (extensions, docs/control/viewer.md): the real viewer
and its worker (Pyodide) against a scripted guest endpoint (a real WebSocket), which plays
the server and the host: it grants control, refuses an input, relays another guest's
drawing, takes control back and mutes. What the viewer sends is checked message by message,
in the host's document coordinates of a scaled stage over a scrolled page."""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    ControlChanged,
    ControlInput,
    ControlRefused,
    Draw,
    GuestDraw,
    GuestPointer,
    Hello,
    Joined,
    Message,
    MirrorFrame,
    Muted,
    PointerClick,
    PointerMove,
    RequestControl,
    Welcome,
)
from cwmn_web.testing import PageServer
from tests.unit.test_viewer_sanitize import html_records, page

from .test_viewer_worker import FakeGuestEndpoint, expect, push

pytestmark = pytest.mark.timeout(240)
IMAGES = Path(__file__).parents[2] / "docs" / "images"
#: A checkout form, tall enough to scroll (the host's page as the guest sees it).
CHECKOUT = page(
    '<div style="font: 16px/1.5 system-ui, sans-serif; margin: 0; padding: 40px 60px;'
    ' background: #f8fafc; color: #0f172a; height: 2600px">'
    '<h1 id="title" style="margin: 0 0 8px">Checkout</h1>'
    '<p style="color: #475569">Step 2 of 3 \u2014 delivery address</p>'
    + "".join(
        f'<label style="display: block; margin-top: 18px; font-weight: 600">{label}'
        f'<input value="{value}" style="display: block; width: 520px; margin-top: 6px;'
        ' padding: 10px 12px; font: inherit; border: 1px solid #94a3b8; border-radius: 8px">'
        "</label>"
        for label, value in (
            ("Full name", "Ada Lovelace"),
            ("Street", "12 St James\u2019s Square"),
            ("City", ""),
            ("Postcode", ""),
        )
    )
    + '<button style="margin-top: 28px; padding: 12px 28px; font: 600 16px system-ui;'
    ' color: #fff; background: #2563eb; border: 0; border-radius: 8px">Continue</button>'
    "</div>"
)
SNAPSHOT = {
    "nodes": html_records(CHECKOUT),
    "url": "https://shop.example.com/checkout",
    "title": "Checkout",
    "viewport": [1280, 960],  # half size in the harness's 640 by 480 stage
    "scroll": [0, 0],
    "adopted": [],
}
ANN = "#9333ea"
#: The last point of the long stroke below, in the stage's px from the screen's corner.
LAST_POINT = "[10 + 1899 % 200, 10 + Math.floor(1899 / 200)]"


class Host:
    """The scripted server and host for one guest connection: what the guest sent, in
    order, and pushes at any time."""

    def __init__(self) -> None:
        self.came: queue.Queue[Message] = queue.Queue()
        self.conn: ServerConnection | None = None
        self.ready = threading.Event()

    def script(self, conn: ServerConnection) -> None:
        assert expect(conn) == Hello(ref=1, role="guest")
        expect(conn)  # join
        self.conn = conn
        joined = Joined(ref=2, guest_id="g1", session_id="s1", host_name="Hal", color=ANN)
        push(
            conn,
            Welcome(ref=1),
            joined,
            MirrorFrame(seq=1, kind="snapshot", data=SNAPSHOT),
            MirrorFrame(seq=2, kind="scroll", data={"id": 0, "x": 0, "y": 200}),
        )
        self.ready.set()
        with contextlib.suppress(ConnectionClosed):
            while True:
                self.came.put(codec.decode(str(conn.recv())))

    def push(self, *messages: Message) -> None:
        assert self.conn is not None
        push(self.conn, *messages)

    def take(self, kinds: tuple[type[Message], ...], until: Callable[[Any], bool]) -> list[Any]:
        """Messages of ``kinds`` the guest sends until one that ``until`` accepts."""
        out: list[Message] = []
        deadline = time.monotonic() + 30
        while True:
            message = self.came.get(timeout=max(0.1, deadline - time.monotonic()))
            if isinstance(message, kinds):
                out.append(message)
                if until(message):
                    return out

    def quiet(self, kinds: tuple[type[Message], ...], seconds: float) -> list[Any]:
        """Messages of ``kinds`` the guest sends within ``seconds``."""
        out: list[Message] = []
        deadline = time.monotonic() + seconds
        with contextlib.suppress(queue.Empty):
            while (left := deadline - time.monotonic()) > 0:
                message = self.came.get(timeout=left)
                if isinstance(message, kinds):
                    out.append(message)
        return out


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeGuestEndpoint]:
    fake = FakeGuestEndpoint()
    yield fake
    fake.server.shutdown()


def wait(tab: Page, expression: str, arg: Any = None) -> None:
    """Poll ``expression`` (not with the page's own timers: the page's clock may be fake)."""
    deadline = time.monotonic() + 30
    while not tab.evaluate(expression, arg):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        tab.wait_for_timeout(50)


def screen_point(tab: Page, x: float, y: float) -> tuple[float, float]:
    """The point of this page over host document point (x, y) (scale 0.5, scrolled 200)."""
    left, top = tab.evaluate(
        "() => { const r = viewer.screen.getBoundingClientRect(); return [r.left, r.top]; }"
    )
    return left + x / 2, top + (y - 200) / 2


def run_until(tab: Page, expression: str) -> None:
    """Let the page's (fake, paused) clock run until ``expression`` holds."""
    for _ in range(100):
        if tab.evaluate(expression):
            return
        tab.clock.run_for(100)
    raise AssertionError(f"never true on the page's clock: {expression}")


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    """A page whose clock is Playwright's from the start (flowing until paused), in a
    context of its own: the clock is the whole context's."""
    context = browser.new_context()
    opened = context.new_page()
    opened.clock.install()
    yield opened
    context.close()


def test_the_guest_asks_controls_is_refused_draws_sees_drawing_and_loses_control(
    tab: Page,
    customer_site: PageServer,
    endpoint: FakeGuestEndpoint,
    browser_name: str,
) -> None:
    host = Host()
    endpoint.scripts.put(host.script)
    tab.goto(customer_site.url(f"viewer-worker.html?ws={endpoint.url}&token=tok-tools"))
    assert host.ready.wait(90)
    endpoint.wait(tab, "() => viewer.mirror && viewer.scrolled()[1] === 200 && viewer.tools")
    control = tab.locator(".cwmn-tool-control")
    toolbar = tab.get_by_role("toolbar", name="Guest tools")
    assert toolbar.is_visible()
    assert control.text_content() == "Request control"
    assert control.get_attribute("aria-pressed") == "false"

    # -- asking: the request goes out, the button waits for the visitor
    control.click()
    host.take((RequestControl,), lambda m: True)
    wait(tab, "() => document.querySelector('.cwmn-tool-control').textContent.startsWith('Wait')")
    assert control.text_content() == "Waiting for the visitor\u2026"
    assert control.get_attribute("aria-pressed") == "true"

    # -- granted: the frame, the note, and the button to stop
    host.push(ControlChanged(guest_id="g1", name="Ann"))
    wait(tab, "() => viewer.stage.dataset.control === 'you'")
    assert control.text_content() == "Stop controlling"
    assert tab.locator(".cwmn-control-note").text_content() == "You control the page"
    frame = tab.evaluate("getComputedStyle(viewer.screen, '::after').borderTopColor")
    assert frame == "rgb(147, 51, 234)"  # Ann's colour
    if browser_name == "chromium":
        tab.locator("#stage").screenshot(path=IMAGES / "viewer-toolbar.png")

    # -- a click on the field "City" at host (260, 420): the scaled, scrolled stage's point
    x, y = screen_point(tab, 260, 420)
    tab.mouse.click(x, y)
    came = host.take((ControlInput, PointerClick), lambda m: isinstance(m, ControlInput))
    click = came.pop()
    assert (click.kind, click.x, click.y) == ("click", 260, 420)
    # the ordinary click goes too, first (the host and guests see the ripple)
    assert came == [PointerClick(x=260, y=420)]

    # -- typing: text (coalesced, in order) then named keys, the viewer page untouched
    tab.keyboard.type("Bath")
    tab.keyboard.press("Shift+Tab")
    typed = host.take((ControlInput,), lambda m: m.kind == "key")
    assert "".join(m.text for m in typed if m.kind == "text") == "Bath"
    assert [(m.kind, m.key, m.mods) for m in typed if m.kind != "text"] == [("key", "Tab", 1)]
    assert tab.evaluate("document.activeElement === document.body")  # Tab stayed here

    # -- the wheel: host CSS px (the stage is at half size: 60 px here are 120 there)
    tab.mouse.move(x, y)
    tab.mouse.wheel(0, 60)
    scrolls = host.take((ControlInput,), lambda m: m.kind == "scroll")
    assert [(m.kind, round(m.x), round(m.y)) for m in scrolls] == [("scroll", 260, 420)]
    more = host.quiet((ControlInput,), 0.3)
    assert sum(m.dy for m in scrolls + more) == pytest.approx(120)
    assert all(m.kind == "scroll" and m.dx == 0 for m in more)

    # -- a double click is two clicks then a dblclick, as a browser sends them (Playwright's
    # Firefox sends two single clicks, detail 1 both: there the two clicks only)
    tab.mouse.dblclick(x, y)
    double = browser_name == "chromium"
    count = iter(range(1, 100))
    clicks = host.take(
        (ControlInput,), lambda m: (next(count) == 2 and not double) or m.kind == "dblclick"
    )
    kinds = ["click", "click", "dblclick"] if double else ["click", "click"]
    assert [(m.kind, m.x, m.y) for m in clicks] == [(k, 260, 420) for k in kinds]

    # -- a paste is text. Firefox: copied from a field of the viewer's page (its keys are its
    # own) and pasted over the stage with the keys; headless Chromium has no clipboard for
    # keys, but takes a paste event's data
    if browser_name == "firefox":
        tab.evaluate(
            """() => { const area = document.createElement('textarea');
                area.id = 'copy'; area.value = 'Flat 2\\nBath'; document.body.append(area);
                area.focus(); area.select(); }"""
        )
        tab.keyboard.press("Control+C")
        tab.evaluate("document.getElementById('copy').remove()")  # the focus: the body again
        tab.keyboard.press("Control+V")
    else:
        tab.evaluate(
            """() => { const data = new DataTransfer(); data.setData('text/plain', 'Flat 2\\nBath');
                document.body.dispatchEvent(new ClipboardEvent('paste',
                    {clipboardData: data, bubbles: true, cancelable: true})); }"""
        )
    (pasted,) = host.take((ControlInput,), lambda m: True)
    assert (pasted.kind, pasted.text) == ("text", "Flat 2\nBath")
    assert host.quiet((ControlInput,), 0.3) == []  # the copy's keys went nowhere

    # -- the host's page refuses an input: a notice in plain words, for a while
    host.push(ControlRefused(guest_id="g1", code="control_refused", message="password"))
    notice = tab.get_by_role("status").filter(has_text="private")
    notice.wait_for()
    assert notice.text_content() == "That part of the page is private: your input was not applied."

    # -- drawing: the pen's stroke goes out in document coordinates, clicks do not
    tab.get_by_role("button", name="Draw").click()
    assert tab.get_by_role("button", name="Draw").get_attribute("aria-pressed") == "true"
    start, end = screen_point(tab, 600, 300), screen_point(tab, 900, 420)
    tab.mouse.move(*start)
    tab.mouse.down()
    tab.mouse.move(*end, steps=12)
    tab.mouse.up()
    drawn = host.take((Draw, ControlInput), lambda m: isinstance(m, Draw) and m.done)
    assert all(isinstance(m, Draw) for m in drawn), drawn  # no control click while drawing
    points = [v for m in drawn for v in m.points]
    assert {(m.stroke, m.tool) for m in drawn} == {(drawn[0].stroke, "pen")}
    assert points[:2] == [600, 300] and points[-2:] == [900, 420]
    assert len(drawn) < 12  # the moves were coalesced
    own = tab.evaluate("viewer.tools.debugState()")
    assert [(s["tool"], s["done"]) for s in own] == [("pen", True)]

    # -- a very long stroke goes on as a new one before the server's limit per stroke
    last = [v * 2 + o for v, o in zip(tab.evaluate(LAST_POINT), (0, 200), strict=True)]
    tab.evaluate(
        """() => { const r = viewer.screen.getBoundingClientRect(), shield = viewer.shield;
            const at = (i) => ({pointerId: 7, button: 0, bubbles: true,
                clientX: r.left + 10 + (i % 200), clientY: r.top + 10 + Math.floor(i / 200)});
            shield.dispatchEvent(new PointerEvent('pointerdown', at(0)));
            for (let i = 1; i < 1900; i++) {
                shield.dispatchEvent(new PointerEvent('pointermove', at(i)));
            }
            shield.dispatchEvent(new PointerEvent('pointerup', at(1899))); }"""
    )
    long = host.take((Draw,), lambda m: m.done and m.points[-2:] == last)
    first, second = [m for m in long if m.done]
    assert [m.stroke for m in long if m.done] == [first.stroke, second.stroke]
    first_numbers = sum(len(m.points) for m in long if m.stroke == first.stroke)
    assert first_numbers == 2 * 1801 and max(len(m.points) for m in long) <= 128
    # the second goes on from where the first ended, to the last point
    second_points = [v for m in long if m.stroke == second.stroke for v in m.points]
    assert second_points[:2] == first.points[-2:] and len(second_points) == 2 * 101

    # -- another guest's stroke and laser: drawn over the page, then faded (the page's clock)
    tab.clock.pause_at(tab.evaluate("Date.now()") + 1_000)
    run_until(tab, "viewer.tools.debugState().length === 0")  # ours is gone 3 s after done
    bo: dict[str, Any] = {"guest_id": "g2", "name": "Bo", "color": "#16a34a"}
    host.push(
        GuestDraw(**bo, stroke="p1", tool="pen", points=[100, 500, 300, 560], done=True),
        GuestDraw(**bo, stroke="l1", tool="laser", points=[400, 600, 420, 610]),
    )
    wait(tab, "() => viewer.tools.debugState().length === 2")
    drawing = tab.evaluate(
        """() => [...viewer.tools.group.querySelectorAll('.cwmn-stroke')].map((g) => [
            g.dataset.key, g.querySelector('polyline').getAttribute('points'),
            getComputedStyle(g.querySelector('polyline')).stroke])"""
    )
    assert drawing == [
        ["g2/p1", "100,500 300,560", "rgb(22, 163, 74)"],
        ["g2/l1", "400,600 420,610", "rgb(22, 163, 74)"],
    ]
    # The layer follows the stage's scale and the host page's scroll.
    transform = tab.evaluate("viewer.tools.group.getAttribute('transform')")
    assert transform == "scale(0.5) translate(0 -200)"
    first = tab.evaluate(
        "() => viewer.tools.group.querySelector('polyline').getBoundingClientRect().left"
    )
    assert abs(first - screen_point(tab, 100, 0)[0]) < 4  # stroke width aside
    if browser_name == "chromium":
        # Bo rings the button "Continue" and points at it.
        cx, cy, w, h = tab.evaluate(
            """() => { const doc = viewer.iframe.contentDocument;
                const r = doc.querySelector('button').getBoundingClientRect();
                return [r.left + r.width / 2, r.top + r.height / 2 + doc.defaultView.scrollY,
                        r.width, r.height]; }"""
        )
        turn = [n / 32 * 2.15 * math.pi for n in range(33)]
        ring = [v for a in turn for v in (cx + w * math.cos(a), cy + h * 1.2 * math.sin(a))]
        host.push(
            GuestDraw(**bo, stroke="p2", points=ring[:64]),
            GuestDraw(**bo, stroke="p2", points=ring[64:], done=True),
            GuestPointer(guest_id="g2", name="Bo", color="#16a34a", x=cx + w, y=cy + h),
        )
        wait(tab, "() => viewer.tools.debugState().length === 3")
        tab.locator("#stage").screenshot(path=IMAGES / "viewer-drawing.png")
    tab.clock.run_for(1_200)  # the laser's points are a second old: gone
    state = {s["key"]: s for s in tab.evaluate("viewer.tools.debugState()")}
    assert "g2/l1" not in state and state["g2/p1"]["opacity"] == 1
    tab.clock.run_for(1_300)  # 2.5 s after the pen's end: fading
    state = {s["key"]: s for s in tab.evaluate("viewer.tools.debugState()")}
    assert 0 < state["g2/p1"]["opacity"] < 1
    tab.clock.run_for(600)  # 3.1 s: gone
    assert tab.evaluate("viewer.tools.debugState()") == []

    # -- one guest's flood of new strokes never hides another's: 20 live strokes a guest
    flooder: dict[str, Any] = {"guest_id": "g3", "name": "Cy", "color": "#0891b2"}
    host.push(
        *(
            GuestDraw(**flooder, stroke=f"f{i}", points=[10, 300 + i, 20, 300 + i])
            for i in range(205)
        ),
        GuestDraw(**bo, stroke="p3", points=[100, 500, 300, 560], done=True),
    )
    wait(tab, "() => viewer.tools.debugState().some((s) => s.key === 'g2/p3')")
    keys = [s["key"] for s in tab.evaluate("viewer.tools.debugState()")]
    assert keys == [f"g3/f{i}" for i in range(185, 205)] + ["g2/p3"]
    tab.clock.run_for(13_100)  # the flood's strokes never ended: stale after 10 s, then gone
    assert tab.evaluate("viewer.tools.debugState()") == []
    tab.get_by_role("button", name="Draw").click()
    assert tab.get_by_role("button", name="Draw").get_attribute("aria-pressed") == "false"

    # -- control taken back: nothing more goes out, the button asks again
    host.push(ControlChanged(guest_id="", name=""))
    wait(tab, "() => viewer.stage.dataset.control === ''")
    assert control.text_content() == "Request control"
    assert tab.locator(".cwmn-control-note").is_hidden()
    tab.keyboard.type("xyz")
    tab.mouse.click(x, y)
    assert host.quiet((ControlInput,), 0.5) == []

    # -- the host's page refuses control for the session: no button, a note says so
    host.push(ControlChanged(guest_id="", name="", allowed=False))
    wait(tab, "() => document.querySelector('.cwmn-tool-control').hidden")
    note = tab.locator(".cwmn-control-note").text_content()
    assert note == "The visitor\u2019s page does not allow remote control"

    # -- muted: no tools, no drawing
    host.push(Muted(muted=True))
    wait(tab, "() => document.querySelector('.cwmn-tool-pen').disabled")
    assert control.is_disabled() and tab.locator(".cwmn-tool-laser").is_disabled()
    tab.mouse.move(*start)
    tab.mouse.down()
    tab.mouse.move(*end, steps=4)
    tab.mouse.up()
    assert host.quiet((Draw, PointerMove), 0.5) == []
