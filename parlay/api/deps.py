"""FastAPI dependencies: they only adapt the container and the auth service to HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parlay.accounts.auth import principal_for_bearer, touch_api_key
from parlay.accounts.permissions import Permission, Principal
from parlay.bootstrap import Container
from parlay.errors import Forbidden, NotFound, RateLimited, Unauthenticated
from parlay.ratelimit.limiter import ApiFamily

_bearer = HTTPBearer(auto_error=False, description="A login access token or an API key.")


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def authenticate(
    request: Request,
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, who must belong to the account named in the path (else 404, never its data)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer credentials")
    async with container.db.read() as session:
        principal = await principal_for_bearer(
            session, credentials.credentials, container.clock.now()
        )
    account_id = request.path_params.get("accountId")
    if account_id is not None and account_id != principal.account_id:
        raise NotFound()
    if principal.kind == "apikey" and principal.last_use_unrecorded:
        async with container.db.write() as session:
            await touch_api_key(session, principal.subject_id, container.clock.now())
    return principal


async def enforce_rate_limit(container: Container, principal: Principal, family: ApiFamily) -> None:
    key, per_second = principal.account_id, principal.rate_limit_per_second
    if family == ApiFamily.AGENT:
        key = f"{principal.account_id}/user/{principal.subject_id}"
        per_second = container.settings.agent_rate_limit_per_second
    retry_after = await container.limiter.hit(family, key, per_second)
    if retry_after is not None:
        container.metrics.rate_limited.labels(principal.account_id, family.value).inc()
        raise RateLimited(retry_after, f"more than {per_second} {family.value} requests per second")


PrincipalDependency = Callable[..., Awaitable[Principal]]


def require(permission: Permission, family: ApiFamily) -> Any:
    """A dependency that authenticates, checks ``permission`` and counts the request in ``family``.

    The permission is attached to the dependency so tests can walk every route and check it
    against the role/scope table.
    """

    async def dependency(
        container: ContainerDep, principal: Annotated[Principal, Depends(authenticate)]
    ) -> Principal:
        if not principal.can(permission):
            raise Forbidden(f"this credential may not use {permission.value}")
        await enforce_rate_limit(container, principal, family)
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.family = family  # type: ignore[attr-defined]
    return Depends(dependency)
