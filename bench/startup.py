"""Startup benchmark (issue 13): how long the host and guests wait for CWMN, next to plain
``loadPyodide()`` in a module Worker measured in the same run.

- plain: ``bench/pages/startup/pyodide.html`` (on the customer's origin) starts a module
  Worker that imports the server's ``pyodide.mjs`` and awaits ``loadPyodide({indexURL})``;
  navigation → its end. Cold: a fresh context; warm: a second visit in the same context.
- host ready: navigation → ``ready no session`` on ``startup/page.html`` with the embed
  (default tag, and ``data-start="eager"``); cold: a fresh context, warm: the next page.
- Warm figures, plain and embed alike, come after DWELL on the first page (a visitor
  reads a page before clicking on): what the first page started in the background (V8's
  code caches, the HTTP cache's writes) is then done, as it would be for a real visitor.
- guest first view: a host page in a session; a guest opens a new private link
  (``?name=Bench``) → the host page's marker shows in the viewer's iframe. Cold: a fresh
  context; warm: a second link in the same context.
- navigation gap: the host clicks a link to the next page (a real click on an ``<a>``) →
  the guest's viewer shows the new page's marker.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import BrowserContext, Page

from cwmn_web.testing import CwmnHost
from cwmn_web.testing.pages import with_name
from cwmn_web.testing.recorder import recorder_script

from .harness import load_average, stats
from .site import Site, site_rig

RUNS = 5  # medians of 3 moved by ±0.02x from run to run on this 2-core VM
TIMEOUT = 120_000
DWELL = 3_000  # ms on a first page before the next one (warm figures)
#: figure → (the plain figure it is compared with, target ratio or None)
TARGETS = {
    "host_default_cold": ("cold", 0.35),
    "host_default_warm": ("warm", 0.25),
    "host_eager_cold": ("cold", 0.35),
    "host_eager_warm": ("warm", 0.25),
    "guest_cold": ("cold", 0.45),
    "guest_warm": ("warm", None),
    "navigation_gap": ("warm", 0.35),
}

#: Guest pages: the first time each page marker is visible in the viewer (epoch ms).
WATCH = """
(() => {
  if (window !== window.top) return;
  const seen = window.__seen = {};
  const visible = (f) => (f.checkVisibility
    ? f.checkVisibility({ opacityProperty: true, visibilityProperty: true })
    : f.offsetWidth > 0);
  const look = () => {
    for (const f of document.querySelectorAll('#cwmn-stage iframe, iframe.cwmn-frame')) {
      let text = '';
      try { text = f.contentDocument.body.textContent; } catch (e) { continue; }
      if (!text || !visible(f)) continue;
      for (const m of text.match(/BENCH-MARK-p\\d+/g) || []) {
        if (!(m in seen)) seen[m] = performance.timeOrigin + performance.now();
      }
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})();
"""

#: Host pages: when the user clicked (epoch ms), kept across the navigation it starts.
CLICKS = """
window.addEventListener('click', () => sessionStorage.setItem('bench-click',
  String(performance.timeOrigin + performance.now())), true);
"""

READY = """() => window.__cwmnLog && (
  __cwmnLog.events.some((e) => e.name === 'ready no session') ||
  (window.CwmnAPI && CwmnAPI._debug().failure))"""


def _ready_ms(page: Page) -> float:
    page.wait_for_function(READY, timeout=TIMEOUT)
    t = page.evaluate(
        "(__cwmnLog.events.find((e) => e.name === 'ready no session') || {}).t"
        " ?? CwmnAPI._debug().failure"
    )
    if not isinstance(t, (int, float)):
        raise RuntimeError(f"CWMN did not get ready on {page.url}: {t}")
    return float(t)


def _plain(context: BrowserContext, site: Site, dwell: float = 0) -> float:
    page = context.new_page()
    page.goto(site.url("startup/pyodide.html"))
    page.wait_for_function("window.__plain", timeout=TIMEOUT)
    result = page.evaluate("window.__plain")
    page.wait_for_timeout(dwell)
    page.close()
    if "error" in result:
        raise RuntimeError(f"plain loadPyodide() failed: {result['error']}")
    return float(result["ready"])


def _host_ready(context: BrowserContext, site: Site, variant: str) -> tuple[float, float]:
    page = context.new_page()
    page.goto(site.url(f"startup/page.html?p=1&cwmn={variant}"))
    cold = _ready_ms(page)
    page.wait_for_timeout(DWELL)
    page.goto(site.url(f"startup/page.html?p=2&cwmn={variant}"))
    warm = _ready_ms(page)
    page.close()
    return cold, warm


def _first_view(context: BrowserContext, host: CwmnHost, marker: str, dwell: float = 0) -> float:
    page = context.new_page()
    page.goto(with_name(host.invite_link(), "Bench"))
    page.wait_for_function("m => window.__seen && __seen[m]", arg=marker, timeout=TIMEOUT)
    seen = float(page.evaluate("m => __seen[m] - performance.timeOrigin", marker))
    page.wait_for_timeout(dwell)
    page.close()
    return seen


def run() -> dict[str, Any]:
    figures: dict[str, list[float]] = {key: [] for key in ("cold", "warm", *TARGETS)}
    load = [load_average()]
    with site_rig() as r:
        browser, site = r.browser, r.site
        for _ in range(RUNS):  # plain and the embed's variants interleaved: the same drift
            context = browser.new_context()
            figures["cold"].append(_plain(context, site, DWELL))
            figures["warm"].append(_plain(context, site))
            context.close()
            for variant in ("default", "eager"):
                context = browser.new_context()
                context.add_init_script(recorder_script())
                cold, warm = _host_ready(context, site, variant)
                figures[f"host_{variant}_cold"].append(cold)
                figures[f"host_{variant}_warm"].append(warm)
                context.close()

        host_context = browser.new_context()
        host_context.add_init_script(recorder_script())
        host_context.add_init_script(CLICKS)
        host = CwmnHost(host_context.new_page(), timeout=TIMEOUT)
        host.page.goto(site.url("startup/page.html?p=1&cwmn=default"))
        host.wait_until_ready()
        host.start_session("Bench", "bench@example.com")
        for _ in range(RUNS):
            context = browser.new_context()
            context.add_init_script(WATCH)
            figures["guest_cold"].append(_first_view(context, host, "BENCH-MARK-p1", DWELL))
            figures["guest_warm"].append(_first_view(context, host, "BENCH-MARK-p1"))
            context.close()

        context = browser.new_context()
        context.add_init_script(WATCH)
        guest = context.new_page()
        guest.goto(with_name(host.invite_link(), "Bench"))
        guest.wait_for_function("window.__seen && __seen['BENCH-MARK-p1']", timeout=TIMEOUT)
        for p in range(2, RUNS + 2):
            host.page.click("#next")
            marker = f"BENCH-MARK-p{p}"
            guest.wait_for_function("m => __seen[m]", arg=marker, timeout=TIMEOUT)
            host.page.wait_for_url(f"**p={p}&*", timeout=TIMEOUT)
            host.wait_for_state("in session")
            clicked = float(host.page.evaluate("Number(sessionStorage.getItem('bench-click'))"))
            figures["navigation_gap"].append(guest.evaluate("m => __seen[m]", marker) - clicked)
        context.close()
        host.end_session()
        host_context.close()
    load.append(load_average())
    results: dict[str, Any] = {key: {**stats(v), "runs": v} for key, v in figures.items()}
    return {**results, "load_average": load}


def _ratio(results: dict[str, Any], key: str) -> tuple[float, float, str]:
    base, target = TARGETS[key]
    value, plain = results[key]["median"], results[base]["median"]
    ratio = value / plain
    goal = f"target <= {target:.2f}: {'met' if ratio <= target else 'not met'}" if target else ""
    return value, ratio, goal


def report(results: dict[str, Any]) -> list[str]:
    cold, warm = results["cold"]["median"], results["warm"]["median"]
    lines = [
        f"startup (Chromium, median of {RUNS}); plain loadPyodide() in a module Worker, same run:"
        f" cold {cold:.0f} ms, warm {warm:.0f} ms (navigation -> loadPyodide() resolved; warm"
        f" after {DWELL / 1000:.0f} s on the first page);"
        f" load average {' -> '.join(results['load_average'])}",
    ]
    names = {
        "host_default": "host ready, default tag",
        "host_eager": "host ready, data-start=eager",
        "guest": "guest first view",
    }
    for prefix, label in names.items():
        parts = []
        for kind in ("cold", "warm"):
            value, ratio, goal = _ratio(results, f"{prefix}_{kind}")
            goal = f" ({goal})" if goal else ""
            parts.append(f"{kind} {value:6.0f} ms = {ratio:.2f}x plain {kind}{goal}")
        lines.append(f"  {label:30s} " + "   ".join(parts))
    value, ratio, goal = _ratio(results, "navigation_gap")
    lines.append(f"  {'navigation gap':30s} {value:6.0f} ms = {ratio:.2f}x plain warm ({goal})")
    return lines
