"""A login that cannot be flooded.

- Per account × username: 5 failed attempts in 5 minutes lock that username out for 5 minutes
  (429 with ``Retry-After``); the real user of another username is never affected.
- Per client address: 30 attempts a minute, whatever their outcome.
- Unknown accounts and unknown users are throttled exactly like known ones and cost the same
  work (a password hash is checked either way), so neither the answer nor its timing nor a 429
  tells an attacker which accounts or usernames exist.
"""

from __future__ import annotations

from parlay.lib.errors import RateLimited
from parlay.lib.ratelimit import Limit, RateLimiter

FAILURES = Limit(5, 300)  # failed attempts per account × username ...
LOCKOUT = Limit(1, 300)  # ... then locked out this long
PER_ADDRESS = Limit(30, 60)  # attempts per client address


def _user_key(account_id: str, username: str) -> str:
    # Case-folded: "Admin" and "admin" share one budget, so case games buy no extra guesses.
    return f"{account_id}/{username.casefold()}"


class LoginThrottle:
    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def before(self, account_id: str, username: str, address: str | None) -> None:
        """Refuse (429) an attempt from an address over its budget, or for a locked username."""
        if address is not None:
            wait = await self._limiter.hit("login-address", address, PER_ADDRESS)
            if wait is not None:
                raise RateLimited(wait, "too many login attempts from this address")
        locked = await self._limiter.peek("login-lock", _user_key(account_id, username), LOCKOUT)
        if locked is not None:
            raise RateLimited(locked, "too many failed logins: try again later")

    async def failed(self, account_id: str, username: str) -> None:
        """Count a failed attempt; the fifth in five minutes locks the username out."""
        key = _user_key(account_id, username)
        await self._limiter.hit("login-failures", key, FAILURES)
        if await self._limiter.peek("login-failures", key, FAILURES) is not None:
            await self._limiter.hit("login-lock", key, LOCKOUT)
