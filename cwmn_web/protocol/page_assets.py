"""The page-asset store's shared names (docs/FIDELITY.md): a routed URL's key and origin,
the kinds.

Host and server compute the same key for a URL: the first 32 hex digits of the sha256 of the
absolute URL without its fragment. No I/O here.
"""

from __future__ import annotations

import hashlib
from typing import Final
from urllib.parse import urlsplit

__all__ = ["FILE", "KEY_LENGTH", "KINDS", "STYLE", "origin_of", "url_key", "without_fragment"]

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


_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) ``url`` as a browser's ``Origin`` names it (lower
    case, default port left out, an IPv6 host in brackets), else None. The host compares a
    URL's with the page's and the site's ``assetOrigins``; the server normalises those."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    shown = "" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}"
    return f"{scheme}://{host}{shown}"
