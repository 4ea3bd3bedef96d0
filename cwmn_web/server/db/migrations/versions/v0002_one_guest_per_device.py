"""One guest row per device on a link: ``ix_guests_link_device`` becomes unique.

Two simultaneous joins of one device could each insert a row; the join now inserts with
``ON CONFLICT DO NOTHING`` and reads the row that won. Duplicates made before are removed
(the first of each pair stays).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM guests WHERE EXISTS (SELECT 1 FROM guests AS kept"
        " WHERE kept.link_hash = guests.link_hash AND kept.device_hash = guests.device_hash"
        " AND (kept.joined_at < guests.joined_at OR (kept.joined_at = guests.joined_at"
        " AND kept.guest_id < guests.guest_id)))"
    )
    op.drop_index("ix_guests_link_device", table_name="guests")
    op.create_index("ix_guests_link_device", "guests", ["link_hash", "device_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_guests_link_device", table_name="guests")
    op.create_index("ix_guests_link_device", "guests", ["link_hash", "device_hash"])
