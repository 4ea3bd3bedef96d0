"""Every decision of the asset store, without I/O: what an upload announces and whether it
fits, what its bytes are served as, what a read answers, and what ``SessionStarted.assets``
holds. The edge (:mod:`.routes`) only moves bytes and rows."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit

from ...errors import CwmnError, ErrorCode
from ...protocol.page_assets import FILE, KINDS, STYLE, origin_of, url_key
from ..config import Settings
from .types import CSS_TYPE, sniff

__all__ = [
    "DIRECT",
    "MAX_REPORT_BYTES",
    "READ_HEADERS",
    "STORE",
    "AssetError",
    "AssetLimits",
    "Failure",
    "Mapping",
    "Offer",
    "SessionTotals",
    "asset_origin",
    "check_failures",
    "check_room",
    "check_site_room",
    "check_upload",
    "content_type",
    "etag",
    "failure_redirect",
    "not_modified",
    "parse_report",
    "parse_upload",
    "poll_interval",
    "session_assets",
    "status_of",
    "valid_key",
    "wait_time",
]

#: The site setting ``assets``: through the store (the default), or everything direct.
STORE: Final = "store"
DIRECT: Final = "direct"
#: A report (offer or failure) is a small JSON object.
MAX_REPORT_BYTES: Final = 16 * 1024
MAX_URL: Final = 8192
MAX_REASON: Final = 200
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_KEY: Final = re.compile(r"[0-9a-f]{32}")
#: The headers of every stored asset served (besides its type and ETag): no sniffing, no
#: script even when an SVG is opened directly, readable from any origin (fonts load in
#: CORS mode), revalidated on every use (a URL's content may change during a session).
READ_HEADERS: Final = {
    "Cache-Control": "no-cache",
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; sandbox"
    ),
}
_STATUS: Final = {
    ErrorCode.ASSET_TOO_LARGE: 413,
    ErrorCode.SESSION_ASSETS_FULL: 413,
    ErrorCode.SITE_ASSETS_FULL: 413,
    ErrorCode.UNSUPPORTED_TYPE: 415,
    ErrorCode.BAD_ASSET: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.SERVER_ERROR: 500,
}


class AssetError(CwmnError):
    """An upload refused; its :func:`status_of` is the HTTP status."""


def status_of(error: CwmnError) -> int:
    """The HTTP status of an upload's error."""
    return _STATUS.get(error.code, 400)


def _bad(message: str) -> AssetError:
    return AssetError(message, ErrorCode.BAD_ASSET)


@dataclass(frozen=True)
class AssetLimits:
    max_bytes: int = 8 << 20
    max_session_bytes: int = 128 << 20
    max_assets: int = 4096
    wait_seconds: float = 10.0
    max_site_bytes: int = 2 << 30

    @classmethod
    def of(cls, settings: Settings) -> AssetLimits:
        return cls(
            settings.max_asset_bytes,
            settings.max_session_asset_bytes,
            settings.max_session_assets,
            settings.asset_wait_seconds,
            settings.max_site_asset_bytes,
        )


@dataclass(frozen=True)
class Offer:
    """An asset the host has: its URL, key, kind, and (once known) its hash and size."""

    url: str
    key: str
    kind: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Failure:
    """The host could not fetch ``url``: guests asking for ``key`` get 404 at once."""

    url: str
    key: str
    reason: str


@dataclass(frozen=True)
class Mapping:
    """What a session's key maps to (``sha256`` None: a failure), and its URL."""

    sha256: str | None
    content_type: str | None
    url: str = ""


@dataclass(frozen=True)
class SessionTotals:
    """A session's assets mapped to content (``count``, ``size``), counting the one being
    recorded, and its failures (``failures``: they count toward their own cap only)."""

    count: int
    size: int
    failures: int = 0


def _url_problem(url: str) -> str | None:
    """What keeps ``url`` from being an asset's URL (reported, or redirected to), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > MAX_URL:
        return f"url must be an absolute http(s) URL of at most {MAX_URL} characters"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "url must not hold control characters"
    return None


def _checked_url(url: object, key: object) -> tuple[str, str]:
    if not isinstance(url, str) or not isinstance(key, str):
        raise _bad("url and key must be strings")
    problem = _url_problem(url)
    if problem:
        raise _bad(problem)
    if key != url_key(url):
        raise _bad("key is not the url's key (sha256 of the URL without its fragment)")
    return url, key


def _checked_kind(kind: object) -> str:
    if kind not in KINDS:
        raise _bad(f"kind must be one of {sorted(KINDS)}")
    return str(kind)


def _checked_size(size: int, limits: AssetLimits) -> int:
    if size > limits.max_bytes:
        raise AssetError(
            f"the asset has {size} bytes; this server stores at most {limits.max_bytes} "
            "(CWMN_MAX_ASSET_BYTES)",
            ErrorCode.ASSET_TOO_LARGE,
        )
    return size


def parse_report(body: bytes, limits: AssetLimits) -> Offer | Failure:
    """The JSON an upload URL is POSTed (an offer, or a failure to fetch), checked."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _bad("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise _bad("the body must be a JSON object")
    url, key = _checked_url(data.get("url"), data.get("key"))
    if "failed" in data:
        reason = data["failed"]
        if not isinstance(reason, str):
            raise _bad("failed must be a string (why the asset could not be fetched)")
        return Failure(url, key, reason[:MAX_REASON])
    kind, sha256, size = _checked_kind(data.get("kind")), data.get("sha256"), data.get("size")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise _bad("sha256 must be 64 lower-case hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _bad("size must be the asset's length in bytes")
    return Offer(url, key, kind, sha256, _checked_size(size, limits))


def parse_upload(
    sha256: str, query: dict[str, str], declared: int | None, limits: AssetLimits
) -> Offer:
    """The bytes upload's announcement (path and query), checked before any byte is read;
    ``declared``: its Content-Length, if sent (its size is that of what arrives)."""
    if not _SHA256.fullmatch(sha256):
        raise _bad("the path must end with the content's sha256 (64 lower-case hex digits)")
    url, key = _checked_url(query.get("url"), query.get("key"))
    kind = _checked_kind(query.get("kind"))
    return Offer(url, key, kind, sha256, _checked_size(declared or 0, limits))


def check_upload(offer: Offer, data: bytes, digest: str, limits: AssetLimits) -> str | None:
    """The type the bytes that arrived (hashing to ``digest``) sniff as (None: no image
    or font); refuses a wrong hash, and for kind "file" what is no image or font."""
    _checked_size(len(data), limits)
    if digest != offer.sha256:
        raise _bad(f"the bytes that arrived hash to {digest}, not {offer.sha256}")
    file_type = sniff(data)
    content_type(offer.kind, file_type)
    return file_type


def content_type(kind: str, file_type: str | None) -> str:
    """What an asset of ``kind`` whose bytes sniffed as ``file_type`` is served as."""
    if kind == STYLE:
        return CSS_TYPE
    if kind == FILE and file_type is not None:
        return file_type
    raise AssetError(
        "the asset store keeps images and fonts (and stylesheets as kind 'style'); "
        "these bytes are none of those",
        ErrorCode.UNSUPPORTED_TYPE,
    )


def check_room(totals: SessionTotals, limits: AssetLimits) -> None:
    """Refuse a mapping past the session's count or total bytes (``totals`` count it)."""
    if totals.count > limits.max_assets:
        raise AssetError(
            f"this session has {limits.max_assets} asset URLs already (CWMN_MAX_SESSION_ASSETS)",
            ErrorCode.SESSION_ASSETS_FULL,
        )
    if totals.size > limits.max_session_bytes:
        raise AssetError(
            f"this session's assets would take {totals.size} bytes; at most "
            f"{limits.max_session_bytes} are stored per session (CWMN_MAX_SESSION_ASSET_BYTES)",
            ErrorCode.SESSION_ASSETS_FULL,
        )


def check_site_room(site_bytes: int, limits: AssetLimits) -> None:
    """Refuse new content past the site's stored bytes (``site_bytes`` count it)."""
    if site_bytes > limits.max_site_bytes:
        raise AssetError(
            f"this site's stored assets would take {site_bytes} bytes; at most "
            f"{limits.max_site_bytes} are stored per site (CWMN_MAX_SITE_ASSET_BYTES) until "
            "the assets of sessions that are over are purged",
            ErrorCode.SITE_ASSETS_FULL,
        )


def check_failures(totals: SessionTotals, limits: AssetLimits) -> None:
    """Refuse a failure past the session's own cap of failures (as many as
    ``max_assets``): failures do not take the room of content, but are bounded too."""
    if totals.failures > limits.max_assets:
        raise AssetError(
            f"this session reported {limits.max_assets} assets failed already "
            "(CWMN_MAX_SESSION_ASSETS)",
            ErrorCode.SESSION_ASSETS_FULL,
        )


#: The request destinations (``Sec-Fetch-Dest``) a failed key is redirected for: what a
#: page loads as a resource. A navigation (``document``, ``iframe``…), or a client that says
#: nothing, gets 404: the store's origin is never an open redirect a link could use.
REDIRECT_DESTINATIONS: Final = frozenset({"image", "style", "font", "video", "audio", "track"})
#: What stays as it is in a redirect's ``Location`` (the rest is percent-encoded: a header
#: holds Latin-1 only).
_URL_SAFE: Final = ":/?#[]@!$&'()*+,;=%~"


def failure_redirect(url: str, destination: str) -> str | None:
    """Where a read of a failed key is sent (its original URL, percent-encoded: a guest that
    can load it directly still does), or None (404): only an absolute http(s) URL without
    control characters, and only for a resource load (``destination``, the request's
    ``Sec-Fetch-Dest``, in :data:`REDIRECT_DESTINATIONS`)."""
    if destination not in REDIRECT_DESTINATIONS or _url_problem(url):
        return None
    return quote(url, safe=_URL_SAFE)


def etag(sha256: str) -> str:
    return f'"{sha256}"'


def not_modified(if_none_match: str | None, sha256: str) -> bool:
    """Whether an ``If-None-Match`` header names this content (or is ``*``)."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag(sha256) in tags


def asset_origin(text: str) -> str:
    """An ``assetOrigins`` entry: ``scheme://host[:port]`` (http or https, nothing else),
    normalised as a browser's Origin (lower case, no default port); ValueError if not."""
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018 (a port that is no number raises)
    except ValueError:
        raise ValueError(f"{text!r} is not an origin (its port is not a number)") from None
    origin = origin_of(text)
    if (
        origin is None
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or text.strip().endswith("#")
        or text.strip().endswith("?")
    ):
        raise ValueError(
            f"{text!r} is not an origin: give scheme, host and port only "
            "(e.g. https://cdn.example.com or https://files.example.com:8443)"
        )
    return origin


def session_assets(
    site_settings: dict[str, Any],
    public: str,
    read_token: str,
    upload_token: str,
    limits: AssetLimits,
) -> dict[str, Any]:
    """``SessionStarted.assets``: where the host uploads and guests read, the origins whose
    assets go through the store besides the page's own, the limits; empty (assets load
    directly) when the site's ``assets`` setting is ``direct``."""
    if site_settings.get("assets", STORE) == DIRECT:
        return {}
    return {
        "base": f"{public}/a/{read_token}/",
        "upload": f"{public}/api/page-assets/{upload_token}",
        "origins": _origins(site_settings.get("assetOrigins")),
        "maxBytes": limits.max_bytes,
        "maxSessionBytes": limits.max_session_bytes,
        "maxAssets": limits.max_assets,
    }


def _origins(listed: object) -> list[str]:
    """The site's ``assetOrigins``, normalised; entries that are no origin are left out
    (the CLI refuses them; a row edited by hand may hold anything)."""
    origins: list[str] = []
    for entry in listed if isinstance(listed, list) else []:
        try:
            origin = asset_origin(str(entry))
        except ValueError:
            continue
        if origin not in origins:
            origins.append(origin)
    return origins


def valid_key(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


def wait_time(found: bool, now: float, deadline: float, poll: float) -> float | None:
    """How long a read of a key not mapped yet waits before it looks again (an upload in
    this process wakes it sooner), or None: answer now (it is mapped, or time is up)."""
    if found or now >= deadline:
        return None
    return min(poll, deadline - now)


def poll_interval(looks: int, first: float, longest: float) -> float:
    """How long to wait after the ``looks``-th look at the database: ``first``, doubling
    up to ``longest`` (an upload to another process is seen that late at most)."""
    return min(longest, first * float(1 << min(looks, 16)))
