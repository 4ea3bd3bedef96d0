"""The host moves to another page of the site during a session: the new page captures before
Python is ready (with every masking rule the previous page knew), Python hands the held frames
over once the session is back, and guests follow without a frame lost or a secret sent."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, FrameLocator, Page, Route

from build import made_stub
from cwmn_web.client.spec import stub_tables
from cwmn_web.testing import CwmnServer, PageServer

from .conftest import wait_state
from .test_cobrowse import host_session, join
from .test_embed import settle

SECRETS = ("SECRET-ON-PAGE-TWO", "SECRET-TAG-MASKED-ON-PAGE-TWO")


def log_size(server: CwmnServer) -> int:
    log = Path(server.env["CWMN_FRAME_LOG"])
    return log.stat().st_size if log.exists() else 0


def sent_since(server: CwmnServer, offset: int) -> str:
    """What hosts sent the server since ``offset`` of its frame log."""
    with Path(server.env["CWMN_FRAME_LOG"]).open("rb") as log:
        log.seek(offset)
        return log.read().decode()


def page_frames(text: str) -> list[dict[str, Any]]:
    """The mirror frames of the last page that resumed the session in ``text``."""
    frames: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("type") == "resume_session":
            frames = []
        elif message.get("type") == "mirror":
            frames.append(message)
    return frames


def on_page_one(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> tuple[Page, FrameLocator]:
    """A host sharing nav1.html and a guest's view of it, once the guest sees it."""
    host, link = host_session(open_page, customer_site, "nav1.html")
    guest, frame = join(guest_context, link)
    guests.append(guest)
    frame.locator("#title", has_text="Nav page one").wait_for()
    return host, frame


def test_guests_follow_the_host_to_the_next_page_with_the_early_capture(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    host, frame = on_page_one(open_page, customer_site, guest_context, guests)
    entry = json.loads(host.evaluate("sessionStorage.getItem('cwmn:session')"))
    assert ".cwmn-mask" in entry["capture"]["mask"] and "privacy" not in entry
    offset = log_size(cwmn_server)
    clicked = time.monotonic()
    with host.expect_navigation():
        host.click("#next")
    frame.locator("#title", has_text="Nav page two").wait_for()
    seen = time.monotonic() - clicked
    frame.locator("#list li").nth(4).wait_for()
    assert frame.locator("#list li").all_text_contents() == [f"early {i}" for i in range(1, 6)]
    assert set(frame.locator("#secret").text_content() or "") == {"*"}
    assert set(frame.locator("#tag-secret").text_content() or "") == {"*"}
    wait_state(host, "in session")
    assert host.evaluate("CwmnAPI._debug().timings.startReason") == "resume"

    # The page's first snapshot was taken before Python was ready, and then nothing was
    # lost or sent twice: one snapshot, numbered from 1 without a gap.
    host.evaluate("document.getElementById('shown').textContent = 'CHANGED-AFTER-HANDOVER'")
    frame.locator("#shown", has_text="CHANGED-AFTER-HANDOVER").wait_for()
    sent = sent_since(cwmn_server, offset)
    frames = page_frames(sent)
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert [f["kind"] for f in frames].count("snapshot") == 1 and frames[0]["kind"] == "snapshot"
    python_ready = host.evaluate("performance.timeOrigin + CwmnAPI._debug().timings.python")
    assert frames[0]["t"] < python_ready
    for secret in SECRETS:
        assert secret not in sent
    print(f"\nguest saw the next page {seen:.2f} s after the click")
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]


def test_with_privacy_on_the_next_page_captures_nothing_early(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    host, frame = on_page_one(open_page, customer_site, guest_context, guests)
    assert settle(host, "CwmnAPI.privacy.setEnabled(true)")["ok"]
    entry = json.loads(host.evaluate("sessionStorage.getItem('cwmn:session')"))
    assert entry["privacy"] is True and "capture" not in entry
    offset = log_size(cwmn_server)
    with host.expect_navigation():
        host.click("#next")
    wait_state(host, "in session")
    assert host.evaluate("CwmnAPI.privacy.getEnabled()") is True
    # The capture code was never even loaded on this page.
    loaded = host.evaluate(
        "performance.getEntriesByType('resource').filter(e => e.name.endsWith('capture.mjs'))"
        ".length"
    )
    assert loaded == 0
    assert page_frames(sent_since(cwmn_server, offset)) == []
    assert settle(host, "CwmnAPI.privacy.setEnabled(false)")["ok"]
    frame.locator("#title", has_text="Nav page two").wait_for()
    sent = sent_since(cwmn_server, offset)
    assert "VISIBLE-ON-PAGE-TWO" in sent
    for secret in SECRETS:
        assert secret not in sent
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]


def test_when_the_early_capture_fails_python_captures_the_next_page(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    # Firefox keeps a failed module import in the page's module map: the stub's retry must
    # import capture.mjs under another URL, or the next page is never captured there.
    host, frame = on_page_one(open_page, customer_site, guest_context, guests)
    # The next page's first import of capture.mjs (the stub's early one) fails; later ones
    # (Python's capture) go through.
    requests: list[str] = []

    def fail_first(route: Route) -> None:
        requests.append(route.request.url)
        if len(requests) == 1:
            route.abort()
        else:
            route.continue_()

    host.route(re.compile(r"/capture\.mjs(\?|$)"), fail_first)
    offset = log_size(cwmn_server)
    with host.expect_navigation():
        host.click("#next")
    wait_state(host, "in session")
    frame.locator("#title", has_text="Nav page two").wait_for(timeout=20_000)
    frame.locator("#list li").nth(4).wait_for()
    assert frame.locator("#list li").all_text_contents() == [f"early {i}" for i in range(1, 6)]
    assert set(frame.locator("#secret").text_content() or "") == {"*"}
    assert set(frame.locator("#tag-secret").text_content() or "") == {"*"}
    assert len(requests) >= 2, requests  # the early import failed, Python's went through
    host.evaluate("document.getElementById('shown').textContent = 'CHANGED-AFTER-RESTART'")
    frame.locator("#shown", has_text="CHANGED-AFTER-RESTART").wait_for()
    sent = sent_since(cwmn_server, offset)
    frames = page_frames(sent)
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert frames[0]["kind"] == "snapshot"
    for secret in SECRETS:
        assert secret not in sent
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]


def test_an_early_capture_past_its_cap_is_dropped_and_python_captures_afresh(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    """The stub queues at most EARLY_MAX early frames while Python starts (2,000; 1 here, in
    the stub served to page two); past it the early capture is dropped, nothing of it is
    sent, and Python's own capture shows guests the page, masks and all."""
    host, frame = on_page_one(open_page, customer_site, guest_context, guests)
    # The served stub, made again from its source with the cap at 1 (the minifier renames).
    root = Path(__file__).resolve().parents[2]
    source = (root / "static" / "cwmn.js").read_text()
    assert "EARLY_MAX = 2000;" in source
    build_id = (root / "static" / "dist" / "BUILD").read_text().strip()
    tables = json.dumps(stub_tables(), separators=(",", ":"))
    stub = made_stub(build_id, tables, source.replace("EARLY_MAX = 2000;", "EARLY_MAX = 1;"))
    host.route(
        re.compile(r"/cwmn\.js$"),
        lambda r: r.fulfill(body=stub, content_type="text/javascript"),
    )
    # Page two keeps changing until Python is ready, so the early capture has more frames
    # than the cap however long Python takes to start.
    host.add_init_script(
        """document.addEventListener('DOMContentLoaded', () => {
          const ticker = setInterval(() => {
            if (window.CwmnAPI && CwmnAPI._debug().timings.python) clearInterval(ticker);
            else document.body.dataset.tick = String(Date.now());
          }, 20);
        });"""
    )
    offset = log_size(cwmn_server)
    with host.expect_navigation():
        host.click("#next")
    wait_state(host, "in session")
    frame.locator("#title", has_text="Nav page two").wait_for()
    frame.locator("#list li").nth(4).wait_for()
    assert frame.locator("#list li").all_text_contents() == [f"early {i}" for i in range(1, 6)]
    assert set(frame.locator("#secret").text_content() or "") == {"*"}
    assert set(frame.locator("#tag-secret").text_content() or "") == {"*"}
    host.evaluate("document.getElementById('shown').textContent = 'CHANGED-AFTER-THE-CAP'")
    frame.locator("#shown", has_text="CHANGED-AFTER-THE-CAP").wait_for()
    frames = page_frames(sent_since(cwmn_server, offset))
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert [f["kind"] for f in frames].count("snapshot") == 1 and frames[0]["kind"] == "snapshot"
    # The snapshot sent is Python's, taken once it was ready: no early frame went out.
    python_ready = host.evaluate("performance.timeOrigin + CwmnAPI._debug().timings.python")
    assert frames[0]["t"] >= python_ready
    sent = sent_since(cwmn_server, offset)
    for secret in SECRETS:
        assert secret not in sent
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]
