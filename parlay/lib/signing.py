"""The one request signature Parlay puts on what it POSTs to a brand (the push proxy, status
webhooks): ``X-Parlay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.

The receiver recomputes the HMAC over the exact bytes it received and refuses a ``t`` too far from
its own clock (a replay); docs/webhooks.md shows the check.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Parlay-Signature"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Parlay-Signature`` value of ``body`` signed at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


# How far ``t`` may be from the receiver's clock before a signature is taken for a replay.
DEFAULT_TOLERANCE_SECONDS = 300


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether the ``X-Parlay-Signature`` value ``header`` vouches for ``body`` at ``now`` (Unix
    seconds): the HMAC matches (compared in constant time) and ``t`` is within ``tolerance``."""
    fields: dict[str, str] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(name, value)
    timestamp = fields.get("t", "")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, body, int(timestamp)).rpartition("v1=")[2]
    return hmac.compare_digest(expected.encode(), fields.get("v1", "").encode())
