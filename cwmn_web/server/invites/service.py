"""Invites end to end: check, rate-limit, make the personal link, compose, send, record.

One :class:`Invites` per app (``app.state.invites``); the host socket calls :meth:`send`.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import Address
from typing import TypeVar

from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from ...errors import CwmnError
from ...protocol.messages import InviteGuest
from ..config import Settings
from ..db import InviteKind, InviteStatus, LinkKind, LinkRecord, Store
from ..db.invites import insert_invite, invite_times_in
from ..db.links import insert_link, new_link
from ..db.locks import exclusive
from ..secret import load_secret
from ..sites import DEFAULT_SETTINGS
from .checks import InviteRequest, check_invite
from .compose import build_email, email_content, invite_url, parse_sender, sms_text
from .limits import Limit, check_limits
from .phones import allowed_countries
from .sender import NO_SENDER, Sender
from .smtp import SmtpTransport
from .transports import Delivery, OutboxTransport, Outgoing, Transport
from .twilio import TwilioTransport

__all__ = ["InviteResult", "Inviter", "Invites", "make_transports"]

log = logging.getLogger("cwmn_web.server.invites")
T = TypeVar("T")
_SWITCH = {"on": True, "true": True, "1": True, "yes": True}
_SWITCH |= {"off": False, "false": False, "0": False, "no": False}


@dataclass(frozen=True)
class Inviter:
    """Who invites: a host's live session, and where its links point."""

    site_id: int
    session_id: str
    host_name: str
    region: str
    base_url: str
    sender: Sender = NO_SENDER
    sms_countries: frozenset[str] = frozenset()
    """Where its texts may go (:func:`.phones.allowed_countries`)."""

    @classmethod
    def of(
        cls,
        site_id: int,
        session_id: str,
        host_name: str,
        site_settings: dict[str, object],
        base_url: str,
        sender: Sender = NO_SENDER,
    ) -> Inviter:
        """The host of session ``session_id``, phone numbers read in the site's region."""
        region = str(site_settings.get("defaultRegion") or DEFAULT_SETTINGS["defaultRegion"])
        countries = allowed_countries(site_settings.get("smsCountries"), region)
        return cls(site_id, session_id, host_name, region, base_url, sender, countries)


@dataclass(frozen=True)
class InviteResult:
    invite_id: str
    channel: str
    to: str
    status: InviteStatus


class Invites:
    """Sends invites through ``email`` and ``sms`` transports under the settings' limits."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        email: Transport,
        sms: Transport,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.store = settings, store
        self.transports = {"email": email, "sms": sms}
        self.sender = parse_sender(settings.mail_from)
        self.limits = (
            Limit("session", settings.invites_per_session, settings.invites_session_window),
            Limit("site", settings.invites_per_site, settings.invites_site_window),
        )
        self.client_limit = Limit(
            "client address", settings.invites_per_client, settings.invites_client_window
        )
        #: The same budget for each host a token names (its ``sub``) on token sites.
        self.host_limit = Limit(
            "host (host token sub)", settings.invites_per_client, settings.invites_client_window
        )
        self.clock = clock
        #: The server's secret (:mod:`..secret`): video links and invitation codes.
        self.key = load_secret(settings.secret, settings.data_dir)

    @property
    def outbox_active(self) -> bool:
        """Does a channel deliver to the development outbox?"""
        return any(isinstance(t, OutboxTransport) for t in self.transports.values())

    async def send(self, inviter: Inviter, message: InviteGuest) -> InviteResult:
        """Send one invite; raise ``invalid_params``, ``rate_limited``, ``invite_failed``
        or ``invite_unavailable`` (nothing is sent before every check passed)."""
        request = check_invite(message, inviter.region, inviter.sms_countries or None)
        invite_id, link, now = await self._record(inviter, request)
        item = self._compose(inviter, request, invite_id, link, now)
        # Nobody received a link that failed to go out: it is revoked.
        delivery = await self.deliver(item, lambda: self.store.revoke_link(link.token))
        return InviteResult(invite_id, request.channel, request.to, delivery.status)

    async def deliver(self, item: Outgoing, undo: Callable[[], object]) -> Delivery:
        """Hand ``item`` to its channel's transport and record how it went; on failure
        ``undo()`` runs (in a thread) and ``invite_failed``/``invite_unavailable`` (or
        ``server_error``) is raised."""
        transport = self.transports[item.channel]
        try:
            delivery = await transport.deliver(item)
        except Exception as exc:
            error = exc if isinstance(exc, CwmnError) else None
            if error is None:
                log.exception("invite %s: %s failed", item.invite_id, transport.name)
                error = CwmnError("the server failed while sending the invite")
            await run_in_threadpool(
                self.store.finish_invite,
                item.invite_id,
                InviteStatus.FAILED,
                transport.name,
                None,
                error.message,
            )
            await run_in_threadpool(undo)
            raise error from None
        await run_in_threadpool(
            self.store.finish_invite,
            item.invite_id,
            delivery.status,
            transport.name,
            delivery.provider_id,
        )
        return delivery

    async def reserve(
        self,
        site_id: int,
        session_id: str | None,
        count: int,
        sender: Sender,
        write: Callable[[Connection, float], T],
    ) -> T:
        """Check that ``count`` more invites fit the limits of the site (and of the session,
        if any, and of the sender's client address on an open site, or of its host token's
        ``sub`` on a token site: :class:`Sender`), then ``write(db, now)`` records them (with
        ``sender.record()``): one transaction that no other process's reservation for the
        same site or client address runs beside (:func:`..db.locks.exclusive`), so
        concurrent invites cannot all pass the same count. Raise ``rate_limited``."""
        keys = [f"invites:site:{site_id}"]
        if sender.limited_by_address:
            keys.append(f"invites:client:{sender.client}")
        return await run_in_threadpool(
            self._reserve_now, keys, site_id, session_id, count, sender, write
        )

    def _reserve_now(
        self,
        keys: list[str],
        site_id: int,
        session_id: str | None,
        count: int,
        sender: Sender,
        write: Callable[[Connection, float], T],
    ) -> T:
        with exclusive(self.store.engine, *keys) as db:
            now = self.clock()
            self._check(db, now, site_id, session_id, count, sender)
            return write(db, now)

    def _check(
        self,
        db: Connection,
        now: float,
        site_id: int,
        session_id: str | None,
        count: int,
        sender: Sender,
    ) -> None:
        session_limit, site_limit = self.limits
        more = [now] * (count - 1)
        if sender.limited_by_address:
            limit = self.client_limit
            by_client = invite_times_in(db, now - limit.window, client=sender.client)
            check_limits([(limit, by_client + more)], now)
        if sender.subject is not None:
            limit = self.host_limit
            by_host = invite_times_in(
                db, now - limit.window, site_id=site_id, subject=sender.subject
            )
            check_limits([(limit, by_host + more)], now)
        by_site = invite_times_in(db, now - site_limit.window, site_id=site_id)
        checks = [(site_limit, by_site + more)]
        if session_id is not None:
            by_session = invite_times_in(db, now - session_limit.window, session_id=session_id)
            checks.insert(0, (session_limit, by_session + more))
        check_limits(checks, now)

    async def _record(
        self, inviter: Inviter, request: InviteRequest
    ) -> tuple[str, LinkRecord, float]:
        """Check the limits and record the invite with its new link."""
        invite_id = secrets.token_urlsafe(12)

        def write(db: Connection, now: float) -> tuple[str, LinkRecord, float]:
            link = new_link(
                inviter.session_id,
                now,
                self.settings.link_ttl_seconds,
                LinkKind.INVITE,
                request.guest_name or None,
            )
            insert_link(db, link)
            insert_invite(
                db,
                invite_id,
                InviteKind.GUEST,
                InviteStatus.SENDING,
                now,
                site_id=inviter.site_id,
                session_id=inviter.session_id,
                link_hash=link.token_hash,
                channel=request.channel,
                recipient=request.to,
                **inviter.sender.record(),
            )
            return invite_id, link, now

        return await self.reserve(inviter.site_id, inviter.session_id, 1, inviter.sender, write)

    def _compose(
        self,
        inviter: Inviter,
        request: InviteRequest,
        invite_id: str,
        link: LinkRecord,
        now: float,
    ) -> Outgoing:
        url = invite_url(inviter.base_url, link.token, request.guest_name)
        name, to = request.guest_name, request.to
        if request.channel == "sms":
            text = sms_text(inviter.host_name, name, url, request.message)
            return Outgoing(invite_id, "sms", to, to, "", text, None, url)
        content = email_content(
            inviter.host_name, name, url, request.message, self.settings.link_ttl_seconds
        )
        email = build_email(content, self.sender, name, to, now)
        recipient = str(Address(display_name=name, addr_spec=to))
        return Outgoing(
            invite_id,
            "email",
            to,
            recipient,
            content.subject,
            content.text,
            content.html,
            url,
            email,
        )


def make_transports(settings: Settings, store: Store) -> tuple[Transport, Transport]:
    """The email and SMS transports the settings ask for (the outbox for a channel without
    settings). Raise ValueError, naming the variable, for settings that cannot work."""
    parse_sender(settings.mail_from)
    outbox = OutboxTransport(store)
    email: Transport = outbox
    if settings.smtp_host:
        email = SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_user,
            password=settings.smtp_password,
            start_tls=_switch("CWMN_SMTP_STARTTLS", settings.smtp_starttls, auto=True),
            use_tls=bool(_switch("CWMN_SMTP_TLS", settings.smtp_tls, auto=False)),
            timeout=settings.send_timeout,
        )
    twilio = {
        "CWMN_TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "CWMN_TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "CWMN_TWILIO_FROM": settings.twilio_from,
    }
    sms: Transport = outbox
    if any(twilio.values()):
        missing = [name for name, value in twilio.items() if not value]
        if missing:
            raise ValueError(f"SMS invites need {', '.join(missing)} too (or none of them)")
        if not settings.twilio_base_url.startswith(("https://", "http://")):
            raise ValueError("CWMN_TWILIO_BASE_URL must be an http(s) URL")
        sms = TwilioTransport(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from,
            settings.twilio_base_url,
            settings.send_timeout,
        )
    return email, sms


def _switch(name: str, value: str, auto: bool) -> bool | None:
    """``on``/``off`` (and ``auto`` → None where ``auto`` is allowed)."""
    key = value.strip().lower()
    if auto and key in ("", "auto"):
        return None
    if key == "" and not auto:
        return False
    if key not in _SWITCH:
        choices = "auto, on or off" if auto else "on or off"
        raise ValueError(f"{name} must be {choices}, not {value!r}")
    return _SWITCH[key]
