"""Fidelity of replays: a host records a replay across the hard pages (tests/fixtures/hard:
logged-in assets, fonts, canvases…), the render worker (real headless Chromium and ffmpeg)
renders it, and frames of the MP4 at known times are compared with the host's own screenshots
of the same moments, whole and per feature. The figures are printed (run with -s).

The render worker's guard lets it reach the test servers (CWMN_RENDER_PRIVATE_NETWORK=allow,
cwmn_web.testing.servers.ENV_DEFAULTS), but it has no cookie: the page server answers its
requests for ``private/`` files 403, so a logged-in asset can only reach the video through
the asset store; the test checks that premise and that the recording names no private URL.
"""

from __future__ import annotations

import io
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Browser, Page, ViewportSize

from cwmn_web.render.ffmpeg import find_ffmpeg
from cwmn_web.testing import CwmnServer, PageServer
from cwmn_web.testing.recorder import recorder_script
from cwmn_web.testing.servers import PRIVATE_COOKIE

from .conftest import wait_state
from .test_embed import settle
from .test_indicator import NO_BADGE
from .test_replay import REPLAY, download

pytestmark = pytest.mark.timeout(420)

HARD = Path(__file__).parents[1] / "fixtures" / "hard"
#: The host's viewport; the renderer's frame is 1280x720 and shows it unscaled, centred.
VIEWPORT = ViewportSize(width=960, height=600)
FRAME = (1280, 720)
#: How long the host stays on each page (ms), and when, after the host's screenshot, the
#: video's frame is taken (s): the renderer waits for a snapshot's images before it moves on,
#: so a second after the screenshot the frame shows the page as it settled.
HOLD_MS = 2000
FRAME_DELAY_S = 1.2
#: A pixel "matches" when no channel differs by more than TOLERANCE (of 255); a page or
#: feature matches when at least THRESHOLD of its pixels do. The video is JPEG (quality 80)
#: then H.264 (yuv420p: colour at half resolution) of the guest's viewer, so a colour edge
#: (text, a stripe) is smeared over a pixel or two: live fidelity's 24 and 0.97
#: (test_fidelity) become 40 and 0.93. Measured with Chromium hosts: a faithful feature
#: 0.94-1.00 (text-heavy ones 0.96-0.99), a broken image 0.00-0.02, the fallback font
#: 0.78/0.86, an empty canvas 0.02. The video is always drawn by Chromium: a Firefox host's
#: text is rasterised otherwise (identical glyphs in the web font measured 0.93/0.95), so
#: its bar is 0.90, still above the fallback font's 0.86.
TOLERANCE = 40
THRESHOLD = {"chromium": 0.93, "firefox": 0.90}
#: The "Recording replay" badge is the host's alone (never captured, its styles all
#: !important): its box is left out of the comparison.
BADGE = "cwmn-recording"
ARTIFACTS = (
    Path(os.environ["CWMN_FIDELITY_SHOTS"]) if os.environ.get("CWMN_FIDELITY_SHOTS") else None
)


@dataclass(frozen=True)
class HardPage:
    path: str
    features: tuple[str, ...]
    """CSS selectors of the elements whose box is compared on its own."""
    private: tuple[str, ...] = ()
    """Files under ``private/`` the page shows (checked: the renderer cannot fetch them)."""
    action: str = ""
    """What the host does once the page is ready (a script: scrolling, say)."""
    requires: str = ""
    """A script: whether the host's browser can show the feature at all (else not compared)."""


PAGES = [
    HardPage("private-img.html", ("img",), ("private/photo.png", "private/badge.png")),
    HardPage("private-picture.html", ("#pictured", "#sourced"), ("private/wide.png",)),
    HardPage(
        "private-css.html", (".panel", ".imported", ".extra", ".badge"), ("private/site.css",)
    ),
    HardPage("private-font.html", (".typeset",), ("private/hard-font.ttf",)),
    HardPage("private-sprite.html", ("svg",), ("private/sprite.svg",)),
    HardPage("private-poster.html", ("#clip",), ("private/poster.png",)),
    HardPage("canvas-2d.html", ("#c2d",)),
    # Both browsers have WebGL (cwmn_web.testing.launch_args): blank against blank proves
    # nothing, so a host without it fails (requires).
    HardPage("canvas-webgl.html", ("#cgl",), requires="!!cgl.getContext('webgl')"),
    HardPage("frame.html", ("#inner",)),
    HardPage("dialog.html", ("#modal",)),
    HardPage("popover.html", ("#tip",)),
    HardPage("shadow.html", ("hard-card",)),
    HardPage("adopted.html", (".doc-styled", ".later", "adopted-panel")),
    HardPage("animation.html", ("#css", "#trans", "#waapi")),
    HardPage("sticky.html", ("header", "aside", "#chat"), action="scrollTo(0, 900)"),
    HardPage(
        "scroller.html",
        ("#scroller", "#list"),
        action="scroller.scrollTo(430, 260); list.scrollTop = 400",
    ),
]

#: CWMN_REPLAY_PAGES=private-css,canvas-2d records only those (while iterating on a feature).
if os.environ.get("CWMN_REPLAY_PAGES"):
    _only = set(os.environ["CWMN_REPLAY_PAGES"].split(","))
    PAGES = [page for page in PAGES if page.path.removesuffix(".html") in _only]


#: Known gaps, compared and printed but not asserted: an external SVG ``<use>`` loads only
#: from the document's own origin; the render page is served on the worker's own port, not
#: the store's origin (docs/fidelity/replay.md). The guest live sees them.
KNOWN_GAPS = {
    ("private-sprite.html", "page"),
    ("private-sprite.html", "svg[0]"),
    ("private-sprite.html", "svg[1]"),
}
#: A Firefox host here shows a classic 12 px scrollbar: its page is laid out 948 px wide in a
#: 960 px window, while the render page (Chromium, scrollbars hidden) lays it out 960 wide, so
#: what is anchored to the right edge (a fixed chat button, a sticky aside) sits 12 px further
#: right in the video (0.80-0.93). The live guest in the same browser matches. Printed only.
FIREFOX_HOST_GAPS = {("sticky.html", "aside"), ("sticky.html", "#chat")}


@dataclass
class Shot:
    page: HardPage
    at_ms: float
    image: Image.Image
    boxes: dict[str, tuple[int, int, int, int]]
    badge: tuple[int, int, int, int]


@pytest.fixture(scope="module")
def hard_site(replay_server: CwmnServer) -> Iterator[PageServer]:
    with PageServer(HARD, lambda: replay_server.url).running() as site:
        yield site


def frame_at(video: Path, seconds: float) -> Image.Image:
    """The video's frame shown at ``seconds`` (the first at or after it), as RGB."""
    command = [find_ffmpeg(), "-v", "error", "-ss", f"{seconds:.3f}", "-i", str(video)]
    png = subprocess.run(
        [*command, "-frames:v", "1", "-f", "image2", "-c:v", "png", "-"],
        check=True,
        capture_output=True,
    ).stdout
    assert png, f"no frame at {seconds:.3f} s"
    return Image.open(io.BytesIO(png)).convert("RGB")


def similarity(a: Image.Image, b: Image.Image) -> float:
    """Share of pixels whose channels all differ by at most TOLERANCE."""
    assert a.size == b.size, (a.size, b.size)
    red, green, blue = ImageChops.difference(a, b).split()
    worst = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    changed = worst.point(lambda v: 255 if v > TOLERANCE else 0).histogram()[255]
    return 1 - changed / (a.size[0] * a.size[1])


def the_host_page(frame: Image.Image) -> Image.Image:
    """The part of a video frame that shows the host's viewport (unscaled, centred)."""
    assert frame.size == FRAME, frame.size
    left, top = (FRAME[0] - VIEWPORT["width"]) // 2, (FRAME[1] - VIEWPORT["height"]) // 2
    return frame.crop((left, top, left + VIEWPORT["width"], top + VIEWPORT["height"]))


def settled(page: Page, name: str) -> None:
    """The page's load-time work done (``data-ready``, tests/fixtures/hard/README.md), its
    fonts and images in, two frames painted."""
    page.wait_for_function("n => document.documentElement.dataset.ready === n", arg=name)
    page.wait_for_function(
        """() => (!document.fonts || document.fonts.status === 'loaded')
              && [...document.images].every((i) => i.complete)"""
    )
    page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def show(host: Page, page: HardPage) -> Shot:
    """The host's screenshot of ``page`` as it settled, when, and its features' boxes."""
    settled(host, page.path.removesuffix(".html"))
    if page.action:
        host.evaluate(page.action)
        settled(host, page.path.removesuffix(".html"))
    boxes: dict[str, tuple[int, int, int, int]] = {}
    for selector in page.features:
        found = host.locator(selector).all()
        assert found, f"{page.path}: no {selector}"
        for i, element in enumerate(found):
            box = element.bounding_box()
            assert box is not None, f"{page.path}: {selector} is not visible"
            x0, y0 = max(0, int(box["x"])), max(0, int(box["y"]))
            x1 = min(VIEWPORT["width"], int(box["x"] + box["width"]))
            y1 = min(VIEWPORT["height"], int(box["y"] + box["height"]))
            assert x1 - x0 > 4 and y1 - y0 > 4, f"{page.path}: {selector} is {box}"
            boxes[selector if len(found) == 1 else f"{selector}[{i}]"] = (x0, y0, x1, y1)
    at_ms = float(host.evaluate("Date.now()"))
    image = Image.open(io.BytesIO(host.screenshot())).convert("RGB")
    badge = host.locator(BADGE).bounding_box()
    assert badge is not None, "no recording badge on the host's page"
    x, y = int(badge["x"]) - 2, int(badge["y"]) - 2
    left_out = (x, y, x + int(badge["width"]) + 5, y + int(badge["height"]) + 5)
    return Shot(page, at_ms, image, boxes, left_out)


def cannot_fetch(url: str) -> bool:
    """Whether ``url`` is refused to a client without the session cookie (as the renderer)."""
    try:
        urllib.request.urlopen(url, timeout=10).close()
    except urllib.error.HTTPError as error:
        return error.code == 403
    return False


def test_replay_frames_show_what_the_host_saw(
    browser: Browser,
    hard_site: PageServer,
    replay_server: CwmnServer,
    tmp_path: Path,
    browser_name: str,
) -> None:
    origin = hard_site.url(hostname="localhost")
    for page in PAGES:
        for path in page.private:
            assert cannot_fetch(origin + path), f"{path} must need the session cookie"
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(recorder_script())
        name, value = PRIVATE_COOKIE
        context.add_cookies([{"name": name, "value": value, "url": origin}])
        host = context.new_page()
        host.goto(origin + PAGES[0].path)
        wait_state(host, "no session")
        # The page as its visitor sees it, without CWMN's badge (never shown to guests).
        assert settle(host, NO_BADGE)["ok"]
        started = settle(host, REPLAY)
        assert started["ok"], started
        started_at = float(started["value"]["startedAt"]) * 1000
        session_id = str(started["value"]["sessionId"])
        shots = []
        for i, page in enumerate(PAGES):
            if i:
                host.goto(origin + page.path)
                wait_state(host, "in session")
            if page.requires:
                assert host.evaluate(page.requires), f"{page.path} needs {page.requires}"
            shots.append(show(host, page))
            host.wait_for_timeout(HOLD_MS)  # the page as recorded for a while: no sync
        assert settle(host, "CwmnAPI.session.endSession()")["ok"]
        wait_state(host, "replay complete", timeout=240_000)
        video = tmp_path / "hard.mp4"
        download(settle(host, "CwmnAPI.replay.getVideoURL()")["value"], video)
    finally:
        context.close()

    # The recording names no private URL: what the renderer loads comes from the store.
    stream = (replay_server.data_dir / "replays" / session_id / "stream.jsonl").read_text()
    private = [path for page in PAGES for path in page.private if path in stream]

    failures = []
    for shot in shots:
        seconds = (shot.at_ms - started_at) / 1000 + FRAME_DELAY_S
        rendered = the_host_page(frame_at(video, seconds))
        shot.image.paste(rendered.crop(shot.badge), shot.badge[:2])  # not compared
        scores = {"page": similarity(shot.image, rendered)}
        for selector, box in shot.boxes.items():
            scores[selector] = similarity(shot.image.crop(box), rendered.crop(box))
        figures = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
        print(f"\nreplay fidelity {browser_name} {shot.page.path} at {seconds:.1f} s: {figures}")
        bar = THRESHOLD[browser_name]
        failures += [
            f"{shot.page.path} {k} {v:.4f}"
            for k, v in scores.items()
            if v < bar
            and (shot.page.path, k) not in KNOWN_GAPS
            and (browser_name != "firefox" or (shot.page.path, k) not in FIREFOX_HOST_GAPS)
        ]
        if ARTIFACTS:
            stem = f"replay-{browser_name}-{shot.page.path.replace('/', '_')}"
            shot.image.save(ARTIFACTS / f"{stem}-host.png")
            rendered.save(ARTIFACTS / f"{stem}-video.png")
    assert not private, f"the recording names private files: {private}"
    assert not failures, failures
