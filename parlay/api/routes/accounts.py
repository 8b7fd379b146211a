"""HTTP routes of the accounts domain: login, settings, skills, users, API keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Response

from parlay.accounts import usecases
from parlay.accounts.models import ApiKey
from parlay.accounts.permissions import Permission, Principal
from parlay.accounts.service import UserChanges, UserView
from parlay.accounts.settings import AccountSettings
from parlay.api.deps import ServicesDep, rate_limit, require
from parlay.api.params import AccountIdPath
from parlay.api.schemas.accounts import (
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
from parlay.lib.errors import invalid_field
from parlay.lib.ratelimit import ApiFamily

router = APIRouter(prefix="/api/account/{accountId}", tags=["accounts"])
CONFIG = ApiFamily.CONFIG


def _user_out(view: UserView) -> UserOut:
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


def _settings_out(s: AccountSettings) -> SettingsOut:
    return SettingsOut(
        rate_limit_per_second=s.rate_limit_per_second,
        default_skill=s.default_skill,
        welcome_message=WelcomeMessageOut(enabled=s.welcome_enabled, text=s.welcome_text),
        consumer_auth=s.consumer_auth,
    )


def _api_key_out(record: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(record)


@router.post("/login", operation_id="login", response_model=LoginResponse)
async def login(accountId: AccountIdPath, body: LoginRequest, s: ServicesDep) -> LoginResponse:
    """Exchange a staff user's username and password for a bearer access token."""
    account = await usecases.account(s.tx, accountId)
    if account is not None:
        await rate_limit(
            s, ApiFamily.LOGIN, accountId, account.rate_limit_per_second, account_id=accountId
        )
    result = await usecases.login(
        s.tx,
        accountId,
        body.username,
        body.password,
        timedelta(seconds=s.settings.access_token_ttl_seconds),
    )
    return LoginResponse(access_token=result.access_token, expires_in=result.expires_in)


@router.get("/settings", operation_id="getSettings", response_model=SettingsOut)
async def get_settings(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.SETTINGS_READ, CONFIG)],
) -> SettingsOut:
    """The account's settings."""
    return _settings_out(await usecases.get_settings(s.tx, me.account_id))


@router.put("/settings", operation_id="updateSettings", response_model=SettingsOut)
async def update_settings(
    accountId: AccountIdPath,
    body: SettingsUpdate,
    s: ServicesDep,
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
    return _settings_out(await usecases.update_settings(s.tx, s.urls, me.account_id, changes))


@router.post("/skills", operation_id="createSkill", status_code=201, response_model=SkillOut)
async def create_skill(
    accountId: AccountIdPath,
    body: SkillCreate,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.SKILLS_WRITE, CONFIG)],
) -> SkillOut:
    """Create a routing skill. Skills are referred to by name everywhere."""
    return SkillOut.model_validate(await usecases.create_skill(s.tx, me.account_id, body.name))


@router.get("/skills", operation_id="listSkills", response_model=SkillList)
async def list_skills(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.SKILLS_READ, CONFIG)],
) -> SkillList:
    """The account's skills, by name."""
    skills = await usecases.list_skills(s.tx, me.account_id)
    return SkillList(skills=[SkillOut.model_validate(skill) for skill in skills])


@router.post("/users", operation_id="createUser", status_code=201, response_model=UserOut)
async def create_user(
    accountId: AccountIdPath,
    body: UserCreate,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.USERS_WRITE, CONFIG)],
) -> UserOut:
    """Create a staff user (human or bot) with roles and skills."""
    user = usecases.NewUser(
        username=body.username,
        password=body.password,
        roles=list(body.roles),
        type=body.type,
        skills=body.skills,
        max_concurrent_conversations=body.max_concurrent_conversations,
    )
    view = await usecases.create_user(s.tx, me.account_id, user)
    return _user_out(view)


@router.get("/users", operation_id="listUsers", response_model=UserList)
async def list_users(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.USERS_READ, CONFIG)],
) -> UserList:
    """The account's staff users."""
    views = await usecases.list_users(s.tx, me.account_id)
    return UserList(users=[_user_out(v) for v in views])


@router.get("/users/{userId}", operation_id="getUser", response_model=UserOut)
async def get_user(
    accountId: AccountIdPath,
    userId: int,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.USERS_READ, CONFIG)],
) -> UserOut:
    """One staff user."""
    return _user_out(await usecases.get_user(s.tx, me.account_id, userId))


@router.patch("/users/{userId}", operation_id="updateUser", response_model=UserOut)
async def update_user(
    accountId: AccountIdPath,
    userId: int,
    body: UserUpdate,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.USERS_WRITE, CONFIG)],
) -> UserOut:
    """Change a user's password, roles, skills, maximum conversations or disabled flag."""
    changes = UserChanges(
        password=body.password,
        roles=body.roles,
        skills=body.skills,
        max_concurrent_conversations=body.max_concurrent_conversations,
        disabled=body.disabled,
    )
    return _user_out(await usecases.update_user(s.tx, me.account_id, userId, changes))


@router.post("/apikeys", operation_id="createApiKey", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(
    accountId: AccountIdPath,
    body: ApiKeyCreate,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APIKEYS_MANAGE, CONFIG)],
) -> ApiKeyCreated:
    """Create an API key for a brand system. The key is in this response only."""
    key, record = await usecases.create_api_key(s.tx, me.account_id, body.name, body.scopes)
    return ApiKeyCreated(**_api_key_out(record).model_dump(), key=key)


@router.get("/apikeys", operation_id="listApiKeys", response_model=ApiKeyList)
async def list_api_keys(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APIKEYS_MANAGE, CONFIG)],
) -> ApiKeyList:
    """The account's active API keys (never their secrets)."""
    keys = await usecases.list_api_keys(s.tx, me.account_id)
    return ApiKeyList(api_keys=[_api_key_out(k) for k in keys])


@router.delete("/apikeys/{keyId}", operation_id="revokeApiKey", status_code=204)
async def revoke_api_key(
    accountId: AccountIdPath,
    keyId: int,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APIKEYS_MANAGE, CONFIG)],
) -> Response:
    """Revoke an API key; it stops working at once."""
    await usecases.revoke_api_key(s.tx, me.account_id, keyId)
    return Response(status_code=204)
