"""The SDK's Python in the page's own Pyodide (e.g. PyScript's) instead of a worker of its own.

Embed the stub with ``data-python="page"``: it then starts no worker and leaves one end of a
``MessageChannel`` as ``CwmnAPI._port``. The page's Python loads this package and calls
:func:`attach`, which runs the same bridge as the worker (:mod:`.worker`) on that port::

    import pyodide_js
    await pyodide_js.loadPackage("cwmn-web")  # Pyodide served by cwmn-web knows the wheel
    from cwmn_web.browser.page import attach
    attach()

One Pyodide in the page instead of two; the SDK's Python then shares the page's main thread.
"""

from __future__ import annotations

from typing import Any

import js  # type: ignore[import-not-found]

from .worker import WorkerBridge, start

__all__ = ["attach"]


def attach(api: Any = None) -> WorkerBridge:
    """Run the SDK in this interpreter, on the port the stub (``data-python="page"``) left."""
    api = api if api is not None else getattr(js, "CwmnAPI", None)
    port = getattr(api, "_port", None) if api is not None else None
    if port is None:
        raise RuntimeError(
            'cwmn_web: no CwmnAPI._port; embed cwmn.js with data-python="page" before this '
            "code runs (and attach once)"
        )
    js.Reflect.deleteProperty(api, "_port")
    return start(port)
