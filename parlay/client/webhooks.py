"""Checking that a status webhook came from Parlay: the server's own signature rule
(``parlay.lib.signing``), not a second copy of it."""

from __future__ import annotations

import time

from parlay.lib.signing import DEFAULT_TOLERANCE_SECONDS, SIGNATURE_HEADER
from parlay.lib.signing import verify as _verify

__all__ = ["SIGNATURE_HEADER", "verify"]


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (the ``X-Parlay-Signature`` value) vouches for the raw request
    ``body``, signed with the subscription's ``secret`` within ``tolerance`` seconds of now."""
    return _verify(
        secret, body, header, now=time.time() if now is None else now, tolerance=tolerance
    )
