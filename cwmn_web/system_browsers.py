"""Debian's browsers and the Chromium flags that work on a closed network, for the render
worker (production) and the tests alike."""

from __future__ import annotations

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "FIREFOX"]

CHROMIUM = "/usr/bin/chromium"
FIREFOX = "/usr/bin/firefox-esr"
#: Headless, as root, with no background traffic (a closed network refuses it, noisily).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
