"""Browser compatibility from feature detection results. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["REQUIRED_FEATURES", "missing_features"]

#: Features the host side needs; the stub detects each and passes true/false.
REQUIRED_FEATURES: tuple[str, ...] = (
    "WebAssembly",
    "WebSocket",
    "Worker",
    "MutationObserver",
    "Promise",
    "fetch",
    "sessionStorage",
    "requestAnimationFrame",
)


def missing_features(features: Mapping[str, object]) -> list[str]:
    """The required features the browser lacks (empty when compatible)."""
    return [name for name in REQUIRED_FEATURES if features.get(name) is not True]
