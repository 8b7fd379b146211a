"""API shapes of an account's SMS (Twilio) and WhatsApp (Cloud API) credentials. Secrets go in,
never out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel, examples

_KEEP = " Omit on PUT to keep the stored one (only while endpoint stays the same)."
_CREATED = "When it was first saved (UTC)."
_UPDATED = "When it last changed (UTC)."


class SmsIn(RequestModel):
    model_config = examples(
        {
            "accountSid": "AC0123456789abcdef0123456789abcdef",
            "authToken": "0123456789abcdef0123456789abcdef",
            "fromNumber": "+15550100",
            "maxMessagesPerSecond": 1.0,
        }
    )

    provider: Literal["twilio"] = Field(default="twilio", description="Only `twilio`.")
    account_sid: str = Field(min_length=34, max_length=34, description="AC + 32 hex digits.")
    auth_token: str | None = Field(
        default=None, min_length=16, max_length=128, description="Twilio's auth token." + _KEEP
    )
    from_number: str | None = Field(
        default=None,
        min_length=2,
        max_length=20,
        description="E.164 sender when the handoff names no outboundNumber.",
    )
    messaging_service_sid: str | None = Field(
        default=None, min_length=34, max_length=34, description="MG + 32 hex digits."
    )
    max_messages_per_second: float = Field(
        default=1.0, gt=0, le=1000, description="Sends per second per sender (Twilio's MPS)."
    )
    endpoint: str | None = Field(
        default=None, max_length=2048, description="Overrides https://api.twilio.com."
    )


class SmsOut(ResponseModel):
    model_config = examples(
        {
            "provider": "twilio",
            "accountSid": "AC0123456789abcdef0123456789abcdef",
            "fromNumber": "+15550100",
            "messagingServiceSid": None,
            "maxMessagesPerSecond": 1.0,
            "endpoint": None,
            "hasAuthToken": True,
            "createdAt": "2026-01-05T17:00:00Z",
            "updatedAt": "2026-01-05T17:00:00Z",
        }
    )

    provider: str = Field(description="`twilio`.")
    account_sid: str = Field(description="The Twilio account SID.")
    from_number: str | None = Field(default=None, description="The default sender, if any.")
    messaging_service_sid: str | None = Field(
        default=None, description="The messaging service, if any."
    )
    max_messages_per_second: float = Field(description="Sends per second per sender.")
    endpoint: str | None = Field(default=None, description="The base URL override, if any.")
    has_auth_token: bool = Field(description="Whether an auth token is stored.")
    created_at: datetime = Field(description=_CREATED)
    updated_at: datetime = Field(description=_UPDATED)


class WhatsAppIn(RequestModel):
    model_config = examples(
        {
            "phoneNumberId": "106540352242922",
            "accessToken": "EAAGm0PX4ZCpsBA...",
            "appSecret": "meta-app-secret",
            "verifyToken": "a-word-for-meta",
        }
    )

    phone_number_id: str = Field(
        min_length=1, max_length=32, description="The Cloud API's ID of the sending number."
    )
    access_token: str | None = Field(
        default=None, min_length=16, max_length=1024, description="A system-user token." + _KEEP
    )
    app_secret: str | None = Field(
        default=None,
        min_length=8,
        max_length=256,
        description="The Meta app's secret: signs the webhooks." + _KEEP,
    )
    verify_token: str | None = Field(
        default=None,
        min_length=8,
        max_length=256,
        description="The word pasted in Meta's webhook settings." + _KEEP,
    )
    graph_version: str = Field(
        default="v21.0",
        min_length=2,
        max_length=10,
        description="The Graph API version in request paths; default v21.0.",
    )
    endpoint: str | None = Field(
        default=None, max_length=2048, description="Overrides https://graph.facebook.com."
    )


class WhatsAppOut(ResponseModel):
    model_config = examples(
        {
            "phoneNumberId": "106540352242922",
            "graphVersion": "v21.0",
            "endpoint": None,
            "hasAccessToken": True,
            "hasAppSecret": True,
            "hasVerifyToken": True,
            "createdAt": "2026-01-05T17:00:00Z",
            "updatedAt": "2026-01-05T17:00:00Z",
        }
    )

    phone_number_id: str = Field(description="The Cloud API's ID of the sending number.")
    graph_version: str = Field(description="The Graph API version used.")
    endpoint: str | None = Field(default=None, description="The base URL override, if any.")
    has_access_token: bool = Field(description="Whether an access token is stored.")
    has_app_secret: bool = Field(description="Whether the app secret is stored.")
    has_verify_token: bool = Field(description="Whether the verify token is stored.")
    created_at: datetime = Field(description=_CREATED)
    updated_at: datetime = Field(description=_UPDATED)
