"""Phone numbers: E.164 parsing and mobile checks, with Google's libphonenumber data."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

# ``+`` and up to 15 digits (E.164), optionally split by the visual separators of ITU-T E.123.
# Letters (vanity numbers), extensions and non-ASCII digits are refused rather than converted.
_WRITTEN_NUMBER = re.compile(r"\+[0-9][0-9 ().-]{0,30}")
MAX_E164_DIGITS = 15


def normalize_e164(raw: str) -> str | None:
    """The E.164 form of a valid number written with its ``+`` country code, else None.

    Spaces, hyphens, dots and parentheses are tolerated: ``+1 415-555-2671`` → ``+14155552671``.
    """
    # The digits are counted rather than the characters, so that separators never decide.
    if not _WRITTEN_NUMBER.fullmatch(raw) or sum(c.isdigit() for c in raw) > MAX_E164_DIGITS:
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
