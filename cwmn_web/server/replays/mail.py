"""Emailing a replay's video link: what the email says, and sending it through the same
transport, records and limits as invites (``invites`` rows of kind ``video``)."""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from ...errors import CwmnError, InvalidParams
from ...protocol.messages import MAX_VIDEO_RECIPIENTS, SendVideo
from ..db import InviteKind, InviteStatus, ReplayRecord, SendStatus, token_hash
from ..db.invites import insert_invite
from ..invites.checks import check_email, check_message
from ..invites.compose import EmailContent, build_email, html_email, one_line
from ..invites.sender import NO_SENDER, Sender
from ..invites.service import Invites
from ..invites.transports import Outgoing
from ..secret import derive_token

__all__ = [
    "MAX_SUBJECT",
    "VideoRequest",
    "check_send",
    "reserve",
    "send_links",
    "video_email",
    "video_token",
    "video_token_hash",
    "video_url",
]

MAX_SUBJECT = 200


#: What a video token is derived for (:func:`~cwmn_web.server.secret.derive_token`).
VIDEO_PURPOSE = "replay-video"


def video_token(key: bytes, replay_id: str) -> str:
    """The token of the replay's video link: derived from its id under the server's key,
    so the mailer can rebuild it after the render while the database keeps only its
    sha256 (``video_token_hash``)."""
    return derive_token(key, VIDEO_PURPOSE, replay_id)


def video_token_hash(key: bytes, replay_id: str) -> str:
    return token_hash(video_token(key, replay_id))


def video_url(record: ReplayRecord, key: bytes, public_url: str = "") -> str:
    """The video's link: on ``CWMN_PUBLIC_URL`` (``public_url``) if set, else on the base
    the recording started with (``links.public_base`` then: a loopback one)."""
    base = public_url.rstrip("/") or record.base_url
    return f"{base}/replay/{video_token(key, record.id)}.mp4"


@dataclass(frozen=True)
class VideoRequest:
    """A checked :class:`SendVideo`: addresses (the host's if none), subject, message."""

    to: list[str]
    subject: str
    message: str


def check_send(message: SendVideo, host_email: str) -> VideoRequest:
    """Raise ``invalid_params`` unless ``message`` is a well-formed request."""
    if len(message.to_emails) > MAX_VIDEO_RECIPIENTS:
        count = len(message.to_emails)
        raise InvalidParams(f"toEmails has {count} addresses; at most {MAX_VIDEO_RECIPIENTS}")
    to: list[str] = []
    for value in message.to_emails or [host_email]:
        address = check_email(value.strip(), "toEmails")
        if address.lower() not in (a.lower() for a in to):
            to.append(address)
    subject = message.subject.strip()
    if len(subject) > MAX_SUBJECT:
        raise InvalidParams(f"subject is {len(subject)} characters; at most {MAX_SUBJECT}")
    if subject != one_line(subject, MAX_SUBJECT):
        raise InvalidParams("subject must be one line, without control characters")
    return VideoRequest(to, subject, check_message(message.message))


async def reserve(
    invites: Invites,
    record: ReplayRecord,
    to: list[str],
    status: InviteStatus,
    sender: Sender = NO_SENDER,
) -> list[tuple[str, str]]:
    """Check the invite limits for ``len(to)`` more (``sender``'s too) and record one invite
    per address; returns ``(invite_id, address)`` pairs."""
    pairs = [(secrets.token_urlsafe(12), address) for address in to]

    def write(db: Connection, now: float) -> list[tuple[str, str]]:
        for invite_id, address in pairs:
            insert_invite(
                db,
                invite_id,
                InviteKind.VIDEO,
                status,
                now,
                site_id=record.site_id,
                session_id=record.id,
                link_hash=None,
                channel="email",
                recipient=address,
                **sender.record(),
            )
        return pairs

    return await invites.reserve(record.site_id, record.id, len(pairs), sender, write)


def video_email(record: ReplayRecord, url: str, subject: str, message: str) -> EmailContent:
    """Subject (``subject`` or "<host> shared a recorded replay with you"), text, HTML."""
    host = one_line(record.host_name) or "Someone"
    subject = subject or f"{host} shared a recorded replay with you"
    minutes, seconds = divmod(round(record.duration), 60)
    length = f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
    day = datetime.fromtimestamp(record.expires_at, UTC)
    until = f"{day.day} {day:%B %Y}"
    note = f"{host} wrote:\n\n{message}\n\n" if message else ""
    fine = f"The link works until {until}."
    text = (
        "Hello,\n\n"
        f"{host} recorded their screen, with narration, and shared the video with you "
        f"({length}).\n\n"
        f"{note}"
        f"Watch the replay: {url}\n\n"
        f"{fine} Nothing to install: it plays in your browser.\n\n"
        "If you did not expect this email, you can ignore it.\n"
    )
    lead = (
        f"<strong>{html.escape(host)}</strong> recorded their screen, with narration, and "
        f"shared the video with you ({html.escape(length)})."
    )
    body = html_email(subject, "there", lead, message, "Watch the replay", url, fine)
    return EmailContent(subject, text, body)


async def send_links(
    invites: Invites,
    record: ReplayRecord,
    recipients: list[tuple[str, str]],
    subject: str,
    message: str,
    key: bytes,
    beat: Callable[[], Awaitable[object]] | None = None,
) -> tuple[SendStatus, CwmnError | None]:
    """Email the link to each ``(invite_id, address)`` (``beat()`` after each); returns
    ``sent``/``outbox`` (any delivered) or ``failed``, and the first error."""
    url = video_url(record, key, invites.settings.public_url)
    content = video_email(record, url, subject, message)
    delivered: list[InviteStatus] = []
    first_error: CwmnError | None = None
    for invite_id, address in recipients:
        email = build_email(content, invites.sender, "", address, time.time())
        item = Outgoing(
            invite_id,
            "email",
            address,
            address,
            content.subject,
            content.text,
            content.html,
            url,
            email,
        )
        try:
            delivered.append((await invites.deliver(item, lambda: None)).status)
        except CwmnError as exc:
            first_error = first_error or exc
        if beat is not None:
            await beat()
    if not delivered:
        return SendStatus.FAILED, first_error
    kept = InviteStatus.OUTBOX in delivered
    return (SendStatus.OUTBOX if kept else SendStatus.SENT), first_error
