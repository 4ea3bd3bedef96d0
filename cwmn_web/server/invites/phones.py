"""Phone numbers to E.164 with ``phonenumbers``, and which of them a site may text. No I/O
here.

A text goes only to a mobile number (``MOBILE``, or ``FIXED_LINE_OR_MOBILE`` where a
country's plan does not tell them apart) in a country the site allows: its
``smsCountries`` setting (ISO 3166 codes), or, unset, its ``defaultRegion`` alone. A
country allowed also allows the territories on its numbering plan (:data:`SHARED_PLANS`:
GB's +44 07781 numbers are Guernsey's, for instance), never the other way round, and never
+1's other countries (the Caribbean's numbers are the classic premium-rate fraud).
Premium-rate, shared-cost, toll-free, VoIP, personal, pager, UAN and voicemail numbers are
refused: texting them costs the site money or reaches no person (SMS pumping)."""

from __future__ import annotations

from collections.abc import Iterable

import phonenumbers
from phonenumbers import PhoneNumberType

from ...errors import CwmnError, ErrorCode, InvalidParams

__all__ = [
    "SHARED_PLANS",
    "TEXTABLE_TYPES",
    "allowed_countries",
    "check_textable",
    "normalise_phone",
    "with_territories",
]

MAX_PHONE = 32
#: The number types a text may go to.
TEXTABLE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
#: The territories that share a country's numbering plan (its country calling code, with
#: numbers of that country's form; ``phonenumbers`` names their region by number range):
#: an allowed country allows them. A table, not ``phonenumbers``' country codes, because
#: those also join states (+7: RU and KZ) and +1's 25 countries, which are never widened.
SHARED_PLANS: dict[str, frozenset[str]] = {
    "AU": frozenset({"CC", "CX"}),  # Cocos (Keeling) Islands, Christmas Island
    "CW": frozenset({"BQ"}),  # Bonaire, Sint Eustatius and Saba
    "FI": frozenset({"AX"}),  # Åland
    "GB": frozenset({"GG", "IM", "JE"}),  # Guernsey, Isle of Man, Jersey
    "GP": frozenset({"BL", "MF"}),  # Saint Barthélemy, Saint Martin
    "NO": frozenset({"SJ"}),  # Svalbard and Jan Mayen
    "RE": frozenset({"YT"}),  # Mayotte
    "SH": frozenset({"TA"}),  # Tristan da Cunha
}
_TYPE_NAMES = {
    value: name.lower().replace("_", "-")
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}


def allowed_countries(setting: object, default_region: str) -> frozenset[str]:
    """The countries a site's texts may go to: its ``smsCountries`` (a list of ISO codes)
    if set, else its default region alone."""
    if isinstance(setting, list | tuple) and setting:
        return frozenset(str(c).upper() for c in setting)
    return frozenset({default_region.upper()})


def with_territories(countries: Iterable[str]) -> frozenset[str]:
    """``countries`` and the territories on their numbering plans (:data:`SHARED_PLANS`)."""
    allowed = {c.upper() for c in countries}
    return frozenset(allowed.union(*(SHARED_PLANS.get(c, ()) for c in allowed)))


def normalise_phone(raw: str, region: str) -> str:
    """``raw`` as E.164 (``+13145550000``); a number without a country code is read in
    ``region`` (ISO 3166 code, e.g. ``US``). Raise ``invalid_params`` unless it is a valid
    number that can be texted (no extension)."""
    return _format(_parse(raw, region))


def check_textable(raw: str, region: str, countries: Iterable[str]) -> str:
    """:func:`normalise_phone`, then refuse what the site may not text:
    ``phone_type_refused`` (not a mobile number) or ``phone_country_refused`` (a country
    outside ``countries`` and their territories)."""
    number = _parse(raw, region)
    e164 = _format(number)
    kind = phonenumbers.number_type(number)
    if kind not in TEXTABLE_TYPES:
        name = _TYPE_NAMES.get(kind, "unknown")
        raise CwmnError(
            f"guestPhone {e164} is a {name} number: invites are texted to mobile numbers "
            "only (send an email invite instead)",
            ErrorCode.PHONE_TYPE_REFUSED,
        )
    country = phonenumbers.region_code_for_number(number) or "unknown"
    allowed = sorted(countries)
    if country not in with_territories(allowed):
        raise CwmnError(
            f"guestPhone {e164} is in {country}, and this site texts only to "
            f"{', '.join(allowed)} (its smsCountries setting: `cwmn-web site settings SITE "
            "--sms-countries`)",
            ErrorCode.PHONE_COUNTRY_REFUSED,
        )
    return e164


def _format(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse(raw: str, region: str) -> phonenumbers.PhoneNumber:
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
    return number
