"""Phone numbers: E.164 parsing and mobile checks, with Google's libphonenumber data.

Two levels. *E.164-shaped* (``e164_shape``): a country code and up to 15 digits, with or without
the ``+`` (LivePerson's examples write ``14155552671``). *Valid* (``normalize_e164``): also a real
number of its country's numbering plan. A request fails only on the first; the second decides
whether a channel can take the number (an SMS to a landline is ineligible, not a bad request).
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

# ``+`` (optional) and up to 15 digits, optionally split by the visual separators of ITU-T E.123.
# Letters (vanity numbers), extensions and non-ASCII digits are refused rather than converted.
_WRITTEN_NUMBER = re.compile(r"\+?[0-9][0-9 ().-]{0,30}")
_SEPARATORS = str.maketrans("", "", " ().-")
# E.164: a country code never starts with 0; 7 digits is the shortest number in use.
_E164_DIGITS = re.compile(r"[1-9][0-9]{6,14}")
MAX_E164_DIGITS = 15


def e164_shape(raw: str) -> str | None:
    """``+`` and the digits of a number written E.164-style (``+`` optional, separators
    tolerated), else None. Says nothing about whether the number exists."""
    if not _WRITTEN_NUMBER.fullmatch(raw):
        return None
    digits = raw.translate(_SEPARATORS).removeprefix("+")
    return f"+{digits}" if _E164_DIGITS.fullmatch(digits) else None


def normalize_e164(raw: str) -> str | None:
    """The E.164 form of a valid number written with its country code, else None.

    The ``+``, spaces, hyphens, dots and parentheses are optional:
    ``+1 415-555-2671`` and ``14155552671`` → ``+14155552671``.
    """
    shaped = e164_shape(raw)
    if shaped is None:
        return None
    try:
        number = phonenumbers.parse(shaped, None)
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
