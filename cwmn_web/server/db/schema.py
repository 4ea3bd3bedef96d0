"""The database schema: every table, and the values its status columns take.

Every change here needs its Alembic migration (``migrations/versions/``; write it with
``python -m cwmn_web.server.db.migrations revision "what changed"``, docs/deploy/database.md):
``Store.create()`` applies them, and ``tests/server/test_migrations.py`` fails when their
head differs from this schema. Statuses are :class:`~enum.StrEnum`\\ s whose values
are what the columns and the wire hold.
"""

from __future__ import annotations

from enum import StrEnum

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

__all__ = [
    "EndReason",
    "InviteKind",
    "InviteStatus",
    "LinkKind",
    "RenderStage",
    "ReplayStatus",
    "SendStatus",
    "asset_blobs",
    "domains",
    "guests",
    "host_invites",
    "invites",
    "join_code_failures",
    "join_codes",
    "kept_messages",
    "links",
    "metadata",
    "page_assets",
    "replays",
    "room_owners",
    "server_processes",
    "sessions",
    "site_host_keys",
    "sites",
]


class EndReason(StrEnum):
    """Why a session ended (``sessions.end_reason``)."""

    ENDED = "ended"
    """By its host."""
    EXPIRED = "expired"
    """Past its maximum length, or its host gone for good."""
    INVITE_FAILED = "invite_failed"
    """The invitation to host it reached nobody."""
    IDLE = "idle"
    """Extension: nobody did anything for its idle timeout (``CWMN_IDLE_TIMEOUT``)."""


class LinkKind(StrEnum):
    """A join link's kind (``links.kind``, and ``guests.via``: the link a guest came by)."""

    PRIVATE = "private"
    PUBLIC = "public"
    INVITE = "invite"
    """A private link the server sent (email or SMS)."""


class InviteKind(StrEnum):
    GUEST = "guest"
    """``guest.inviteGuest``."""
    HOST = "host"
    """``session.inviteToHost``."""
    VIDEO = "video"
    """A replay's video link (``replay.sendVideo``)."""


class InviteStatus(StrEnum):
    """How an invite went (``invites.status``)."""

    QUEUED = "queued"
    """A replay's video link, sent once the video is ready."""
    SENDING = "sending"
    SENT = "sent"
    """The mail server or SMS provider took it."""
    OUTBOX = "outbox"
    """Kept in the development outbox (:data:`kept_messages`) instead."""
    FAILED = "failed"


class ReplayStatus(StrEnum):
    """``replays.status``, in the order a replay goes through them."""

    RECORDING = "recording"
    QUEUED = "queued"
    RENDERING = "rendering"
    COMPLETE = "complete"
    FAILED = "failed"
    ABANDONED = "abandoned"

    @property
    def final(self) -> bool:
        """The replay's video (or its lack) never changes any more."""
        return self in (ReplayStatus.COMPLETE, ReplayStatus.FAILED, ReplayStatus.ABANDONED)


class RenderStage(StrEnum):
    """Where a render is (``replays.stage``)."""

    QUEUED = "queued"
    REPLAYING = "replaying"
    ENCODING = "encoding"
    DONE = "done"


class SendStatus(StrEnum):
    """The email of a replay's video link (``replays.send_status``)."""

    NONE = ""
    """None asked for."""
    QUEUED = "queued"
    """For when the video is ready."""
    SENDING = "sending"
    """Claimed by one sender."""
    SENT = "sent"
    OUTBOX = "outbox"
    FAILED = "failed"


metadata = MetaData()
sites = Table(
    "sites",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("settings", Text, nullable=False, default="{}"),
    # Hosts must present a token signed with one of the site's keys (docs/HOST_TOKENS.md).
    Column("host_tokens", Boolean),
)
# The keys a site's backend signs host tokens with, by key id (several while rotating).
site_host_keys = Table(
    "site_host_keys",
    metadata,
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("kid", String(64), primary_key=True),
    Column("secret", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
)
domains = Table(
    "site_domains",
    metadata,
    Column("domain", String(253), primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
)
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False),
    Column("host_name", String(200), nullable=False),
    Column("host_email", String(254), nullable=False),
    Column("is_replay", Boolean, nullable=False, default=False),
    Column("origin", String(300), nullable=False),
    Column("page_url", Text, nullable=False, default=""),
    Column("resume_token_hash", String(64), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("end_reason", String(32)),
    # The host's controls, kept so that a restart (or another process) does not lose them.
    Column("privacy", Boolean, nullable=False, default=False, server_default=false()),
    Column("mute_all", Boolean, nullable=False, default=False, server_default=false()),
    # The host token's subject (``sub``) on a site that requires tokens: a verified host.
    Column("host_subject", String(256)),
    # Whether ``host_name`` came from a host token's ``name`` (guests see it verified).
    Column("host_name_verified", Boolean, nullable=False, default=False, server_default=false()),
)
links = Table(
    "links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False, default=LinkKind.PRIVATE.value),
    Column("device_hash", String(64)),
    Column("guest_id", String(64)),
    Column("guest_name", String(100)),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float),
)
guests = Table(
    "guests",
    metadata,
    Column("guest_id", String(64), primary_key=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False, index=True),
    Column("link_hash", String(64), nullable=False),
    Column("device_hash", String(64), nullable=False),
    Column("via", String(16), nullable=False),
    Column("name", String(100), nullable=False, default=""),
    Column("joined_at", Float, nullable=False),
    Column("removed_at", Float),
    Column("muted", Boolean, nullable=False, default=False, server_default=false()),
    # One row per device on a link (two simultaneous joins insert one: guests.py).
    Index("ix_guests_link_device", "link_hash", "device_hash", unique=True),
)
invites = Table(
    "invites",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False, default=InviteKind.GUEST.value),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False, index=True),
    # None for an invite that makes its session later (an invite to host).
    Column("session_id", String(64), ForeignKey("sessions.id"), index=True),
    Column("link_hash", String(64)),
    Column("channel", String(8), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("status", String(16), nullable=False),
    Column("provider", String(16), nullable=False, default=""),
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
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("invite_id", String(32), ForeignKey("invites.id"), nullable=False, unique=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False, unique=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("inviter_name", String(100), nullable=False),
    Column("inviter_email", String(254), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),
    # Wrong codes given so far (``host_codes.MAX_CODE_ATTEMPTS`` of them cancel it).
    Column("wrong_codes", Integer, nullable=False, server_default="0"),
)
# The development outbox: invites kept instead of delivered (the table keeps its old name).
kept_messages = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invite_id", String(32), ForeignKey("invites.id"), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("recipient", Text, nullable=False),  # "Name <address>" can pass 400 characters
    Column("subject", Text, nullable=False, default=""),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text),
    Column("link", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)
# A replay session's recording and its render job (one row per replay session). Its
# started_at/ended_at are milliseconds since the epoch.
replays = Table(
    "replays",
    metadata,
    Column("id", String(64), ForeignKey("sessions.id"), primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False),
    Column("host_name", String(200), nullable=False),
    Column("host_email", String(254), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("percent", Float, nullable=False, default=0.0),
    Column("stage", String(16), nullable=False, default=RenderStage.QUEUED.value),
    Column("eta_seconds", Float, nullable=False, default=-1.0),
    Column("error", Text),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("max_seconds", Float, nullable=False),
    Column("has_audio", Boolean, nullable=False, default=False),
    Column("base_url", Text, nullable=False, default=""),
    Column("video_token", String(64), nullable=False, unique=True),  # its sha256, in fact
    Column("video_bytes", BigInteger),
    Column("send_to", Text),
    Column("send_subject", Text),
    Column("send_message", Text),
    Column("send_status", String(16), nullable=False, default=SendStatus.NONE.value),
    Column("worker_id", String(64)),
    Column("heartbeat_at", Float),
    Column("attempts", Integer, nullable=False, default=0),
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
    metadata,
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
    metadata,
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
    metadata,
    Column("id", String(32), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False, index=True),
)
room_owners = Table(
    "room_owners",
    metadata,
    Column(
        "session_id", String(64), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("process_id", String(32), nullable=False, index=True),
    Column("since", Float, nullable=False),
)
# Join codes (docs/control/join-codes.md): 8 digits a guest types on ``/join``, stored only
# as an HMAC under the server's key; a redeemed code makes a private link (one device).
join_codes = Table(
    "join_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("session_id", String(64), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("used_at", Float),
    Index("ix_join_codes_session_id", "session_id"),
)
# Wrong join codes typed, by client key: the per-client and server-wide limits count them.
join_code_failures = Table(
    "join_code_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client", String(64), nullable=False),
    Column("at", Float, nullable=False, index=True),
    Index("ix_join_code_failures_client_at", "client", "at"),
)
