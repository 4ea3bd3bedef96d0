"""Storage with SQLAlchemy: sites, their domains, sessions, links, guests, invites (to guests
and to host), the development outbox, and replays (``Store.replays``). SQLite by default.

Secrets (resume tokens, link tokens, device cookies) are stored only as sha256 hashes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Engine

from .config import DEFAULT_DOMAINS
from .sites import Site, domain_matches, normalise_domain

if TYPE_CHECKING:
    from .replays.db import ReplayStore

__all__ = [
    "GuestRecord",
    "HostInviteRecord",
    "InviteRecord",
    "LinkRecord",
    "OutboxRecord",
    "SessionRecord",
    "Store",
    "token_hash",
]

metadata = MetaData()
sites = Table(
    "sites",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("settings", Text, nullable=False, default="{}"),
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
)
links = Table(
    "links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False, default="private"),
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
    Index("ix_guests_link_device", "link_hash", "device_hash"),
)

invites = Table(
    "invites",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False, default="guest"),
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
)
outbox = Table(
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
# A replay session's recording and its render job (one row per replay session; the
# methods are in replays/db.py). Times are milliseconds since the epoch.
replays = Table(
    "replays",
    metadata,
    Column("id", String(64), ForeignKey("sessions.id"), primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False),
    Column("host_name", String(200), nullable=False),
    Column("host_email", String(254), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("percent", Float, nullable=False, default=0.0),
    Column("stage", String(16), nullable=False, default="queued"),
    Column("eta_seconds", Float, nullable=False, default=-1.0),
    Column("error", Text),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("max_seconds", Float, nullable=False),
    Column("has_audio", Boolean, nullable=False, default=False),
    Column("base_url", Text, nullable=False, default=""),
    Column("video_token", String(64), nullable=False, unique=True),
    Column("video_bytes", BigInteger),
    Column("send_to", Text),
    Column("send_subject", Text),
    Column("send_message", Text),
    Column("send_status", String(16), nullable=False, default=""),
    Column("worker_id", String(64)),
    Column("heartbeat_at", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)


def _inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row an INSERT made."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database gave no id for the new row")
    return int(key[0])


@dataclass(frozen=True)
class SessionRecord:
    id: str
    site_id: int
    host_name: str
    host_email: str
    is_replay: bool
    created_at: float
    ended_at: float | None
    resume_token: str = ""
    waiting_until: float | None = None
    """Set while the session waits for the host it invited (until the invitation expires);
    ``created_at`` becomes the time the invitee accepted."""


@dataclass(frozen=True)
class HostInviteRecord:
    """An invitation to host. The invitee (the session's ``host_name``/``host_email``)
    uses it once; ``token`` is only on the record :meth:`Store.create_host_invite` returns."""

    token_hash: str
    invite_id: str
    session_id: str
    site_id: int
    url: str
    inviter_name: str
    inviter_email: str
    message: str
    created_at: float
    expires_at: float
    used_at: float | None = None
    token: str = ""


@dataclass(frozen=True)
class LinkRecord:
    """A join link. ``device_hash``/``guest_id`` are set by the first guest that joins."""

    token_hash: str
    session_id: str
    kind: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None
    device_hash: str | None = None
    guest_id: str | None = None
    guest_name: str | None = None
    token: str = ""
    """The token itself: only on the record :meth:`Store.create_link` returns."""


@dataclass(frozen=True)
class GuestRecord:
    """A guest that joined a session once, on one device, through one link."""

    guest_id: str
    session_id: str
    link_hash: str
    device_hash: str
    via: str
    name: str
    joined_at: float
    removed_at: float | None = None


@dataclass(frozen=True)
class InviteRecord:
    """One invite the server tried to send (status ``sending``, ``sent``, ``outbox`` or
    ``failed``); ``kind`` is ``guest`` (``guest.inviteGuest``) or ``host``
    (``session.inviteToHost``)."""

    id: str
    kind: str
    site_id: int
    session_id: str | None
    link_hash: str | None
    channel: str
    recipient: str
    status: str
    provider: str
    provider_id: str | None
    error: str | None
    created_at: float
    finished_at: float | None


@dataclass(frozen=True)
class OutboxRecord:
    """A message kept in the development outbox instead of being delivered."""

    id: int
    invite_id: str
    channel: str
    recipient: str
    subject: str
    body_text: str
    body_html: str | None
    link: str
    created_at: float


class Store:
    """Every database access of the server goes through here (synchronous, short calls)."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)

    @cached_property
    def replays(self) -> ReplayStore:
        """The ``replays`` table's methods."""
        from .replays.db import ReplayStore

        return ReplayStore(self.engine)

    def create(self) -> None:
        """Create the tables and the default site (authorizing localhost) if missing."""
        metadata.create_all(self.engine)
        with self.engine.begin() as db:
            if db.execute(select(sites.c.id).limit(1)).first() is None:
                site_id = _inserted_id(
                    db.execute(sites.insert().values(name="default", settings="{}"))
                )
                for domain in DEFAULT_DOMAINS:
                    db.execute(domains.insert().values(domain=domain, site_id=site_id))

    # -- sites ------------------------------------------------------------------------
    def add_domain(self, domain: str, site_name: str = "default") -> Site:
        domain = normalise_domain(domain)
        with self.engine.begin() as db:
            row = db.execute(select(sites.c.id).where(sites.c.name == site_name)).first()
            site_id = (
                row[0]
                if row
                else _inserted_id(db.execute(sites.insert().values(name=site_name, settings="{}")))
            )
            exists = db.execute(select(domains.c.site_id).where(domains.c.domain == domain)).first()
            if exists is None:
                db.execute(domains.insert().values(domain=domain, site_id=site_id))
            elif exists[0] != site_id:
                raise ValueError(f"{domain} already belongs to another site")
        site = self.site_by_name(site_name)
        assert site is not None
        return site

    def remove_domain(self, domain: str) -> bool:
        with self.engine.begin() as db:
            return (
                db.execute(
                    domains.delete().where(domains.c.domain == normalise_domain(domain))
                ).rowcount
                > 0
            )

    def list_sites(self) -> list[Site]:
        with self.engine.connect() as db:
            rows = db.execute(select(sites)).all()
            pairs = db.execute(select(domains.c.domain, domains.c.site_id)).all()
        return [
            Site(
                r.id,
                r.name,
                tuple(sorted(str(d) for d, s in pairs if s == r.id)),
                json.loads(r.settings),
            )
            for r in rows
        ]

    def update_settings(self, site_name: str, changes: dict[str, Any]) -> Site:
        """Merge ``changes`` into the site's settings (what ``getDomainInfo()`` reports)."""
        site = self.site_by_name(site_name)
        if site is None:
            raise KeyError(f"no site named {site_name!r}")
        merged = {**site.settings, **changes}
        with self.engine.begin() as db:
            db.execute(
                update(sites).where(sites.c.name == site_name).values(settings=json.dumps(merged))
            )
        updated = self.site_by_name(site_name)
        assert updated is not None
        return updated

    def site_by_id(self, site_id: int) -> Site | None:
        return next((s for s in self.list_sites() if s.id == site_id), None)

    def site_by_name(self, name: str) -> Site | None:
        return next((s for s in self.list_sites() if s.name == name), None)

    def site_for_host(self, hostname: str) -> Site | None:
        """The site authorizing ``hostname`` (any port), or None."""
        hostname = hostname.lower().rstrip(".")
        for site in self.list_sites():
            if any(domain_matches(d, hostname) for d in site.domains):
                return site
        return None

    # -- sessions ---------------------------------------------------------------------
    def create_session(
        self,
        site_id: int,
        host_name: str,
        host_email: str,
        is_replay: bool,
        origin: str,
        page_url: str,
        now: float | None = None,
    ) -> SessionRecord:
        session_id = secrets.token_urlsafe(16)
        resume_token = secrets.token_urlsafe(32)
        created = time.time() if now is None else now
        with self.engine.begin() as db:
            db.execute(
                sessions.insert().values(
                    id=session_id,
                    site_id=site_id,
                    host_name=host_name,
                    host_email=host_email,
                    is_replay=is_replay,
                    origin=origin,
                    page_url=page_url,
                    resume_token_hash=token_hash(resume_token),
                    created_at=created,
                )
            )
        return SessionRecord(
            session_id, site_id, host_name, host_email, is_replay, created, None, resume_token
        )

    def end_session(self, session_id: str, reason: str, now: float | None = None) -> bool:
        with self.engine.begin() as db:
            result = db.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.ended_at.is_(None))
                .values(ended_at=time.time() if now is None else now, end_reason=reason)
            )
            return result.rowcount > 0

    def get_session(self, session_id: str) -> SessionRecord | None:
        joined = sessions.outerjoin(host_invites, host_invites.c.session_id == sessions.c.id)
        query = (
            select(sessions, host_invites.c.expires_at.label("invite_expires"))
            .select_from(joined)
            .where(sessions.c.id == session_id)
        )
        with self.engine.connect() as db:
            r = db.execute(query.add_columns(host_invites.c.used_at.label("invite_used"))).first()
        if r is None:
            return None
        pending = r.invite_expires is not None and r.invite_used is None
        waiting = r.invite_expires if pending else None
        return SessionRecord(
            r.id,
            r.site_id,
            r.host_name,
            r.host_email,
            r.is_replay,
            r.created_at,
            r.ended_at,
            waiting_until=waiting,
        )

    def session_by_resume_token(self, resume_token: str) -> SessionRecord | None:
        """The session whose resume token is ``resume_token`` (only its hash is stored)."""
        with self.engine.connect() as db:
            r = db.execute(
                select(sessions.c.id).where(
                    sessions.c.resume_token_hash == token_hash(resume_token)
                )
            ).first()
        return self.get_session(r.id) if r else None

    def session_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as db:
            return [dict(r._mapping) for r in db.execute(select(sessions)).all()]

    # -- links ------------------------------------------------------------------------
    def create_link(
        self,
        session_id: str,
        ttl_seconds: float,
        kind: str = "private",
        now: float | None = None,
        guest_name: str | None = None,
    ) -> LinkRecord:
        """A new link to ``session_id``; the returned record alone carries the token.

        ``kind``: ``private``, ``public`` or ``invite`` (a private link sent by the server;
        ``guest_name`` is then the invitee's name, used when the guest names nobody)."""
        token = secrets.token_urlsafe(24)  # 192 bits
        created = time.time() if now is None else now
        record = LinkRecord(
            token_hash=token_hash(token),
            session_id=session_id,
            kind=kind,
            created_at=created,
            expires_at=created + ttl_seconds,
            guest_name=guest_name,
            token=token,
        )
        with self.engine.begin() as db:
            db.execute(
                links.insert().values(
                    token_hash=record.token_hash,
                    session_id=session_id,
                    kind=kind,
                    created_at=created,
                    expires_at=record.expires_at,
                    guest_name=guest_name,
                )
            )
        return record

    def link_by_token(self, token: str) -> LinkRecord | None:
        with self.engine.connect() as db:
            r = db.execute(select(links).where(links.c.token_hash == token_hash(token))).first()
        return LinkRecord(**r._mapping) if r else None

    def bind_link(
        self, hashed: str, device_hash: str, guest_id: str, guest_name: str
    ) -> LinkRecord | None:
        """Bind an unbound link to ``device_hash`` (with a new ``guest_id``), atomically.

        The device it is bound to also updates the guest's name. Returns the link as it is
        now; its ``device_hash`` says whether this device holds it."""
        with self.engine.begin() as db:
            db.execute(
                update(links)
                .where(links.c.token_hash == hashed, links.c.device_hash.is_(None))
                .values(device_hash=device_hash, guest_id=guest_id)
            )
            db.execute(
                update(links)
                .where(links.c.token_hash == hashed, links.c.device_hash == device_hash)
                .values(guest_name=guest_name)
            )
            r = db.execute(select(links).where(links.c.token_hash == hashed)).first()
        return LinkRecord(**r._mapping) if r else None

    def revoke_link(self, token: str, now: float | None = None) -> bool:
        with self.engine.begin() as db:
            result = db.execute(
                update(links)
                .where(links.c.token_hash == token_hash(token), links.c.revoked_at.is_(None))
                .values(revoked_at=time.time() if now is None else now)
            )
            return result.rowcount > 0

    def set_public_links(self, session_id: str, enabled: bool, now: float | None = None) -> None:
        """Let the session's public links admit new guests, or not (``revoked_at``)."""
        stamp = None if enabled else (time.time() if now is None else now)
        with self.engine.begin() as db:
            db.execute(
                update(links)
                .where(links.c.session_id == session_id, links.c.kind == "public")
                .values(revoked_at=stamp)
            )

    def public_links_enabled(self, session_id: str) -> bool:
        """False once the host disabled its public link (True before it made one)."""
        with self.engine.connect() as db:
            r = db.execute(
                select(links.c.revoked_at)
                .where(links.c.session_id == session_id, links.c.kind == "public")
                .limit(1)
            ).first()
        return r is None or r.revoked_at is None

    # -- guests -----------------------------------------------------------------------
    def seat_guest(
        self,
        session_id: str,
        link: LinkRecord,
        device_hash: str,
        guest_id: str,
        name: str,
        now: float | None = None,
    ) -> GuestRecord:
        """The guest this device is on ``link`` (created on its first join).

        A private link names its guest (``link.guest_id``); on a public link each device
        is its own guest. A known guest keeps its id and ``joined_at`` (its name updates)."""
        if link.kind != "public" and link.guest_id:
            guest_id = link.guest_id
        with self.engine.begin() as db:
            query = select(guests).where(guests.c.session_id == session_id)
            if link.kind == "public":
                query = query.where(
                    guests.c.link_hash == link.token_hash, guests.c.device_hash == device_hash
                )
            else:
                query = query.where(guests.c.guest_id == guest_id)
            row = db.execute(query).first()
            if row is None:
                db.execute(
                    guests.insert().values(
                        guest_id=guest_id,
                        session_id=session_id,
                        link_hash=link.token_hash,
                        device_hash=device_hash,
                        via=link.kind,
                        name=name,
                        joined_at=time.time() if now is None else now,
                    )
                )
            else:
                db.execute(
                    update(guests).where(guests.c.guest_id == row.guest_id).values(name=name)
                )
            row = db.execute(
                select(guests).where(guests.c.guest_id == (row.guest_id if row else guest_id))
            ).first()
        if row is None:
            raise RuntimeError(f"guest {guest_id} was not stored")
        return GuestRecord(**row._mapping)

    def rename_guest(self, guest_id: str, name: str) -> None:
        """The guest chose ``name`` after joining (its next join keeps it)."""
        with self.engine.begin() as db:
            db.execute(update(guests).where(guests.c.guest_id == guest_id).values(name=name))

    def guest_on_link(self, link: LinkRecord, device_hash: str | None) -> GuestRecord | None:
        """The guest ``device_hash`` is (or was) on ``link``, if it ever joined."""
        if device_hash is None:
            return None
        with self.engine.connect() as db:
            r = db.execute(
                select(guests).where(
                    guests.c.link_hash == link.token_hash, guests.c.device_hash == device_hash
                )
            ).first()
        return GuestRecord(**r._mapping) if r else None

    def remove_guest(self, session_id: str, guest_id: str, now: float | None = None) -> bool:
        """Mark the guest removed and revoke the private link it came through."""
        stamp = time.time() if now is None else now
        with self.engine.begin() as db:
            row = db.execute(
                select(guests).where(
                    guests.c.guest_id == guest_id, guests.c.session_id == session_id
                )
            ).first()
            if row is None:
                return False
            db.execute(update(guests).where(guests.c.guest_id == guest_id).values(removed_at=stamp))
            if row.via != "public":
                db.execute(
                    update(links)
                    .where(links.c.token_hash == row.link_hash, links.c.revoked_at.is_(None))
                    .values(revoked_at=stamp)
                )
        return True

    # -- invites and the outbox ---------------------------------------------------------
    def add_invite(
        self,
        invite_id: str,
        site_id: int,
        session_id: str | None,
        channel: str,
        recipient: str,
        link_hash: str | None,
        kind: str = "guest",
        now: float | None = None,
        status: str = "sending",
    ) -> None:
        """Record an invite about to be sent (status ``sending``; ``queued`` for a video
        link sent once the video is ready)."""
        with self.engine.begin() as db:
            db.execute(
                invites.insert().values(
                    id=invite_id,
                    kind=kind,
                    site_id=site_id,
                    session_id=session_id,
                    link_hash=link_hash,
                    channel=channel,
                    recipient=recipient,
                    status=status,
                    created_at=time.time() if now is None else now,
                )
            )

    def finish_invite(
        self,
        invite_id: str,
        status: str,
        provider: str,
        provider_id: str | None = None,
        error: str | None = None,
        now: float | None = None,
    ) -> None:
        with self.engine.begin() as db:
            db.execute(
                update(invites)
                .where(invites.c.id == invite_id)
                .values(
                    status=status,
                    provider=provider,
                    provider_id=provider_id,
                    error=error,
                    finished_at=time.time() if now is None else now,
                )
            )

    def invite_times(
        self, since: float, *, session_id: str | None = None, site_id: int | None = None
    ) -> list[float]:
        """When the invites of a session (or of a site) made since ``since`` were made,
        oldest first: what the rate limits count."""
        query = select(invites.c.created_at).where(invites.c.created_at > since)
        if session_id is not None:
            query = query.where(invites.c.session_id == session_id)
        if site_id is not None:
            query = query.where(invites.c.site_id == site_id)
        with self.engine.connect() as db:
            return [r[0] for r in db.execute(query.order_by(invites.c.created_at)).all()]

    def list_invites(self, session_id: str | None = None) -> list[InviteRecord]:
        query = select(invites).order_by(invites.c.created_at)
        if session_id is not None:
            query = query.where(invites.c.session_id == session_id)
        with self.engine.connect() as db:
            return [InviteRecord(**r._mapping) for r in db.execute(query).all()]

    def add_outbox(
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
            return _inserted_id(
                db.execute(
                    outbox.insert().values(
                        invite_id=invite_id,
                        channel=channel,
                        recipient=recipient,
                        subject=subject,
                        body_text=body_text,
                        body_html=body_html,
                        link=link,
                        created_at=time.time() if now is None else now,
                    )
                )
            )

    def outbox_messages(self, limit: int = 50) -> list[OutboxRecord]:
        """The newest ``limit`` outbox messages, newest first."""
        query = select(outbox).order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
        with self.engine.connect() as db:
            return [OutboxRecord(**r._mapping) for r in db.execute(query.limit(limit)).all()]

    # -- invitations to host ------------------------------------------------------------
    def create_host_invite(
        self,
        site_id: int,
        *,
        origin: str,
        url: str,
        inviter: tuple[str, str],
        invitee: tuple[str, str],
        message: str,
        ttl_seconds: float,
        join_ttl_seconds: float,
        now: float | None = None,
    ) -> tuple[HostInviteRecord, LinkRecord]:
        """In one transaction: a session for ``invitee`` (name, email) to host, waiting for
        them; the inviter's private link to it; the invite (``sending``, kind ``host``); and
        the one-time invitation token. Returns the invitation and the link, with tokens."""
        created = time.time() if now is None else now
        token, session_id = secrets.token_urlsafe(24), secrets.token_urlsafe(16)
        invite_id = secrets.token_urlsafe(12)
        record = HostInviteRecord(
            token_hash(token),
            invite_id,
            session_id,
            site_id,
            url,
            inviter[0],
            inviter[1],
            message,
            created,
            created + ttl_seconds,
            token=token,
        )
        join_token = secrets.token_urlsafe(24)
        link = LinkRecord(
            token_hash(join_token),
            session_id,
            "private",
            created,
            created + join_ttl_seconds,
            token=join_token,
        )
        with self.engine.begin() as db:
            db.execute(
                sessions.insert().values(
                    id=session_id,
                    site_id=site_id,
                    host_name=invitee[0],
                    host_email=invitee[1],
                    is_replay=False,
                    origin=origin,
                    page_url=url,
                    resume_token_hash=token_hash(secrets.token_urlsafe(32)),
                    created_at=created,
                )
            )
            db.execute(
                links.insert().values(
                    token_hash=link.token_hash,
                    session_id=session_id,
                    kind=link.kind,
                    created_at=created,
                    expires_at=link.expires_at,
                )
            )
            db.execute(
                invites.insert().values(
                    id=invite_id,
                    kind="host",
                    site_id=site_id,
                    session_id=session_id,
                    link_hash=record.token_hash,
                    channel="email",
                    recipient=invitee[1],
                    status="sending",
                    created_at=created,
                )
            )
            values = {k: v for k, v in vars(record).items() if k != "token"}
            db.execute(host_invites.insert().values(**values))
        return record, link

    def host_invite_by_token(self, token: str) -> HostInviteRecord | None:
        with self.engine.connect() as db:
            r = db.execute(
                select(host_invites).where(host_invites.c.token_hash == token_hash(token))
            ).first()
        return HostInviteRecord(**r._mapping) if r else None

    def accept_host_invite(
        self, token: str, site_id: int, origin: str, page_url: str, now: float | None = None
    ) -> SessionRecord | str:
        """Use the invitation once: its session starts now, hosted from ``origin``, with a
        new resume token (on the returned record). Or the refusal: ``link_invalid``
        (unknown, another site's, expired, or its session is over) or ``link_used``."""
        stamp = time.time() if now is None else now
        hashed = token_hash(token)
        resume_token = secrets.token_urlsafe(32)
        with self.engine.begin() as db:
            query = select(host_invites).where(host_invites.c.token_hash == hashed)
            row = db.execute(query).first()
            session = (
                db.execute(select(sessions).where(sessions.c.id == row.session_id)).first()
                if row is not None
                else None
            )
            if row is None or session is None or row.site_id != site_id:
                return "link_invalid"
            if row.used_at is not None:
                return "link_used"
            if row.expires_at <= stamp or session.ended_at is not None:
                return "link_invalid"
            used = db.execute(
                update(host_invites)
                .where(host_invites.c.token_hash == hashed, host_invites.c.used_at.is_(None))
                .values(used_at=stamp)
            )
            if used.rowcount != 1:
                return "link_used"
            db.execute(
                update(sessions)
                .where(sessions.c.id == row.session_id)
                .values(
                    created_at=stamp,
                    origin=origin,
                    page_url=page_url,
                    resume_token_hash=token_hash(resume_token),
                )
            )
        return SessionRecord(
            session.id,
            session.site_id,
            session.host_name,
            session.host_email,
            False,
            stamp,
            None,
            resume_token,
        )

    def cancel_host_invite(self, record: HostInviteRecord, now: float | None = None) -> None:
        """Nobody received the invitation: its session ends and its links stop working."""
        stamp = time.time() if now is None else now
        with self.engine.begin() as db:
            db.execute(
                update(host_invites)
                .where(host_invites.c.token_hash == record.token_hash)
                .values(expires_at=stamp)
            )
            db.execute(
                update(links)
                .where(links.c.session_id == record.session_id, links.c.revoked_at.is_(None))
                .values(revoked_at=stamp)
            )
        self.end_session(record.session_id, "invite_failed", stamp)


def token_hash(token: str) -> str:
    """The sha256 (hex) under which a secret token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
