"""Phone numbers: E.164 with its country code, checked against libphonenumber's data."""

from __future__ import annotations

import pytest

from parlay.lib.phone import e164_shape, is_mobile, normalize_e164, region_of


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("+14155552671", "+14155552671"),
        ("+1 415 555 2671", "+14155552671"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+1.415.555.2671", "+14155552671"),
        ("+49 151 2345 6789", "+4915123456789"),  # longer than 16 characters as written
        ("+447911123456", "+447911123456"),
        # Without '+', as LivePerson's examples write them: the country code comes first.
        ("14155552671", "+14155552671"),
        ("1 415 555 2671", "+14155552671"),
    ],
)
def test_valid_numbers_are_normalized_to_e164(written: str, e164: str) -> None:
    assert normalize_e164(written) == e164


@pytest.mark.parametrize(
    "written",
    [
        "",
        "+",
        "4155552671",  # no country code: read as +41 (Switzerland), too short there
        "04155552671",  # a country code never starts with 0
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


def test_e164_shape_says_nothing_about_whether_the_number_exists() -> None:
    assert e164_shape("1415555267") == "+1415555267"  # too short for the US plan: still shaped
    assert normalize_e164("1415555267") is None
    assert e164_shape("+1 (415) 555-2671") == "+14155552671"
    assert [e164_shape(s) for s in ("", "+", "123456", "0415555267", "1" * 16, "+1 415 ext")] == [
        None
    ] * 6
