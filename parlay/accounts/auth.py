"""Resolving a bearer credential to a Principal (framework-free)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.limits import RateLimits
from parlay.accounts.models import AccessToken, Account, ApiKey, User
from parlay.accounts.permissions import Principal
from parlay.accounts.secrets import ACCESS_TOKEN_PREFIX, api_key_prefix, digest, digests_match
from parlay.lib.errors import Unauthenticated

# An API key's lastUsedAt is kept to the minute: exact times would make every request a write.
LAST_USED_PRECISION = timedelta(minutes=1)


async def principal_for_bearer(session: AsyncSession, credential: str, now: datetime) -> Principal:
    """The principal a bearer credential stands for, or ``Unauthenticated``."""
    if credential.startswith(ACCESS_TOKEN_PREFIX):
        return await _principal_for_access_token(session, credential, now)
    prefix = api_key_prefix(credential)
    if prefix is not None:
        return await _principal_for_api_key(session, credential, prefix, now)
    raise Unauthenticated("invalid credentials")


async def _principal_for_access_token(
    session: AsyncSession, token: str, now: datetime
) -> Principal:
    row = (
        await session.execute(
            select(AccessToken, User, Account)
            .join(User, User.id == AccessToken.user_id)
            .join(Account, Account.id == AccessToken.account_id)
            .where(AccessToken.digest == digest(token))
        )
    ).one_or_none()
    if row is None:
        raise Unauthenticated("invalid credentials")
    access, user, account = row
    if access.expires_at <= now:
        raise Unauthenticated("the access token has expired; log in again")
    if user.disabled:
        raise Unauthenticated("the user is disabled")
    return Principal(
        account_id=account.id,
        kind="user",
        subject_id=user.id,
        name=user.username,
        roles=frozenset(user.roles),
        scopes=frozenset(),
        rate_limits=RateLimits.of(account),
        user_type=user.type,
    )


async def _principal_for_api_key(
    session: AsyncSession, key: str, prefix: str, now: datetime
) -> Principal:
    row = (
        await session.execute(
            select(ApiKey, Account)
            .join(Account, Account.id == ApiKey.account_id)
            .where(ApiKey.prefix == prefix)
        )
    ).one_or_none()
    if row is None or not digests_match(key, row[0].digest) or row[0].revoked_at is not None:
        raise Unauthenticated("invalid credentials")
    api_key, account = row
    return Principal(
        account_id=account.id,
        kind="apikey",
        subject_id=api_key.id,
        name=api_key.name,
        roles=frozenset(),
        scopes=frozenset(api_key.scopes),
        rate_limits=RateLimits.of(account),
        last_use_unrecorded=(
            api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_PRECISION
        ),
    )


async def touch_api_key(session: AsyncSession, api_key_id: int, now: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == api_key_id).values(last_used_at=now))
