"""Instant start: the host's worker and the guest viewer's worker restore the Python memory
snapshot build.py made; one that cannot be restored (a part missing or corrupt) makes the
worker say so on the console and start Python the normal way, and CWMN still works."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from cwmn_web.testing import CwmnServer, PageServer
from cwmn_web.testing.recorder import recorder_script

from .conftest import wait_state
from .test_embed import START, settle

FALLBACK = "could not restore the Python snapshot"
ASSETS = Path(__file__).resolve().parents[2] / "static" / "dist" / "assets"


def snapshot_parts() -> list[dict[str, Any]]:
    """The parts worker.mjs lists (what build.py wrote into it)."""
    worker = (ASSETS / "worker.mjs").read_text()
    listed = json.loads(worker.split("const SNAPSHOT = ", 1)[1].split(";\n", 1)[0])
    assert listed["parts"][0]["offset"] == 0  # the header is in the first part
    assert sum(p["bytes"] for p in listed["parts"]) <= listed["bytes"]
    return list(listed["parts"])


@pytest.fixture
def fresh_context(browser: Browser) -> Iterator[BrowserContext]:
    """A new profile (empty HTTP cache) recording CwmnAPI events and the console."""
    context = browser.new_context()
    context.add_init_script(recorder_script())
    yield context
    context.close()


def open_host(context: BrowserContext, url: str) -> tuple[Page, list[str]]:
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(url)
    wait_state(page, "no session")
    return page, console


def test_the_host_page_restores_the_snapshot(
    fresh_context: BrowserContext, customer_site: PageServer
) -> None:
    page, console = open_host(fresh_context, customer_site.url("plain.html", hostname="localhost"))
    timings = page.evaluate("CwmnAPI._debug().timings")
    assert "snapshotRestored" in timings and "snapshotFailed" not in timings
    assert "pyodide" not in timings  # no normal boot after the restore
    assert not [line for line in console if FALLBACK in line]
    # The restored Python is the whole SDK: a session starts and ends.
    assert settle(page, START)["ok"]
    wait_state(page, "in session")
    assert settle(page, "CwmnAPI.session.endSession()")["ok"]


def viewer_worker_ops(page: Page) -> list[dict[str, Any]]:
    """Start worker.mjs?entry=viewer on the server's own origin; the ops it posts until
    Python says ``ready`` (or fails)."""
    ops: list[dict[str, Any]] = page.evaluate(
        """async (build) => {
          const worker = new Worker('/assets/' + build + '/worker.mjs?entry=viewer',
                                    { type: 'module' });
          const ops = [];
          await new Promise((resolve) => {
            worker.onmessage = (event) => {
              const message = JSON.parse(event.data);
              ops.push(message);
              if (message.op === 'ready' || message.op === 'fatal') resolve();
            };
          });
          worker.terminate();
          return ops;
        }""",
        (ASSETS.parent / "BUILD").read_text().strip(),
    )
    return ops


def test_the_viewer_worker_restores_the_snapshot(
    fresh_context: BrowserContext, cwmn_server: CwmnServer
) -> None:
    page = fresh_context.new_page()
    page.goto(cwmn_server.url + "/healthz")  # a page of the server's origin, without a CSP
    ops = viewer_worker_ops(page)
    assert [op["op"] for op in ops] == ["marks", "ready"]
    assert "snapshotRestored" in ops[0]["marks"] and "snapshotFailed" not in ops[0]["marks"]


def corrupt(part: dict[str, Any]) -> Callable[[Route], None]:
    """Serve the part with its size right and its bytes wrong."""

    def handle(route: Route) -> None:
        route.fulfill(
            status=200,
            body=b"\xaa" * part["bytes"],
            headers={
                "Access-Control-Allow-Origin": "*",
                "Content-Type": "application/octet-stream",
            },
        )

    return handle


def missing(route: Route) -> None:
    route.fulfill(status=404, body=b"no such asset", headers={"Access-Control-Allow-Origin": "*"})


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_snapshot_that_cannot_be_restored_falls_back_to_a_normal_start(
    damage: str,
    fresh_context: BrowserContext,
    customer_site: PageServer,
    cwmn_server: CwmnServer,
) -> None:
    part = snapshot_parts()[0]
    handler = corrupt(part) if damage == "corrupt" else missing
    fresh_context.route(f"**/pyodide/{part['file']}", handler)
    page, console = open_host(fresh_context, customer_site.url("plain.html", hostname="localhost"))
    timings = page.evaluate("CwmnAPI._debug().timings")
    assert "snapshotFailed" in timings and "snapshotRestored" not in timings
    warned = [line for line in console if FALLBACK in line]
    # The browser checks each part's sha256 (Subresource Integrity): a 404 fails it too.
    reason = "could not be fetched, or is not the file build.py listed"
    assert len(warned) == 1 and reason in warned[0] and part["file"] in warned[0], console
    # Python started the normal way owns the same things: a session starts and ends.
    assert settle(page, START)["ok"]
    wait_state(page, "in session")
    assert settle(page, "CwmnAPI.session.endSession()")["ok"]


def test_a_snapshot_of_another_pyodide_falls_back(
    fresh_context: BrowserContext, cwmn_server: CwmnServer
) -> None:
    """Parts whose hashes match, made by another Pyodide (its build id in the snapshot's
    header differs): Pyodide refuses it, and the viewer's worker boots the normal way."""
    assets = ASSETS
    parts = snapshot_parts()
    first = bytearray((assets / "pyodide" / parts[0]["file"]).read_bytes())
    first[16:48] = bytes(0xFF - b for b in first[16:48])  # the header's 256-bit build id
    integrity = "sha256-" + base64.b64encode(hashlib.sha256(first).digest()).decode()
    worker = (assets / "worker.mjs").read_text().replace(parts[0]["integrity"], integrity)
    cors = {"Access-Control-Allow-Origin": "*"}
    fresh_context.route(
        "**/worker.mjs?entry=viewer",
        lambda r: r.fulfill(body=worker, content_type="text/javascript", headers=cors),
    )
    fresh_context.route(
        f"**/pyodide/{parts[0]['file']}", lambda r: r.fulfill(body=bytes(first), headers=cors)
    )
    page = fresh_context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("worker", lambda w: w.on("console", lambda m: console.append(m.text)))
    page.goto(cwmn_server.url + "/healthz")
    ops = viewer_worker_ops(page)
    assert [op["op"] for op in ops] == ["marks", "ready"]
    assert "snapshotFailed" in ops[0]["marks"] and "pyodide" in ops[0]["marks"]
    assert any(FALLBACK in line and "build id" in line for line in console), console


def test_a_stalled_part_is_given_up_and_python_starts_the_normal_way(
    fresh_context: BrowserContext, cwmn_server: CwmnServer
) -> None:
    """A part whose response never comes cancels the restore after SNAPSHOT_TIMEOUT (30 s,
    shortened here to 1 s in the served worker.mjs); the worker boots the normal way."""
    worker = (ASSETS / "worker.mjs").read_text()
    assert "const SNAPSHOT_TIMEOUT = 30_000;" in worker
    worker = worker.replace("const SNAPSHOT_TIMEOUT = 30_000;", "const SNAPSHOT_TIMEOUT = 1_000;")
    cors = {"Access-Control-Allow-Origin": "*"}
    fresh_context.route(
        "**/worker.mjs?entry=viewer",
        lambda r: r.fulfill(body=worker, content_type="text/javascript", headers=cors),
    )
    stalled: list[Route] = []
    part = snapshot_parts()[-1]
    fresh_context.route(f"**/pyodide/{part['file']}", lambda r: stalled.append(r))  # never answered
    page = fresh_context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))  # Firefox reports workers' here
    page.on("worker", lambda w: w.on("console", lambda m: console.append(m.text)))
    page.goto(cwmn_server.url + "/healthz")
    ops = viewer_worker_ops(page)
    assert stalled, "the part was never asked for"
    assert [op["op"] for op in ops] == ["marks", "ready"]
    assert "snapshotFailed" in ops[0]["marks"] and "pyodide" in ops[0]["marks"]
    assert any(FALLBACK in line and "took more than 1 s" in line for line in console), console
