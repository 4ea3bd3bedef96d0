"""Invitations to host ("with me", ``session.inviteToHost``): the server's checks, the
email, and the session that waits for the invitee. docs/LIVE.md, "Invite to host".

The invitee gets ``SERVER/host-invite/TOKEN`` (one use, ``CWMN_LINK_TTL_SECONDS``); the
inviter gets a private join link to the session, which waits for the invitee to host it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, replace
from email.headerregistry import Address
from urllib.parse import urlsplit

from sqlalchemy.engine import Connection

from ...client.validation import has_control
from ...errors import InvalidParams, Unauthorized
from ...protocol.messages import InviteToHost
from ..db import HostInviteRecord, InviteStatus, LinkRecord
from ..db.host_invites import insert_host_invite
from ..host_codes import invitation_code
from ..host_tokens import HostIdentity
from ..sites import domain_matches
from .checks import check_email, check_message, check_name
from .compose import EmailContent, build_email, html_email, invite_url, lifetime, one_line
from .sender import NO_SENDER, Sender
from .service import Invites
from .transports import Outgoing

__all__ = [
    "MAX_URL",
    "HostInviteRequest",
    "HostInviteResult",
    "as_token_host",
    "check_host_invite_request",
    "check_url",
    "host_invite_email",
    "host_invite_url",
    "send_host_invite",
]

MAX_URL = 2048


@dataclass(frozen=True)
class HostInviteRequest:
    """A checked invitation: who invites, whom, their note, and the page to host on."""

    inviter_name: str
    inviter_email: str
    invite_name: str
    invite_email: str
    message: str
    url: str


@dataclass(frozen=True)
class HostInviteResult:
    invite_id: str
    join_url: str
    expires_at: float
    status: InviteStatus


def check_url(value: str, domains: Sequence[str]) -> str:
    """An absolute http(s) URL on one of ``domains`` (the inviting site's); else
    ``invalid_params``."""
    url = value.strip()
    if not url or len(url) > MAX_URL or has_control(url) or " " in url:
        raise InvalidParams(f"url must be an absolute http(s) URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        hostname = (parts.hostname or "").rstrip(".")
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        raise InvalidParams(f"url {url[:80]!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise InvalidParams(f"url must be an absolute http(s) URL, got {url[:80]!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidParams("url must not contain a user name or password")
    if not any(domain_matches(d, hostname) for d in domains):
        raise InvalidParams(
            f"url must be on a domain this site authorizes ({', '.join(domains)}), "
            f"not {hostname}: the invitee hosts the session on that page"
        )
    return url


def check_host_invite_request(message: InviteToHost, domains: Sequence[str]) -> HostInviteRequest:
    """Raise ``invalid_params`` unless ``message`` is a well-formed invitation to host on
    one of ``domains``."""
    return HostInviteRequest(
        inviter_name=check_name(message.host_name, True, "hostName"),
        inviter_email=check_email(message.host_email.strip(), "hostEmail"),
        invite_name=check_name(message.invite_name, True, "inviteName"),
        invite_email=check_email(message.invite_email.strip(), "inviteEmail"),
        message=check_message(message.message),
        url=check_url(message.url, domains),
    )


def as_token_host(message: InviteToHost, host: HostIdentity | None) -> InviteToHost:
    """``message`` with, on a site that requires host tokens (``host`` given), the token's
    identity as the inviter: its ``email``, and its ``name`` (else that email). The page's
    ``hostName``/``hostEmail`` are ignored there; a token without an email is refused."""
    if host is None:
        return message
    if not host.email:
        raise Unauthorized(
            "an invitation to host on this site names its inviter from the host token: "
            "the token needs an email claim (and a name claim to show a name)"
        )
    return replace(message, host_name=host.name or host.email, host_email=host.email)


def host_invite_url(base: str, token: str) -> str:
    return f"{base}/host-invite/{token}"


def host_invite_email(
    request: HostInviteRequest, url: str, code: str, link_seconds: float
) -> EmailContent:
    """Subject, plain text and HTML of an invitation to host, with the code that accepting
    it needs (:mod:`..host_codes`)."""
    inviter = one_line(request.inviter_name) or "Someone"
    where = urlsplit(request.url).netloc
    subject = f"{inviter} invites you to share your screen"
    note = f"{inviter} wrote:\n\n{request.message}\n\n" if request.message else ""
    fine = (
        f"When the page asks for it, enter the code {code}. It is meant for "
        f"{request.invite_email} only: never enter a code someone else gave you. This "
        f"invitation works once and expires in {lifetime(link_seconds)}."
    )
    what = (
        f"once you agree, {inviter} will see that page and your pointer, live (never "
        "passwords or masked fields)."
    )
    text = (
        f"Hello {request.invite_name},\n\n"
        f"{inviter} invites you to share your screen with them: the link below opens "
        f"{where}, and {what}\n\n"
        f"{note}"
        f"Open the page and share your screen: {url}\n\n"
        f"{fine} Nothing to install.\n\n"
        "If you did not expect this invitation, you can ignore this email.\n"
    )
    e = html.escape
    lead = (
        f"<strong>{e(inviter)}</strong> invites you to share your screen with them: the "
        f"button below opens {e(where)}, and {e(what)}"
    )
    body = html_email(
        subject, request.invite_name, lead, request.message, "Open and share", url, fine
    )
    return EmailContent(subject, text, body)


async def send_host_invite(
    invites: Invites,
    site_id: int,
    domains: Sequence[str],
    origin: str,
    base_url: str,
    message: InviteToHost,
    sender: Sender = NO_SENDER,
    host: HostIdentity | None = None,
) -> HostInviteResult:
    """Check, rate-limit (the site's limit), make the waiting session, the inviter's join
    link and the invitation, and email it; a failed send cancels them all. ``host``: the
    token's identity on a site that requires host tokens (the inviter, see
    :func:`as_token_host`)."""
    request = check_host_invite_request(as_token_host(message, host), domains)
    store, settings = invites.store, invites.settings

    def write(db: Connection, now: float) -> tuple[HostInviteRecord, LinkRecord, float]:
        invite, link = insert_host_invite(
            db,
            site_id,
            origin=origin,
            url=request.url,
            inviter=(request.inviter_name, request.inviter_email),
            invitee=(request.invite_name, request.invite_email),
            message=request.message,
            ttl_seconds=settings.link_ttl_seconds,
            join_ttl_seconds=settings.link_ttl_seconds + settings.max_session_seconds,
            now=now,
            sender=sender.record(),
        )
        return invite, link, now

    invite, link, now = await invites.reserve(site_id, None, 1, sender, write)
    url = host_invite_url(base_url, invite.token)
    code = invitation_code(invites.key, invite.token)
    content = host_invite_email(request, url, code, settings.link_ttl_seconds)
    name, to = request.invite_name, request.invite_email
    item = Outgoing(
        invite.invite_id,
        "email",
        to,
        str(Address(display_name=name, addr_spec=to)),
        content.subject,
        content.text,
        content.html,
        url,
        build_email(content, invites.sender, name, to, now),
    )
    delivery = await invites.deliver(item, lambda: store.cancel_host_invite(invite))
    join = invite_url(base_url, link.token, request.inviter_name)
    return HostInviteResult(invite.invite_id, join, invite.expires_at, delivery.status)
