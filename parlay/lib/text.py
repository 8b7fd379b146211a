"""The one rule for outbound text: text and emoji only."""

from __future__ import annotations

import unicodedata

MAX_MESSAGE_LENGTH = 1000
_ALLOWED_CONTROLS = {"\n", "\t"}
# Control characters, lone surrogates and private-use code points. Unassigned code points (Cn)
# are deliberately allowed: Python's Unicode database lags the phones (3.11 knows Unicode 14), so
# refusing them would refuse every emoji released since, such as U+1FAE8 SHAKING FACE.
_NOT_TEXT = frozenset({"Cc", "Cs", "Co"})


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
        if unicodedata.category(ch) in _NOT_TEXT:
            return f"contains a disallowed character U+{ord(ch):04X}"
    return None
