"""FastAPI dependencies: who is calling, what they may do, and how often.

They only adapt HTTP to the use cases: the services come from the app, the caller from the
``Authorization`` header (``accounts.usecases.principal`` or, for consumers,
``consumers.usecases.authenticate``), and every request is counted by ``rate_limit``, the one
place the rate limiter is asked.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parlay.accounts import usecases as accounts
from parlay.accounts.permissions import Permission, Principal
from parlay.consumers import usecases as consumers
from parlay.consumers.auth import ConsumerIdentity
from parlay.lib.errors import Forbidden, RateLimited, Unauthenticated
from parlay.lib.ratelimit import ApiFamily
from parlay.services import Services

_bearer = HTTPBearer(auto_error=False, description="A login access token or an API key.")
_consumer_bearer = HTTPBearer(
    auto_error=False, description="A JWT signed by the brand's identity provider."
)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def rate_limit(
    services: Services, family: ApiFamily, key: str, per_second: int, *, account_id: str
) -> None:
    """Count one request against ``key``'s budget in ``family``; 429 with Retry-After past it."""
    retry_after = await services.limiter.hit(family, key, per_second)
    if retry_after is not None:
        services.metrics.rate_limited.labels(account_id, family.value).inc()
        raise RateLimited(retry_after, f"more than {per_second} {family.value} requests per second")


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer credentials")
    return credentials.credentials


async def authenticate(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, who must belong to the account named in the path (else 404, never its data)."""
    return await accounts.principal(
        services.tx, _bearer_token(credentials), request.path_params.get("accountId")
    )


async def _limit_principal(services: Services, principal: Principal, family: ApiFamily) -> None:
    key, per_second = principal.account_id, principal.rate_limit_per_second
    if family == ApiFamily.AGENT:
        # Per agent or bot: an account-wide budget would be shared by every agent replying.
        key = f"{principal.account_id}/user/{principal.subject_id}"
        per_second = services.settings.agent_rate_limit_per_second
    await rate_limit(services, family, key, per_second, account_id=principal.account_id)


def require(permission: Permission, family: ApiFamily) -> Any:
    """A dependency that authenticates, checks ``permission`` and counts the request in ``family``.

    The permission is attached to the dependency so tests can walk every route and check it
    against the role/scope table.
    """

    async def dependency(
        services: ServicesDep, principal: Annotated[Principal, Depends(authenticate)]
    ) -> Principal:
        if not principal.can(permission):
            raise Forbidden(f"this credential may not use {permission.value}")
        await _limit_principal(services, principal, family)
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.family = family  # type: ignore[attr-defined]
    return Depends(dependency)


async def authenticate_consumer(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_consumer_bearer)],
) -> ConsumerIdentity:
    """The consumer the brand's JWT names; counted in the account's ``consumer`` rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token")
    account_id = request.path_params["accountId"]
    identity, account = await consumers.authenticate(
        services.tx, services.jwks, account_id, credentials.credentials
    )
    await rate_limit(
        services,
        ApiFamily.CONSUMER,
        account_id,
        account.rate_limit_per_second,
        account_id=account_id,
    )
    return identity


# Marks the routes that consumers (not staff) call: the permission matrix checks this instead.
authenticate_consumer.consumer_auth = True  # type: ignore[attr-defined]
Consumer = Annotated[ConsumerIdentity, Depends(authenticate_consumer)]
