"""The name resolution the test suite's URL policies use: no test asks real DNS.

Names under the reserved ``.example`` domain (and Google's OAuth host) resolve to one public
address, a few names resolve inside (as ``127.0.0.1.nip.io`` does on the internet), address
literals resolve to themselves, and every other name does not resolve.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address

PUBLIC_ADDRESS = "93.184.215.14"
INSIDE = {
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "internal.acme.example": ["10.0.0.7"],
    "metadata.acme.example": ["169.254.169.254"],
    "mixed.acme.example": [PUBLIC_ADDRESS, "192.168.1.10"],
    "loopback6.acme.example": ["::1"],
}
PUBLIC_SUFFIXES = (".example", ".example.com", ".googleapis.com")


async def fake_dns(host: str, port: int) -> Sequence[str]:
    """A ``parlay.lib.http.urls.Resolver``."""
    if host in INSIDE:
        return INSIDE[host]
    try:
        return [str(ip_address(host))]
    except ValueError:
        pass
    if host.endswith(PUBLIC_SUFFIXES):
        return [PUBLIC_ADDRESS]
    raise OSError(f"[Errno -2] Name or service not known: {host}")
