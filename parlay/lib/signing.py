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
