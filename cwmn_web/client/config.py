"""Where the server is and what page the host core runs on (the stub's boot message)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ClientConfig"]


@dataclass(frozen=True)
class ClientConfig:
    """Where the server is and what page we are on (from the stub)."""

    server: str
    page_url: str
    features: Mapping[str, object] = field(default_factory=dict)
    resume: Mapping[str, Any] | None = None
    host_invite: str | None = None
    """The token of the invitation to host this page was opened through (its fragment)."""
    mask: tuple[str, ...] = ()
    block: tuple[str, ...] = ()
    early_capture: Mapping[str, Any] | None = None
    """The rules the stub started capturing with before Python was ready (from the resume
    entry), or None: its frames are held until the session resumes (:mod:`.handover`)."""
    page_id: str = field(default_factory=lambda: secrets.token_hex(8))
    host_token: str = ""
    """The host token the page gives (``data-host-token``; docs/HOST_TOKENS.md)."""
    host_token_url: str = ""
    """Where the page fetches host tokens from (``data-host-token-url``)."""

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.server.startswith("https:") else "ws"
        return f"{scheme}://{self.server.split('://', 1)[1].rstrip('/')}/ws"

    @property
    def domain(self) -> str:
        return urlsplit(self.page_url).hostname or ""
