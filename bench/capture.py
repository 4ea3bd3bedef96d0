"""Capture benchmark: full snapshot and a mutation storm, cwmn_web versus rrweb, same run.

Snapshot: rrweb-snapshot's ``snapshot(document)`` (one blocking task) against cwmn_web's
time-sliced capture (static/capture.mjs, main thread) plus the Python encoding of its raw
frame (cwmn_web.client.mirror, timed here on CPython). Storm: 5,000 DOM changes in one task;
the recorder's extra main-thread time over the storm alone, and bytes per change.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page

from cwmn_web.client.mirror import MirrorEncoder

from .harness import BLOCK_PROBE, rig, stats

NODE_COUNTS = (1_000, 10_000, 50_000)
RUNS = 5
NODE_MODULES = Path(__file__).parent / "node_modules"
RRWEB_SNAPSHOT = NODE_MODULES / "rrweb-snapshot" / "dist" / "rrweb-snapshot.umd.min.cjs"
RRWEB = NODE_MODULES / "rrweb" / "dist" / "rrweb.umd.min.cjs"
CONFIG = {"mask": ["[data-cwmn-mask]", ".cwmn-mask"], "block": ["[data-cwmn-block]"]}

# Main-thread cost of a snapshot ready to send: cwmn's time-sliced walk (the slices' busy
# time, not the time between them) plus the JSON text the stub posts to the worker, against
# rrweb's snapshot plus the JSON text a recorder would send.
CWMN_SNAPSHOT = """async (url) => {
  const m = await import(url);
  __blocks.maxGap = 0; __blocks.longTasks = [];
  let raw = null, json = 0;
  await m.start(CONFIG, (kind, data) => {
    if (kind === 'snapshot') { const t = performance.now(); raw = JSON.stringify(data);
                               json = performance.now() - t; } });
  m.stop();
  return { ms: m.stats.snapshotBusyMs + json, wall: m.stats.snapshotMs, block: __blocks.maxGap,
           raw };
}"""

RRWEB_SNAPSHOT_JS = """() => {
  const t0 = performance.now();
  const text = JSON.stringify(rrwebSnapshot.snapshot(document));
  const ms = performance.now() - t0;
  return { ms, block: ms, bytes: text.length };
}"""

STORM = """
window.storm = () => {
  const root = document.getElementById('root');
  const items = root.querySelectorAll('.item');
  const sec = document.createElement('section');
  for (let i = 0; i < 1000; i++) {
    const d = document.createElement('div');
    d.className = 'new'; d.textContent = 'new ' + i; sec.appendChild(d);
  }
  root.appendChild(sec);
  for (let i = 0; i < 2000; i++) items[i % items.length].setAttribute('data-state', 's' + i);
  for (let i = 0; i < 2000; i++) {
    items[(i * 7) % items.length].firstChild.firstChild.data = 'changed ' + i;
  }
  return 5000;
};
"""

CWMN_STORM = """async (url) => {
  const m = await import(url);
  storm();  // warm-up, unrecorded
  let done = null, bytes = 0;
  const got = new Promise((resolve) => { done = resolve; });
  await m.start(CONFIG, (kind, data) => {
    if (kind === 'mutations') { bytes += JSON.stringify(data).length; done(); } });
  const t0 = performance.now();
  storm();
  const stormMs = performance.now() - t0;
  await got;
  m.stop();
  return { cost: m.stats.lastFlushMs, storm: stormMs, bytes };
}"""

RRWEB_STORM = """async () => {
  storm();  // warm-up, unrecorded
  let bytes = 0, first = 0, last = 0;
  const stop = rrweb.record({ emit(e) {
    if (e.type === 3) { bytes += JSON.stringify(e).length; last = performance.now(); } } });
  await new Promise((r) => setTimeout(r, 50));
  let stormEnd = 0;
  const t0 = performance.now();
  storm();
  stormEnd = performance.now();
  await new Promise((r) => setTimeout(r, 300));
  stop();
  return { cost: last - stormEnd, storm: stormEnd - t0, bytes };
}"""

PLAIN_STORM = """() => { const t0 = performance.now(); storm(); return performance.now() - t0; }"""


def _page(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("window.nodeCount > 0")
    page.evaluate(f"window.CONFIG = {json.dumps(CONFIG)}")
    page.add_script_tag(path=str(RRWEB_SNAPSHOT))
    page.add_script_tag(path=str(RRWEB))
    page.add_script_tag(content=STORM)
    return page


def run() -> dict[str, Any]:
    if not RRWEB.exists():
        raise SystemExit("rrweb is missing: run `npm ci --prefix bench` (make bench does)")
    results: dict[str, Any] = {"snapshot": {}, "storm": {}}
    with rig() as r:
        url, site, browser = r.url, r.site, r.browser
        context = browser.new_context()
        context.add_init_script(BLOCK_PROBE)
        build = (Path(__file__).parents[1] / "static" / "dist" / "BUILD").read_text().strip()
        module = f"{url}/assets/{build}/capture.mjs"
        for count in NODE_COUNTS:
            page = _page(context, site.url(f"generated.html?n={count}", hostname="localhost"))
            cw, rr, enc = [], [], []
            for _ in range(RUNS):
                rr.append(page.evaluate(RRWEB_SNAPSHOT_JS))
                c = page.evaluate(CWMN_SNAPSHOT, module)
                raw = json.loads(c.pop("raw"))
                t0 = time.perf_counter()
                wire = MirrorEncoder().snapshot(raw)
                enc.append((time.perf_counter() - t0) * 1000)
                c["bytes"] = len(json.dumps(wire, separators=(",", ":")))
                cw.append(c)
            nodes = page.evaluate("nodeCount")
            page.close()
            results["snapshot"][count] = {
                "nodes": nodes,
                "rrweb_ms": stats([r["ms"] for r in rr]),
                "cwmn_ms": stats([c["ms"] for c in cw]),
                "cwmn_block_ms": stats([c["block"] for c in cw]),
                "python_encode_ms": stats(enc),
                "rrweb_bytes": rr[0]["bytes"],
                "cwmn_bytes": cw[0]["bytes"],
            }
        storm: dict[str, list[float]] = {
            "cwmn": [],
            "rrweb": [],
            "plain": [],
            "cw_b": [],
            "rr_b": [],
        }
        for _ in range(RUNS):
            for name, script in (
                ("plain", PLAIN_STORM),
                ("rrweb", RRWEB_STORM),
                ("cwmn", CWMN_STORM),
            ):
                page = _page(context, site.url("generated.html?n=10000", hostname="localhost"))
                out = page.evaluate(script, module) if name == "cwmn" else page.evaluate(script)
                if name == "plain":
                    storm["plain"].append(out)
                else:
                    storm[name].append(out["cost"])
                    storm["cw_b" if name == "cwmn" else "rr_b"].append(out["bytes"])
                page.close()
        results["storm"] = {key: stats(values) for key, values in storm.items()}
    return results


def report(results: dict[str, Any]) -> list[str]:
    lines = [
        "capture: full snapshot, main-thread time incl. JSON (Chromium; Python encode in the"
        f" worker, timed on CPython), median of {RUNS}:"
    ]
    for count, r in results["snapshot"].items():
        ratio = r["cwmn_ms"]["median"] / r["rrweb_ms"]["median"]
        lines.append(
            f"  {count:>6} nodes: rrweb {r['rrweb_ms']['median']:7.1f} ms (one block)   cwmn "
            f"{r['cwmn_ms']['median']:7.1f} ms, longest block "
            f"{r['cwmn_block_ms']['median']:5.1f} ms"
            f"   ratio {ratio:.2f}   + Python encode {r['python_encode_ms']['median']:.1f} ms"
            f"   bytes cwmn/rrweb {r['cwmn_bytes'] / r['rrweb_bytes']:.2f}"
        )
    s = results["storm"]
    plain = s["plain"]["median"]
    cw, rr = s["cwmn"]["median"], s["rrweb"]["median"]
    lines += [
        "capture: mutation storm (5,000 changes in one task on a 10k-node page), median:",
        f"  recorder main-thread time after the storm: rrweb {rr:.1f} ms   cwmn {cw:.1f} ms"
        "   ratio "
        f"{cw / rr if rr > 0 else float('nan'):.2f}   (storm alone {plain:.1f} ms)",
        f"  bytes per change: rrweb {s['rr_b']['median'] / 5000:.1f}   cwmn "
        f"{s['cw_b']['median'] / 5000:.1f}",
        "  targets: snapshot <= 0.7x rrweb at 10k nodes, storm <= 0.8x, longest block <= 50 ms",
    ]
    return lines
