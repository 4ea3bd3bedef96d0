"""Launch options for Debian's Chromium and Firefox ESR under Playwright."""

from __future__ import annotations

import shutil
from typing import Any

__all__ = ["CHROMIUM", "FIREFOX", "launch_args"]

CHROMIUM = "/usr/bin/chromium"
FIREFOX = "/usr/bin/firefox-esr"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_args(browser_name: str, **extra: Any) -> dict[str, Any]:
    """Playwright ``launch()`` keyword arguments for the system browser ``browser_name``."""
    if browser_name == "chromium":
        path = shutil.which("chromium") or CHROMIUM
        return {"executable_path": path, "args": [*CHROMIUM_ARGS, *extra.pop("args", [])], **extra}
    if browser_name == "firefox":
        path = shutil.which("firefox-esr") or FIREFOX
        return {"executable_path": path, "channel": "moz-firefox", **extra}
    raise ValueError(f"no system browser configured for {browser_name!r}")
