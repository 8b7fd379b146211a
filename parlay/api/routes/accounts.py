"""HTTP routes of the accounts domain: login, settings, skills, users, API keys (SPEC §3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Response

from parlay.accounts import service
from parlay.accounts import settings as account_settings
from parlay.accounts.models import Account, ApiKey
from parlay.accounts.permissions import Permission, Principal
from parlay.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    LoginRequest,
    LoginResponse,
    SettingsOut,
    SettingsUpdate,
    SkillCreate,
    SkillList,
    SkillOut,
    UserCreate,
    UserList,
    UserOut,
    UserUpdate,
    WelcomeMessageOut,
)
from parlay.api.deps import ContainerDep, require
from parlay.api.params import AccountIdPath
from parlay.errors import RateLimited, invalid_field
from parlay.ratelimit.limiter import ApiFamily

router = APIRouter(prefix="/api/account/{accountId}", tags=["accounts"])
CONFIG = ApiFamily.CONFIG


def _user_out(view: service.UserView) -> UserOut:
    u = view.user
    return UserOut(
        id=u.id,
        username=u.username,
        roles=u.roles,
        type=u.type,
        skills=view.skills,
        max_concurrent_conversations=u.max_concurrent_conversations,
        disabled=u.disabled,
        created_at=u.created_at,
        updated_at=u.updated_at,
    )


def _settings_out(s: account_settings.AccountSettings) -> SettingsOut:
    return SettingsOut(
        rate_limit_per_second=s.rate_limit_per_second,
        default_skill=s.default_skill,
        welcome_message=WelcomeMessageOut(enabled=s.welcome_enabled, text=s.welcome_text),
        consumer_auth=s.consumer_auth,
    )


def _api_key_out(record: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(record)


@router.post("/login", operation_id="login", response_model=LoginResponse)
async def login(accountId: AccountIdPath, body: LoginRequest, c: ContainerDep) -> LoginResponse:
    """Exchange a staff user's username and password for a bearer access token."""
    async with c.db.read() as session:
        account = await session.get(Account, accountId)
    if account is not None:
        per_second = account.rate_limit_per_second
        retry_after = await c.limiter.hit(ApiFamily.LOGIN, accountId, per_second)
        if retry_after is not None:
            raise RateLimited(retry_after, "too many login attempts")
    # An unknown account finds no user: the same 401 after the same work as a wrong password.
    # The password is checked outside the write transaction, which stays a few milliseconds.
    async with c.db.read() as session:
        user_id = await service.verify_login(session, accountId, body.username, body.password)
    async with c.db.write() as session:
        result = await service.issue_access_token(
            session,
            accountId,
            user_id,
            now=c.clock.now(),
            ttl=timedelta(seconds=c.settings.access_token_ttl_seconds),
        )
    return LoginResponse(access_token=result.access_token, expires_in=result.expires_in)


@router.get("/settings", operation_id="getSettings", response_model=SettingsOut)
async def get_settings(
    accountId: AccountIdPath,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.SETTINGS_READ, CONFIG)],
) -> SettingsOut:
    """The account's settings."""
    async with c.db.read() as session:
        account = await service.get_account(session, me.account_id)
    return _settings_out(account_settings.settings_of(account))


@router.put("/settings", operation_id="updateSettings", response_model=SettingsOut)
async def update_settings(
    accountId: AccountIdPath,
    body: SettingsUpdate,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.SETTINGS_WRITE, CONFIG)],
) -> SettingsOut:
    """Change settings. Fields left out keep their value; ``null`` clears an optional one."""
    changes = body.model_dump(exclude_unset=True)
    if "rate_limit_per_second" in changes and changes["rate_limit_per_second"] is None:
        raise invalid_field("rateLimitPerSecond", "must be a number")
    if changes.get("welcome_message", 0) is None:
        raise invalid_field("welcomeMessage", "give {enabled, text}")
    if body.consumer_auth is not None:
        changes["consumer_auth"] = body.consumer_auth.model_dump(by_alias=True, exclude_none=True)
    async with c.db.write() as session:
        updated = await account_settings.update_settings(session, me.account_id, changes)
    return _settings_out(updated)


@router.post("/skills", operation_id="createSkill", status_code=201, response_model=SkillOut)
async def create_skill(
    accountId: AccountIdPath,
    body: SkillCreate,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.SKILLS_WRITE, CONFIG)],
) -> SkillOut:
    """Create a routing skill. Skills are referred to by name everywhere."""
    async with c.db.write() as session:
        skill = await service.create_skill(session, me.account_id, body.name, c.clock.now())
    return SkillOut.model_validate(skill)


@router.get("/skills", operation_id="listSkills", response_model=SkillList)
async def list_skills(
    accountId: AccountIdPath,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.SKILLS_READ, CONFIG)],
) -> SkillList:
    """The account's skills, by name."""
    async with c.db.read() as session:
        skills = await service.list_skills(session, me.account_id)
    return SkillList(skills=[SkillOut.model_validate(s) for s in skills])


@router.post("/users", operation_id="createUser", status_code=201, response_model=UserOut)
async def create_user(
    accountId: AccountIdPath,
    body: UserCreate,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.USERS_WRITE, CONFIG)],
) -> UserOut:
    """Create a staff user (human or bot) with roles and skills."""
    async with c.db.write() as session:
        view = await service.create_user(
            session,
            me.account_id,
            username=body.username,
            password=body.password,
            roles=body.roles,
            type=body.type,
            skills=body.skills,
            max_concurrent_conversations=body.max_concurrent_conversations,
            now=c.clock.now(),
        )
    return _user_out(view)


@router.get("/users", operation_id="listUsers", response_model=UserList)
async def list_users(
    accountId: AccountIdPath,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.USERS_READ, CONFIG)],
) -> UserList:
    """The account's staff users."""
    async with c.db.read() as session:
        views = await service.list_users(session, me.account_id)
    return UserList(users=[_user_out(v) for v in views])


@router.get("/users/{userId}", operation_id="getUser", response_model=UserOut)
async def get_user(
    accountId: AccountIdPath,
    userId: int,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.USERS_READ, CONFIG)],
) -> UserOut:
    """One staff user."""
    async with c.db.read() as session:
        view = await service.get_user(session, me.account_id, userId)
    return _user_out(view)


@router.patch("/users/{userId}", operation_id="updateUser", response_model=UserOut)
async def update_user(
    accountId: AccountIdPath,
    userId: int,
    body: UserUpdate,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.USERS_WRITE, CONFIG)],
) -> UserOut:
    """Change a user's password, roles, skills, maximum conversations or disabled flag."""
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    async with c.db.write() as session:
        view = await service.update_user(session, me.account_id, userId, changes, c.clock.now())
    return _user_out(view)


@router.post("/apikeys", operation_id="createApiKey", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(
    accountId: AccountIdPath,
    body: ApiKeyCreate,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.APIKEYS_MANAGE, CONFIG)],
) -> ApiKeyCreated:
    """Create an API key for a brand system. The key is in this response only."""
    async with c.db.write() as session:
        key, record = await service.create_api_key(
            session, me.account_id, body.name, body.scopes, c.clock.now()
        )
    return ApiKeyCreated(**_api_key_out(record).model_dump(), key=key)


@router.get("/apikeys", operation_id="listApiKeys", response_model=ApiKeyList)
async def list_api_keys(
    accountId: AccountIdPath,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.APIKEYS_MANAGE, CONFIG)],
) -> ApiKeyList:
    """The account's active API keys (never their secrets)."""
    async with c.db.read() as session:
        keys = await service.list_api_keys(session, me.account_id)
    return ApiKeyList(api_keys=[_api_key_out(k) for k in keys])


@router.delete("/apikeys/{keyId}", operation_id="revokeApiKey", status_code=204)
async def revoke_api_key(
    accountId: AccountIdPath,
    keyId: int,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.APIKEYS_MANAGE, CONFIG)],
) -> Response:
    """Revoke an API key; it stops working at once."""
    async with c.db.write() as session:
        await service.revoke_api_key(session, me.account_id, keyId, c.clock.now())
    return Response(status_code=204)
