"""Route keys: what a socket's URL says about the session it is for, so that any server
process can pipe it to the one holding that session's room (docs/DESIGN.md, "Many
processes"). The key is the sha256 of the token the socket will present, never the token."""

from __future__ import annotations

import hashlib

__all__ = ["INVITE", "LINK", "RESUME", "with_route"]

RESUME, INVITE, LINK = "resume", "invite", "link"
"""A host resuming (its resume token), a host accepting an invitation to host (its token),
a guest joining (its link's token)."""


def with_route(url: str, kind: str, token: str) -> str:
    """``url`` with the route key of ``token`` as ``kind`` (no key for an empty token)."""
    if not token:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}{kind}={hashlib.sha256(token.encode()).hexdigest()}"
