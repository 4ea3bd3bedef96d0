"""Fidelity: real pages we did not write (tests/fixtures/sites), host and guest screenshots
compared at the same viewport, at the top and after scrolling. The similarity figures are
printed (run with -s) and must stay above THRESHOLD."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Browser, Page, ViewportSize

from cwmn_web.testing import CwmnServer, PageServer
from cwmn_web.testing.recorder import recorder_script

from .conftest import wait_state
from .test_embed import START, settle
from .test_indicator import NO_BADGE

SITES = Path(__file__).parents[1] / "fixtures" / "sites"
HOST_VIEWPORT = ViewportSize(width=900, height=600)
THRESHOLD = 0.97
#: Set CWMN_FIDELITY_SHOTS=folder to keep the screenshots for a look.
ARTIFACTS = (
    Path(os.environ["CWMN_FIDELITY_SHOTS"]) if os.environ.get("CWMN_FIDELITY_SHOTS") else None
)
PAGES = [
    ("sqlite/index.html", "h1, p"),
    ("sqlite/datatype3.html", "table"),
    ("sqlite/lang_expr.html", "svg"),
    ("python/library/functions.html", "h1"),
]


@pytest.fixture(scope="module")
def real_site(cwmn_server: CwmnServer) -> Iterator[PageServer]:
    with PageServer(SITES, lambda: cwmn_server.url).running() as site:
        yield site


def similarity(a: bytes, b: bytes) -> float:
    """Share of pixels whose channels all differ by at most 24 (of 255)."""
    first = Image.open(io.BytesIO(a)).convert("RGB")
    second = Image.open(io.BytesIO(b)).convert("RGB")
    assert first.size == second.size, (first.size, second.size)
    # Each channel's difference, the worst of the three (a luminance of the difference would
    # call cream and white the same: 15 of 255, though blue differs by 45).
    red, green, blue = ImageChops.difference(first, second).split()
    worst = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    changed = worst.point(lambda v: 255 if v > 24 else 0).histogram()[255]
    return 1 - changed / (first.size[0] * first.size[1])


def settled(page: Page) -> None:
    page.wait_for_load_state("load")
    page.evaluate("document.fonts ? document.fonts.ready.then(() => true) : true")
    page.wait_for_timeout(400)


@pytest.mark.parametrize(("path", "content"), PAGES)
def test_guest_sees_what_the_host_sees(
    browser: Browser, real_site: PageServer, path: str, content: str, browser_name: str
) -> None:
    host_ctx = browser.new_context(viewport=HOST_VIEWPORT)
    guest_ctx = browser.new_context(viewport=ViewportSize(width=1000, height=700))
    try:
        host_ctx.add_init_script(recorder_script())
        host = host_ctx.new_page()
        host.goto(real_site.url(path, hostname="localhost"))
        wait_state(host, "no session")
        # The page as its visitor sees it, without CWMN's badge (never shown to guests).
        assert settle(host, NO_BADGE)["ok"]
        assert settle(host, START)["ok"]
        link = settle(host, "CwmnAPI.guest.getInviteLink()")["value"]
        guest = guest_ctx.new_page()
        guest.goto(f"{link}?name=Checker")
        frame = guest.frame_locator("iframe.cwmn-frame")
        frame.locator(content).first.wait_for(state="attached", timeout=60_000)
        scores = []
        for scroll in (0, 1200):
            host.evaluate(f"window.scrollTo(0, {scroll})")
            host.wait_for_timeout(300)
            settled(host)
            guest.wait_for_function(
                "y => Math.abs(document.querySelector('iframe.cwmn-frame').contentWindow.scrollY"
                " - y) < 2",
                arg=host.evaluate("scrollY"),
            )
            settled(guest)
            shot_host = host.screenshot()
            shot_guest = guest.locator("iframe.cwmn-frame").screenshot()
            scores.append(similarity(shot_host, shot_guest))
            if ARTIFACTS:
                name = f"{browser_name}-{path.replace('/', '_')}-{scroll}"
                (ARTIFACTS / f"{name}-host.png").write_bytes(shot_host)
                (ARTIFACTS / f"{name}-guest.png").write_bytes(shot_guest)
        print(f"\nfidelity {browser_name} {path}: top {scores[0]:.4f}, scrolled {scores[1]:.4f}")
        assert min(scores) >= THRESHOLD, scores
        assert settle(host, "CwmnAPI.session.endSession()")["ok"]
    finally:
        host_ctx.close()
        guest_ctx.close()
