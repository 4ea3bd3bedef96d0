"""Embed benchmark: time to init / ready no session, longest main-thread block, bytes.

Cold = a fresh browser context (empty HTTP cache); warm = a second visit in the same one.
Baseline = the same plain page without the embed, measured in the same run.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser

from cwmn_web.testing.recorder import recorder_script

from .harness import BLOCK_PROBE, ByteCounter, rig, stats

RUNS = 3


def _visit(
    browser: Browser, context: Any, url: str, counter: ByteCounter, embed: bool, window_ms: float
) -> dict[str, float]:
    page = context.new_page()
    counter.reset()
    page.goto(url)
    if embed:
        page.wait_for_function(
            "window.CwmnAPI && CwmnAPI.getCurrentState() === 'no session'", timeout=60_000
        )
        times = page.evaluate("Object.fromEntries(window.__cwmnLog.events.map(e => [e.name, e.t]))")
        page.wait_for_timeout(200)
    else:
        times = {}
        page.wait_for_timeout(window_ms)
    blocks = page.evaluate("(() => { __blocks.stop = true; return __blocks; })()")
    sent, requests = counter.reset()
    page.close()
    return {
        "init_ms": times.get("init", 0.0),
        "ready_ms": times.get("ready no session", 0.0),
        "longest_block_ms": blocks["maxGap"],
        "longest_long_task_ms": max(blocks["longTasks"], default=0.0),
        "bytes": sent,
        "requests": requests,
    }


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with rig() as r:
        counter, site, browser = r.counter, r.site, r.browser
        embed_url = site.url("plain.html", hostname="localhost")
        base_url = site.url("baseline.html", hostname="localhost")
        cold, warm = [], []
        for _ in range(RUNS):
            context = browser.new_context()
            context.add_init_script(BLOCK_PROBE)
            context.add_init_script(recorder_script())
            cold.append(_visit(browser, context, embed_url, counter, True, 0))
            warm.append(_visit(browser, context, embed_url, counter, True, 0))
            context.close()
        window = stats([r["ready_ms"] for r in cold])["median"]
        baseline = []
        for _ in range(RUNS):
            context = browser.new_context()
            context.add_init_script(BLOCK_PROBE)
            baseline.append(_visit(browser, context, base_url, counter, False, window))
            context.close()
    for name, runs in (("cold", cold), ("warm", warm), ("baseline", baseline)):
        results[name] = {key: stats([r[key] for r in runs]) for key in runs[0]}
    return results


def report(results: dict[str, Any]) -> list[str]:
    c, w, b = results["cold"], results["warm"], results["baseline"]

    def med(part: dict[str, Any], key: str) -> float:
        return float(part[key]["median"])

    block_ratio = med(c, "longest_block_ms") / max(med(b, "longest_block_ms"), 0.1)
    return [
        f"embed on a plain page (Chromium, median of {RUNS}):",
        f"  time to init              cold {med(c, 'init_ms'):7.0f} ms"
        f"   warm {med(w, 'init_ms'):7.0f} ms",
        f"  time to ready no session  cold {med(c, 'ready_ms'):7.0f} ms"
        f"   warm {med(w, 'ready_ms'):7.0f} ms",
        f"  longest main-thread block cold {med(c, 'longest_block_ms'):7.1f} ms"
        f"   warm {med(w, 'longest_block_ms'):7.1f} ms"
        f"   baseline page {med(b, 'longest_block_ms'):6.1f} ms (cold/baseline {block_ratio:.2f})",
        f"  longest long task         cold {med(c, 'longest_long_task_ms'):7.1f} ms"
        f"   warm {med(w, 'longest_long_task_ms'):7.1f} ms   (0 = none over 50 ms)",
        f"  bytes from the server     cold {med(c, 'bytes') / 1e6:7.2f} MB"
        f" ({med(c, 'requests'):.0f} requests)   warm {med(w, 'bytes') / 1e3:6.1f} kB"
        f" ({med(w, 'requests'):.0f} requests)",
        "  budget: longest block <= 200 ms (goal 50 ms)",
    ]
