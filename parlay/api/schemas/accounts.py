"""API shapes of the accounts domain."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel, StrictInt


class LoginRequest(RequestModel):
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(ResponseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class WelcomeMessage(RequestModel):
    enabled: bool
    text: str | None = None


class WelcomeMessageOut(ResponseModel):
    enabled: bool
    text: str | None


class ConsumerAuth(RequestModel):
    issuer: str = Field(min_length=1, max_length=1024)
    audience: str = Field(min_length=1, max_length=1024)
    algorithms: list[str] = Field(min_length=1)
    jwks_url: str | None = Field(default=None, max_length=2048)
    public_key_pem: str | None = Field(default=None, max_length=16384)


class SettingsUpdate(RequestModel):
    """Fields left out keep their value; ``null`` clears an optional one."""

    rate_limit_per_second: StrictInt | None = None
    default_skill: str | None = None
    welcome_message: WelcomeMessage | None = None
    consumer_auth: ConsumerAuth | None = None


class SettingsOut(ResponseModel):
    rate_limit_per_second: int
    default_skill: str | None
    welcome_message: WelcomeMessageOut
    consumer_auth: dict[str, object] | None


class SkillCreate(RequestModel):
    name: str = Field(min_length=1, max_length=255, pattern=r"^\S(.*\S)?$")


class SkillOut(ResponseModel):
    id: int
    name: str
    created_at: datetime


class SkillList(ResponseModel):
    skills: list[SkillOut]


Role = Literal["admin", "campaign_manager", "agent_manager", "agent"]


class UserCreate(RequestModel):
    username: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._@+-]+$")
    password: str = Field(min_length=8, max_length=1024)
    roles: list[Role] = Field(min_length=1)
    type: Literal["human", "bot"] = "human"
    skills: list[str] = Field(default_factory=list)
    max_concurrent_conversations: StrictInt = Field(default=3, ge=1, le=100)


class UserUpdate(RequestModel):
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    roles: list[Role] | None = Field(default=None, min_length=1)
    skills: list[str] | None = None
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
    scopes: list[Scope] = Field(min_length=1)


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
