"""The outbound text rule: 1-1,000 characters of NFC text, no controls but \\n and \\t."""

from __future__ import annotations

import pytest

from parlay.lib.text import MAX_MESSAGE_LENGTH, message_text_problem


@pytest.mark.parametrize(
    "text",
    [
        "Hello",
        "line one\nline two\tcolumn",
        "👋🏽 👩‍👩‍👧 🇯🇵 ❤️",  # skin tone, ZWJ sequence, flag, variation selector
        "\U0001fae8 \U0001fa77",  # Unicode 15 emoji, unknown to Python 3.11's tables
        "Café 日本語 مرحبا",
        "x" * MAX_MESSAGE_LENGTH,
    ],
)
def test_text_newline_tab_and_emoji_are_accepted(text: str) -> None:
    assert message_text_problem(text) is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "must not be empty"),
        (" \n\t ", "must not be empty"),
        ("x" * (MAX_MESSAGE_LENGTH + 1), "at most 1000 characters"),
        ("Cafe\u0301", "NFC"),
        ("a\rb", "U+000D"),
        ("a\x00b", "U+0000"),
        ("a\x7fb", "U+007F"),
        ("a\x85b", "U+0085"),  # C1 control: next line
        ("a\ud800b", "U+D800"),  # lone surrogate
        ("a\ue000b", "U+E000"),  # private use
    ],
)
def test_empty_long_non_nfc_and_control_characters_are_refused(text: str, why: str) -> None:
    problem = message_text_problem(text)
    assert problem is not None
    assert why in problem


def test_max_length_can_be_lowered_for_short_fields() -> None:
    assert message_text_problem("x" * 100, max_length=100) is None
    assert message_text_problem("x" * 101, max_length=100) == "must be at most 100 characters"


SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"


@pytest.mark.parametrize(
    "text",
    [
        f"Go team {SCOTLAND}!",  # a flag emoji is the one place tag characters belong
        "\u200fمرحبا\u200e ok",  # the plain direction marks RLM and LRM
    ],
)
def test_flag_tag_sequences_and_direction_marks_are_text(text: str) -> None:
    assert message_text_problem(text) is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("pay \u202eecnarusni\u202c now", "U+202E"),  # right-to-left override
        ("a\u202ab", "U+202A"),  # left-to-right embedding
        ("a\u2066b\u2069", "U+2066"),  # left-to-right isolate
        ("hi\U000e0069\U000e0067\U000e006e", "U+E0069"),  # tags smuggling invisible text
        ("\U0001f3f4\U000e0067\U000e0062", "U+E0067"),  # tags without their cancel tag
        ("a\ufffeb", "U+FFFE"),  # noncharacters
        ("a\ufdd0b", "U+FDD0"),
        ("a\U0010ffffb", "U+10FFFF"),
    ],
)
def test_bidi_overrides_stray_tags_and_noncharacters_are_refused(text: str, why: str) -> None:
    problem = message_text_problem(text)
    assert problem is not None
    assert why in problem
