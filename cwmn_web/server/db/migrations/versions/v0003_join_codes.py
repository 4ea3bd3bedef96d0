"""Join codes: ``join_codes`` (a code's HMAC, its session, expiry, use) and
``join_code_failures`` (wrong codes by client key, which the /join limits count).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "join_code_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_join_code_failures_at", "join_code_failures", ["at"])
    op.create_index("ix_join_code_failures_client_at", "join_code_failures", ["client", "at"])
    op.create_table(
        "join_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    op.create_index("ix_join_codes_expires_at", "join_codes", ["expires_at"])
    op.create_index("ix_join_codes_session_id", "join_codes", ["session_id"])


def downgrade() -> None:
    op.drop_table("join_codes")
    op.drop_table("join_code_failures")
