"""API shapes of the accounts domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel, StrictInt, omitted_when_none
from parlay.lib.text import MAX_MESSAGE_LENGTH


class LoginRequest(RequestModel):
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(ResponseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class WelcomeMessage(RequestModel):
    enabled: bool
    text: str | None = Field(default=None, max_length=MAX_MESSAGE_LENGTH)


class WelcomeMessageOut(ResponseModel):
    enabled: bool
    text: str | None


class ConsumerAuth(RequestModel):
    issuer: str = Field(min_length=1, max_length=1024)
    audience: str = Field(min_length=1, max_length=1024)
    algorithms: list[Annotated[str, Field(max_length=16)]] = Field(min_length=1, max_length=10)
    jwks_url: str | None = Field(default=None, max_length=2048)
    public_key_pem: str | None = Field(default=None, max_length=16384)
    max_token_lifetime_seconds: StrictInt | None = Field(
        default=None,
        description="The longest a consumer JWT may live (exp - iat), 60 s to 30 days; "
        "default one day.",
    )


class RateLimitsIn(RequestModel):
    """Requests per second, 1 to 10,000; a family left out keeps its limit."""

    c2m: StrictInt | None = Field(
        default=None, alias="c2m", description="Per account (the IVR's key)."
    )
    proactive: StrictInt | None = Field(default=None, description="Per account.")
    reporting: StrictInt | None = Field(default=None, description="Per account.")
    consumer: StrictInt | None = Field(default=None, description="Per consumer (JWT sub).")


class SettingsUpdate(RequestModel):
    """Fields left out keep their value; ``null`` clears an optional one."""

    rate_limits: RateLimitsIn | None = None
    default_skill: str | None = Field(default=None, max_length=255)
    welcome_message: WelcomeMessage | None = None
    consumer_auth: ConsumerAuth | None = None
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone name (e.g. Europe/Paris) in which reports split days; "
        "default UTC.",
    )


class RateLimitsOut(ResponseModel):
    c2m: int = Field(alias="c2m")
    proactive: int
    reporting: int
    consumer: int


class ConsumerAuthOut(ResponseModel):
    issuer: str
    audience: str
    algorithms: list[str]
    jwks_url: str | None = omitted_when_none()
    public_key_pem: str | None = omitted_when_none()
    max_token_lifetime_seconds: int


class SettingsOut(ResponseModel):
    rate_limits: RateLimitsOut
    default_skill: str | None
    welcome_message: WelcomeMessageOut
    consumer_auth: ConsumerAuthOut | None
    time_zone: str


class SkillCreate(RequestModel):
    name: str = Field(min_length=1, max_length=255, pattern=r"^\S(.*\S)?$")


class SkillOut(ResponseModel):
    id: int
    name: str
    created_at: datetime


class SkillList(ResponseModel):
    skills: list[SkillOut]


SkillName = Annotated[str, Field(min_length=1, max_length=255)]
MAX_USER_SKILLS = 100
Role = Literal["admin", "campaign_manager", "agent_manager", "agent"]


class UserCreate(RequestModel):
    username: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._@+-]+$")
    password: str = Field(min_length=8, max_length=1024)
    roles: list[Role] = Field(min_length=1, max_length=4)
    type: Literal["human", "bot"] = "human"
    skills: list[SkillName] = Field(default_factory=list, max_length=MAX_USER_SKILLS)
    max_concurrent_conversations: StrictInt = Field(default=3, ge=1, le=100)


class UserUpdate(RequestModel):
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=4)
    skills: list[SkillName] | None = Field(default=None, max_length=MAX_USER_SKILLS)
    max_concurrent_conversations: StrictInt | None = Field(default=None, ge=1, le=100)
    disabled: bool | None = None


class UserOut(ResponseModel):
    id: int
    username: str
    roles: list[str]
    type: str
    skills: list[str]
    max_concurrent_conversations: int
    disabled: bool
    created_at: datetime
    updated_at: datetime


class UserList(ResponseModel):
    users: list[UserOut]


Scope = Literal["c2m", "proactive", "reporting", "handoffs:read", "webhooks"]


class ApiKeyCreate(RequestModel):
    name: str = Field(min_length=1, max_length=255)
    scopes: list[Scope] = Field(min_length=1, max_length=10)


class ApiKeyOut(ResponseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret. Shown only in this response; store it now.")


class ApiKeyList(ResponseModel):
    api_keys: list[ApiKeyOut]
