"""How many requests per second an account's callers may make (the account's share of the API
rate limits; who is counted under which key is ``parlay.api.deps``)."""

from __future__ import annotations

from dataclasses import dataclass

from parlay.accounts.models import Account
from parlay.lib.ratelimit import ApiFamily

MAX_RATE_LIMIT_PER_SECOND = 10_000


@dataclass(frozen=True)
class RateLimits:
    """Requests per second: of the brand's systems per API family (LivePerson's published
    limits by default), and of each one of its consumers."""

    c2m: int = 30
    proactive: int = 10
    reporting: int = 10
    consumer: int = 10

    @classmethod
    def of(cls, account: Account) -> RateLimits:
        return cls(
            account.rate_limit_c2m,
            account.rate_limit_proactive,
            account.rate_limit_reporting,
            account.rate_limit_consumer,
        )

    def per_second(self, family: ApiFamily) -> int:
        """The limit of a brand-system family (c2m, proactive, reporting) or of a consumer."""
        by_family = {
            ApiFamily.C2M: self.c2m,
            ApiFamily.PROACTIVE: self.proactive,
            ApiFamily.REPORTING: self.reporting,
            ApiFamily.CONSUMER: self.consumer,
        }
        return by_family[family]

    def store(self, account: Account) -> None:
        account.rate_limit_c2m, account.rate_limit_proactive = self.c2m, self.proactive
        account.rate_limit_reporting, account.rate_limit_consumer = self.reporting, self.consumer
