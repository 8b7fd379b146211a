"""Phone numbers: E.164 with its country code, checked against libphonenumber's data."""

from __future__ import annotations

import pytest

from parlay.lib.phone import is_mobile, normalize_e164, region_of


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("+14155552671", "+14155552671"),
        ("+1 415 555 2671", "+14155552671"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+1.415.555.2671", "+14155552671"),
        ("+49 151 2345 6789", "+4915123456789"),  # longer than 16 characters as written
        ("+447911123456", "+447911123456"),
    ],
)
def test_valid_numbers_are_normalized_to_e164(written: str, e164: str) -> None:
    assert normalize_e164(written) == e164


@pytest.mark.parametrize(
    "written",
    [
        "",
        "+",
        "14155552671",  # no country code
        "+1415555267",  # too short for the US plan
        "+999123456",  # no such country code
        "+1415555267100000",  # more than 15 digits
        "+1-800-FLOWERS",  # letters are not converted
        "+14155552671 ext. 5",
        "+14155552671;ext=5",
        "+\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff12\uff16\uff17\uff11",  # fullwidth digits
        "+1\u00a0415 555 2671",  # no-break space
        "tel:+14155552671",
    ],
)
def test_anything_else_is_not_a_number(written: str) -> None:
    assert normalize_e164(written) is None


def test_mobile_and_region() -> None:
    assert is_mobile("+447911123456")
    assert region_of("+447911123456") in {"GB", "GG"}
    assert not is_mobile("+442071838750")  # a London landline
    assert region_of("+33612345678") == "FR"
    # North American numbers do not tell mobile from fixed: they count as mobile.
    assert is_mobile("+14155552671")
