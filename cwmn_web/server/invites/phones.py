"""Phone numbers to E.164 with ``phonenumbers``. No I/O here."""

from __future__ import annotations

import phonenumbers

from ...errors import InvalidParams

__all__ = ["normalise_phone"]

MAX_PHONE = 32


def normalise_phone(raw: str, region: str) -> str:
    """``raw`` as E.164 (``+13145550000``); a number without a country code is read in
    ``region`` (ISO 3166 code, e.g. ``US``). Raise ``invalid_params`` unless it is a valid
    number that can be texted (no extension)."""
    text = raw.strip()
    if not text or len(text) > MAX_PHONE or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidParams(f"guestPhone {raw[:40]!r} is not a phone number")
    region = region.upper() if isinstance(region, str) else ""
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException as exc:
        invalid_country = phonenumbers.NumberParseException.INVALID_COUNTRY_CODE
        if exc.error_type == invalid_country and text.startswith("+"):
            raise InvalidParams(f"guestPhone {text!r} has no valid country code") from None
        if exc.error_type == invalid_country:
            raise InvalidParams(
                f"guestPhone {text!r} has no valid country code (and the site's default "
                f"region {region!r} does not give one): write it as +<country code><number>"
            ) from None
        raise InvalidParams(f"guestPhone {text!r} is not a phone number") from None
    if number.extension:
        raise InvalidParams(f"guestPhone {text!r} has an extension: a text message cannot use it")
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_number(number) or region or "any region"
        raise InvalidParams(f"guestPhone {text!r} is not a valid phone number in {where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
