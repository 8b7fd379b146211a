"""API shapes of the accounts domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from parlay.api.schemas.base import (
    RequestModel,
    ResponseModel,
    StrictInt,
    examples,
    omitted_when_none,
)
from parlay.lib.text import MAX_MESSAGE_LENGTH

_CREATED = "When it was created (UTC)."
_UPDATED = "When it last changed (UTC)."


class LoginRequest(RequestModel):
    model_config = examples({"username": "maria", "password": "correct horse battery"})

    username: str = Field(min_length=1, max_length=255, description="The user's name.")
    password: str = Field(min_length=1, max_length=1024, description="The user's password.")


class LoginResponse(ResponseModel):
    model_config = examples(
        {
            "accessToken": "plt_3q2v0Yd1kM9xR7cT5bN8aE4wZ6uJhL1oPs2Xc0Vn9B",
            "tokenType": "Bearer",
            "expiresIn": 3600,
        }
    )

    access_token: str = Field(description="Send as `Authorization: Bearer <accessToken>`.")
    token_type: Literal["Bearer"] = Field(default="Bearer", description="Always `Bearer`.")
    expires_in: int = Field(description="Seconds until the token ends (it ends sooner on logout).")


class WelcomeMessage(RequestModel):
    enabled: bool = Field(description="Whether an unattributed conversation opens with it.")
    text: str | None = Field(
        default=None,
        max_length=MAX_MESSAGE_LENGTH,
        description="The system message, 1–1,000 characters; required when enabled.",
    )


class WelcomeMessageOut(ResponseModel):
    enabled: bool = Field(description="Whether an unattributed conversation opens with it.")
    text: str | None = Field(description="The system message; null when none is set.")


class ConsumerAuth(RequestModel):
    issuer: str = Field(
        min_length=1, max_length=1024, description="The `iss` every consumer JWT must carry."
    )
    audience: str = Field(
        min_length=1, max_length=1024, description="The `aud` every consumer JWT must carry."
    )
    algorithms: list[Annotated[str, Field(max_length=16)]] = Field(
        min_length=1,
        max_length=10,
        description="Signature algorithms taken: RS256, RS384, RS512, PS256, PS384, PS512, "
        "ES256, ES384, ES512, EdDSA (`none` and HMAC are refused).",
    )
    jwks_url: str | None = Field(
        default=None,
        max_length=2048,
        description="An https URL of the brand's key set (JWKS). Exactly one of `jwksUrl` "
        "and `publicKeyPem`.",
    )
    public_key_pem: str | None = Field(
        default=None,
        max_length=16384,
        description="A PEM public key one of `algorithms` can use, instead of `jwksUrl`.",
    )
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

    model_config = examples(
        {
            "rateLimits": {"c2m": 50, "proactive": 20},
            "defaultSkill": "billing",
            "welcomeMessage": {"enabled": True, "text": "Hi! An agent will be with you shortly."},
            "consumerAuth": {
                "issuer": "https://auth.acme.example",
                "audience": "parlay",
                "algorithms": ["RS256"],
                "jwksUrl": "https://auth.acme.example/.well-known/jwks.json",
            },
            "timeZone": "Europe/Paris",
        }
    )

    rate_limits: RateLimitsIn | None = Field(
        default=None, description="Requests per second per API family; not null."
    )
    default_skill: str | None = Field(
        default=None,
        max_length=255,
        description="An existing skill for conversations no delivery explains; null clears it.",
    )
    welcome_message: WelcomeMessage | None = Field(
        default=None, description="The message that opens such conversations; not null."
    )
    consumer_auth: ConsumerAuth | None = Field(
        default=None,
        description="How consumer JWTs are verified; null clears it (no consumer can sign in).",
    )
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone name (e.g. Europe/Paris) in which reports split days; "
        "default UTC.",
    )


class RateLimitsOut(ResponseModel):
    c2m: int = Field(alias="c2m", description="C2M requests per second, per account.")
    proactive: int = Field(description="Campaign requests per second, per account.")
    reporting: int = Field(description="Reporting requests per second, per account.")
    consumer: int = Field(description="Consumer API requests per second, per consumer.")


class ConsumerAuthOut(ResponseModel):
    issuer: str = Field(description="The `iss` every consumer JWT must carry.")
    audience: str = Field(description="The `aud` every consumer JWT must carry.")
    algorithms: list[str] = Field(description="Signature algorithms taken.")
    jwks_url: str | None = omitted_when_none("The brand's key set; absent with a PEM key.")
    public_key_pem: str | None = omitted_when_none("The PEM public key; absent with a JWKS URL.")
    max_token_lifetime_seconds: int = Field(description="The longest a consumer JWT may live.")


class SettingsOut(ResponseModel):
    model_config = examples(
        {
            "rateLimits": {"c2m": 50, "proactive": 20, "reporting": 10, "consumer": 5},
            "defaultSkill": "billing",
            "welcomeMessage": {"enabled": True, "text": "Hi! An agent will be with you shortly."},
            "consumerAuth": {
                "issuer": "https://auth.acme.example",
                "audience": "parlay",
                "algorithms": ["RS256"],
                "jwksUrl": "https://auth.acme.example/.well-known/jwks.json",
                "maxTokenLifetimeSeconds": 86400,
            },
            "timeZone": "Europe/Paris",
        }
    )

    rate_limits: RateLimitsOut = Field(description="Requests per second per API family.")
    default_skill: str | None = Field(
        description="The skill of conversations no delivery explains; null: none."
    )
    welcome_message: WelcomeMessageOut = Field(
        description="The system message that opens such conversations."
    )
    consumer_auth: ConsumerAuthOut | None = Field(
        description="How consumer JWTs are verified; null: no consumer can sign in."
    )
    time_zone: str = Field(description="The IANA time zone in which reports split days.")


class SkillCreate(RequestModel):
    model_config = examples({"name": "billing"})

    name: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^\S(.*\S)?$",
        description="Unique in the account; no leading or trailing whitespace.",
    )


_SKILL = {"id": 7, "name": "billing", "createdAt": "2026-01-05T17:00:00Z"}


class SkillOut(ResponseModel):
    model_config = examples(_SKILL)

    id: int = Field(description="The skill's numeric ID.")
    name: str = Field(description="The skill's name; other routes refer to skills by name.")
    created_at: datetime = Field(description=_CREATED)


class SkillList(ResponseModel):
    model_config = examples({"skills": [_SKILL]})

    skills: list[SkillOut] = Field(description="Every skill of the account.")


SkillName = Annotated[str, Field(min_length=1, max_length=255)]
MAX_USER_SKILLS = 100
Role = Literal["admin", "campaign_manager", "agent_manager", "agent"]

_ROLES = "One or more of admin, campaign_manager, agent_manager, agent (a bot: agent only)."
_CONCURRENT = "Open conversations the agent takes at once, 1–100."


class UserCreate(RequestModel):
    model_config = examples(
        {
            "username": "maria",
            "password": "correct horse battery",
            "roles": ["agent"],
            "skills": ["billing"],
            "maxConcurrentConversations": 5,
        }
    )

    username: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9._@+-]+$",
        description="Letters, digits and `._@+-`; unique in the account.",
    )
    password: str = Field(min_length=8, max_length=1024, description="8–1,024 characters.")
    roles: list[Role] = Field(min_length=1, max_length=4, description=_ROLES)
    type: Literal["human", "bot"] = Field(
        default="human", description="`human` (default) or `bot` (an automated agent)."
    )
    skills: list[SkillName] = Field(
        default_factory=list,
        max_length=MAX_USER_SKILLS,
        description="Existing skill names whose conversations the user takes; default none.",
    )
    max_concurrent_conversations: StrictInt = Field(
        default=3, ge=1, le=100, description=_CONCURRENT + " Default 3."
    )


class UserUpdate(RequestModel):
    model_config = examples({"roles": ["agent", "agent_manager"], "skills": ["billing", "sales"]})

    password: str | None = Field(
        default=None,
        min_length=8,
        max_length=1024,
        description="A new password (ends the user's sessions); omitted: unchanged.",
    )
    roles: list[Role] | None = Field(
        default=None, min_length=1, max_length=4, description=_ROLES + " Omitted: unchanged."
    )
    skills: list[SkillName] | None = Field(
        default=None,
        max_length=MAX_USER_SKILLS,
        description="Replaces the user's skills; omitted: unchanged.",
    )
    max_concurrent_conversations: StrictInt | None = Field(
        default=None, ge=1, le=100, description=_CONCURRENT + " Omitted: unchanged."
    )
    disabled: bool | None = Field(
        default=None,
        description="true disables the user (ends their sessions); omitted: unchanged.",
    )


_USER = {
    "id": 12,
    "username": "maria",
    "roles": ["agent"],
    "type": "human",
    "skills": ["billing"],
    "maxConcurrentConversations": 5,
    "disabled": False,
    "createdAt": "2026-01-05T17:00:00Z",
    "updatedAt": "2026-01-05T17:00:00Z",
}


class UserOut(ResponseModel):
    model_config = examples(_USER)

    id: int = Field(description="The user's numeric ID.")
    username: str = Field(description="The name the user signs in with.")
    roles: list[str] = Field(description="admin, campaign_manager, agent_manager, agent.")
    type: str = Field(description="`human` or `bot`.")
    skills: list[str] = Field(description="The skills whose conversations the user takes.")
    max_concurrent_conversations: int = Field(description=_CONCURRENT)
    disabled: bool = Field(description="A disabled user cannot sign in.")
    created_at: datetime = Field(description=_CREATED)
    updated_at: datetime = Field(description=_UPDATED)


class UserList(ResponseModel):
    model_config = examples({"users": [_USER]})

    users: list[UserOut] = Field(description="Every user of the account.")


Scope = Literal["c2m", "proactive", "reporting", "handoffs:read", "webhooks"]


class ApiKeyCreate(RequestModel):
    model_config = examples({"name": "IVR", "scopes": ["c2m"]})

    name: str = Field(min_length=1, max_length=255, description="What the key is for.")
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=10,
        description="The API families it may call: c2m, proactive, reporting, handoffs:read, "
        "webhooks.",
    )
    kind: Literal["bearer", "oauth1"] = Field(
        default="bearer",
        description="bearer: a key sent as a bearer token, or exchanged for one. oauth1: "
        "LivePerson's signed requests (consumer key and secret, token and token secret).",
    )


_API_KEY = {
    "id": 3,
    "name": "IVR",
    "prefix": "3f9a0c51d2e7",
    "kind": "bearer",
    "scopes": ["c2m"],
    "createdAt": "2026-01-05T17:00:00Z",
    "lastUsedAt": None,
}


class ApiKeyOut(ResponseModel):
    model_config = examples(_API_KEY)

    id: int = Field(description="The key's numeric ID (to revoke it).")
    name: str = Field(description="What the key is for.")
    prefix: str = Field(description="The key's first characters, to recognise it; not secret.")
    kind: str = Field(description="`bearer` or `oauth1`.")
    scopes: list[str] = Field(description="The API families it may call.")
    created_at: datetime = Field(description=_CREATED)
    last_used_at: datetime | None = Field(
        description="Its last request, to the minute; null: never used."
    )


class ApiKeyCreated(ApiKeyOut):
    """The secrets, shown only in this response: a bearer key's ``key`` (its ``clientId`` is
    the prefix), or an OAuth key's four values."""

    model_config = examples(
        {
            **_API_KEY,
            "key": "plk_3f9a0c51d2e7_Vb9sX1oRk4TzL0mWq8yNcE3uHd5fJ2gA6pQ7rS1tU0v",
            "clientId": "3f9a0c51d2e7",
        }
    )

    key: str | None = omitted_when_none("A bearer key's secret; shown only here.")
    client_id: str | None = omitted_when_none("A bearer key's client ID (token exchange).")
    consumer_key: str | None = omitted_when_none("An oauth1 key's consumer key.")
    consumer_secret: str | None = omitted_when_none("An oauth1 key's consumer secret.")
    token: str | None = omitted_when_none("An oauth1 key's access token.")
    token_secret: str | None = omitted_when_none("An oauth1 key's token secret.")


class ApiKeyList(ResponseModel):
    model_config = examples({"apiKeys": [_API_KEY]})

    api_keys: list[ApiKeyOut] = Field(description="The keys not revoked.")
