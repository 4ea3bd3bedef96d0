"""Email invites over SMTP (``aiosmtplib``): STARTTLS or implicit TLS, optional login."""

from __future__ import annotations

import asyncio

import aiosmtplib

from ...errors import InviteFailed, InviteUnavailable
from ..db import InviteStatus
from .transports import Delivery, Outgoing

__all__ = ["SmtpTransport"]


class SmtpTransport:
    """Sends each invite in its own SMTP connection; the whole exchange is bounded by
    ``timeout`` seconds."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str = "",
        password: str = "",
        start_tls: bool | None = None,
        use_tls: bool = False,
        timeout: float = 20.0,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.start_tls, self.use_tls, self.timeout = start_tls, use_tls, timeout

    async def deliver(self, item: Outgoing) -> Delivery:
        assert item.email is not None
        try:
            async with asyncio.timeout(self.timeout):
                await aiosmtplib.send(
                    item.email,
                    hostname=self.host,
                    port=self.port,
                    username=self.username or None,
                    password=self.password or None,
                    start_tls=False if self.use_tls else self.start_tls,
                    use_tls=self.use_tls,
                    timeout=self.timeout,
                )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise InviteUnavailable(
                "the mail server refused this server's login (CWMN_SMTP_USER, "
                f"CWMN_SMTP_PASSWORD): {_reply(exc)}; nothing was sent"
            ) from None
        except aiosmtplib.SMTPConnectError:
            raise _unreachable() from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            raise InviteFailed(
                f"the mail server refused the recipient {item.to}: "
                f"{_reply(refused) if refused else 'no reason given'}"
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise InviteFailed(f"the mail server refused the invite: {_reply(exc)}") from None
        except aiosmtplib.SMTPNotSupported as exc:
            raise InviteUnavailable(
                f"the mail server cannot be used as configured: {exc}; nothing was sent"
            ) from None
        except (aiosmtplib.SMTPException, OSError):  # disconnects, timeouts, TLS failures
            raise _unreachable() from None
        return Delivery(InviteStatus.SENT, str(item.email["Message-ID"]))


def _unreachable() -> InviteUnavailable:
    return InviteUnavailable(
        "the server could not reach its mail server, or it did not answer in time; "
        "nothing was sent: try again later"
    )


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    """The server's reply on one line (``550 5.1.1 no such user``), cut to 300 characters."""
    text = " ".join(str(exc.message).split())
    return f"{exc.code} {text}"[:300]
