"""Asset-store benchmark (issue 18): what routing a signed-in page's private assets through
the store costs the host's page, against the same session with the site's ``assets`` setting
"direct" (nothing routed), measured in the same run, alternating.

``bench/pages/assets/index.html``: an account page whose images (a logo, 12 product JPEGs,
4 CSS backgrounds, a hero) and stylesheet (an ``@import``, 4 web fonts) are all under
``gen/private/``: served only with the session cookie, no CORS (bench/site.py). Loopback, no
simulated network: the costs measured are the page's CPU and the bytes, not waiting.

Per session (a fresh browser context: the first session of a visitor; then the same context,
the page reloaded: a second session, whose assets the store already holds), from the call to
``session.start`` until the cwmn server has had no asset request for :data:`QUIET_S` (and at
least :data:`MIN_WINDOW_S` after ``in session``):
- the host page's main-thread time: Chromium's ``TaskDuration`` (DevTools ``Performance``
  metrics: the renderer main thread's busy time), its ``ScriptDuration``, and long tasks;
- bytes: uploaded to the store (HTTP request bodies to ``/api/page-assets``), mirror frames
  (the host's websocket), the site's own bytes served (the worker's asset fetches that missed
  the HTTP cache), and the host's counters in ``CwmnAPI._debug().assets`` when it has them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, sync_playwright

from cwmn_web.server.assets import AssetServer
from cwmn_web.server.config import Settings
from cwmn_web.testing import launch_args
from cwmn_web.testing.recorder import recorder_script
from cwmn_web.testing.servers import PRIVATE_COOKIE

from .harness import cwmn_server, load_average, stats
from .site import Network, Site, make_assets
from .startup import READY

ROUNDS = 3  # ~20 s a round (4 sessions) on this 2-core VM
MODES = ("store", "direct")
KINDS = ("first", "second")
QUIET_S = 1.0
MIN_WINDOW_S = 1.5
TIMEOUT = 120_000
UPLOADS = "/api/page-assets"
START = "CwmnAPI.session.start({hostName: 'Rae', hostEmail: 'rae@example.com'})"
SETTLE = """p => p.then(v => ({ok: true, value: v}), e => ({ok: false, code: e.code,
  message: e.message}))"""
FONTS = (
    Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
)
LONG_TASKS = """
(() => {
  const t = window.__longTasks = [];
  try {
    new PerformanceObserver((list) => list.getEntries()
      .forEach((e) => t.push([e.startTime, e.duration])))
      .observe({ type: 'longtask', buffered: true });
  } catch (e) {}
})();
"""
SITE_CSS = """/* The account page's stylesheet: cookie-only, like everything under private/. */
@import "more.css";
@font-face { font-family: "Brand"; src: url(brand.ttf) format("truetype"); }
@font-face { font-family: "Serif"; src: url(LiberationSerif-Regular.ttf) format("truetype"); }
@font-face { font-family: "Mono"; src: url("LiberationMono-Regular.ttf") format("truetype"); }
@font-face { font-family: "Heavy"; src: url('DejaVuSans-Bold.ttf') format("truetype"); }
body { margin: 0; font: 16px/1.5 "Brand", sans-serif; color: #1d2433; background: #f7f5f0; }
.top { display: flex; align-items: center; gap: 1rem; padding: .75rem 2rem; background: #fff; }
.hero { height: 260px; padding: 2rem; color: #fff; background: url(hero.jpg) center / cover; }
.grid { display: grid; grid-template-columns: repeat(4, 1fr); gap: 1rem; list-style: none;
  padding: 0 2rem; }
.grid img { display: block; width: 100%; height: auto; }
.serif { font-family: "Serif", serif; padding: 0 2rem; }
.mono { font-family: "Mono", monospace; }
.bold { font-family: "Heavy", sans-serif; }
"""
MORE_CSS = """/* @imported by site.css */
.saved { display: grid; grid-template-columns: repeat(4, 1fr); gap: 1rem; padding: 0 2rem; }
.detail { height: 200px; background: center / cover no-repeat; }
.d1 { background-image: url(detail-1.jpg); }
.d2 { background-image: url("detail-2.jpg"); }
.d3 { background-image: url('detail-3.jpg'); }
.d4 { background-image: url(detail-4.jpg); }
"""


class Wire:
    """ASGI middleware counting what the cwmn server received: HTTP request bodies to the
    asset store (and how many requests, and when the last was) and websocket messages."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.upload_bytes = self.upload_requests = self.ws_bytes = 0
        self.last_upload = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        uploads = scope["type"] == "http" and scope["path"].startswith(UPLOADS)

        async def counting_receive() -> Any:
            message = await receive()
            size = len(message.get("body") or message.get("bytes") or b"")
            size += len((message.get("text") or "").encode())
            with self.lock:
                if uploads:
                    self.upload_bytes += size
                    self.last_upload = time.monotonic()
                elif message["type"] == "websocket.receive":
                    self.ws_bytes += size
            return message

        if uploads:
            with self.lock:
                self.upload_requests += 1
                self.last_upload = time.monotonic()
        await self.app(scope, counting_receive, send)

    def reset(self) -> dict[str, int]:
        with self.lock:
            out = {
                "upload_bytes": self.upload_bytes,
                "upload_requests": self.upload_requests,
                "mirror_bytes": self.ws_bytes,
            }
            self.upload_bytes = self.upload_requests = self.ws_bytes = 0
        return out

    def quiet_for(self) -> float:
        with self.lock:
            return time.monotonic() - self.last_upload


def make_private(generated: Path) -> None:
    """The account page's private files: the shop's images and font, 3 more fonts, the CSS."""
    private = generated / "private"
    make_assets(private)
    for font in FONTS:
        if font.is_file():
            shutil.copyfile(font, private / font.name)
    (private / "site.css").write_text(SITE_CSS)
    (private / "more.css").write_text(MORE_CSS)


@dataclass
class Round:
    data: Path
    site: Site
    wire: Wire
    browser: Browser


def set_assets(data: Path, mode: str) -> bool:
    """The default site's ``assets`` setting (``cwmn-web site settings default --assets``);
    False when this server has no such setting (no asset store: every mode is direct)."""
    env = {**os.environ, "CWMN_DATA_DIR": str(data)}
    command = [sys.executable, "-m", "cwmn_web.server.cli", "site", "settings", "default"]
    done = subprocess.run([*command, "--assets", mode], env=env, capture_output=True, text=True)
    return done.returncode == 0


def metrics(cdp: CDPSession) -> dict[str, float]:
    got = cdp.send("Performance.getMetrics")
    return {m["name"]: float(m["value"]) for m in got["metrics"]}


def session(r: Round, context: BrowserContext, page: Page, url: str) -> dict[str, Any]:
    """One session on a freshly loaded ``url``; its figures."""
    r.site.reset()
    page.goto(url)
    page.wait_for_function(READY, timeout=TIMEOUT)
    failure = page.evaluate("CwmnAPI._debug().failure")
    if failure:
        raise RuntimeError(f"CWMN failed: {failure}")
    page.evaluate("document.fonts.ready.then(() => true)")
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    before = metrics(cdp)
    t0 = float(page.evaluate("performance.now()"))
    page_bytes, page_requests = r.site.reset()
    r.wire.reset()
    started = page.evaluate(f"({SETTLE})({START})")
    if not started["ok"]:
        raise RuntimeError(f"session.start failed: {started}")
    page.wait_for_function("CwmnAPI.getCurrentState() === 'in session'", timeout=TIMEOUT)
    in_session = time.monotonic()
    deadline = in_session + TIMEOUT / 1000
    while r.wire.quiet_for() < QUIET_S or time.monotonic() - in_session < MIN_WINDOW_S:
        if time.monotonic() > deadline:
            raise RuntimeError("the asset uploads did not settle")
        page.wait_for_timeout(100)  # polling the server's counters, not a synchronising sleep
    after = metrics(cdp)
    t1 = float(page.evaluate("performance.now()"))
    long_tasks = page.evaluate("t0 => __longTasks.filter(([s]) => s >= t0)", t0)
    counters = page.evaluate("CwmnAPI._debug().assets || null")
    wire = r.wire.reset()
    site_bytes, site_requests = r.site.reset()
    ended = page.evaluate(f"({SETTLE})(CwmnAPI.session.endSession())")
    if not ended["ok"]:
        raise RuntimeError(f"endSession failed: {ended}")
    cdp.detach()
    return {
        "window_ms": t1 - t0,
        "task_ms": (after["TaskDuration"] - before["TaskDuration"]) * 1000,
        "script_ms": (after["ScriptDuration"] - before["ScriptDuration"]) * 1000,
        "style_layout_ms": sum(
            (after[m] - before[m]) * 1000 for m in ("RecalcStyleDuration", "LayoutDuration")
        ),
        "long_tasks": len(long_tasks),
        "long_task_ms": sum(d for _, d in long_tasks),
        "load_bytes": page_bytes,
        "load_requests": page_requests,
        **wire,
        "site_bytes": site_bytes,
        "site_requests": site_requests,
        "counters": counters,
    }


@contextlib.contextmanager
def one_round(data: Path, generated: Path, browser: Browser) -> Iterator[Round]:
    """A new cwmn server (an empty store, ``data``) and the site."""
    data.mkdir()
    build = AssetServer(Settings(data_dir=data).dist_dir)
    wires: list[Wire] = []

    def wrap(app: Any) -> Wire:
        wires.append(Wire(app))
        return wires[0]

    def build_id() -> str:
        return build.build_id

    with (
        cwmn_server(data, wrap=wrap) as (url, _),
        Site(url, build_id, generated, Network()).running() as site,
    ):
        yield Round(data, site, wires[0], browser)


def _round(r: Round, runs: dict[str, list[dict[str, Any]]], modes: tuple[str, ...]) -> bool:
    """Both modes' sessions (first, second) on one server; whether it has the store."""
    store = True
    for mode in modes:
        store = set_assets(r.data, mode) and store
        url = r.site.url("assets/index.html?cwmn=default")
        context = r.browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_init_script(recorder_script())
        context.add_init_script(LONG_TASKS)
        name, value = PRIVATE_COOKIE
        context.add_cookies([{"name": name, "value": value, "url": r.site.url("")}])
        page = context.new_page()
        for kind in KINDS:
            runs[f"{mode}_{kind}"].append(session(r, context, page, url))
        context.close()
    return store


def run() -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {f"{m}_{k}": [] for m in MODES for k in KINDS}
    load = [load_average()]
    store = True
    with tempfile.TemporaryDirectory(prefix="cwmn-bench-assets-") as tmp, sync_playwright() as pw:
        generated = Path(tmp) / "gen"
        make_private(generated)  # once: every round serves the same bytes
        browser = pw.chromium.launch(**launch_args("chromium"))
        try:
            for n in range(ROUNDS):
                with one_round(Path(tmp) / f"data-{n}", generated, browser) as r:
                    modes = MODES if n % 2 == 0 else MODES[::-1]
                    store = _round(r, runs, modes) and store
        finally:
            browser.close()
    load.append(load_average())
    results: dict[str, Any] = {"rounds": ROUNDS, "store": store, "load_average": load}
    for name, figures in runs.items():
        results[name] = {
            key: {**stats([f[key] for f in figures]), "runs": [f[key] for f in figures]}
            for key in figures[0]
            if key != "counters"
        }
        results[name]["counters"] = [f["counters"] for f in figures]
    return results


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a (0 direct)"


def report(results: dict[str, Any]) -> list[str]:
    store = "" if results["store"] else " (NO asset store on this server: both modes direct)"
    lines = [
        f"asset store vs assets=direct, an account page with 23 private images/backgrounds,"
        f" 4 fonts, 2 stylesheets (Chromium, loopback, median of {results['rounds']} each,"
        f" alternating; load average {' -> '.join(results['load_average'])}){store}",
    ]
    for kind, label in (("first", "first session (uploads)"), ("second", "second (reuse)")):
        s, d = results[f"store_{kind}"], results[f"direct_{kind}"]
        lines.append(f"  {label}:")
        for key, name in (
            ("task_ms", "main thread"),
            ("script_ms", "script"),
            ("style_layout_ms", "style+layout"),
            ("long_task_ms", "long tasks"),
        ):
            a, b = s[key]["median"], d[key]["median"]
            lines.append(
                f"    {name:12s} store {a:7.0f} ms   direct {b:7.0f} ms   ratio {_ratio(a, b)}"
                f" ({a - b:+.0f} ms)"
            )
        for key, name in (
            ("upload_bytes", "uploaded"),
            ("mirror_bytes", "mirror"),
            ("site_bytes", "site fetches"),
        ):
            a, b = s[key]["median"], d[key]["median"]
            lines.append(
                f"    {name:12s} store {a / 1e3:7.0f} kB   direct {b / 1e3:7.0f} kB"
                f"   ratio {_ratio(a, b)}"
            )
        lines.append(
            f"    store: {s['upload_requests']['median']:.0f} upload requests, window"
            f" {s['window_ms']['median'] / 1000:.1f} s"
            f" (direct {d['window_ms']['median'] / 1000:.1f} s), page load"
            f" {s['load_bytes']['median'] / 1e3:.0f} kB; counters {s['counters'][-1]}"
        )
    return lines
