"""Join links: who may use one, the device cookie and link URLs. No I/O here.

A private link admits one guest; a public link admits any number while the host keeps it
enabled, each device as its own guest. Its first *join* (the guest's ``Join`` on the socket) binds
it to the guest's device cookie; opening the page does not, so link previews and mail
scanners that fetch the URL cannot use it up. After that the same device may come back any
number of times; any other device (or a browser without the cookie) is refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import CwmnError, ErrorCode
from .db import HostInviteRecord, LinkRecord, SessionRecord, token_hash
from .hosts import is_loopback

__all__ = [
    "DEVICE_COOKIE",
    "check_host_invite",
    "check_link",
    "device_hash",
    "join_url",
    "public_base",
    "session_ends_at",
    "session_expired",
    "usable_token",
]

DEVICE_COOKIE = "cwmn_device"
MAX_TOKEN = 200


def device_hash(cookie: str | None) -> str | None:
    """The stored form of a device cookie (None without a cookie)."""
    return token_hash(cookie) if cookie else None


def session_ends_at(session: SessionRecord, max_seconds: float) -> float:
    """When the session expires: its maximum duration after it started, or, while it waits
    for the host it invited, when the invitation expires."""
    if session.waiting_until is not None:
        return session.waiting_until
    return session.created_at + max_seconds


def session_expired(session: SessionRecord, max_seconds: float, now: float) -> bool:
    """Past its maximum duration (even if nothing has marked it ended yet)."""
    return session_ends_at(session, max_seconds) <= now


def check_host_invite(
    invite: HostInviteRecord | None, session: SessionRecord | None, now: float
) -> ErrorCode | None:
    """Why an invitation to host cannot be used, or None: ``LINK_USED`` (accepted
    already), ``LINK_INVALID`` (unknown, expired, or its session is over)."""
    if invite is None or session is None:
        return ErrorCode.LINK_INVALID
    if invite.used_at is not None:
        return ErrorCode.LINK_USED
    if invite.expires_at <= now or session.ended_at is not None:
        return ErrorCode.LINK_INVALID
    return None


def check_link(
    link: LinkRecord | None,
    session: SessionRecord | None,
    device: str | None,
    now: float,
    max_session_seconds: float,
) -> ErrorCode | None:
    """The error code that refuses ``device`` (a device hash) on ``link``, or None.

    ``link_invalid``: unknown, revoked or expired; ``public_link_disabled``: a public link
    the host turned off; ``session_ended``: its session is over; ``link_used``: a private
    link bound to another device (or ``device`` is None and it is bound). An unbound link
    is accepted; binding it is the caller's next step. (Whether this device's guest was
    removed is the store's to say: see ``Store.guest_on_link``.)
    """
    if link is None or link.expires_at <= now:
        return ErrorCode.LINK_INVALID
    if link.revoked_at is not None:
        public = link.kind == "public"
        return ErrorCode.PUBLIC_LINK_DISABLED if public else ErrorCode.LINK_INVALID
    if (
        session is None
        or session.ended_at is not None
        or session_expired(session, max_session_seconds, now)
    ):
        return ErrorCode.SESSION_ENDED
    if link.kind != "public" and link.device_hash is not None and link.device_hash != device:
        return ErrorCode.LINK_USED
    return None


def usable_token(token: str) -> bool:
    """Worth a database lookup: tokens are short URL-safe strings."""
    return 0 < len(token) <= MAX_TOKEN


def public_base(public_url: str, request_url: str) -> str:
    """The base of every link the server builds (join links, invitations to host, video
    links): ``CWMN_PUBLIC_URL``; else, in development, the origin of the request
    (ws→http, wss→https) if its host is a loopback name (:func:`.hosts.is_loopback`);
    else ``public_url_required``, so a forged ``Host`` never ends up in a link."""
    if public_url:
        return public_url.rstrip("/")
    parts = urlsplit(request_url)
    if not is_loopback(parts.hostname or ""):
        raise CwmnError(
            f"this server has no public URL and {parts.hostname!r} is not a name of this "
            "machine: set CWMN_PUBLIC_URL (e.g. https://cobrowse.example.com) to build links",
            ErrorCode.PUBLIC_URL_REQUIRED,
        )
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def join_url(base: str, token: str) -> str:
    return f"{base}/join/{token}"
