"""Phone numbers: E.164 parsing and mobile checks, with Google's libphonenumber data."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType


def normalize_e164(raw: str) -> str | None:
    """The E.164 form of a valid number written with its ``+`` country code, else None."""
    if not raw.startswith("+") or len(raw) > 16:
        return None
    try:
        number = phonenumbers.parse(raw, None)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_mobile(e164: str) -> bool:
    """Whether the number can be a mobile (numbering plans that do not tell count as mobile)."""
    number = phonenumbers.parse(e164, None)
    kind = phonenumbers.number_type(number)
    return kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


def region_of(e164: str) -> str | None:
    """ISO 3166 region of the number (for SMS quiet hours), if known."""
    region: str | None = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    return region
