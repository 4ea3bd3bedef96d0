"""When the stub starts Python: after the page's load event when the browser is idle, or at
once for a resumed session, an invitation to host, ``data-start="eager"`` or a call.

Each page's load event is held back by an image the test answers only when it chooses, so
"before load" and "after load" are facts of the page, not of timing."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from cwmn_web.testing import PageServer

from .conftest import wait_state
from .test_embed import START, settle

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
#: Every Worker the page constructs, with the document's readyState at that moment.
WORKER_PROBE = """
window.__workers = [];
const RealWorker = window.Worker;
window.Worker = new Proxy(RealWorker, {
  construct(target, args, newTarget) {
    window.__workers.push({ readyState: document.readyState });
    return Reflect.construct(target, args, newTarget);
  },
});
"""


class HeldPage:
    """A page whose ``held.png`` stays unanswered (its load event with it) until released."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.routes: list[Route] = []
        self.requests: list[str] = []
        page.add_init_script(WORKER_PROBE)
        page.route("**/held.png", lambda route: self.routes.append(route))
        page.on("request", lambda request: self.requests.append(request.url))

    def open(self, url: str) -> HeldPage:
        self.page.goto(url, wait_until="domcontentloaded")
        self.page.wait_for_function("window.CwmnAPI && document.readyState === 'interactive'")
        assert self.routes, "the image was not requested"
        return self

    def release(self) -> None:
        for route in self.routes:
            route.fulfill(status=200, content_type="image/png", body=PNG)
        self.routes.clear()
        self.page.wait_for_function("document.readyState === 'complete'")

    def workers(self) -> list[dict[str, Any]]:
        workers: list[dict[str, Any]] = self.page.evaluate("window.__workers")
        return workers

    def timings(self) -> dict[str, Any]:
        timings: dict[str, Any] = self.page.evaluate("CwmnAPI._debug().timings")
        return timings

    def wait_started(self) -> dict[str, Any]:
        self.page.wait_for_function("window.__workers.length > 0")
        return self.workers()[0]


@pytest.fixture
def held(
    open_page: Callable[..., Page], customer_site: PageServer
) -> Iterator[Callable[..., HeldPage]]:
    """Open a page of the customer site with its load held; ``setup`` runs first in the
    site's origin (e.g. to leave a resume entry in the tab's sessionStorage)."""
    made: list[HeldPage] = []

    def make(path: str, setup: str = "") -> HeldPage:
        page = open_page("about:blank", wait_for_state=None)
        if setup:
            page.goto(customer_site.url("bare.html", hostname="localhost"))
            page.evaluate(setup)
        made.append(HeldPage(page).open(customer_site.url(path, hostname="localhost")))
        return made[-1]

    yield make
    for page in made:
        page.routes.clear()  # closing the page abandons what is still held


def test_by_default_python_starts_after_the_load_event(held: Callable[..., HeldPage]) -> None:
    page = held("start-idle.html")
    # The browser has been idle, the page is parsed, only the image is missing: no worker.
    page.page.evaluate("new Promise(r => requestIdleCallback(() => setTimeout(r, 0)))")
    assert page.workers() == []
    assert "start" not in page.timings()
    assert not [u for u in page.requests if "worker.mjs" in u]
    assert page.page.evaluate("CwmnAPI.getCurrentState()") == "init"
    page.release()
    assert page.wait_started()["readyState"] == "complete"
    wait_state(page.page, "no session")
    timings = page.timings()
    assert timings["startReason"] == "idle"
    load_end = page.page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    assert timings["start"] >= load_end


@pytest.mark.parametrize(
    ("path", "setup", "reason"),
    [
        ("start-eager.html", "", "eager"),
        (
            "start-idle.html",
            "sessionStorage.setItem('cwmn:session', "
            "JSON.stringify({token: 'no-such-session', sessionId: 'gone'}))",
            "resume",
        ),
        ("start-idle.html#cwmn-host-invite=no-such-invite", "", "host-invite"),
    ],
)
def test_python_starts_at_once_when_needed(
    held: Callable[..., HeldPage],
    path: str,
    setup: str,
    reason: str,
) -> None:
    page = held(path, setup)
    assert page.wait_started()["readyState"] != "complete"
    assert page.page.evaluate("document.readyState") != "complete"
    assert page.timings()["startReason"] == reason
    wait_state(page.page, "no session")  # a stale session or invitation: nothing to resume
    assert page.page.evaluate("sessionStorage.getItem('cwmn:session')") is None
    page.release()


def test_a_call_before_python_started_starts_it_and_resolves(held: Callable[..., HeldPage]) -> None:
    page = held("start-idle.html")
    assert page.workers() == []
    result = settle(page.page, START)
    assert result["ok"], result
    assert page.workers()[0]["readyState"] != "complete"
    assert page.page.evaluate("document.readyState") != "complete"
    assert page.timings()["startReason"] == "call"
    assert page.page.evaluate("CwmnAPI.getCurrentState()") == "in session"
    assert settle(page.page, "CwmnAPI.session.endSession()")["ok"]
    page.release()


def test_an_unknown_start_value_warns_and_starts_when_idle(
    open_page: Callable[..., Page], customer_site: PageServer, cwmn_server: Any
) -> None:
    page = open_page(customer_site.url("bare.html", hostname="localhost"), wait_for_state=None)
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.evaluate(
        """url => { const s = document.createElement('script');
                    s.src = url + '/cwmn.js'; s.dataset.start = 'soon';
                    document.head.appendChild(s); }""",
        cwmn_server.url,
    )
    wait_state(page, "no session")
    assert any('data-start="soon"' in w for w in warnings), warnings
    assert page.evaluate("CwmnAPI._debug().timings.startReason") == "idle"


def test_a_load_event_that_never_comes_starts_python_ten_seconds_after_dom_ready(
    open_page: Callable[..., Page], customer_site: PageServer
) -> None:
    page = open_page("about:blank", wait_for_state=None)
    # The page's timers only (the worker keeps the real clock), paused: an installed clock
    # follows real time, and a slow browser may take more than the margin below to load.
    page.clock.install()
    page.clock.pause_at(int(time.time() * 1000) + 1000)
    held = HeldPage(page).open(customer_site.url("start-idle.html", hostname="localhost"))
    page.clock.run_for(9_900)
    assert held.workers() == []  # the image is still held: no load event, no start yet
    page.clock.run_for(200)
    assert held.wait_started()["readyState"] == "interactive"
    assert held.timings()["startReason"] == "late-load"
    page.clock.resume()
    wait_state(page, "no session")  # 'init' and 'ready no session' fire without load
    assert page.evaluate("document.readyState") == "interactive"
    held.routes.clear()
