"""Every core module imports on CPython with ``js`` and ``pyodide`` absent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import cwmn_web

PACKAGE = Path(cwmn_web.__file__).parent
EDGES = ("cwmn_web.browser", "cwmn_web.server")

# A None entry in sys.modules makes ``import js`` raise ImportError.
PROBE = """
import importlib, sys
for name in ("js", "pyodide", "pyodide.ffi", "pyodide.http", "_pyodide", "pyodide_js"):
    sys.modules[name] = None
importlib.import_module(sys.argv[1])
loaded = [m for m in ("js", "pyodide") if sys.modules.get(m) is not None]
assert not loaded, loaded
"""


def core_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if not any(name == edge or name.startswith(edge + ".") for edge in EDGES):
            names.append(name)
    return names


def test_the_core_modules_are_found() -> None:
    names = core_modules()
    for expected in (
        "cwmn_web",
        "cwmn_web.errors",
        "cwmn_web.protocol.codec",
        "cwmn_web.protocol.messages",
        "cwmn_web.client.states",
        "cwmn_web.client.controller",
        "cwmn_web.client.requests",
    ):
        assert expected in names
    assert not any(n.startswith(EDGES) for n in names)


def test_the_browser_edge_really_needs_js() -> None:
    # Guards the probe itself: it must make a js-importing module fail.
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "cwmn_web.browser.connection"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImportError" in result.stderr or "ModuleNotFoundError" in result.stderr


@pytest.mark.parametrize("module", core_modules())
def test_imports_without_js(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
