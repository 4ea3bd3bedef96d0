"""The development outbox (table ``outbox``): invites kept instead of delivered, for a
developer to read (``GET /outbox``, ``cwmn-web outbox``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from .engine import EngineStore, inserted_id, stamp
from .schema import kept_messages

__all__ = ["KeptMessage", "KeptMessageStore"]


@dataclass(frozen=True)
class KeptMessage:
    """An invite's message kept in the development outbox instead of being delivered."""

    id: int
    invite_id: str
    channel: str
    recipient: str
    subject: str
    body_text: str
    body_html: str | None
    link: str
    created_at: float


class KeptMessageStore(EngineStore):
    def keep_message(
        self,
        invite_id: str,
        channel: str,
        recipient: str,
        subject: str,
        body_text: str,
        body_html: str | None,
        link: str,
        now: float | None = None,
    ) -> int:
        """Keep a message in the outbox instead of delivering it; returns its id."""
        with self.engine.begin() as db:
            return inserted_id(
                db.execute(
                    kept_messages.insert().values(
                        invite_id=invite_id,
                        channel=channel,
                        recipient=recipient,
                        subject=subject,
                        body_text=body_text,
                        body_html=body_html,
                        link=link,
                        created_at=stamp(now),
                    )
                )
            )

    def kept_messages(self, limit: int = 50) -> list[KeptMessage]:
        """The newest ``limit`` kept messages, newest first."""
        table = kept_messages
        query = select(table).order_by(table.c.created_at.desc(), table.c.id.desc())
        with self.engine.connect() as db:
            return [KeptMessage(**r._mapping) for r in db.execute(query.limit(limit)).all()]
