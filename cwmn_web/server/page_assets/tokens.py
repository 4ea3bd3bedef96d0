"""The store's tokens: ``<session_id>.<mac>``, an HMAC of the session id under the server's
secret, one for reading (guests, the renderer) and one for uploading (the host). No I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

__all__ = ["MAC_LENGTH", "READ", "UPLOAD", "asset_token", "token_session"]

READ: Final = "read"
UPLOAD: Final = "upload"
MAC_LENGTH: Final = 22
_MAX_TOKEN: Final = 200


def _mac(key: bytes, purpose: str, session_id: str) -> str:
    message = f"page-assets:{purpose}:{session_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:MAC_LENGTH]


def asset_token(key: bytes, purpose: str, session_id: str) -> str:
    """The ``purpose`` (:data:`READ` or :data:`UPLOAD`) token of the session."""
    return f"{session_id}.{_mac(key, purpose, session_id)}"


def token_session(key: bytes, purpose: str, token: str) -> str | None:
    """The session id ``token`` is a valid ``purpose`` token of, or None (whether that
    session still exists is the caller's to check)."""
    if not 0 < len(token) <= _MAX_TOKEN:
        return None
    session_id, dot, mac = token.rpartition(".")
    if not dot or not session_id:
        return None
    if hmac.compare_digest(mac.encode(), _mac(key, purpose, session_id).encode()):
        return session_id
    return None
