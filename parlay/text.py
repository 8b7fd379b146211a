"""The one rule for outbound text (SPEC §7): text and emoji only."""

from __future__ import annotations

import unicodedata

MAX_MESSAGE_LENGTH = 1000
_ALLOWED_CONTROLS = {"\n", "\t"}


def message_text_problem(text: str, *, max_length: int = MAX_MESSAGE_LENGTH) -> str | None:
    """Why ``text`` is not acceptable outbound text, or None if it is.

    1 to ``max_length`` characters, already in NFC, no control characters but newline and tab.
    """
    if not text.strip():
        return "must not be empty"
    if len(text) > max_length:
        return f"must be at most {max_length} characters"
    if unicodedata.normalize("NFC", text) != text:
        return "must be in Unicode NFC form"
    for ch in text:
        if ch in _ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Co", "Cn"):
            return f"contains a disallowed character U+{ord(ch):04X}"
    return None
