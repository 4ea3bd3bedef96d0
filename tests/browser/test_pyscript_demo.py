"""The PyScript demo (/demo/pyscript): a page whose own code is Python drives CwmnAPI, and the
SDK's Python runs in PyScript's Pyodide (data-python="page"): one Pyodide, no worker."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext

from cwmn_web.testing import CwmnServer
from cwmn_web.testing.pages import CwmnGuest, CwmnHost

pytestmark = pytest.mark.timeout(240)

#: Records, from before any page script, the workers the page starts and the wasm modules
#: it compiles (but feature probes of a few bytes).
COUNTER = """
(() => {
  const seen = { workers: [], wasm: [] };
  window.__cwmnCounts = seen;
  const Native = window.Worker;
  window.Worker = class extends Native {
    constructor(url, options) {
      super(url, options);
      seen.workers.push((options && options.name) || String(url));
    }
  };
  for (const name of ['compile', 'compileStreaming', 'instantiate', 'instantiateStreaming']) {
    const native = WebAssembly[name];
    WebAssembly[name] = function (...args) {
      const source = args[0];  // bytes, a Module, or a Response (streaming)
      if (name.endsWith('Streaming')) Promise.resolve(source).then((r) => seen.wasm.push(r.url));
      else if (source && source.byteLength > 1e6) seen.wasm.push(`${source.byteLength} bytes`);
      return native.apply(this, args);
    };
  }
})();
"""


@pytest.fixture
def cwmn_host_context(cwmn_host_context: BrowserContext) -> BrowserContext:
    cwmn_host_context.add_init_script(COUNTER)
    return cwmn_host_context


@pytest.fixture
def cwmn_host_url(cwmn_server: CwmnServer) -> str:
    return cwmn_server.url + "/demo/pyscript"


def log_line(host: CwmnHost, text: str) -> None:
    host.page.locator("#log li", has_text=text).first.wait_for(timeout=30_000)


def test_python_page_drives_the_sdk_in_one_pyodide(
    host: CwmnHost, cwmn_server: CwmnServer, cwmn_join: Callable[..., CwmnGuest]
) -> None:
    page = host.page
    # Ready: the page's Python attached the SDK and heard init and ready no session.
    for line in ("Python is ready", "event: init", "event: ready no session"):
        log_line(host, line)
    counts = page.evaluate("window.__cwmnCounts")
    assert counts["workers"] == []  # neither the SDK nor PyScript started a worker
    wasm = page.evaluate(
        "performance.getEntriesByType('resource').map(e => e.name).filter(n => n.endsWith('.wasm'))"
    )
    assert len(wasm) == 1 and wasm[0].startswith(f"{cwmn_server.url}/assets/"), wasm
    assert counts["wasm"] == wasm, counts  # one Pyodide compiled, on this page
    assert page.evaluate("'_port' in CwmnAPI") is False  # taken by attach()
    resources = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert [r for r in resources if not r.startswith(cwmn_server.url)] == []  # no CDN

    # Start from the page's button (Python calls CwmnAPI.session.start).
    page.click("#start")
    host.wait_for_state("in session")
    log_line(host, "event: in session")
    log_line(host, "started by Ann")
    assert page.text_content("#state") == "in session"

    guest = cwmn_join("Bea")
    log_line(host, "guest connected: Bea")  # the Python handler's line
    guest.wait_for_text("cwmn_web from Python")
    page.click("#guests")
    log_line(host, "guests: Bea (via private)")
    page.click("#invite")
    page.wait_for_function("document.getElementById('link').href.includes('/join/')")

    page.click("#end")
    host.wait_for_state("no session")
    log_line(host, "event: end session")
    log_line(host, "(ended)")
    guest.page.wait_for_function("window.cwmnViewer.state.ended")
    page.click("#guests")
    log_line(host, "no session: no guests")
    assert host.events("guest connected")[0]["args"][1]["name"] == "Bea"
