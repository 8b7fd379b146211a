"""HTTP routes of the accounts domain: login, settings, skills, users, API keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response

from parlay.accounts import usecases
from parlay.accounts.models import ApiKey
from parlay.accounts.permissions import Permission, Principal
from parlay.accounts.service import UserChanges, UserView
from parlay.accounts.settings import (
    DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
    AccountSettings,
    ConsumerAuth,
    RateLimitsChange,
    SettingsChange,
    WelcomeMessage,
)
from parlay.api.deps import ServicesDep, require, signed_in_user
from parlay.api.openapi import problems
from parlay.api.params import AccountIdPath, IdPath
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
from parlay.api.strict_json import api_router
from parlay.lib.errors import invalid_field
from parlay.lib.ratelimit import ApiFamily

router = api_router(prefix="/api/account/{accountId}", tags=["accounts"])
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
    return SettingsOut.model_validate(
        {
            "rateLimits": s.rate_limits,
            "defaultSkill": s.default_skill,
            "welcomeMessage": WelcomeMessageOut(enabled=s.welcome_enabled, text=s.welcome_text),
            "consumerAuth": s.consumer_auth,
            "timeZone": s.time_zone,
        }
    )


def settings_change(body: SettingsUpdate) -> SettingsChange:
    """The fields the body names (null included), typed; the others stay UNSET."""
    given = body.model_fields_set
    change = SettingsChange()
    if "rate_limits" in given:
        if body.rate_limits is None:
            raise invalid_field("rateLimits", "give the limits to change")
        limits = body.rate_limits
        change = replace(
            change,
            rate_limits=RateLimitsChange(
                limits.c2m, limits.proactive, limits.reporting, limits.consumer
            ),
        )
    if "default_skill" in given:
        change = replace(change, default_skill=body.default_skill)
    if "welcome_message" in given:
        if body.welcome_message is None:
            raise invalid_field("welcomeMessage", "give {enabled, text}")
        welcome = body.welcome_message
        change = replace(change, welcome_message=WelcomeMessage(welcome.enabled, welcome.text))
    if "time_zone" in given:
        if body.time_zone is None:
            raise invalid_field("timeZone", "an IANA time zone name, e.g. Europe/Paris")
        change = replace(change, time_zone=body.time_zone)
    if "consumer_auth" in given:
        auth = body.consumer_auth
        consumer_auth = None
        if auth is not None:
            consumer_auth = ConsumerAuth(
                issuer=auth.issuer,
                audience=auth.audience,
                algorithms=tuple(auth.algorithms),
                jwks_url=auth.jwks_url,
                public_key_pem=auth.public_key_pem,
                max_token_lifetime_seconds=auth.max_token_lifetime_seconds
                or DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
            )
        change = replace(change, consumer_auth=consumer_auth)
    return change


def _api_key_out(record: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(record)


@router.post(
    "/login", operation_id="login", response_model=LoginResponse, responses=problems(401, 429)
)
async def login(
    accountId: AccountIdPath, body: LoginRequest, request: Request, s: ServicesDep
) -> LoginResponse:
    """Exchange a staff user's username and password for a bearer access token. Five wrong
    passwords in five minutes lock the username out for five minutes (429)."""
    attempt = usecases.LoginAttempt(
        accountId, body.username, body.password, request.client.host if request.client else None
    )
    result = await usecases.login(
        s.tx, s.limiter, attempt, timedelta(seconds=s.settings.access_token_ttl_seconds)
    )
    return LoginResponse(access_token=result.access_token, expires_in=result.expires_in)


@router.post("/logout", operation_id="logout", status_code=204, responses=problems(429))
async def logout(
    accountId: AccountIdPath,
    s: ServicesDep,
    caller: Annotated[tuple[Principal, str], Depends(signed_in_user)],
) -> Response:
    """End the caller's login: its access token stops working at once (401 from then on). An
    API key is revoked instead (``DELETE /apikeys/{keyId}``)."""
    me, token = caller
    await usecases.logout(s.tx, me, token)
    return Response(status_code=204)


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
    change = settings_change(body)
    return _settings_out(await usecases.update_settings(s.tx, s.urls, me.account_id, change))


@router.post(
    "/skills",
    operation_id="createSkill",
    responses=problems(409),
    status_code=201,
    response_model=SkillOut,
)
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


@router.post(
    "/users",
    operation_id="createUser",
    responses=problems(409),
    status_code=201,
    response_model=UserOut,
)
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
    userId: IdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.USERS_READ, CONFIG)],
) -> UserOut:
    """One staff user."""
    return _user_out(await usecases.get_user(s.tx, me.account_id, userId))


@router.patch(
    "/users/{userId}", operation_id="updateUser", responses=problems(409), response_model=UserOut
)
async def update_user(
    accountId: AccountIdPath,
    userId: IdPath,
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
    """Create an API key for a brand system. Its secrets are in this response only."""
    if body.kind == "oauth1":
        values, record = await usecases.create_oauth_key(
            s.tx, s.secrets, me.account_id, body.name, body.scopes
        )
        return ApiKeyCreated(
            **_api_key_out(record).model_dump(),
            consumer_key=values.consumer_key,
            consumer_secret=values.consumer_secret,
            token=values.token,
            token_secret=values.token_secret,
        )
    key, record = await usecases.create_api_key(s.tx, me.account_id, body.name, body.scopes)
    return ApiKeyCreated(**_api_key_out(record).model_dump(), key=key, client_id=record.prefix)


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
    keyId: IdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APIKEYS_MANAGE, CONFIG)],
) -> Response:
    """Revoke an API key; it stops working at once."""
    await usecases.revoke_api_key(s.tx, me.account_id, keyId)
    return Response(status_code=204)
