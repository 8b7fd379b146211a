"""How many SMS segments a text costs: GSM-7 when every character is in the GSM 03.38 alphabet
(160 septets alone, 153 per part once split: the concatenation header takes 7), else UCS-2 (70
UTF-16 code units alone, 67 per part; an emoji outside the BMP takes two). The extension table's
characters take two septets (an escape, then the character)."""

from __future__ import annotations

import math
from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class Segments:
    encoding: str  # GSM-7 | UCS-2
    count: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)


def _split(units: int, single: int, part: int) -> int:
    if units == 0:
        return 1
    return 1 if units <= single else math.ceil(units / part)


def count_segments(text: str) -> Segments:
    """The encoding and number of segments a carrier sends ``text`` in."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        septets = sum(2 if c in GSM_EXTENDED else 1 for c in text)
        return Segments("GSM-7", _split(septets, 160, 153), septets)
    units = len(text.encode("utf-16-le")) // 2
    return Segments("UCS-2", _split(units, 70, 67), units)
