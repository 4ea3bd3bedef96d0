"""The page-asset store's shared names (docs/FIDELITY.md): a routed URL's key, the kinds.

Host and server compute the same key for a URL: the first 32 hex digits of the sha256 of the
absolute URL without its fragment. No I/O here.
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["FILE", "KEY_LENGTH", "KINDS", "STYLE", "url_key", "without_fragment"]

KEY_LENGTH: Final = 32
#: A stylesheet (served as CSS, its references rewritten by the host) or any other file
#: (an image or a font: the server tells which from its bytes).
STYLE: Final = "style"
FILE: Final = "file"
KINDS: Final = frozenset({STYLE, FILE})


def without_fragment(url: str) -> str:
    """``url`` without its ``#fragment``."""
    return url.split("#", 1)[0]


def url_key(url: str) -> str:
    """The store's key for the absolute ``url`` (its fragment ignored)."""
    return hashlib.sha256(without_fragment(url).encode("utf-8")).hexdigest()[:KEY_LENGTH]
