"""The server's own check of an :class:`InviteGuest` (the client's is a courtesy: a
hand-made socket skips it). No I/O here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address

from ...client.validation import (
    MAX_EMAIL,
    MAX_MESSAGE,
    MAX_NAME,
    clean_message,
    has_control,
    is_email,
)
from ...errors import InvalidParams
from ...protocol.messages import InviteGuest
from .phones import check_textable

__all__ = ["InviteRequest", "check_email", "check_invite", "check_message", "check_name"]


@dataclass(frozen=True)
class InviteRequest:
    """A checked invite: ``to`` is the address (email) or the E.164 number (sms)."""

    channel: str
    to: str
    guest_name: str
    message: str


def check_invite(
    request: InviteGuest, region: str, sms_countries: Iterable[str] | None = None
) -> InviteRequest:
    """Raise ``invalid_params`` unless ``request`` is one well-formed email or SMS invite;
    phone numbers without a country code are read in ``region``. A text goes only to a
    mobile number in ``sms_countries`` (default: ``region`` alone); else
    ``phone_type_refused`` or ``phone_country_refused``."""
    email, phone = request.guest_email.strip(), request.guest_phone.strip()
    if email and phone:
        raise InvalidParams("give either guestEmail (email invite) or guestPhone (SMS), not both")
    if not email and not phone:
        raise InvalidParams(
            "give guestName and guestEmail for an email invite, or guestPhone for an SMS invite"
        )
    name = check_name(request.guest_name, required=bool(email))
    message = check_message(request.message)
    if phone:
        countries = [region] if sms_countries is None else sms_countries
        return InviteRequest("sms", check_textable(phone, region, countries), name, message)
    return InviteRequest("email", check_email(email), name, message)


def check_name(value: str, required: bool, key: str = "guestName") -> str:
    """A person's name: one line, at most 100 characters (``key`` names it in errors)."""
    name = value.strip()
    if not name and required:
        raise InvalidParams(f"{key} is required" + " for an email invite" * (key == "guestName"))
    if len(name) > MAX_NAME:
        raise InvalidParams(f"{key} is {len(name)} characters; at most {MAX_NAME}")
    if has_control(name):
        raise InvalidParams(f"{key} must not contain line breaks or control characters")
    return name


def check_email(value: str, key: str = "guestEmail") -> str:
    """One plain address (``key`` names it in errors)."""
    if len(value) > MAX_EMAIL:
        raise InvalidParams(f"{key} is {len(value)} characters; at most {MAX_EMAIL}")
    if not is_email(value):
        raise InvalidParams(f"{key} {value[:80]!r} is not a valid email address")
    try:
        address = Address(addr_spec=value)
    except (ValueError, HeaderParseError, IndexError) as exc:  # defects are ValueErrors
        raise InvalidParams(f"{key} {value[:80]!r} is not a valid email address ({exc})") from None
    if address.addr_spec != value:
        raise InvalidParams(f"{key} {value[:80]!r} is not a plain email address")
    return value


def check_message(value: str) -> str:
    message = clean_message(value.strip())
    if message is None:
        raise InvalidParams(
            "message must not contain control characters (line breaks and tabs are fine)"
        )
    if len(message) > MAX_MESSAGE:
        raise InvalidParams(f"message is {len(message)} characters; at most {MAX_MESSAGE}")
    return message
