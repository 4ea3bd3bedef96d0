"""Host change → visible in a guest's viewer: latency p50/p99 on one machine.

The host page writes its wall-clock time into an element; the guest page watches its
viewer iframe and, on the next animation frame after the change lands (when it can be
painted), notes the difference. Both run in one Chromium, so they share the clock.
"""

from __future__ import annotations

from typing import Any

from .harness import percentile, rig

CHANGES = 200
INTERVAL_MS = 50

WATCH = """() => {
  window.latencies = [];
  const doc = document.querySelector('iframe.cwmn-frame').contentDocument;
  const seen = () => {
    const el = doc.getElementById('stamp');
    if (!el) return;
    const sent = Number(el.textContent);
    const now = () => performance.timeOrigin + performance.now();
    if (sent > 0) requestAnimationFrame(() => latencies.push(now() - sent));
  };
  new MutationObserver(seen).observe(doc, { subtree: true, childList: true, characterData: true });
}"""


def run() -> dict[str, Any]:
    with rig() as r:
        site, browser = r.site, r.browser
        host = browser.new_context().new_page()
        host.goto(site.url("latency.html", hostname="localhost"))
        host.wait_for_function("CwmnAPI.getCurrentState() === 'no session'", timeout=60_000)
        link = host.evaluate(
            """async () => {
              await CwmnAPI.session.start({hostName: 'Bench', hostEmail: 'bench@example.com'});
              return CwmnAPI.guest.getInviteLink();
            }"""
        )
        guest = browser.new_context().new_page()
        guest.goto(link + "?name=Bench")
        guest.frame_locator("iframe.cwmn-frame").locator("#stamp").wait_for(timeout=60_000)
        guest.evaluate(WATCH)
        for _ in range(CHANGES):
            host.evaluate("tick()")
            host.wait_for_timeout(INTERVAL_MS)
        host.wait_for_timeout(500)
        latencies: list[float] = guest.evaluate("latencies")
    return {
        "changes": CHANGES,
        "seen": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
    }


def report(results: dict[str, Any]) -> list[str]:
    return [
        f"latency host change -> visible in the guest ({results['seen']}/{results['changes']} "
        f"changes seen): p50 {results['p50_ms']:.1f} ms   p99 {results['p99_ms']:.1f} ms   "
        f"max {results['max_ms']:.1f} ms   (targets: p50 <= 30 ms, p99 <= 100 ms)",
    ]
