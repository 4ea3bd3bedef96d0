"""Pointer capture benchmark: the host page's main-thread cost of cwmn_web's pointer capture
against a plain-JS recorder, on the same page in the same run.

cwmn_web (in a live session): static/capture.mjs's ``mousemove`` listener feeding its
per-frame flush, which hands one pointer frame per animation frame to the stub, which posts it
(a JSON string) to Python in the worker (which sends it on at most ~30 times a second).
Baseline: what a typical rrweb-like recorder does: a ``mousemove`` listener reading
pageX/pageY, coalesced to one JSON ``postMessage`` per animation frame to a worker of its own.
Also measured: capture.mjs started without a session, its frames posted as the stub would to a
worker that only parses them.

Every variant gets the same EVENTS synthetic ``mousemove`` events (``dispatchEvent`` of a
``MouseEvent`` with clientX/Y, PER_FRAME per animation frame), in BLOCKS interleaved rounds
on one page in a live session (host privacy switches cwmn's capture off between its rounds),
so the machine's slow and fast moments fall on all of them alike. Costs are over the same
driver with no recorder:

- main-thread CPU: the thread time of the page's main-thread tasks in a Chromium trace
  (``toplevel``), which the OS giving the CPU to other threads (our worker, the server, other
  programs) does not inflate;
- in-page time: time inside ``dispatchEvent`` plus time in the recorder's animation-frame
  callbacks (each ``requestAnimationFrame`` callback but the driver's is timed); the page is
  served cross-origin isolated, so ``performance.now()`` resolves 5 µs, not 100 µs.

Also counted: pointer frames reaching each worker per second (cwmn's are counted in the worker
and each handed to Python), those Python sends on to the server (the frame log), and the
workers' CPU time.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page

from cwmn_web.testing import free_port

from .harness import PAGES, rig, stats

EVENTS = 2_000
PER_FRAME = 4
BLOCKS = 5
WARM_UP = 200
RUNS = 3

#: Installed before any page script: times every animation-frame callback the page's code
#: asks for. The driver keeps the original requestAnimationFrame, so its own are not timed.
RAF_TIMER = """
(() => {
  const raf = window.requestAnimationFrame.bind(window);
  const b = window.__ptr = { raf, rafMs: 0 };
  window.requestAnimationFrame = function (callback) {
    return raf((ts) => {
      const t0 = performance.now();
      try { callback(ts); } finally { b.rafMs += performance.now() - t0; }
    });
  };
})();
"""

DRIVE = """async ([events, perFrame]) => {
  const b = window.__ptr, target = document.getElementById('area');
  const frame = () => new Promise((r) => b.raf(r));
  await frame(); await frame();
  b.rafMs = 0;
  let dispatchMs = 0, sent = 0;
  const t0 = performance.now();
  while (sent < events) {
    await frame();
    const batch = [];
    for (let i = 0; i < perFrame && sent + i < events; i++) {
      const k = sent + i;
      batch.push(new MouseEvent('mousemove', { bubbles: true, cancelable: true, composed: true,
        view: window, clientX: 20 + (k * 37) % 900, clientY: 20 + (k * 53) % 600 }));
    }
    const s = performance.now();
    for (const e of batch) target.dispatchEvent(e);
    dispatchMs += performance.now() - s;
    sent += batch.length;
  }
  const wallMs = performance.now() - t0;
  await frame(); await frame();  // the recorder's last flush
  return { dispatchMs, rafMs: b.rafMs, wallMs };
}"""

PLAIN_START = """() => {
  const src = "let n = 0; onmessage = (e) => { if (e.data === 'count') postMessage(n); " +
    "else { JSON.parse(e.data); n++; } };";
  const worker = window.__plainWorker = window.__plainWorker ||
    new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
  let last = null, queued = false;
  const flush = () => {
    queued = false;
    worker.postMessage(JSON.stringify({ type: 'pointer', x: last.x, y: last.y, t: last.t }));
  };
  const onMove = (e) => {
    last = { x: e.pageX, y: e.pageY, t: e.timeStamp };
    if (!queued) { queued = true; requestAnimationFrame(flush); }
  };
  const opts = { capture: true, passive: true };
  document.addEventListener('mousemove', onMove, opts);
  window.__plain = {
    count: () => new Promise((r) => {
      worker.onmessage = (e) => r(e.data);
      worker.postMessage('count');
    }),
    stop: () => document.removeEventListener('mousemove', onMove, opts),
  };
}"""

#: capture.mjs started directly, without a session: its frames go as the stub's would (a JSON
#: string) to a worker that only parses them, not to Python.
ALONE_START = """async (url) => {
  const m = await import(url);
  const src = "onmessage = (e) => { JSON.parse(e.data); };";
  const worker = window.__aloneWorker = window.__aloneWorker ||
    new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
  await m.start({ mask: [], block: [] }, (kind, data) =>
    worker.postMessage(JSON.stringify({ op: 'mirror', kind, data })));
  window.__alone = { stop: () => m.stop() };
}"""

#: In the host's worker: count the pointer frames the page posts, then hand each to Python.
WORKER_COUNTER = """() => {
  const python = self.onmessage;
  self.__pointer = 0;
  self.onmessage = (e) => {
    if (typeof e.data === 'string' && e.data.startsWith('{"op":"mirror","kind":"pointer"')) {
      self.__pointer++;
    }
    return python(e);
  };
  return typeof python;
}"""


@contextlib.contextmanager
def isolated_page(server: str) -> Iterator[str]:
    """Serve bench/pages/pointer.html cross-origin isolated (COOP + COEP); yield its URL.

    A real server rather than a Playwright route: Chromium treats a fulfilled document as
    public, and then refuses its requests to the loopback cwmn server."""
    body = (PAGES / "pointer.html").read_bytes().replace(b"__CWMN_SERVER__", server.encode())

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}/pointer.html"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _thread_cpu(trace: bytes) -> dict[str, float]:
    """CPU time (thread time, so not the time the OS gave other threads) of the top-level
    tasks of the page's main thread and of its workers, in ms, from a Chromium trace."""
    data = json.loads(trace)
    events = data["traceEvents"] if isinstance(data, dict) else data
    names = {
        (e["pid"], e["tid"]): e["args"]["name"]
        for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name"
    }
    spans: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for e in events:
        if e.get("ph") == "X" and "tdur" in e:
            spans.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["dur"], e["tdur"]))

    def top_level(thread: tuple[int, int]) -> float:
        total, end = 0, -1
        for ts, dur, tdur in sorted(spans.get(thread, [])):
            if ts >= end:  # not inside the task before it
                total, end = total + tdur, ts + dur
        return total / 1000

    mains = [t for t, n in names.items() if n == "CrRendererMain"]
    main = max(mains, key=top_level)  # the page's renderer (the busiest one)
    workers = [t for t, n in names.items() if t[0] == main[0] and n.startswith("DedicatedWorker")]
    return {"cpuMs": top_level(main), "workerCpuMs": sum(top_level(t) for t in workers)}


def _drive(page: Page, browser: Browser, events: int) -> dict[str, float]:
    browser.start_tracing(page=page, categories=["toplevel"])
    out: dict[str, float] = page.evaluate(DRIVE, [events, PER_FRAME])
    out.update(_thread_cpu(browser.stop_tracing()))
    out["events"] = events
    out["ms"] = out["dispatchMs"] + out["rafMs"]
    return out


def _pointer_lines(log: Path) -> int:
    if not log.exists():
        return 0
    with log.open(encoding="utf-8") as file:
        return sum(1 for line in file if '"kind":"pointer"' in line)


def _sum(blocks: list[dict[str, float]]) -> dict[str, float]:
    return {key: sum(b[key] for b in blocks) for key in blocks[0]}


def _one_run(browser: Browser, url: str, server: str, log: Path) -> dict[str, Any]:
    """One page: a live session, then BLOCKS rounds of every variant, BLOCK events each, so
    the machine's slower and faster moments fall on all of them alike. Between variants host
    privacy turns cwmn's capture off (no listener) and on again (a fresh snapshot)."""
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    context.add_init_script(RAF_TIMER)
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("CwmnAPI.getCurrentState() === 'no session'", timeout=60_000)
    isolated = page.evaluate("crossOriginIsolated")
    page.evaluate("window.scrollTo(0, 300)")
    host_worker = page.workers[0]
    assert host_worker.evaluate(WORKER_COUNTER) == "function"
    build = page.evaluate("CwmnAPI._debug().build")
    capture_url = f"{server}/assets/{build}/capture.mjs"
    page.evaluate("async (url) => { window.__cap = await import(url); }", capture_url)
    page.evaluate(
        """() => CwmnAPI.session.start({hostName: 'Bench', hostEmail: 'bench@example.com',
                                        isReplay: false})"""
    )
    page.wait_for_function("__cap.stats.snapshotMs > 0", timeout=30_000)

    def privacy(on: bool) -> None:
        page.evaluate(
            "(on) => { __cap.stats.snapshotMs = 0; return CwmnAPI.privacy.setEnabled(on); }", on
        )
        if not on:
            page.wait_for_function("__cap.stats.snapshotMs > 0", timeout=30_000)
        page.wait_for_timeout(50)

    def none(events: int) -> dict[str, float]:
        flushes = page.evaluate("__cap.stats.flushes")
        out = _drive(page, browser, events)
        assert page.evaluate("__cap.stats.flushes") == flushes, "capture still listening"
        return out

    def plain(events: int) -> dict[str, float]:
        page.evaluate(PLAIN_START)
        before = page.evaluate("__plain.count()")
        out = _drive(page, browser, events)
        out["frames"] = page.evaluate("__plain.count()") - before
        page.evaluate("__plain.stop()")
        return out

    def alone(events: int) -> dict[str, float]:
        page.evaluate(ALONE_START, capture_url)
        out = _drive(page, browser, events)
        page.evaluate("__alone.stop()")
        return out

    def cwmn(events: int) -> dict[str, float]:
        privacy(False)
        host_worker.evaluate("self.__pointer = 0")
        flushes = page.evaluate("__cap.stats.flushes")
        out = _drive(page, browser, events)
        out["frames"] = host_worker.evaluate("self.__pointer")
        out["flushes"] = page.evaluate("__cap.stats.flushes") - flushes
        privacy(True)
        return out

    variants = {"none": none, "plain": plain, "alone": alone, "cwmn": cwmn}
    privacy(True)
    for measure in variants.values():  # warm-up: every path compiled and cached
        measure(WARM_UP)
    sent = _pointer_lines(log)
    blocks: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for _ in range(BLOCKS):
        for name, measure in variants.items():
            blocks[name].append(measure(EVENTS // BLOCKS))
    page.wait_for_timeout(300)  # Python's held (trailing) pointer frame
    out: dict[str, Any] = {name: _sum(b) for name, b in blocks.items()}
    out["cwmn"]["to_server"] = _pointer_lines(log) - sent
    out["isolated"] = isolated
    context.close()
    return out


def run() -> dict[str, Any]:
    previous = os.environ.get("CWMN_FRAME_LOG")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "frames.log"
        os.environ["CWMN_FRAME_LOG"] = str(log)  # read when rig() makes the server's Settings
        try:
            with rig() as r, isolated_page(r.url) as url:
                runs = [_one_run(r.browser, url, r.url, log) for _ in range(RUNS)]
        finally:
            if previous is None:
                os.environ.pop("CWMN_FRAME_LOG", None)
            else:
                os.environ["CWMN_FRAME_LOG"] = previous

    def per_k(name: str, key: str) -> dict[str, float]:
        return stats([(run[name][key] - run["none"][key]) / EVENTS * 1000 for run in runs])

    def rate(name: str, key: str) -> dict[str, float]:
        return stats([run[name][key] / run[name]["wallMs"] * 1000 for run in runs])

    def split(name: str) -> dict[str, dict[str, float]]:
        """µs per event in the listener, µs per frame in the recorder's flush."""
        frames = EVENTS / PER_FRAME
        return {
            "listener_us_per_event": stats(
                [
                    (run[name]["dispatchMs"] - run["none"]["dispatchMs"]) / EVENTS * 1e3
                    for run in runs
                ]
            ),
            "flush_us_per_frame": stats([run[name]["rafMs"] / frames * 1e3 for run in runs]),
        }

    def same_run_ratio(key: str) -> dict[str, float]:
        ratios = []
        for run in runs:
            plain = run["plain"][key] - run["none"][key]
            if plain > 0:
                ratios.append((run["cwmn"][key] - run["none"][key]) / plain)
        return stats(ratios) if ratios else {"median": float("nan")}

    return {
        "events": EVENTS,
        "per_frame": PER_FRAME,
        "runs": runs,
        "isolated": all(run["isolated"] for run in runs),
        "plain_ms_per_1k": per_k("plain", "ms"),
        "cwmn_ms_per_1k": per_k("cwmn", "ms"),
        "alone_ms_per_1k": per_k("alone", "ms"),
        "ratio": same_run_ratio("ms"),
        "cpu_ratio": same_run_ratio("cpuMs"),
        "plain_split": split("plain"),
        "cwmn_split": split("cwmn"),
        "plain_cpu_ms_per_1k": per_k("plain", "cpuMs"),
        "cwmn_cpu_ms_per_1k": per_k("cwmn", "cpuMs"),
        "alone_cpu_ms_per_1k": per_k("alone", "cpuMs"),
        "none_cpu_ms_per_1k": stats([run["none"]["cpuMs"] / EVENTS * 1000 for run in runs]),
        "plain_worker_cpu_ms_per_s": rate("plain", "workerCpuMs"),
        "cwmn_worker_cpu_ms_per_s": rate("cwmn", "workerCpuMs"),
        "none_worker_cpu_ms_per_s": rate("none", "workerCpuMs"),
        "none_ms_per_1k": stats([run["none"]["ms"] / EVENTS * 1000 for run in runs]),
        "plain_frames_per_s": rate("plain", "frames"),
        "cwmn_frames_per_s": rate("cwmn", "frames"),
        "cwmn_flushes_per_s": rate("cwmn", "flushes"),
        "cwmn_to_server_per_s": rate("cwmn", "to_server"),
    }


def report(results: dict[str, Any]) -> list[str]:
    def med(key: str, part: str | None = None) -> float:
        value = results[key][part] if part else results[key]
        return float(value["median"])

    clock = "5 µs clock" if results["isolated"] else "NOT isolated: 100 µs clock"
    return [
        f"pointer capture: {results['events']:,} synthetic mousemoves, {results['per_frame']} per"
        f" frame, {BLOCKS} interleaved blocks on one page in a live session (Chromium), host"
        f" main-thread cost per 1,000 events over the same driver alone, median of {RUNS}:",
        f"  main-thread CPU (trace thread time): plain-JS recorder"
        f" {med('plain_cpu_ms_per_1k'):.1f} ms   cwmn {med('cwmn_cpu_ms_per_1k'):.1f} ms"
        f"   ratio {med('cpu_ratio'):.2f} (same-run pairs)   capture.mjs without a session"
        f" {med('alone_cpu_ms_per_1k'):.1f} ms   (driver alone {med('none_cpu_ms_per_1k'):.1f})",
        f"  in-page time in listener + flush ({clock}): plain {med('plain_ms_per_1k'):.1f} ms"
        f"   cwmn {med('cwmn_ms_per_1k'):.1f} ms   ratio {med('ratio'):.2f}   capture.mjs"
        f" without a session {med('alone_ms_per_1k'):.1f} ms",
        f"    per event in the listener: plain"
        f" {med('plain_split', 'listener_us_per_event'):.1f} µs   cwmn"
        f" {med('cwmn_split', 'listener_us_per_event'):.1f} µs;   per frame in the flush: plain"
        f" {med('plain_split', 'flush_us_per_frame'):.0f} µs   cwmn"
        f" {med('cwmn_split', 'flush_us_per_frame'):.0f} µs",
        f"  pointer frames per second: to the plain worker {med('plain_frames_per_s'):.0f}"
        f"   to cwmn's worker (Python) {med('cwmn_frames_per_s'):.0f}"
        f" ({med('cwmn_flushes_per_s'):.0f} flushes/s)"
        f"   Python on to the server {med('cwmn_to_server_per_s'):.0f}",
        f"  workers' CPU per second of moves: plain {med('plain_worker_cpu_ms_per_s'):.1f} ms"
        f"   cwmn (Python) {med('cwmn_worker_cpu_ms_per_s'):.1f} ms"
        f"   (idle Python worker {med('none_worker_cpu_ms_per_s'):.1f} ms)",
    ]
