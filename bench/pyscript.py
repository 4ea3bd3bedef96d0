"""PyScript page: one Pyodide (``data-python="page"``, the SDK in PyScript's interpreter) or
two (the default stub: the SDK in its own worker beside PyScript's). ``python -m bench pyscript``.

The same /demo/pyscript page both ways; for "two", the page is served without the attribute
and its Python without the lines that attach the SDK. Cold visits (a fresh context each),
alternating, in Chromium: time to ``ready no session``, bytes from the server (workers
included), workers started, the page's longest block and long task, and the PSS of all the
browser's processes once ready.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.sync_api import Route

from cwmn_web.testing.recorder import recorder_script

from .harness import BLOCK_PROBE, Rig, rig, stats

RUNS = 3
DEMO_PY = Path(__file__).parents[1] / "static" / "pyscript_demo.py"
ATTACH_LINES = (
    '    await pyodide_js.loadPackage("cwmn-web")\n',
    "    from cwmn_web.browser.page import attach\n",
    "    attach()\n",
)


def _without_attach() -> str:
    text = DEMO_PY.read_text()
    for line in ATTACH_LINES:
        assert line in text, f"{DEMO_PY} changed: update bench/pyscript.py"
        text = text.replace(line, "")
    return text


def _pss_mb() -> float:
    """PSS of every process below this one (the Playwright driver and the browser)."""
    parents: dict[str, str] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[pid] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
    me, total = str(os.getpid()), 0
    for pid in parents:
        up = pid
        while up in parents and up != me:
            up = parents[up]
        if up == me and pid != me:
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            except OSError:
                continue
            total += sum(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
    return total / 1024


def _visit(r: Rig, two: bool) -> dict[str, float]:
    context = r.browser.new_context()
    context.add_init_script(BLOCK_PROBE)
    context.add_init_script(recorder_script())
    if two:
        python = _without_attach()

        def page(route: Route) -> None:
            html = route.fetch().text().replace(' data-python="page"', "")
            route.fulfill(body=html, content_type="text/html; charset=utf-8")

        context.route("**/demo/pyscript", page)
        context.route("**/static/pyscript_demo.py", lambda route: route.fulfill(body=python))
    tab = context.new_page()
    r.counter.reset()
    tab.goto(r.url + "/demo/pyscript")
    tab.wait_for_function("CwmnAPI.getCurrentState() === 'no session'", timeout=120_000)
    tab.locator("#log li", has_text="Python is ready").wait_for(timeout=120_000)
    ready = tab.evaluate("window.__cwmnLog.events.find(e => e.name === 'ready no session').t")
    tab.wait_for_timeout(300)
    blocks = tab.evaluate("(() => { __blocks.stop = true; return __blocks; })()")
    result = {
        "ready_ms": ready,
        "bytes": r.counter.reset()[0],
        "workers": len(tab.workers),
        "longest_block_ms": blocks["maxGap"],
        "longest_long_task_ms": max(blocks["longTasks"], default=0.0),
        "pss_mb": _pss_mb(),
    }
    context.close()
    return result


def run() -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"one": [], "two": []}
    with rig() as r:
        _visit(r, two=False)  # warm the OS's file cache, unreported
        for _ in range(RUNS):
            for mode in runs:
                runs[mode].append(_visit(r, two=mode == "two"))
    return {mode: {k: stats([v[k] for v in vs]) for k in vs[0]} for mode, vs in runs.items()}


def report(results: dict[str, Any]) -> list[str]:
    def med(mode: str, key: str) -> float:
        return float(results[mode][key]["median"])

    lines = [f"PyScript page, one Pyodide vs two (Chromium, cold, median of {RUNS}):"]
    for mode in ("one", "two"):
        lines.append(
            f"  {mode}: ready {med(mode, 'ready_ms'):6.0f} ms, "
            f"{med(mode, 'bytes') / 1e6:5.2f} MB, {med(mode, 'workers'):.0f} worker(s), "
            f"longest block {med(mode, 'longest_block_ms'):5.0f} ms, "
            f"PSS {med(mode, 'pss_mb'):5.0f} MB"
        )
    return lines
