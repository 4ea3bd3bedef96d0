"""What an invite says: the join URL, the email (text and HTML alternatives) and the text
message. Every value a host or guest chose is escaped in the HTML and kept out of the
headers' syntax (``email.headerregistry`` builds them). No I/O here."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import urlencode

from ..links import join_url

__all__ = [
    "EmailContent",
    "build_email",
    "email_content",
    "html_email",
    "invite_url",
    "lifetime",
    "one_line",
    "parse_sender",
    "sms_text",
]

MAX_HOST_NAME = 100
_SPACES = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


def invite_url(base: str, token: str, guest_name: str) -> str:
    """The join URL; ``?name=`` lets the viewer skip asking the guest's name."""
    url = join_url(base, token)
    return f"{url}?{urlencode({'name': guest_name})}" if guest_name else url


def one_line(value: str, limit: int = MAX_HOST_NAME) -> str:
    """``value`` on one line: control characters and runs of space as one space, cut."""
    return _SPACES.sub(" ", value).strip()[:limit].strip()


def lifetime(seconds: float) -> str:
    """``24 hours``, ``1 hour``, ``30 minutes``."""
    hours, minutes = round(seconds / 3600), max(round(seconds / 60), 1)
    if seconds >= 3600:
        return f"{hours} hour{'s' * (hours != 1)}"
    return f"{minutes} minute{'s' * (minutes != 1)}"


def email_content(
    host_name: str, guest_name: str, url: str, message: str, link_seconds: float
) -> EmailContent:
    """Subject, plain text and HTML of an email invite."""
    host = one_line(host_name) or "Your host"
    subject = f"{host} invited you to a shared screen"
    note = f"{host} wrote:\n\n{message}\n\n" if message else ""
    expiry = lifetime(link_seconds)
    fine = f"It is for you alone: it works on one device and expires in {expiry}."
    text = (
        f"Hello {guest_name},\n\n"
        f"{host} invited you to see their screen, live, in your browser.\n\n"
        f"{note}"
        f"Join the shared screen: {url}\n\n"
        f"This link is for you alone: it works on one device and expires in {expiry}. "
        "Nothing to install.\n\n"
        "If you did not expect this invitation, you can ignore this email.\n"
    )
    lead = (
        f"<strong>{html.escape(host)}</strong> invited you to see their screen, live, in "
        "your browser."
    )
    body = html_email(subject, guest_name, lead, message, "Join the shared screen", url, fine)
    return EmailContent(subject, text, body)


def html_email(
    subject: str, name: str, lead: str, message: str, button: str, url: str, fine: str
) -> str:
    """An email's HTML part: hello ``name``, ``lead`` (HTML), the sender's ``message``
    quoted, a ``button`` to ``url``, and ``fine`` print. Every other value is escaped."""
    e = html.escape
    lines = e(message).replace("\n", "<br>")
    quote = (
        '<blockquote style="margin:16px 0;padding:8px 16px;border-left:4px solid #ccd;'
        f'color:#333">{lines}</blockquote>'
        if message
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(subject)}</title></head>"
        '<body style="margin:0;padding:24px;background:#f4f4f6;color:#222;'
        'font:16px/1.5 system-ui,-apple-system,Segoe UI,sans-serif">'
        '<div style="max-width:32em;margin:0 auto;background:#fff;border-radius:8px;'
        'padding:24px">'
        f"<p>Hello {e(name)},</p>"
        f"<p>{lead}</p>"
        f"{quote}"
        f'<p><a href="{e(url)}" style="display:inline-block;background:#2457d6;color:#fff;'
        f'text-decoration:none;padding:10px 18px;border-radius:6px">{e(button)}</a>'
        "</p>"
        f'<p style="font-size:14px;color:#555">Or open this link: <a href="{e(url)}">'
        f"{e(url)}</a><br>{e(fine)} Nothing to install.</p>"
        '<p style="font-size:13px;color:#777">If you did not expect this invitation, you '
        "can ignore this email.</p></div></body></html>\n"
    )


def parse_sender(value: str) -> Address:
    """``CWMN_MAIL_FROM`` (``Name <addr>`` or ``addr``) as one address; ValueError if not."""
    header = policy.SMTP.header_factory("From", value)
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if len(addresses) != 1 or header.defects or "@" not in addresses[0].addr_spec:
        raise ValueError(f"CWMN_MAIL_FROM {value!r} is not one email address")
    address: Address = addresses[0]
    return address


def build_email(
    content: EmailContent, sender: Address, guest_name: str, guest_email: str, now: float
) -> EmailMessage:
    """The email: From, To (name and address as structured values), Subject, Date,
    Message-ID, and text/plain + text/html alternatives."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = Address(display_name=guest_name, addr_spec=guest_email)
    message["Subject"] = content.subject
    message["Date"] = datetime.fromtimestamp(now, UTC)
    message["Message-ID"] = make_msgid("invite", domain=sender.domain or "localhost")
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message


def sms_text(host_name: str, guest_name: str, url: str, message: str) -> str:
    """The text message: who invites, the host's note, the link."""
    host = one_line(host_name) or "Your host"
    hello = f"Hi {guest_name}, " if guest_name else ""
    note = f"\n{message}" if message else ""
    return f"{hello}{host} invited you to a shared screen.{note}\nJoin: {url}"
