"""Secrets (resume tokens, link tokens, device cookies) are stored only as sha256 hashes."""

from __future__ import annotations

import hashlib

__all__ = ["token_hash"]


def token_hash(token: str) -> str:
    """The sha256 (hex) under which a secret token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()
