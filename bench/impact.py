"""Customer-page impact benchmark (issue 13): the same realistic page with and without the
embed, in the same run, alternating.

``bench/pages/shop/``: a shop's marketing page (hero image, 24 product cards, a web font, a
stylesheet, a site script with a hydration-like task, ~1,200 elements) and its next page (a
product page). Images are generated at start (:func:`bench.site.make_assets`). Both servers
sit behind the same simulated network (:data:`NETWORK`): loopback alone makes every load
~0 ms. A visit in a fresh context is the first visit, then the product page is opened in the
same tab (the next page, warm cache).

Per visit: the load event (``loadEventStart``), Largest Contentful Paint (the last
``largest-contentful-paint`` entry), Total Blocking Time (sum of max(0, long task - 50 ms) for
long tasks starting between navigation and :data:`WINDOW_MS` after load, the same window
with and without), and the bytes the site and the cwmn server sent (with the embed, counted
once CWMN is ready, so its whole download is included whenever it starts).
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from cwmn_web.testing.recorder import recorder_script

from .harness import ByteCounter, load_average, stats
from .site import Network, Site, site_rig
from .startup import READY

RUNS = 11  # medians of 5 moved by ±15 % from run to run on this 2-core VM
WINDOW_MS = 5000
TIMEOUT = 120_000
TARGET = 1.05
#: ~ a good home connection: 60 ms before each response (round trip and server time), then
#: 20 Mbit/s per response
NETWORK = Network(delay=0.060, rate=2.5e6)

PROBE = """
(() => {
  if (window !== window.top) return;
  const m = window.__perf = { lcp: 0, longTasks: [] };
  new PerformanceObserver((list) => list.getEntries().forEach((e) => { m.lcp = e.startTime; }))
    .observe({ type: 'largest-contentful-paint', buffered: true });
  new PerformanceObserver((list) => list.getEntries()
    .forEach((e) => m.longTasks.push([e.startTime, e.duration])))
    .observe({ type: 'longtask', buffered: true });
})();
"""

AFTER_WINDOW = """(w) => performance.now() >
  performance.getEntriesByType('navigation')[0].loadEventStart + w"""

MEASURE = """(windowMs) => {
  const load = performance.getEntriesByType('navigation')[0].loadEventStart;
  const end = load + windowMs;
  const tbt = __perf.longTasks.filter(([start]) => start <= end)
    .reduce((sum, [, d]) => sum + Math.max(0, d - 50), 0);
  return { load_ms: load, lcp_ms: __perf.lcp, tbt_ms: tbt,
           nodes: document.getElementsByTagName('*').length };
}"""


def _visit(page: Page, url: str, embed: bool, site: Site, counter: ByteCounter) -> dict[str, float]:
    site.reset()
    counter.reset()
    page.goto(url)
    page.wait_for_function(
        AFTER_WINDOW,
        arg=WINDOW_MS,
        polling=100,
        timeout=TIMEOUT,
    )
    figures: dict[str, float] = page.evaluate(MEASURE, WINDOW_MS)
    if embed:
        page.wait_for_function(READY, timeout=TIMEOUT)
        failure = page.evaluate("CwmnAPI._debug().failure")
        if failure:
            raise RuntimeError(f"CWMN failed on {url}: {failure}")
    page_bytes, page_requests = site.reset()
    cwmn_bytes, cwmn_requests = counter.reset()
    return {
        **figures,
        "page_bytes": page_bytes,
        "page_requests": page_requests,
        "cwmn_bytes": cwmn_bytes,
        "cwmn_requests": cwmn_requests,
        "total_bytes": page_bytes + cwmn_bytes,
    }


def run() -> dict[str, Any]:
    visits: dict[str, list[dict[str, float]]] = {
        f"{variant}_{kind}": [] for variant in ("with", "without") for kind in ("first", "next")
    }
    load = [load_average()]
    with site_rig(NETWORK, assets=True) as r:
        for i in range(RUNS):
            order = ("with", "without") if i % 2 == 0 else ("without", "with")
            for variant in order:
                embed = variant == "with"
                query = "cwmn=default" if embed else "cwmn=none"
                context = r.browser.new_context()
                context.add_init_script(PROBE)
                context.add_init_script(recorder_script())
                page = context.new_page()
                for kind, path in (("first", "index.html"), ("next", "product.html?p=2")):
                    url = r.site.url(f"shop/{path}{'&' if '?' in path else '?'}{query}")
                    visits[f"{variant}_{kind}"].append(_visit(page, url, embed, r.site, r.counter))
                context.close()
    load.append(load_average())
    results: dict[str, Any] = {
        "network": NETWORK.describe(),
        "window_ms": WINDOW_MS,
        "load_average": load,
    }
    for name, runs in visits.items():
        results[name] = {
            key: {**stats([v[key] for v in runs]), "runs": [v[key] for v in runs]}
            for key in runs[0]
        }
    return results


def report(results: dict[str, Any]) -> list[str]:
    window = results["window_ms"] / 1000
    lines = [
        f"customer page with / without the embed (Chromium, median of {RUNS} each, alternating;"
        f" {results['network']}; TBT from navigation to load + {window:.0f} s;"
        f" load average {' -> '.join(results['load_average'])})",
    ]
    for kind, label in (("first", "first visit"), ("next", "next page")):
        w, wo = results[f"with_{kind}"], results[f"without_{kind}"]
        lines.append(f"  {label}:")
        for key, name in (("load_ms", "load event"), ("lcp_ms", "LCP"), ("tbt_ms", "TBT")):
            a, b = w[key]["median"], wo[key]["median"]
            ratio = f"{a / b:.2f}x" if b >= 1 else "n/a (0 without)"
            met = "" if b < 1 else (" met" if a / b <= TARGET else " NOT met")
            lines.append(
                f"    {name:11s} with {a:7.0f} ms   without {b:7.0f} ms   ratio {ratio}"
                f" (target <= {TARGET}{met})"
            )
        a, b = w["total_bytes"]["median"], wo["total_bytes"]["median"]
        lines.append(
            f"    bytes       with {a / 1e3:7.0f} kB (page {w['page_bytes']['median'] / 1e3:.0f}"
            f" + cwmn {w['cwmn_bytes']['median'] / 1e3:.0f} kB, {w['cwmn_requests']['median']:.0f}"
            f" cwmn requests)   without {b / 1e3:7.0f} kB   ratio {a / b:.2f}x"
        )
    return lines
