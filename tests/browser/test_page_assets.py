"""Assets only the host's browser can load reach guests through the asset store
(docs/fidelity/host.md). The host is signed in to a customer site on its own origin (the
session cookie of ``private/``: no CORS); the guest, in another profile, has no cookie. The
guest sees the private image, the ``<picture>`` and ``srcset`` ones, the stylesheet (its
``@import`` and ``url()`` background), the web font, the SVG sprite and the video poster;
a third party's image keeps its direct URL; an asset seen again is not uploaded again."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, FloatRect, Page

from cwmn_web.testing import PageServer
from cwmn_web.testing.servers import PRIVATE_COOKIE

from .conftest import wait_state
from .test_embed import START, settle

#: The assets account/index.html routes through the store (the icon is not one; the photo
#: is used twice): photo, wide, set, bg, poster PNGs, site.css, parts.css, mono.ttf, sprite.
ROUTED = 9
FRAME = "document.querySelector('iframe.cwmn-frame').contentDocument"
#: The solid colours of the private images (tests/browser/pages/private/assets).
BLUE_BG, PURPLE_SPRITE, ORANGE_POSTER = (20, 60, 220), (150, 0, 200), (240, 120, 0)


@pytest.fixture
def signed_in(shared_context: BrowserContext, customer_site: PageServer) -> BrowserContext:
    """The host's profile, signed in to the customer site (its session cookie)."""
    name, value = PRIVATE_COOKIE
    url = customer_site.url("", hostname="localhost")
    shared_context.add_cookies([{"name": name, "value": value, "url": url}])
    return shared_context


@pytest.fixture
def host_page(signed_in: BrowserContext) -> Any:
    pages: list[Page] = []

    def open_(url: str) -> Page:
        page = signed_in.new_page()
        pages.append(page)
        page.goto(url)
        wait_state(page, "no session")
        return page

    yield open_
    for page in pages:
        page.close()


def counters(page: Page) -> dict[str, int]:
    """``CwmnAPI._debug().assets`` once every routed asset is handled."""
    page.wait_for_function(
        "n => { const a = CwmnAPI._debug().assets;"
        " return a.pending === 0 && a.routed >= n && a.fetched + a.failed >= a.routed }",
        arg=ROUTED,
        timeout=60_000,
    )
    found: dict[str, int] = page.evaluate("CwmnAPI._debug().assets")
    return found


def in_frame(guest: Page, body: str, arg: Any = None, timeout: float = 60_000) -> Any:
    """Wait until ``body`` (a function of ``d``, the guest's built document, and ``arg``)
    is truthy in the guest's frame; its value."""
    handle = guest.wait_for_function(
        f"arg => {{ const d = {FRAME}; if (!d) return false; {body} }}", arg=arg, timeout=timeout
    )
    return handle.json_value()


#: The box of an element of the guest's frame, on the guest's page (the stage scales it).
BOX = """sel => { const f = document.querySelector('iframe.cwmn-frame');
  const el = f && f.contentDocument && f.contentDocument.querySelector(sel);
  if (!el) return null;
  const fr = f.getBoundingClientRect(), r = el.getBoundingClientRect();
  const k = fr.width / f.clientWidth, left = fr.left + f.clientLeft * k;
  const top = fr.top + f.clientTop * k;
  return {x: left + r.left * k, y: top + r.top * k, width: r.width * k, height: r.height * k} }"""


def colour_near_top(guest: Page, selector: str) -> tuple[int, int, int] | None:
    """The colour of the element's top middle (a video's controls darken its lower part),
    or None while it has no box (the guest's frame being built)."""
    box = guest.evaluate(BOX, selector)
    if box is None or box["width"] < 4 or box["height"] < 4:
        return None
    clip = FloatRect(x=box["x"], y=box["y"], width=box["width"], height=box["height"])
    shot = Image.open(io.BytesIO(guest.screenshot(clip=clip))).convert("RGB")
    r, g, b = shot.getpixel((shot.width // 2, shot.height // 8))  # type: ignore[misc]
    return int(r), int(g), int(b)


def hue(rgb: tuple[int, int, int]) -> tuple[float, ...]:
    """``rgb`` scaled so its brightest channel is 255 (a video's controls shade it)."""
    top = max(max(rgb), 1)
    return tuple(255 * c / top for c in rgb)


def shows(guest: Page, selector: str, rgb: tuple[int, int, int], timeout: float = 20.0) -> bool:
    """Whether the guest's element shows ``rgb``'s hue, not too dark, before ``timeout``: a
    loaded resource is painted on one of the next frames; each try is a screenshot."""
    deadline = time.monotonic() + timeout
    while True:
        got = colour_near_top(guest, selector)
        close = got and all(abs(a - b) <= 30 for a, b in zip(hue(got), hue(rgb), strict=True))
        if got and close and max(got) > 120:
            return True
        if time.monotonic() > deadline:
            print(f"{selector}: {got}, expected {rgb}")
            return False


def guest_of(host: Page, guests: list[Page], guest_context: BrowserContext) -> Page:
    link = settle(host, "CwmnAPI.guest.getInviteLink()")["value"]
    guest = guest_context.new_page()
    guests.append(guest)
    guest.goto(f"{link}?name=Guest")
    in_frame(guest, "return d.getElementById('photo')")
    return guest


def test_private_assets_reach_a_guest_without_the_cookie(
    host_page: Callable[[str], Page],
    customer_site: PageServer,
    foreign_site: PageServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    private = customer_site.url("private/assets/photo.png", hostname="localhost")
    assert guest_context.request.get(private).status == 403  # the guest is not signed in
    host = host_page(customer_site.url("account/index.html", hostname="localhost"))
    third = foreign_site.url("account/third.png")
    host.evaluate("src => { document.getElementById('third').src = src }", third)
    host.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth)")
    host_mono = host.evaluate("document.getElementById('mono').getBoundingClientRect().width")
    assert settle(host, START)["ok"]
    guest = guest_of(host, guests, guest_context)

    # Images: a plain one, the <picture>'s source, a srcset-only one (their natural sizes).
    sizes = in_frame(
        guest,
        "const w = ['photo', 'pic', 'set', 'third'].map(id => d.getElementById(id).naturalWidth);"
        " return w.every(Boolean) && w;",
    )
    assert sizes == [120, 200, 90, 70]
    # The stylesheet and its @import apply; the web font (no CORS on the site) is used.
    in_frame(guest, "return d.getElementById('imported').getBoundingClientRect().width === 33")
    loaded = "f => f.family.replace(/\"/g, '') === 'AcctMono' && f.status === 'loaded'"
    in_frame(guest, f"return d.fonts.check('20px AcctMono') && [...d.fonts].some({loaded})")
    guest_mono = in_frame(guest, "return d.getElementById('mono').getBoundingClientRect().width")
    scale = in_frame(guest, "return d.getElementById('photo').getBoundingClientRect().width / 120")
    assert abs(guest_mono / scale - host_mono) < 2, (guest_mono, scale, host_mono)
    assert shows(guest, "#bg", BLUE_BG)  # the stylesheet's url() background
    assert shows(guest, "#sprite", PURPLE_SPRITE)  # <use> of an external sprite
    assert shows(guest, "#video", ORANGE_POSTER)  # the video's poster

    # What went through the store, and what did not.
    urls = in_frame(
        guest,
        "return {photo: d.getElementById('photo').src, third: d.getElementById('third').src,"
        " link: d.getElementById('link').href, use: d.querySelector('use').getAttribute('href'),"
        " icon: d.querySelector('link[rel=icon]') && d.querySelector('link[rel=icon]').href}",
    )
    assert "/a/" in urls["photo"] and not urls["photo"].startswith(customer_site.url(""))
    assert urls["use"].endswith("#icon") and "/a/" in urls["use"]
    assert urls["third"] == third  # another origin: loads directly
    assert urls["link"] == private  # a link is not a resource
    assert urls["icon"] in (None, private)
    found = counters(host)
    assert found["failed"] == 0 and found["fetched"] == found["routed"] == ROUTED, found
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]


def test_an_asset_seen_again_is_not_uploaded_again(
    host_page: Callable[[str], Page],
    customer_site: PageServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    host = host_page(customer_site.url("account/index.html", hostname="localhost"))
    assert settle(host, START)["ok"]
    counters(host)  # uploaded now, or by an earlier test (the store is the site's)
    host.goto(customer_site.url("account/page2.html", hostname="localhost"))
    wait_state(host, "in session")  # the session resumed on the site's next page
    found = counters(host)
    assert found["reused"] == ROUTED and found["uploaded"] == 0, found
    assert found["bytesUploaded"] == 0 and found["failed"] == 0, found
    guest = guest_of(host, guests, guest_context)
    assert in_frame(guest, "return d.getElementById('photo').naturalWidth") == 120
    in_frame(guest, "return d.querySelector('h1').textContent.includes('page 2')")
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]
