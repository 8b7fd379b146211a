"""Use cases of the accounts domain. Framework-free: each takes a session and plain values."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.limits import RateLimits
from parlay.accounts.models import (
    AccessToken,
    Account,
    ApiKey,
    Skill,
    User,
    UserSkill,
    WebSession,
)
from parlay.accounts.permissions import Role, Scope
from parlay.accounts.secrets import (
    digest,
    hash_password,
    new_access_token,
    new_api_key,
    new_oauth_secret,
    verify_password,
)
from parlay.lib.db.base import table_of
from parlay.lib.db.direct import DirectSelect, Reader
from parlay.lib.errors import (
    Conflict,
    FieldError,
    NoSuchSkill,
    NotFound,
    Unauthenticated,
    invalid_field,
)
from parlay.lib.secretbox import SecretBox

ACCOUNT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
USER_TYPES = ("human", "bot")
MIN_PASSWORD_LENGTH = 8


# --- accounts -----------------------------------------------------------------------------


async def create_account(
    session: AsyncSession,
    account_id: str,
    name: str,
    *,
    now: datetime,
    rate_limits: RateLimits | None = None,
) -> Account:
    if not ACCOUNT_ID_PATTERN.match(account_id):
        raise invalid_field("accountId", "1-64 letters, digits, '-' or '_', starting alphanumeric")
    if await session.get(Account, account_id) is not None:
        raise Conflict(f"account {account_id!r} already exists")
    account = Account(
        id=account_id,
        name=name,
        welcome_enabled=False,
        created_at=now,
    )
    (rate_limits or RateLimits()).store(account)
    session.add(account)
    await session.flush()
    return account


async def get_account(session: AsyncSession, account_id: str) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"no account {account_id!r}")
    return account


async def account_exists(session: AsyncSession) -> bool:
    return (await session.execute(select(Account.id).limit(1))).first() is not None


# --- skills -------------------------------------------------------------------------------


async def create_skill(session: AsyncSession, account_id: str, name: str, now: datetime) -> Skill:
    if await find_skill(session, account_id, name) is not None:
        raise Conflict(f"skill {name!r} already exists")
    skill = Skill(account_id=account_id, name=name, created_at=now)
    session.add(skill)
    await session.flush()
    return skill


async def list_skills(session: AsyncSession, account_id: str) -> Sequence[Skill]:
    result = await session.execute(
        select(Skill).where(Skill.account_id == account_id).order_by(Skill.name)
    )
    return result.scalars().all()


# Built once: every eligibility check and invite looks a skill up (docs/architecture.md,
# "Statements built once").
_SKILL_NAMED = select(Skill).where(
    Skill.account_id == bindparam("account_id"), Skill.name == bindparam("name")
)


async def find_skill(session: AsyncSession, account_id: str, name: str) -> Skill | None:
    result = await session.execute(_SKILL_NAMED, {"account_id": account_id, "name": name})
    return result.scalar_one_or_none()


def _no_such_skill(name: str, field: str) -> NoSuchSkill:
    return NoSuchSkill(
        f"{field}: no skill named {name!r} in this account",
        errors=[FieldError(field, f"no skill named {name!r}")],
    )


async def require_skill(
    session: AsyncSession, account_id: str, name: str, field: str = "skill"
) -> Skill:
    """The account's skill of that name, or 400 with errorCode 1300."""
    skill = await find_skill(session, account_id, name)
    if skill is None:
        raise _no_such_skill(name, field)
    return skill


_SKILLS = table_of(Skill)
_SKILL_EXISTS = DirectSelect(
    select(_SKILLS.c.id).where(
        _SKILLS.c.account_id == bindparam("account_id"), _SKILLS.c.name == bindparam("name")
    )
)


async def check_skill(session: Reader, account_id: str, name: str, field: str = "skill") -> None:
    """``require_skill`` where only the skill's existence matters (every eligibility check),
    read straight from the driver (``lib/db/direct.py``)."""
    if not await _SKILL_EXISTS.rows(session, {"account_id": account_id, "name": name}):
        raise _no_such_skill(name, field)


# --- users --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserView:
    user: User
    skills: list[str]


def _check_roles(roles: Sequence[str], user_type: str) -> list[str]:
    valid = {r.value for r in Role}
    unknown = [r for r in roles if r not in valid]
    if unknown:
        raise invalid_field("roles", f"unknown role(s) {unknown}; use {sorted(valid)}")
    if not roles:
        raise invalid_field("roles", "at least one role")
    # A bot is an agent driven by software; software that administers uses an API key.
    if user_type == "bot" and set(roles) != {Role.AGENT.value}:
        raise invalid_field("roles", "a bot user holds only the 'agent' role")
    return sorted(set(roles))


def _check_type(user_type: str) -> str:
    if user_type not in USER_TYPES:
        raise invalid_field("type", f"one of {list(USER_TYPES)}")
    return user_type


async def _keep_an_admin(session: AsyncSession, user: User) -> None:
    """Refuse to demote or disable the account's last enabled admin: nobody could undo it.

    Changes to an account's admins wait for each other (a lock on the account's row; SQLite
    writes are serial anyway): two admins demoting each other at once cannot both still see
    the other as an admin, so one of them is refused."""
    await session.execute(select(Account.id).where(Account.id == user.account_id).with_for_update())
    others = await session.execute(
        select(User.roles).where(
            User.account_id == user.account_id, User.id != user.id, User.disabled.is_(False)
        )
    )
    if not any(Role.ADMIN.value in roles for roles in others.scalars()):
        raise Conflict("the account's last admin cannot be demoted or disabled")


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise invalid_field("password", f"at least {MIN_PASSWORD_LENGTH} characters")
    return password


async def _skill_ids(session: AsyncSession, account_id: str, names: Sequence[str]) -> list[int]:
    ids = []
    for name in dict.fromkeys(names):
        ids.append((await require_skill(session, account_id, name, "skills")).id)
    return ids


async def _user_skill_names(session: AsyncSession, user_id: int) -> list[str]:
    result = await session.execute(
        select(Skill.name)
        .join(UserSkill, UserSkill.skill_id == Skill.id)
        .where(UserSkill.user_id == user_id)
        .order_by(Skill.name)
    )
    return list(result.scalars().all())


async def create_user(
    session: AsyncSession,
    account_id: str,
    *,
    username: str,
    password: str,
    roles: Sequence[str],
    type: str = "human",
    skills: Sequence[str] = (),
    max_concurrent_conversations: int = 3,
    now: datetime,
) -> UserView:
    existing = await session.execute(
        select(User.id).where(User.account_id == account_id, User.username == username)
    )
    if existing.first() is not None:
        raise Conflict(f"user {username!r} already exists")
    user = User(
        account_id=account_id,
        username=username,
        password_hash=await asyncio.to_thread(hash_password, _check_password(password)),
        roles=_check_roles(roles, _check_type(type)),
        type=type,
        max_concurrent_conversations=max_concurrent_conversations,
        disabled=False,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    await session.flush()
    for skill_id in await _skill_ids(session, account_id, skills):
        session.add(UserSkill(user_id=user.id, skill_id=skill_id))
    await session.flush()
    return UserView(user, sorted(set(skills)))


async def get_user(session: AsyncSession, account_id: str, user_id: int) -> UserView:
    user = await session.get(User, user_id)
    if user is None or user.account_id != account_id:
        raise NotFound(f"no user {user_id}")
    return UserView(user, await _user_skill_names(session, user.id))


async def list_users(session: AsyncSession, account_id: str) -> list[UserView]:
    users = (
        await session.execute(select(User).where(User.account_id == account_id).order_by(User.id))
    ).scalars()
    return [UserView(u, await _user_skill_names(session, u.id)) for u in users]


@dataclass(frozen=True)
class UserChanges:
    """What to change of a user; None leaves a field as it is."""

    password: str | None = None
    roles: Sequence[str] | None = None
    skills: Sequence[str] | None = None
    max_concurrent_conversations: int | None = None
    disabled: bool | None = None


async def update_user(
    session: AsyncSession, account_id: str, user_id: int, changes: UserChanges, now: datetime
) -> UserView:
    """Apply the given fields only; changing the password or disabling ends the user's sessions."""
    view = await get_user(session, account_id, user_id)
    user = view.user
    was_admin = Role.ADMIN.value in user.roles and not user.disabled
    end_sessions = False
    if changes.password is not None:
        user.password_hash = await asyncio.to_thread(
            hash_password, _check_password(changes.password)
        )
        end_sessions = True
    if changes.roles is not None:
        user.roles = _check_roles(changes.roles, user.type)
    if changes.max_concurrent_conversations is not None:
        user.max_concurrent_conversations = changes.max_concurrent_conversations
    if changes.disabled is not None:
        user.disabled = changes.disabled
        end_sessions = end_sessions or user.disabled
    if changes.skills is not None:
        ids = await _skill_ids(session, account_id, changes.skills)
        await session.execute(delete(UserSkill).where(UserSkill.user_id == user.id))
        for skill_id in ids:
            session.add(UserSkill(user_id=user.id, skill_id=skill_id))
    if was_admin and (Role.ADMIN.value not in user.roles or user.disabled):
        await _keep_an_admin(session, user)
    if end_sessions:
        await session.execute(delete(AccessToken).where(AccessToken.user_id == user.id))
        await session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    user.updated_at = now
    await session.flush()
    return UserView(user, await _user_skill_names(session, user.id))


# --- login --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    access_token: str
    expires_in: int


async def verify_login(session: AsyncSession, account_id: str, username: str, password: str) -> int:
    """The user's ID if the password is right and the user enabled, else a 401 that says no more.

    Argon2 runs in a thread (it takes a CPU for ~0.2 s); an unknown user costs the same time.
    """
    user = (
        await session.execute(
            select(User).where(User.account_id == account_id, User.username == username)
        )
    ).scalar_one_or_none()
    ok = await asyncio.to_thread(verify_password, password, user.password_hash if user else None)
    if user is None or not ok or user.disabled:
        raise Unauthenticated("invalid username or password")
    return user.id


async def issue_access_token(
    session: AsyncSession, account_id: str, user_id: int, *, now: datetime, ttl: timedelta
) -> LoginResult:
    """A new bearer token for the user; expired tokens are purged on the way."""
    token, token_digest = new_access_token()
    await session.execute(delete(AccessToken).where(AccessToken.expires_at <= now))
    session.add(
        AccessToken(
            digest=token_digest,
            user_id=user_id,
            account_id=account_id,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return LoginResult(token, int(ttl.total_seconds()))


async def revoke_access_token(session: AsyncSession, account_id: str, token: str) -> None:
    """The login token stops working: its row (only a digest) is deleted."""
    await session.execute(
        delete(AccessToken).where(
            AccessToken.digest == digest(token), AccessToken.account_id == account_id
        )
    )


async def login(
    session: AsyncSession,
    account_id: str,
    username: str,
    password: str,
    *,
    now: datetime,
    ttl: timedelta,
) -> LoginResult:
    """Both steps in one unit of work (the HTTP route splits them to keep writes short)."""
    user_id = await verify_login(session, account_id, username, password)
    return await issue_access_token(session, account_id, user_id, now=now, ttl=ttl)


# --- API keys -----------------------------------------------------------------------------


def _check_scopes(scopes: Sequence[str]) -> list[str]:
    valid = {s.value for s in Scope}
    unknown = [s for s in scopes if s not in valid]
    if unknown:
        raise invalid_field("scopes", f"unknown scope(s) {unknown}; use {sorted(valid)}")
    if not scopes:
        raise invalid_field("scopes", "at least one scope")
    return sorted(set(scopes))


async def create_api_key(
    session: AsyncSession, account_id: str, name: str, scopes: Sequence[str], now: datetime
) -> tuple[str, ApiKey]:
    """A new key: the full secret (to show once) and its stored record."""
    checked = _check_scopes(scopes)
    key, prefix, key_digest = new_api_key()
    record = ApiKey(
        account_id=account_id,
        name=name,
        prefix=prefix,
        digest=key_digest,
        scopes=checked,
        created_at=now,
    )
    session.add(record)
    await session.flush()
    return key, record


@dataclass(frozen=True)
class OAuthKeySecrets:
    """An OAuth 1.0a key's four values (LivePerson's "API key"), shown once."""

    consumer_key: str
    consumer_secret: str
    token: str
    token_secret: str


async def create_oauth_key(
    session: AsyncSession,
    box: SecretBox,
    account_id: str,
    name: str,
    scopes: Sequence[str],
    now: datetime,
) -> tuple[OAuthKeySecrets, ApiKey]:
    """A new OAuth 1.0a key. Its secrets are kept sealed (a signature check needs them); the
    key's bearer digest is of a value nobody holds, so it is never a bearer credential."""
    checked = _check_scopes(scopes)
    _, prefix, unusable_digest = new_api_key()
    values = OAuthKeySecrets(prefix, new_oauth_secret(), new_oauth_secret(), new_oauth_secret())
    sealed = {"consumerSecret": values.consumer_secret, "tokenSecret": values.token_secret}
    record = ApiKey(
        account_id=account_id,
        name=name,
        prefix=prefix,
        digest=unusable_digest,
        scopes=checked,
        created_at=now,
        kind="oauth1",
        oauth_token=values.token,
        oauth_secrets=box.encrypt(json.dumps(sealed)),
    )
    session.add(record)
    await session.flush()
    return values, record


async def list_api_keys(session: AsyncSession, account_id: str) -> Sequence[ApiKey]:
    result = await session.execute(
        select(ApiKey)
        .where(ApiKey.account_id == account_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.id)
    )
    return result.scalars().all()


async def revoke_api_key(
    session: AsyncSession, account_id: str, key_id: int, now: datetime
) -> None:
    record = await session.get(ApiKey, key_id)
    if record is None or record.account_id != account_id or record.revoked_at is not None:
        raise NotFound(f"no API key {key_id}")
    record.revoked_at = now
    await session.flush()


async def reencrypt_oauth_keys(session: AsyncSession, box: SecretBox) -> int:
    """Seal every OAuth key's secrets again with the box's first key (after a rotation)."""
    keys = (
        await session.execute(select(ApiKey).where(ApiKey.oauth_secrets.is_not(None)))
    ).scalars()
    count = 0
    for record in keys:
        record.oauth_secrets = box.rotate(record.oauth_secrets or "")
        count += 1
    await session.flush()
    return count
