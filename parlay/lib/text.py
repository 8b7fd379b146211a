"""The one rule for outbound text: text and emoji only."""

from __future__ import annotations

import unicodedata

MAX_MESSAGE_LENGTH = 1000
# An SMS may be longer: the provider splits it into segments (1,600 characters is what Twilio and
# LivePerson take in one message).
MAX_SMS_LENGTH = 1600
_ALLOWED_CONTROLS = {"\n", "\t"}
# Control characters, lone surrogates and private-use code points. Unassigned code points (Cn)
# are deliberately allowed: Python's Unicode database lags the phones (3.11 knows Unicode 14), so
# refusing them would refuse every emoji released since, such as U+1FAE8 SHAKING FACE.
_NOT_TEXT = frozenset({"Cc", "Cs", "Co"})
# Bidirectional embeddings, overrides and isolates reorder what a reader sees against what is
# stored (text that reads as one thing and is another); the plain marks LRM/RLM stay allowed.
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_BLACK_FLAG = "\U0001f3f4"
_TAG_FIRST, _TAG_LAST, _CANCEL_TAG = 0xE0020, 0xE007E, "\U000e007f"


def _is_tag(ch: str) -> bool:
    return 0xE0000 <= ord(ch) <= 0xE007F


def _is_noncharacter(ch: str) -> bool:
    code = ord(ch)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _tag_sequence_end(text: str, start: int) -> int | None:
    """If a flag emoji's tag sequence starts at ``start`` (right after U+1F3F4), where it ends;
    else None. Tags anywhere else are invisible text, and are refused."""
    i = start
    while i < len(text) and _TAG_FIRST <= ord(text[i]) <= _TAG_LAST:
        i += 1
    if i > start and i < len(text) and text[i] == _CANCEL_TAG:
        return i + 1
    return None


def message_text_problem(text: str, *, max_length: int = MAX_MESSAGE_LENGTH) -> str | None:
    """Why ``text`` is not acceptable outbound text, or None if it is.

    1 to ``max_length`` characters, already in NFC, no control characters but newline and tab,
    no bidirectional overrides, no noncharacters, and tag characters only inside a flag emoji
    (England, Scotland, Wales: U+1F3F4, the tags, U+E007F).
    """
    if not text.strip():
        return "must not be empty"
    if len(text) > max_length:
        return f"must be at most {max_length} characters"
    if unicodedata.normalize("NFC", text) != text:
        return "must be in Unicode NFC form"
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in _ALLOWED_CONTROLS:
            i += 1
            continue
        if ch == _BLACK_FLAG and (end := _tag_sequence_end(text, i + 1)) is not None:
            i = end
            continue
        if (
            unicodedata.category(ch) in _NOT_TEXT
            or ch in _BIDI_CONTROLS
            or _is_tag(ch)
            or _is_noncharacter(ch)
        ):
            return f"contains a disallowed character U+{ord(ch):04X}"
        i += 1
    return None
