"""Launch options for Debian's Chromium and Firefox ESR under Playwright."""

from __future__ import annotations

import os
import shutil
from typing import Any

from ..system_browsers import CHROMIUM, CHROMIUM_ARGS, FIREFOX

__all__ = ["CHROMIUM", "FIREFOX", "FIREFOX_WEBGL_ENV", "FIREFOX_WEBGL_PREFS", "launch_args"]

#: Headless Firefox on a machine without a GPU has no WebGL unless it is told to use Mesa's
#: software EGL in its own process (measured: without these, ``getContext('webgl')`` is null
#: with "Exhausted GL driver options"), so pages with WebGL canvases can be tested there too.
FIREFOX_WEBGL_PREFS: dict[str, Any] = {"webgl.force-enabled": True, "webgl.out-of-process": False}
FIREFOX_WEBGL_ENV = {"MOZ_WEBGL_FORCE_EGL": "1", "LIBGL_ALWAYS_SOFTWARE": "1"}


def launch_args(browser_name: str, **extra: Any) -> dict[str, Any]:
    """Playwright ``launch()`` keyword arguments for the system browser ``browser_name``."""
    if browser_name == "chromium":
        path = shutil.which("chromium") or CHROMIUM
        return {"executable_path": path, "args": [*CHROMIUM_ARGS, *extra.pop("args", [])], **extra}
    if browser_name == "firefox":
        path = shutil.which("firefox-esr") or FIREFOX
        prefs = {**FIREFOX_WEBGL_PREFS, **extra.pop("firefox_user_prefs", {})}
        env = {**os.environ, **FIREFOX_WEBGL_ENV, **extra.pop("env", {})}
        return {
            "executable_path": path,
            "channel": "moz-firefox",
            "firefox_user_prefs": prefs,
            "env": env,
            **extra,
        }
    raise ValueError(f"no system browser configured for {browser_name!r}")
