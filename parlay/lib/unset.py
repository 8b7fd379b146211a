"""``UNSET``: a field left out of a partial update, told apart from an explicit None (clear it)."""

from __future__ import annotations

from enum import Enum


class Unset(Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset.UNSET
