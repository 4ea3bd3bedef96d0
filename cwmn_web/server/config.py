"""Server settings, read from environment variables (all optional)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_DOMAINS", "DEFAULT_STATIC", "Settings"]

#: The static files of an installed wheel (hatch_build.py puts them there) ...
PACKAGE_STATIC = Path(__file__).resolve().parents[1] / "static"
#: ... and of a checkout (``make run``, the tests): ``CWMN_STATIC_DIR`` unset, the one found.
REPO_STATIC = Path(__file__).resolve().parents[2] / "static"
DEFAULT_STATIC = PACKAGE_STATIC if PACKAGE_STATIC.is_dir() else REPO_STATIC
#: Authorized on any port by the default site, so a fresh install works on this machine.
DEFAULT_DOMAINS = ("localhost", "127.0.0.1")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _number(name: str, default: str) -> float:
    return float(_env(name, default))


def _frame_log() -> Path | None:
    value = os.environ.get("CWMN_FRAME_LOG", "")
    return Path(value) if value else None


@dataclass(frozen=True)
class Settings:
    """Every setting has an environment variable:

    - ``CWMN_DATA_DIR`` (default ``./data``), ``CWMN_DATABASE_URL`` (default a SQLite file in
      the data dir; ``postgresql+psycopg://…`` works too), ``CWMN_STATIC_DIR`` (default: the
      installed package's ``static``, in a checkout the repository's ``static/``);
      a server database's connection pool (docs/deploy/database.md): ``CWMN_DB_POOL_SIZE``
      (10) connections kept, ``CWMN_DB_MAX_OVERFLOW`` (30) more when those are busy,
      ``CWMN_DB_POOL_TIMEOUT`` (30 s) to wait for a free one (SQLite: SQLAlchemy's pool);
    - ``CWMN_MAX_SESSION_SECONDS`` (14400): a live session then ends as ``expired``;
    - ``CWMN_HOST_GRACE_SECONDS`` (60): how long a session waits for its host to come back;
    - ``CWMN_IDLE_TIMEOUT`` (1800): a live session in which neither the visitor nor a guest
      did anything for that many seconds ends as ``idle`` (0: never; a session may ask for
      less with ``idleTimeout``, never more; docs/control/server.md);
    - ``CWMN_LINK_TTL_SECONDS`` (86400): lifetime of a private link;
    - join codes (docs/control/join-codes.md): ``CWMN_JOIN_CODE_SECONDS`` (600): lifetime of
      a code; ``CWMN_JOIN_CODES_PER_SESSION`` (10) unused codes a session may hold;
      ``CWMN_JOIN_CODE_ATTEMPTS`` (5) wrong codes per client key per
      ``CWMN_JOIN_CODE_ATTEMPT_WINDOW`` (600 s), and ``CWMN_JOIN_CODE_FAILURES_PER_MINUTE``
      (30) wrong codes from all clients together (counted in the database: every process);
      ``CWMN_JOIN_CODE_POSTS_PER_MINUTE`` (10) codes one client key may submit a minute
      (this process, in memory, before any database work);
    - ``CWMN_PUBLIC_URL``: this server's public ``http(s)://host[:port]``, the base of every
      link; requests for another host are refused. Unset (development), only requests to a
      loopback name (``localhost``, ``127.0.0.1``, ``::1``) are answered, links use that
      name; ``CWMN_ALLOWED_HOSTS``: more host names to answer (``*``: any);
    - ``CWMN_SECRET``: the key video links are derived from (default: a random key made in
      ``DATA_DIR/secret``, mode 0600, on first start); docs/REPLAY.md;
    - ``CWMN_FRAME_LOG``: a file to which every text frame a host sends is appended, one per
      line (a debugging aid; off by default);
    - invites (docs/LIVE.md, "Invites"): ``CWMN_SMTP_HOST`` (unset: emails go to the
      outbox), ``CWMN_SMTP_PORT`` (587), ``CWMN_SMTP_USER``, ``CWMN_SMTP_PASSWORD``,
      ``CWMN_SMTP_STARTTLS`` (``auto``/``on``/``off``), ``CWMN_SMTP_TLS`` (implicit TLS,
      ``off``), ``CWMN_MAIL_FROM``; ``CWMN_TWILIO_ACCOUNT_SID``, ``CWMN_TWILIO_AUTH_TOKEN``,
      ``CWMN_TWILIO_FROM`` (all unset: texts go to the outbox), ``CWMN_TWILIO_BASE_URL``;
      ``CWMN_SEND_TIMEOUT`` (20 s per message); ``CWMN_OUTBOX_PAGE`` (``auto``/``on``/``off``);
      ``CWMN_INVITES_PER_SESSION`` (10) per ``CWMN_INVITES_SESSION_WINDOW`` (600 s) and
      ``CWMN_INVITES_PER_SITE`` (100) per ``CWMN_INVITES_SITE_WINDOW`` (3600 s);
      ``CWMN_INVITES_PER_CLIENT`` (20) per ``CWMN_INVITES_CLIENT_WINDOW`` (3600 s): what one
      client address may send, so one client cannot spend the site's budget (on sites
      that require host tokens: what one host, by its token's ``sub``, may send);
    - host tokens (docs/HOST_TOKENS.md): ``CWMN_HOST_TOKEN_MAX_LIFETIME`` (3600 s): tokens
      whose ``exp - iat`` is longer are refused; ``CWMN_HOST_TOKEN_LEEWAY`` (30 s): clock
      skew allowed on ``exp``/``nbf``/``iat``;
    - replays (docs/REPLAY.md): ``CWMN_REPLAY_RETENTION_DAYS`` (30): recordings and videos
      are deleted that long after the replay started; ``CWMN_MAX_REPLAYS_PER_SITE`` (20)
      replays of a site waiting for their video (recording, queued or rendering) and
      ``CWMN_MAX_REPLAY_BYTES_PER_SITE`` (2 GiB) of their recordings: past either, a new
      replay is refused (``rate_limited``); ``CWMN_MAX_REPLAYS_PER_CLIENT`` (3) of them
      started from one client key;
    - the render worker (read by ``cwmn_web.render.network``): ``CWMN_RENDER_ALLOW_ORIGINS``
      (comma-separated origins the render page may load from although private: this
      server's own, as ``make run`` sets; ``CWMN_PUBLIC_URL``'s is always one),
      ``CWMN_RENDER_PRIVATE_NETWORK`` (``allow``: no address check at all; tests only);
    - bounded resources (docs/LIVE.md, "Limits"): ``CWMN_MAX_SESSIONS_PER_SITE`` (1000) and
      ``CWMN_MAX_SESSIONS_PER_CLIENT`` (20) live sessions per site and per client address;
      ``CWMN_MAX_CONNECTIONS_PER_CLIENT`` (256) open sockets per client address (these,
      and watchers, across every process with ``CWMN_REDIS_URL``);
      ``CWMN_MAX_FRAMES_PER_SECOND`` (200) per socket (beyond it the socket is read more
      slowly); ``CWMN_MAX_FRAME_VALUES`` (500000) JSON values per frame;
      ``CWMN_MAX_LOG_BYTES`` (16 MiB) of memory per room log; ``CWMN_MAX_WATCHERS_PER_CLIENT``
      (20) replays watched per client address; ``CWMN_HTTP_TIMEOUT`` (20 s) for a request's
      headers and body to arrive (``serve``); ``CWMN_CLIENT_IPV6_PREFIX`` (64): an IPv6
      client counts as its network of that prefix in every per-client limit;
    - the page-asset store (docs/FIDELITY.md): ``CWMN_MAX_ASSET_BYTES`` (8 MiB) per asset,
      ``CWMN_MAX_SESSION_ASSET_BYTES`` (128 MiB) and ``CWMN_MAX_SESSION_ASSETS`` (4096 URLs)
      per session; ``CWMN_ASSET_WAIT_SECONDS`` (10): how long a guest's request for an
      asset not uploaded yet waits before its 404; ``CWMN_ASSET_PURGE_SECONDS`` (300): how
      often the server deletes the assets of sessions that are over (0: never; the render
      worker and ``cwmn-web replays purge`` do too); ``CWMN_MAX_SITE_ASSET_BYTES`` (2 GiB)
      of content stored per site;
    - many processes (docs/DEPLOY.md): ``CWMN_REDIS_URL`` (unset: one process, rooms in its
      memory; set, with a shared database: any number of processes serve the same sessions);
      ``CWMN_PROCESS_TTL`` (6 s): a process that has not beaten on the database's clock for
      that long is dead, and its rooms are taken over;
    """

    data_dir: Path = field(default_factory=lambda: Path(_env("CWMN_DATA_DIR", "data")))
    database_url: str = field(default_factory=lambda: _env("CWMN_DATABASE_URL", ""))
    static_dir: Path = field(
        default_factory=lambda: Path(_env("CWMN_STATIC_DIR", str(DEFAULT_STATIC)))
    )
    db_pool_size: int = field(default_factory=lambda: int(_env("CWMN_DB_POOL_SIZE", "10")))
    db_max_overflow: int = field(default_factory=lambda: int(_env("CWMN_DB_MAX_OVERFLOW", "30")))
    db_pool_timeout: float = field(default_factory=lambda: _number("CWMN_DB_POOL_TIMEOUT", "30"))
    max_session_seconds: float = field(
        default_factory=lambda: float(_env("CWMN_MAX_SESSION_SECONDS", "14400"))
    )
    host_grace_seconds: float = field(
        default_factory=lambda: float(_env("CWMN_HOST_GRACE_SECONDS", "60"))
    )
    idle_timeout: float = field(default_factory=lambda: _number("CWMN_IDLE_TIMEOUT", "1800"))
    link_ttl_seconds: float = field(
        default_factory=lambda: float(_env("CWMN_LINK_TTL_SECONDS", "86400"))
    )
    join_code_seconds: float = field(
        default_factory=lambda: _number("CWMN_JOIN_CODE_SECONDS", "600")
    )
    join_codes_per_session: int = field(
        default_factory=lambda: int(_env("CWMN_JOIN_CODES_PER_SESSION", "10"))
    )
    join_code_attempts: int = field(
        default_factory=lambda: int(_env("CWMN_JOIN_CODE_ATTEMPTS", "5"))
    )
    join_code_attempt_window: float = field(
        default_factory=lambda: _number("CWMN_JOIN_CODE_ATTEMPT_WINDOW", "600")
    )
    join_code_failures_per_minute: int = field(
        default_factory=lambda: int(_env("CWMN_JOIN_CODE_FAILURES_PER_MINUTE", "30"))
    )
    join_code_posts_per_minute: float = field(
        default_factory=lambda: _number("CWMN_JOIN_CODE_POSTS_PER_MINUTE", "10")
    )
    public_url: str = field(default_factory=lambda: _env("CWMN_PUBLIC_URL", ""))
    #: Host names answered besides the public URL's (comma-separated; ``*``: any): see
    #: :mod:`.hosts`. Without a public URL only loopback names are answered.
    allowed_hosts: str = field(default_factory=lambda: _env("CWMN_ALLOWED_HOSTS", ""))
    #: Addresses whose X-Forwarded-Proto/-For headers are believed (comma-separated; ``*``
    #: for any): only the reverse proxy's. Anyone else could claim HTTPS or another client.
    trusted_proxies: str = field(default_factory=lambda: _env("CWMN_TRUSTED_PROXIES", "127.0.0.1"))
    frame_log: Path | None = field(default_factory=_frame_log)
    #: The key that video links are derived from (:mod:`.secret`): ``CWMN_SECRET`` (at
    #: least 32 characters, shared by every process), else a key made in the data dir.
    secret: str = field(default_factory=lambda: _env("CWMN_SECRET", ""), repr=False)
    smtp_host: str = field(default_factory=lambda: _env("CWMN_SMTP_HOST", ""))
    smtp_port: int = field(default_factory=lambda: int(_env("CWMN_SMTP_PORT", "587")))
    smtp_user: str = field(default_factory=lambda: _env("CWMN_SMTP_USER", ""))
    smtp_password: str = field(default_factory=lambda: _env("CWMN_SMTP_PASSWORD", ""), repr=False)
    smtp_starttls: str = field(default_factory=lambda: _env("CWMN_SMTP_STARTTLS", "auto"))
    smtp_tls: str = field(default_factory=lambda: _env("CWMN_SMTP_TLS", "off"))
    send_timeout: float = field(default_factory=lambda: _number("CWMN_SEND_TIMEOUT", "20"))
    mail_from: str = field(
        default_factory=lambda: _env("CWMN_MAIL_FROM", "cwmn_web <noreply@localhost>")
    )
    twilio_account_sid: str = field(default_factory=lambda: _env("CWMN_TWILIO_ACCOUNT_SID", ""))
    twilio_auth_token: str = field(
        default_factory=lambda: _env("CWMN_TWILIO_AUTH_TOKEN", ""), repr=False
    )
    twilio_from: str = field(default_factory=lambda: _env("CWMN_TWILIO_FROM", ""))
    twilio_base_url: str = field(
        default_factory=lambda: _env("CWMN_TWILIO_BASE_URL", "https://api.twilio.com")
    )
    outbox_page: str = field(default_factory=lambda: _env("CWMN_OUTBOX_PAGE", "off"))
    invites_per_session: int = field(
        default_factory=lambda: int(_env("CWMN_INVITES_PER_SESSION", "10"))
    )
    invites_session_window: float = field(
        default_factory=lambda: _number("CWMN_INVITES_SESSION_WINDOW", "600")
    )
    invites_per_site: int = field(default_factory=lambda: int(_env("CWMN_INVITES_PER_SITE", "100")))
    invites_site_window: float = field(
        default_factory=lambda: _number("CWMN_INVITES_SITE_WINDOW", "3600")
    )
    invites_per_client: int = field(
        default_factory=lambda: int(_env("CWMN_INVITES_PER_CLIENT", "20"))
    )
    invites_client_window: float = field(
        default_factory=lambda: _number("CWMN_INVITES_CLIENT_WINDOW", "3600")
    )
    host_token_max_lifetime: float = field(
        default_factory=lambda: _number("CWMN_HOST_TOKEN_MAX_LIFETIME", "3600")
    )
    host_token_leeway: float = field(
        default_factory=lambda: _number("CWMN_HOST_TOKEN_LEEWAY", "30")
    )
    replay_retention_days: float = field(
        default_factory=lambda: _number("CWMN_REPLAY_RETENTION_DAYS", "30")
    )
    max_replays_per_site: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_REPLAYS_PER_SITE", "20"))
    )
    max_replays_per_client: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_REPLAYS_PER_CLIENT", "3"))
    )
    max_replay_bytes_per_site: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_REPLAY_BYTES_PER_SITE", str(2 << 30)))
    )
    max_sessions_per_site: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_SESSIONS_PER_SITE", "1000"))
    )
    max_sessions_per_client: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_SESSIONS_PER_CLIENT", "20"))
    )
    max_connections_per_client: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_CONNECTIONS_PER_CLIENT", "256"))
    )
    max_frames_per_second: float = field(
        default_factory=lambda: _number("CWMN_MAX_FRAMES_PER_SECOND", "200")
    )
    max_frame_values: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_FRAME_VALUES", "500000"))
    )
    max_log_bytes: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_LOG_BYTES", str(16 * 1024 * 1024)))
    )
    max_watchers_per_client: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_WATCHERS_PER_CLIENT", "20"))
    )
    http_timeout: float = field(default_factory=lambda: _number("CWMN_HTTP_TIMEOUT", "20"))
    client_ipv6_prefix: int = field(
        default_factory=lambda: int(_env("CWMN_CLIENT_IPV6_PREFIX", "64"))
    )
    max_asset_bytes: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_ASSET_BYTES", str(8 << 20)))
    )
    max_session_asset_bytes: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_SESSION_ASSET_BYTES", str(128 << 20)))
    )
    max_session_assets: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_SESSION_ASSETS", "4096"))
    )
    asset_wait_seconds: float = field(
        default_factory=lambda: _number("CWMN_ASSET_WAIT_SECONDS", "10")
    )
    max_site_asset_bytes: int = field(
        default_factory=lambda: int(_env("CWMN_MAX_SITE_ASSET_BYTES", str(2 << 30)))
    )
    asset_purge_seconds: float = field(
        default_factory=lambda: _number("CWMN_ASSET_PURGE_SECONDS", "300")
    )

    redis_url: str = field(default_factory=lambda: _env("CWMN_REDIS_URL", ""))
    process_ttl: float = field(default_factory=lambda: _number("CWMN_PROCESS_TTL", "6"))

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cwmn.sqlite3').resolve()}"

    @property
    def dist_dir(self) -> Path:
        return self.static_dir / "dist"
