"""Launch options for Debian's Chromium and Firefox ESR under Playwright."""

from __future__ import annotations

import shutil
from typing import Any

from ..system_browsers import CHROMIUM, CHROMIUM_ARGS, FIREFOX

__all__ = ["CHROMIUM", "FIREFOX", "launch_args"]


def launch_args(browser_name: str, **extra: Any) -> dict[str, Any]:
    """Playwright ``launch()`` keyword arguments for the system browser ``browser_name``."""
    if browser_name == "chromium":
        path = shutil.which("chromium") or CHROMIUM
        return {"executable_path": path, "args": [*CHROMIUM_ARGS, *extra.pop("args", [])], **extra}
    if browser_name == "firefox":
        path = shutil.which("firefox-esr") or FIREFOX
        return {"executable_path": path, "channel": "moz-firefox", **extra}
    raise ValueError(f"no system browser configured for {browser_name!r}")
