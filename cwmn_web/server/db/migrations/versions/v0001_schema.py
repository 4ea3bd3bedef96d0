"""The schema as it was when migrations began: every table, made if missing.

Databases made before migrations existed (by ``create_all``, with columns added later by
``db/columns.py``) have some or all of these tables: this revision makes the missing ones
and adds the missing columns, so it brings an empty database and an older one alike to the
same schema. Its tables are a frozen copy (later revisions change the schema, not this).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from cwmn_web.server.db.columns import add_missing_columns

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

frozen = MetaData()
sites = Table(
    "sites",
    frozen,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("settings", Text, nullable=False),
    # Hosts must present a token signed with one of the site's keys (docs/HOST_TOKENS.md).
    Column("host_tokens", Boolean),
)
# The keys a site's backend signs host tokens with, by key id (several while rotating).
site_host_keys = Table(
    "site_host_keys",
    frozen,
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("kid", String(64), primary_key=True),
    Column("secret", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
)
domains = Table(
    "site_domains",
    frozen,
    Column("domain", String(253), primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
)
sessions = Table(
    "sessions",
    frozen,
    Column("id", String(64), primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False),
    Column("host_name", String(200), nullable=False),
    Column("host_email", String(254), nullable=False),
    Column("is_replay", Boolean, nullable=False),
    Column("origin", String(300), nullable=False),
    Column("page_url", Text, nullable=False),
    Column("resume_token_hash", String(64), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("end_reason", String(32)),
    # The host's controls, kept so that a restart (or another process) does not lose them.
    Column("privacy", Boolean, nullable=False, server_default=false()),
    Column("mute_all", Boolean, nullable=False, server_default=false()),
    # The host token's subject (``sub``) on a site that requires tokens: a verified host.
    Column("host_subject", String(256)),
    # Whether ``host_name`` came from a host token's ``name`` (guests see it verified).
    Column("host_name_verified", Boolean, nullable=False, server_default=false()),
)
links = Table(
    "links",
    frozen,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("device_hash", String(64)),
    Column("guest_id", String(64)),
    Column("guest_name", String(100)),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float),
)
guests = Table(
    "guests",
    frozen,
    Column("guest_id", String(64), primary_key=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False, index=True),
    Column("link_hash", String(64), nullable=False),
    Column("device_hash", String(64), nullable=False),
    Column("via", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("joined_at", Float, nullable=False),
    Column("removed_at", Float),
    Column("muted", Boolean, nullable=False, server_default=false()),
    Index("ix_guests_link_device", "link_hash", "device_hash"),
)
invites = Table(
    "invites",
    frozen,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False, index=True),
    # None for an invite that makes its session later (an invite to host).
    Column("session_id", String(64), ForeignKey("sessions.id"), index=True),
    Column("link_hash", String(64)),
    Column("channel", String(8), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("status", String(16), nullable=False),
    Column("provider", String(16), nullable=False),
    Column("provider_id", String(256)),
    Column("error", Text),
    Column("created_at", Float, nullable=False, index=True),
    Column("finished_at", Float),
    # Who asked: the host token's identity (JSON sub/name/email) and the client's address.
    Column("host_identity", Text),
    Column("client_address", String(64)),
    # The host token's ``sub`` alone (what the per-host budget counts on token sites).
    Column("host_subject", String(256)),
)
# An invitation to host ("with me"): its session waits for the invitee until it is used.
host_invites = Table(
    "host_invites",
    frozen,
    Column("token_hash", String(64), primary_key=True),
    Column("invite_id", String(32), ForeignKey("invites.id"), nullable=False, unique=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False, unique=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("inviter_name", String(100), nullable=False),
    Column("inviter_email", String(254), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),
    # Wrong codes given so far (``host_codes.MAX_CODE_ATTEMPTS`` of them cancel it).
    Column("wrong_codes", Integer, nullable=False, server_default="0"),
)
# The development outbox: invites kept instead of delivered (the table keeps its old name).
kept_messages = Table(
    "outbox",
    frozen,
    Column("id", Integer, primary_key=True),
    Column("invite_id", String(32), ForeignKey("invites.id"), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("recipient", Text, nullable=False),  # "Name <address>" can pass 400 characters
    Column("subject", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text),
    Column("link", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
# A replay session's recording and its render job (one row per replay session). Its
# started_at/ended_at are milliseconds since the epoch.
replays = Table(
    "replays",
    frozen,
    Column("id", String(64), ForeignKey("sessions.id"), primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False),
    Column("host_name", String(200), nullable=False),
    Column("host_email", String(254), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("percent", Float, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("eta_seconds", Float, nullable=False),
    Column("error", Text),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("max_seconds", Float, nullable=False),
    Column("has_audio", Boolean, nullable=False),
    Column("base_url", Text, nullable=False),
    Column("video_token", String(64), nullable=False, unique=True),  # its sha256, in fact
    Column("video_bytes", BigInteger),
    Column("send_to", Text),
    Column("send_subject", Text),
    Column("send_message", Text),
    Column("send_status", String(16), nullable=False),
    Column("worker_id", String(64)),
    Column("heartbeat_at", Float),
    Column("attempts", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    # The client key of the host that started it (per-client cap on waiting replays).
    Column("client_address", String(64)),
)
# The page-asset store (docs/FIDELITY.md): content by its sha256, per site (so that whether
# content is stored tells nothing about another site's), and what each session's URL key
# maps to (the last upload for a key wins; ``failed`` set: the host could not fetch it).
asset_blobs = Table(
    "asset_blobs",
    frozen,
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    # The type its bytes are served as for kind "file" (None: no image or font).
    Column("file_type", String(64)),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)
page_assets = Table(
    "page_assets",
    frozen,
    Column(
        "session_id", String(64), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("key", String(32), primary_key=True),
    Column("url", Text, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("sha256", String(64), index=True),
    Column("content_type", String(64)),
    Column("size", BigInteger, nullable=False, server_default="0"),
    Column("failed", Text),
    Column("updated_at", Float, nullable=False),
)
# Many server processes (docs/DESIGN.md, "Many processes"): each live one beats here on the
# database's clock; a session's live room is held by exactly one of them (its owner), and the
# others pipe their sockets of that session to it. An owner whose process stopped beating
# is taken over (a conditional UPDATE: exactly one wins).
server_processes = Table(
    "server_processes",
    frozen,
    Column("id", String(32), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False, index=True),
)
room_owners = Table(
    "room_owners",
    frozen,
    Column(
        "session_id", String(64), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("process_id", String(32), nullable=False, index=True),
    Column("since", Float, nullable=False),
)


def upgrade() -> None:
    bind = op.get_bind()
    frozen.create_all(bind)  # only the missing tables
    add_missing_columns(bind, frozen)


def downgrade() -> None:
    frozen.drop_all(op.get_bind())
