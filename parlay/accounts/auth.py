"""Resolving a bearer credential to a Principal (framework-free)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts import oauth1
from parlay.accounts.limits import RateLimits
from parlay.accounts.models import AccessToken, Account, ApiKey, ApiKeyToken, OAuthNonce, User
from parlay.accounts.oauth1 import SignedRequest
from parlay.accounts.permissions import Principal
from parlay.accounts.secrets import (
    ACCESS_TOKEN_PREFIX,
    KEY_TOKEN_PREFIX,
    api_key_prefix,
    digest,
    digests_match,
    new_key_token,
)
from parlay.lib.db.base import table_of
from parlay.lib.db.direct import DirectSelect, Reader
from parlay.lib.errors import Unauthenticated
from parlay.lib.secretbox import SecretBox

# An API key's lastUsedAt is kept to the minute: exact times would make every request a write.
LAST_USED_PRECISION = timedelta(minutes=1)


def is_api_key(credential: str) -> bool:
    """An API key itself (not a token): ``principal_for_api_key`` reads it."""
    return (
        not credential.startswith((ACCESS_TOKEN_PREFIX, KEY_TOKEN_PREFIX))
        and api_key_prefix(credential) is not None
    )


async def principal_for_bearer(session: AsyncSession, credential: str, now: datetime) -> Principal:
    """The principal a bearer credential stands for, or ``Unauthenticated``."""
    if credential.startswith(ACCESS_TOKEN_PREFIX):
        return await _principal_for_access_token(session, credential, now)
    if credential.startswith(KEY_TOKEN_PREFIX):
        return await _principal_for_key_token(session, credential, now)
    if is_api_key(credential):
        return await principal_for_api_key(session, credential, now)
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


# Built once and read straight from the driver (lib/db/direct.py): every request with an API key
# reads it. An OAuth key is never a bearer credential (it signs requests instead).
_KEYS = table_of(ApiKey)
_ACCOUNTS = table_of(Account)
_BEARER_KEY = DirectSelect(
    select(
        _KEYS.c.digest,
        _KEYS.c.revoked_at,
        _KEYS.c.id,
        _KEYS.c.name,
        _KEYS.c.scopes,
        _KEYS.c.last_used_at,
        _ACCOUNTS.c.id,
        _ACCOUNTS.c.rate_limit_c2m,
        _ACCOUNTS.c.rate_limit_proactive,
        _ACCOUNTS.c.rate_limit_reporting,
        _ACCOUNTS.c.rate_limit_consumer,
    )
    .join(_ACCOUNTS, _ACCOUNTS.c.id == _KEYS.c.account_id)
    .where(_KEYS.c.prefix == bindparam("prefix"), _KEYS.c.kind == "bearer")
)


async def principal_for_api_key(session: Reader, key: str, now: datetime) -> Principal:
    """The brand system an API key stands for (``is_api_key``), or ``Unauthenticated``."""
    rows = await _BEARER_KEY.rows(session, {"prefix": api_key_prefix(key)})
    if not rows:
        raise Unauthenticated("invalid credentials")
    key_digest, revoked_at, key_id, name, scopes, last_used_at, account_id, *limits = rows[0]
    if not digests_match(key, key_digest) or revoked_at is not None:
        raise Unauthenticated("invalid credentials")
    return _api_key_principal(
        account_id, key_id, name, scopes, RateLimits(*limits), last_used_at, now
    )


async def touch_api_key(session: AsyncSession, api_key_id: int, now: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == api_key_id).values(last_used_at=now))


async def _principal_for_key_token(session: AsyncSession, token: str, now: datetime) -> Principal:
    row = (
        await session.execute(
            select(ApiKeyToken, ApiKey, Account)
            .join(ApiKey, ApiKey.id == ApiKeyToken.api_key_id)
            .join(Account, Account.id == ApiKey.account_id)
            .where(ApiKeyToken.digest == digest(token))
        )
    ).one_or_none()
    # A revoked key's tokens die with it, at once.
    if row is None or row[1].revoked_at is not None:
        raise Unauthenticated("invalid credentials")
    if row[0].expires_at <= now:
        raise Unauthenticated("the token has expired; exchange the key for a new one")
    return _key_principal(row[1], row[2], now)


def _key_principal(api_key: ApiKey, account: Account, now: datetime) -> Principal:
    return _api_key_principal(
        account.id,
        api_key.id,
        api_key.name,
        api_key.scopes,
        RateLimits.of(account),
        api_key.last_used_at,
        now,
    )


def _api_key_principal(
    account_id: str,
    key_id: int,
    name: str,
    scopes: list[str],
    limits: RateLimits,
    last_used_at: datetime | None,
    now: datetime,
) -> Principal:
    return Principal(
        account_id=account_id,
        kind="apikey",
        subject_id=key_id,
        name=name,
        roles=frozenset(),
        scopes=frozenset(scopes),
        rate_limits=limits,
        last_use_unrecorded=(last_used_at is None or now - last_used_at >= LAST_USED_PRECISION),
    )


async def exchange_key(
    session: AsyncSession,
    account_id: str,
    client_id: str,
    client_secret: str,
    now: datetime,
    ttl: timedelta,
) -> str:
    """A short-lived bearer token for an API key (``client_id``: its prefix; ``client_secret``:
    the key itself), with the key's scopes. Anything else: ``Unauthenticated``, the same for a
    wrong ID, a wrong secret, a revoked key and another account's key."""
    api_key = await session.scalar(
        select(ApiKey).where(
            ApiKey.prefix == client_id, ApiKey.account_id == account_id, ApiKey.kind == "bearer"
        )
    )
    if (
        api_key is None
        or api_key.revoked_at is not None
        or not digests_match(client_secret, api_key.digest)
    ):
        raise Unauthenticated("invalid client credentials")
    token, token_digest = new_key_token()
    session.add(
        ApiKeyToken(
            digest=token_digest, api_key_id=api_key.id, created_at=now, expires_at=now + ttl
        )
    )
    # Expired tokens of this key go as new ones come: the table stays the size of what is live.
    await session.execute(
        delete(ApiKeyToken).where(
            ApiKeyToken.api_key_id == api_key.id, ApiKeyToken.expires_at <= now
        )
    )
    await session.flush()
    return token


async def principal_for_signed(
    session: AsyncSession, box: SecretBox, signed: SignedRequest, now: datetime
) -> Principal:
    """The OAuth 1.0a key that signed this request, or ``Unauthenticated`` (a bad signature, a
    timestamp out of the window, a nonce the key already used, a revoked key). Records the
    nonce: call it in a write transaction."""
    try:
        params = oauth1.params_of(signed.authorization)
        oauth1.check_timestamp(params, now)
    except oauth1.OAuthError as exc:
        raise Unauthenticated(str(exc)) from exc
    row = (
        await session.execute(
            select(ApiKey, Account)
            .join(Account, Account.id == ApiKey.account_id)
            .where(
                ApiKey.prefix == params.consumer_key,
                ApiKey.kind == "oauth1",
                ApiKey.oauth_token == params.token,
            )
        )
    ).one_or_none()
    if row is None or row[0].revoked_at is not None or row[0].oauth_secrets is None:
        raise Unauthenticated("invalid credentials")
    api_key, account = row
    kept = json.loads(box.decrypt(api_key.oauth_secrets or ""))
    if not oauth1.signature_matches(signed, params, kept["consumerSecret"], kept["tokenSecret"]):
        raise Unauthenticated("invalid OAuth signature")
    await session.execute(
        delete(OAuthNonce).where(OAuthNonce.api_key_id == api_key.id, OAuthNonce.expires_at <= now)
    )
    try:
        async with session.begin_nested():
            session.add(
                OAuthNonce(
                    api_key_id=api_key.id,
                    nonce=params.nonce,
                    expires_at=oauth1.nonce_expiry(params),
                )
            )
            await session.flush()
    except IntegrityError as exc:
        raise Unauthenticated("oauth_nonce already used: a replayed request") from exc
    return _key_principal(api_key, account, now)
