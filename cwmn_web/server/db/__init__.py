"""Storage with SQLAlchemy (SQLite by default): :mod:`.schema` holds every table, one module
per concept holds its records and methods, and :class:`Store` gathers them.

Secrets (resume tokens, link tokens, device cookies) are stored only as sha256 hashes.
"""

from __future__ import annotations

from .database import Store
from .guests import GuestRecord
from .host_invites import HostInviteRecord
from .invites import InviteRecord
from .links import LinkRecord
from .messages import KeptMessage
from .replays import ReplayRecord
from .schema import (
    EndReason,
    InviteKind,
    InviteStatus,
    LinkKind,
    RenderStage,
    ReplayStatus,
    SendStatus,
)
from .sessions import SessionRecord
from .tokens import token_hash

__all__ = [
    "EndReason",
    "GuestRecord",
    "HostInviteRecord",
    "InviteKind",
    "InviteRecord",
    "InviteStatus",
    "KeptMessage",
    "LinkKind",
    "LinkRecord",
    "RenderStage",
    "ReplayRecord",
    "ReplayStatus",
    "SendStatus",
    "SessionRecord",
    "Store",
    "token_hash",
]
