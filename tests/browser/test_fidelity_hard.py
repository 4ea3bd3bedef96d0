"""Fidelity on hard pages written for the tests (tests/fixtures/hard, one feature each): a
signed-in host tours them in one session (a page change per page, the guest follows) and the
host's and guest's screenshots are compared per page. The figures are printed (run with -s)
and must stay above test_fidelity's THRESHOLD. The guest's browser has no cookie of the site.

One host context and one guest context per browser (module-scoped ``tour``): the tests run in
PAGES' order and each moves the host to its page."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize

from cwmn_web.testing import CwmnServer, PageServer
from cwmn_web.testing.recorder import recorder_script
from cwmn_web.testing.servers import PRIVATE_COOKIE

from .conftest import wait_state
from .test_embed import START, settle
from .test_fidelity import ARTIFACTS, HOST_VIEWPORT, THRESHOLD, similarity
from .test_indicator import NO_BADGE

pytestmark = pytest.mark.timeout(240)

HARD = Path(__file__).parents[1] / "fixtures" / "hard"
#: The pages in tour order (file name without ``.html``); README.md there says what each has.
PAGES = [
    "shadow",
    "adopted",
    "frame",
    "dialog",
    "popover",
    "animation",
    "sticky",
    "scroller",
    "private-img",
    "private-picture",
    "private-css",
    "private-font",
    "private-sprite",
    "private-poster",
    "canvas-2d",
    "canvas-webgl",
]
#: What the host does on a page before the comparison (in its page), and what the guest's
#: frame document must show before it is compared (a condition on ``doc``).
HOST_ACTIONS = {
    "sticky": (
        "scrollTo(0, 900)",
        "doc.defaultView.scrollY === 900",
    ),
    "scroller": (
        "(() => { const s = document.getElementById('scroller');"
        " s.scrollTop = 250; s.scrollLeft = 420;"
        " document.getElementById('list').scrollTop = 300; })()",
        "doc.getElementById('scroller').scrollTop === 250"
        " && doc.getElementById('scroller').scrollLeft === 420"
        " && doc.getElementById('list').scrollTop === 300",
    ),
}
#: The guest's frame document is ready: the page's marker, images decoded, fonts in.
GUEST_READY = """([name, extra]) => {
    const frame = document.querySelector('iframe.cwmn-frame');
    const doc = frame && frame.contentDocument;
    if (!doc || doc.documentElement.dataset.ready !== name) return false;
    if (doc.fonts.status !== 'loaded') return false;
    if (![...doc.images].every(img => img.complete)) return false;
    return new Function('doc', 'return ' + extra)(doc);
}"""
#: Seconds a guest's page may take, once ready, to show what the host's shows (above the
#: asset store's wait for an upload, CWMN_ASSET_WAIT_SECONDS, 10 s by default).
GUEST_DEADLINE = 15
#: Every image of the host's page loaded (else it would be compared broken with broken).
HOST_IMAGES = "[...document.images].every(img => img.complete && img.naturalWidth > 0)"


@dataclass
class Tour:
    host: Page
    guest: Page
    site: PageServer


@pytest.fixture(scope="module")
def hard_site(cwmn_server: CwmnServer) -> Iterator[PageServer]:
    with PageServer(HARD, lambda: cwmn_server.url).running() as site:
        yield site


@pytest.fixture(scope="module")
def tour(browser: Browser, hard_site: PageServer) -> Iterator[Tour]:
    """A signed-in host sharing the first page, and a guest (no cookie) watching it."""
    host_ctx = browser.new_context(viewport=HOST_VIEWPORT)
    guest_ctx = browser.new_context(viewport=ViewportSize(width=1000, height=700))
    try:
        host_ctx.add_init_script(recorder_script())
        host = host_ctx.new_page()
        host.goto(hard_site.url(f"login?next=/{PAGES[0]}.html", hostname="localhost"))
        site_cookies = host_ctx.cookies(hard_site.url(hostname="localhost"))
        assert [c["name"] for c in site_cookies] == [PRIVATE_COOKIE[0]]
        wait_state(host, "no session")
        # The page as its visitor sees it, without CWMN's badge (never shown to guests).
        assert settle(host, NO_BADGE)["ok"]
        assert settle(host, START)["ok"]
        link = settle(host, "CwmnAPI.guest.getInviteLink()")["value"]
        guest = guest_ctx.new_page()
        guest.goto(f"{link}?name=Checker")
        yield Tour(host, guest, hard_site)
        assert settle(host, "CwmnAPI.session.endSession()")["ok"]
        assert guest_ctx.cookies(hard_site.url(hostname="localhost")) == []
    finally:
        host_ctx.close()
        guest_ctx.close()


def steady(shoot: Callable[[], bytes], tries: int = 30) -> bytes:
    """A screenshot once two in a row are the same (animations, late paints ended)."""
    last = shoot()
    for _ in range(tries):
        shot = shoot()
        if shot == last:
            return shot
        last = shot
    return last


def visit(tour: Tour, name: str) -> None:
    """The host on page ``name`` (ready, in session) and the guest seeing it ready."""
    host, guest = tour.host, tour.guest
    url = tour.site.url(f"{name}.html", hostname="localhost")
    if host.url != url:
        host.goto(url)
    host.wait_for_function("n => document.documentElement.dataset.ready === n", arg=name)
    host.wait_for_function(HOST_IMAGES)
    wait_state(host, "in session")
    action, guest_condition = HOST_ACTIONS.get(name, ("null", "true"))
    host.evaluate(action)
    guest.wait_for_function(GUEST_READY, arg=[name, guest_condition], timeout=60_000)


def converged(host_shot: bytes, shoot: Callable[[], bytes]) -> tuple[float, bytes]:
    """The guest's steady screenshot and its similarity to ``host_shot``, once that reaches
    THRESHOLD or GUEST_DEADLINE passed: what the guest's page still loads (a stylesheet, a
    CSS background, an asset the host is uploading) shows within it."""
    deadline = time.monotonic() + GUEST_DEADLINE
    while True:
        shot = steady(shoot)
        score = similarity(host_shot, shot)
        if score >= THRESHOLD or time.monotonic() > deadline:
            return score, shot


@pytest.mark.parametrize("name", PAGES)
def test_guest_sees_the_hard_page_as_the_host(
    tour: Tour, name: str, browser_name: str, tmp_path: Path
) -> None:
    host, guest = tour.host, tour.guest
    visit(tour, name)
    # Both browsers have WebGL here (cwmn_web.testing.launch_args): blank against blank
    # would prove nothing.
    assert host.evaluate("document.documentElement.dataset.webgl") != "none", browser_name
    shot_host = steady(host.screenshot)
    score, shot_guest = converged(shot_host, guest.locator("iframe.cwmn-frame").screenshot)
    if ARTIFACTS:
        (ARTIFACTS / f"hard-{browser_name}-{name}-host.png").write_bytes(shot_host)
        (ARTIFACTS / f"hard-{browser_name}-{name}-guest.png").write_bytes(shot_guest)
    print(f"\nfidelity-hard {browser_name} {name}: {score:.4f}")
    if score < THRESHOLD:  # kept for a look
        (tmp_path / "host.png").write_bytes(shot_host)
        (tmp_path / "guest.png").write_bytes(shot_guest)
    assert score >= THRESHOLD, (name, score, str(tmp_path))


#: Changes after the page's snapshot: (page, what the host's page does, what the guest's
#: frame document ``doc`` then shows).
LIVE = [
    ("dialog", "document.getElementById('modal').close()", "!doc.getElementById('modal').open"),
    (
        "dialog",
        "document.getElementById('modal').showModal()",
        "doc.getElementById('modal').matches(':modal')",
    ),
    (  # a frame that was not readable (another origin) ...
        "frame",
        "(() => { const frame = document.createElement('iframe'); frame.id = 'late';"
        " frame.src = location.href.replace('localhost', '127.0.0.1')"
        ".replace('frame.html', 'frame-inner.html'); document.body.append(frame);"
        " return new Promise((done) => { frame.onload = () => done(true); }); })()",
        "doc.getElementById('late') !== null",
    ),
    (  # ... read so in a fresh snapshot (host privacy on and off) ...
        "frame",
        "CwmnAPI.privacy.setEnabled(true).then(() => {"
        " document.documentElement.dataset.mark = 'fresh';"
        " return CwmnAPI.privacy.setEnabled(false); }).then(() => true)",
        "doc.documentElement.dataset.mark === 'fresh'",
    ),
    (  # ... shows once it loads a document of the page's origin
        "frame",
        "(() => { const frame = document.getElementById('late'); frame.src = 'frame-inner.html';"
        " return new Promise((done) => { frame.onload = () => done(true); }); })()",
        "!!(doc.getElementById('late').shadowRoot"
        " && doc.getElementById('late').shadowRoot.querySelector('.grid'))",
    ),
    (
        "popover",
        "document.getElementById('tip').hidePopover()",
        "!doc.getElementById('tip').matches(':popover-open')",
    ),
    (
        "popover",
        "document.getElementById('tip').showPopover()",
        "doc.getElementById('tip').matches(':popover-open')",
    ),
    (
        "adopted",
        "document.adoptedStyleSheets = []",
        "getComputedStyle(doc.querySelector('.doc-styled')).paddingTop === '0px'",
    ),
    (
        "adopted",
        "(() => { const sheet = new CSSStyleSheet(); sheet.replaceSync('.frame { padding: 7px }');"
        " document.querySelector('adopted-panel').shadowRoot.adoptedStyleSheets = [sheet]; })()",
        "getComputedStyle(doc.querySelector('adopted-panel').shadowRoot.querySelector('.frame'))"
        ".paddingTop === '7px'",
    ),
    (
        "animation",
        "document.getElementById('css').animate([{opacity: 1}, {opacity: 0.5}],"
        " {duration: 50, fill: 'forwards'}).finished.then(() => true)",
        "getComputedStyle(doc.getElementById('css')).opacity === '0.5'",
    ),
]
IN_FRAME = """condition => {
    const doc = document.querySelector('iframe.cwmn-frame').contentDocument;
    return new Function('doc', 'return ' + condition)(doc);
}"""


def test_top_layer_sheets_animations_and_frames_follow_the_host_live(tour: Tour) -> None:
    for name, change, shown in LIVE:
        visit(tour, name)
        tour.host.evaluate(change)
        tour.guest.wait_for_function(IN_FRAME, arg=shown, timeout=10_000)
