"""A page script that records every CwmnAPI event (name, arguments, state) for assertions.

Install it with Playwright's ``add_init_script``: it hooks ``window.CwmnAPI`` as the embed
defines it, so it records from ``init`` on without touching the page's own code.
"""

from __future__ import annotations

import json

from ..client.events import EVENTS

__all__ = ["recorder_script"]

_TEMPLATE = """
(() => {
  const names = %s;
  const log = { events: [], consoleErrors: [] };
  window.__cwmnLog = log;
  let api;
  const record = (name, args) => log.events.push({
    name, args: JSON.parse(JSON.stringify(args)), state: api.getCurrentState(),
    t: performance.now() });
  const origError = console.error;
  console.error = function (...args) {
    log.consoleErrors.push(args.map(String).join(' '));
    origError.apply(console, args);
  };
  Object.defineProperty(window, 'CwmnAPI', {
    configurable: true,
    get() { return api; },
    set(value) {
      api = value;
      api.on('init', () => {
        record('init', []);
        names.forEach((n) => { if (n !== 'init') api.on(n, (...a) => record(n, a)); });
      });
    },
  });
})();
"""


def recorder_script() -> str:
    """The JavaScript source; ``window.__cwmnLog.events`` holds what it recorded."""
    return _TEMPLATE % json.dumps(list(EVENTS))
