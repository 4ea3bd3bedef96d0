"""How an invite leaves: the interface every transport offers, and the development outbox.

Real transports: :mod:`.smtp` (email) and :mod:`.twilio` (SMS). A channel without
settings uses :class:`OutboxTransport`, which keeps the message in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from ..db import InviteStatus, Store

__all__ = ["Delivery", "OutboxTransport", "Outgoing", "Transport"]


@dataclass(frozen=True)
class Outgoing:
    """One composed invite. ``email`` is the message to deliver (email channel only)."""

    invite_id: str
    channel: str
    to: str
    recipient: str
    """``to`` as shown to a person: ``Name <address>`` for an email."""
    subject: str
    text: str
    html: str | None
    link: str
    email: EmailMessage | None = None


@dataclass(frozen=True)
class Delivery:
    """``status``: ``sent`` (the provider took it) or ``outbox``; the provider's id for it."""

    status: InviteStatus
    provider_id: str


class Transport(Protocol):
    name: str

    async def deliver(self, item: Outgoing) -> Delivery:
        """Hand ``item`` over; raise ``invite_failed`` (refused) or ``invite_unavailable``."""
        ...


class OutboxTransport:
    """Keeps messages in the development outbox (``GET /outbox``, ``cwmn-web outbox``)."""

    name = "outbox"

    def __init__(self, store: Store) -> None:
        self.store = store

    async def deliver(self, item: Outgoing) -> Delivery:
        row = await run_in_threadpool(
            self.store.keep_message,
            item.invite_id,
            item.channel,
            item.recipient,
            item.subject,
            item.text,
            item.html,
            item.link,
        )
        return Delivery(InviteStatus.OUTBOX, f"outbox:{row}")
