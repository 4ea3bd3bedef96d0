"""Replay upload benchmark: the bytes a narrated replay sends per minute (the page's stream
and the narration), against rrweb recording the same page doing the same things, same run.

One Chromium page (fake microphone) records a replay for SECONDS while the page changes five
times a second and the pointer moves at 30 Hz; every text frame the host sends is read back
from the server's frame log (``CWMN_FRAME_LOG``) and split into page frames and ``audio``
frames (Opus at 32 kbit/s, base64 in JSON). Then rrweb (``rrweb.record``, default options)
records the same page for the same time with the same changes and moves; its bytes are the
JSON text of every event it emits, which is what an rrweb-based tool uploads.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from .capture import RRWEB
from .harness import rig

SECONDS = 30
POINTER_HZ = 30
FAKE_MIC = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
REPLAY = "CwmnAPI.session.start({hostName: 'Bench', hostEmail: 'b@example.com', isReplay: true})"


def _activity(page: Page) -> float:
    """Run the page's changes and move the pointer for SECONDS; return the elapsed time."""
    page.evaluate("window.__timer = activity()")
    t0 = time.monotonic()
    step = 1 / POINTER_HZ
    i = 0
    while (elapsed := time.monotonic() - t0) < SECONDS:
        i += 1
        page.mouse.move(100 + (i * 7) % 600, 100 + (i * 3) % 400)
        time.sleep(max(0.0, t0 + i * step - time.monotonic()))
    page.evaluate("clearInterval(window.__timer)")
    return elapsed


def _cwmn(page: Page, log: Path) -> dict[str, Any]:
    result = page.evaluate(f"{REPLAY}.then(() => true)")
    assert result is True
    page.wait_for_function("CwmnAPI.session.getSessionInfo().audio === 'recording'")
    offset = log.stat().st_size if log.exists() else 0
    elapsed = _activity(page)
    page.evaluate("CwmnAPI.session.endSession()")
    page.wait_for_function("CwmnAPI.getCurrentState() === 'waiting for replay'")
    sizes = {"page": 0, "audio": 0, "frames": 0}
    with log.open("rb") as file:
        file.seek(offset)
        for line in file:
            frame = json.loads(line)
            if frame.get("type") != "mirror":
                continue
            sizes["audio" if frame["kind"] == "audio" else "page"] += len(line) - 1
            sizes["frames"] += 1
    return {**sizes, "seconds": elapsed}


RRWEB_START = """() => {
  window.__rr = { bytes: 0, events: 0 };
  window.__rrStop = rrweb.record({ emit(e) {
    window.__rr.bytes += JSON.stringify(e).length; window.__rr.events += 1; } });
}"""


def _rrweb(page: Page) -> dict[str, Any]:
    page.add_script_tag(path=str(RRWEB))
    page.evaluate(RRWEB_START)
    elapsed = _activity(page)
    page.wait_for_timeout(600)  # rrweb batches pointer positions every 500 ms
    page.evaluate("window.__rrStop()")
    rr = page.evaluate("window.__rr")
    return {"page": rr["bytes"], "events": rr["events"], "seconds": elapsed}


def run() -> dict[str, Any]:
    if not RRWEB.exists():
        raise SystemExit("rrweb is missing: run `npm ci --prefix bench` (make bench does)")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "frames.log"
        with rig(FAKE_MIC, frame_log=log) as r:
            context = r.browser.new_context(viewport={"width": 1280, "height": 800})
            url = r.site.url("replay.html", hostname="localhost")
            page = context.new_page()
            page.goto(url)
            page.wait_for_function("window.CwmnAPI && CwmnAPI.getCurrentState() === 'no session'")
            cwmn = _cwmn(page, log)
            baseline = context.new_page()
            baseline.goto(url)
            rrweb = _rrweb(baseline)
            context.close()
    return {"cwmn": cwmn, "rrweb": rrweb, "seconds": SECONDS, "pointer_hz": POINTER_HZ}


def per_minute(sample: dict[str, Any], key: str) -> float:
    return float(sample[key]) * 60 / float(sample["seconds"])


def report(results: dict[str, Any]) -> list[str]:
    cw, rr = results["cwmn"], results["rrweb"]
    page, audio, base = per_minute(cw, "page"), per_minute(cw, "audio"), per_minute(rr, "page")
    return [
        f"replay upload: {results['seconds']} s, 5 page changes/s, pointer "
        f"{results['pointer_hz']} Hz (bytes per minute of recording):",
        f"  cwmn page stream {page / 1e3:7.1f} kB/min   rrweb {base / 1e3:7.1f} kB/min   "
        f"ratio {page / base:.2f}",
        f"  cwmn narration   {audio / 1e3:7.1f} kB/min (Opus 32 kbit/s, base64 in JSON)   "
        f"total {(page + audio) / 1e3:.1f} kB/min",
    ]
