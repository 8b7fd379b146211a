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

from parlay.accounts import oauth1
from parlay.accounts import usecases as accounts
from parlay.accounts.limits import RateLimits
from parlay.accounts.permissions import Permission, Principal
from parlay.api.middleware import ORIGINAL_PATH
from parlay.consumers import usecases as consumers
from parlay.consumers.auth import ConsumerIdentity
from parlay.lib.errors import Forbidden, RateLimited, Unauthenticated
from parlay.lib.ratelimit import ApiFamily, Limit
from parlay.services import Services

# Documents the scheme in OpenAPI; the header itself is read by ``credential_of`` (which also
# takes LivePerson's forms: a token without a scheme, and OAuth 1.0a signatures).
_bearer = HTTPBearer(
    auto_error=False,
    description="A login access token, an API key, or a token exchanged for one; "
    "OAuth 1.0a signed requests are taken too.",
)
_consumer_bearer = HTTPBearer(
    auto_error=False, description="A JWT signed by the brand's identity provider."
)


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain function dependency in a worker thread (a thread hop and a
    # GIL handover on every request).
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def rate_limit(services: Services, family: ApiFamily, key: str, per_second: int) -> None:
    """Count one request against ``key``'s budget in ``family``; 429 with Retry-After past it."""
    retry_after = await services.limiter.hit(family.value, key, Limit(per_second))
    if retry_after is not None:
        services.metrics.rate_limited.labels(family.value).inc()
        raise RateLimited(retry_after, f"more than {per_second} {family.value} requests per second")


# A brand's systems (API keys) share one budget per account and family, as LivePerson's APIs do.
_BRAND_SYSTEM_FAMILIES = (ApiFamily.C2M, ApiFamily.PROACTIVE, ApiFamily.REPORTING)


def _bearer_token(request: Request) -> str:
    """The bearer credential of ``Authorization``: ``Bearer <token>``, or a lone token without a
    scheme (as some LivePerson clients send it)."""
    scheme, space, value = request.headers.get("authorization", "").strip().partition(" ")
    if not space and scheme:
        return scheme
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("missing bearer credentials")
    return value.strip()


def signed_uri(request: Request, public_url: str | None) -> str:
    """The absolute URI an OAuth 1.0a client signed: as it wrote it (its trailing '/', if any),
    on Parlay's public address when one is set (behind a proxy the request says another)."""
    path = request.scope.get(ORIGINAL_PATH, request.url.path)
    base = public_url.rstrip("/") if public_url else f"{request.url.scheme}://{request.url.netloc}"
    query = request.url.query
    return f"{base}{path}?{query}" if query else f"{base}{path}"


async def authenticate(
    request: Request,
    services: ServicesDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, who must belong to the account named in the path (else 404, never its data)."""
    account_id = request.path_params.get("accountId")
    authorization = request.headers.get("authorization", "")
    if oauth1.is_oauth(authorization):
        # The signature covers the query and a form body only: API bodies are JSON.
        signed = oauth1.SignedRequest(
            request.method, signed_uri(request, services.settings.public_url), authorization
        )
        return await accounts.signed_principal(services.tx, services.secrets, signed, account_id)
    return await accounts.principal(services.tx, _bearer_token(request), account_id)


def budget(services: Services, principal: Principal, family: ApiFamily) -> tuple[str, int]:
    """Whose budget a request counts against, and its size (requests per second).

    A brand system (an API key) on the C2M, Proactive or Reporting API: the account's budget of
    that family (``rateLimits``). An agent or bot on the agent API: their own. Anyone else (a
    staff user on any route, an API key on the configuration routes): their own staff budget,
    so one admin's clicks never use up another's.
    """
    account = principal.account_id
    if family == ApiFamily.AGENT:
        per_second = services.settings.agent_rate_limit_per_second
        return f"{account}/user/{principal.subject_id}", per_second
    if principal.kind == "apikey" and family in _BRAND_SYSTEM_FAMILIES:
        return account, principal.rate_limits.per_second(family)
    per_second = services.settings.staff_rate_limit_per_second
    return f"{account}/{principal.kind}/{principal.subject_id}", per_second


async def _limit_principal(services: Services, principal: Principal, family: ApiFamily) -> None:
    key, per_second = budget(services, principal, family)
    await rate_limit(services, family, key, per_second)


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


async def signed_in_user(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(authenticate)],
) -> tuple[Principal, str]:
    """A staff user signed in with a login token (any role), and that token; counted in the
    user's staff budget."""
    await _limit_principal(services, principal, ApiFamily.CONFIG)
    return principal, _bearer_token(request)


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
    # Per consumer (the JWT's sub): one app user never uses up another's budget.
    limits = RateLimits.of(account)
    await rate_limit(
        services, ApiFamily.CONSUMER, f"{account_id}/{identity.consumer_id}", limits.consumer
    )
    return identity


# Marks the routes that consumers (not staff) call: the permission matrix checks this instead.
authenticate_consumer.consumer_auth = True  # type: ignore[attr-defined]
Consumer = Annotated[ConsumerIdentity, Depends(authenticate_consumer)]
