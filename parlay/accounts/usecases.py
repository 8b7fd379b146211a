"""The account use cases, one unit of work each: who is calling, login, settings, skills, users,
API keys. The JSON API, the web pages and the CLI call these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from parlay.accounts import auth, service, websessions
from parlay.accounts import settings as account_settings
from parlay.accounts.auth import (
    is_api_key,
    principal_for_api_key,
    principal_for_bearer,
    touch_api_key,
)
from parlay.accounts.login import LoginThrottle
from parlay.accounts.models import Account, ApiKey, Skill
from parlay.accounts.oauth1 import SignedRequest
from parlay.accounts.permissions import Principal
from parlay.accounts.service import LoginResult, OAuthKeySecrets, UserChanges, UserView
from parlay.accounts.settings import AccountSettings, SettingsChange
from parlay.lib.db.uow import Transactions
from parlay.lib.errors import NotFound, Unauthenticated, invalid_field
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.ratelimit import RateLimiter
from parlay.lib.secretbox import SecretBox


async def principal(tx: Transactions, credential: str, account_id: str | None) -> Principal:
    """The caller a bearer credential stands for (401 otherwise), who must belong to the account
    named (404 otherwise, never its data). An API key's last use is recorded (to the minute).
    One statement: a lookup, without a transaction of its own."""
    if is_api_key(credential):  # a brand system's every request: no session, no transaction
        async with tx.lookup() as look:
            who = await principal_for_api_key(look.connection, credential, look.now)
    else:
        async with tx.read(snapshot=False) as uow:
            who = await principal_for_bearer(uow.session, credential, uow.now)
    if account_id is not None and account_id != who.account_id:
        raise NotFound()
    if who.kind == "apikey" and who.last_use_unrecorded:
        async with tx.write() as uow:
            await touch_api_key(uow.session, who.subject_id, uow.now)
    return who


async def account(tx: Transactions, account_id: str) -> Account | None:
    async with tx.read() as uow:
        return await uow.session.get(Account, account_id)


async def check_login(tx: Transactions, limiter: RateLimiter, attempt: LoginAttempt) -> int:
    """The user ID for a staff user's right password (401 otherwise; an unknown account or user
    costs the same work and answers the same). Throttled per username and per client address
    (``accounts.login``): 429 past the budget. The JSON login and the web sign-in both pass here."""
    throttle = LoginThrottle(limiter)
    account_id, username = attempt.account_id, attempt.username
    await throttle.before(account_id, username, attempt.address)
    # The password is checked outside the write transaction, which stays a few milliseconds.
    try:
        async with tx.read() as uow:
            return await service.verify_login(uow.session, account_id, username, attempt.password)
    except Unauthenticated:
        await throttle.failed(account_id, username)
        raise


async def login(
    tx: Transactions,
    limiter: RateLimiter,
    attempt: LoginAttempt,
    ttl: timedelta,
) -> LoginResult:
    """A bearer token for a staff user's right password (``check_login``)."""
    user_id = await check_login(tx, limiter, attempt)
    async with tx.write() as uow:
        return await service.issue_access_token(
            uow.session, attempt.account_id, user_id, now=uow.now, ttl=ttl
        )


async def sign_in_web(
    tx: Transactions,
    limiter: RateLimiter,
    attempt: LoginAttempt,
    lifetime: websessions.SessionLifetime,
) -> websessions.OpenedSession:
    """A web tool session for a staff user's right password (``check_login``, same throttle)."""
    user_id = await check_login(tx, limiter, attempt)
    async with tx.write() as uow:
        return await websessions.open_session(
            uow.session, attempt.account_id, user_id, uow.now, lifetime
        )


async def web_session(
    tx: Transactions, token: str, lifetime: websessions.SessionLifetime
) -> websessions.SignedIn:
    """Who the web session ``token`` stands for (401 when it has ended); its idle expiry slides
    on (written at most once a minute)."""
    async with tx.read() as uow:
        signed_in, due = await websessions.resolve(uow.session, token, uow.now, lifetime)
    if due:
        async with tx.write() as uow:
            await websessions.touch(uow.session, token, uow.now, lifetime)
    return signed_in


async def sign_out_web(tx: Transactions, token: str) -> None:
    """The web session stops working at once."""
    async with tx.write() as uow:
        await websessions.end_session(uow.session, token)


async def logout(tx: Transactions, who: Principal, access_token: str) -> None:
    """Revoke the login token ``who`` called with; an API key cannot log out (400)."""
    if who.kind != "user":
        raise invalid_field(
            "Authorization", "an API key is revoked (DELETE /apikeys/{keyId}), not logged out"
        )
    async with tx.write() as uow:
        await service.revoke_access_token(uow.session, who.account_id, access_token)


@dataclass(frozen=True)
class LoginAttempt:
    account_id: str
    username: str
    password: str
    address: str | None  # the client's address, None when unknown


async def get_settings(tx: Transactions, account_id: str) -> AccountSettings:
    async with tx.read() as uow:
        return account_settings.settings_of(await service.get_account(uow.session, account_id))


async def update_settings(
    tx: Transactions, urls: UrlPolicy, account_id: str, change: SettingsChange
) -> AccountSettings:
    """Apply the fields given; the ones left out keep their value."""
    await account_settings.check_urls(urls, change)  # may resolve names: no tx open
    async with tx.write() as uow:
        return await account_settings.update_settings(uow.session, account_id, change)


async def create_skill(tx: Transactions, account_id: str, name: str) -> Skill:
    async with tx.write() as uow:
        return await service.create_skill(uow.session, account_id, name, uow.now)


async def list_skills(tx: Transactions, account_id: str) -> Sequence[Skill]:
    async with tx.read() as uow:
        return await service.list_skills(uow.session, account_id)


@dataclass(frozen=True)
class NewUser:
    username: str
    password: str
    roles: list[str]
    type: str = "human"
    skills: Sequence[str] = ()
    max_concurrent_conversations: int = 3


async def create_user(tx: Transactions, account_id: str, user: NewUser) -> UserView:
    async with tx.write() as uow:
        return await service.create_user(
            uow.session,
            account_id,
            username=user.username,
            password=user.password,
            roles=user.roles,
            type=user.type,
            skills=user.skills,
            max_concurrent_conversations=user.max_concurrent_conversations,
            now=uow.now,
        )


async def list_users(tx: Transactions, account_id: str) -> list[UserView]:
    async with tx.read() as uow:
        return await service.list_users(uow.session, account_id)


async def get_user(tx: Transactions, account_id: str, user_id: int) -> UserView:
    async with tx.read() as uow:
        return await service.get_user(uow.session, account_id, user_id)


@dataclass(frozen=True)
class AgentCapacityChanged:
    """A signal: what a user may be routed changed (skills, maximum, roles, disabled), so the
    account's waiting conversations are assigned again."""

    account_id: str
    user_id: int


async def update_user(
    tx: Transactions, account_id: str, user_id: int, changes: UserChanges
) -> UserView:
    """Apply the fields given (Python names); changing the password or disabling ends the
    user's sessions; changing what the user may be routed re-runs the account's assignment."""
    async with tx.write() as uow:
        view = await service.update_user(uow.session, account_id, user_id, changes, uow.now)
        if any(
            value is not None
            for value in (
                changes.skills,
                changes.max_concurrent_conversations,
                changes.roles,
                changes.disabled,
            )
        ):
            uow.emit(AgentCapacityChanged(account_id, user_id))
        return view


async def create_api_key(
    tx: Transactions, account_id: str, name: str, scopes: Sequence[str]
) -> tuple[str, ApiKey]:
    """A new key: its secret (shown once) and its record."""
    async with tx.write() as uow:
        return await service.create_api_key(uow.session, account_id, name, scopes, uow.now)


async def create_oauth_key(
    tx: Transactions, box: SecretBox, account_id: str, name: str, scopes: Sequence[str]
) -> tuple[OAuthKeySecrets, ApiKey]:
    """A new OAuth 1.0a key: its four values (shown once) and its record."""
    async with tx.write() as uow:
        return await service.create_oauth_key(uow.session, box, account_id, name, scopes, uow.now)


async def reencrypt_oauth_keys(tx: Transactions, box: SecretBox) -> int:
    async with tx.write() as uow:
        return await service.reencrypt_oauth_keys(uow.session, box)


async def exchange_key(
    tx: Transactions, account_id: str, client_id: str, client_secret: str, ttl: timedelta
) -> str:
    """A short-lived bearer token for an API key's ID and secret (401 otherwise)."""
    async with tx.write() as uow:
        return await auth.exchange_key(
            uow.session, account_id, client_id, client_secret, uow.now, ttl
        )


async def signed_principal(
    tx: Transactions, box: SecretBox, signed: SignedRequest, account_id: str | None
) -> Principal:
    """The OAuth 1.0a key that signed the request (401 otherwise), which must belong to the
    account named (404 otherwise). Its nonce is recorded in the same write."""
    async with tx.write() as uow:
        who = await auth.principal_for_signed(uow.session, box, signed, uow.now)
        if account_id is not None and account_id != who.account_id:
            raise NotFound()
        if who.last_use_unrecorded:
            await touch_api_key(uow.session, who.subject_id, uow.now)
    return who


async def list_api_keys(tx: Transactions, account_id: str) -> Sequence[ApiKey]:
    async with tx.read() as uow:
        return await service.list_api_keys(uow.session, account_id)


async def revoke_api_key(tx: Transactions, account_id: str, key_id: int) -> None:
    async with tx.write() as uow:
        await service.revoke_api_key(uow.session, account_id, key_id, uow.now)
