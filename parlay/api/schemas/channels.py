"""API shapes of an account's SMS (Twilio) and WhatsApp (Cloud API) credentials. Secrets go in,
never out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel

_KEEP = " Omit on PUT to keep the stored one (only while endpoint stays the same)."


class SmsIn(RequestModel):
    provider: Literal["twilio"] = "twilio"
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
    provider: str
    account_sid: str
    from_number: str | None = None
    messaging_service_sid: str | None = None
    max_messages_per_second: float
    endpoint: str | None = None
    has_auth_token: bool
    created_at: datetime
    updated_at: datetime


class WhatsAppIn(RequestModel):
    phone_number_id: str = Field(min_length=1, max_length=32)
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
    graph_version: str = Field(default="v21.0", min_length=2, max_length=10)
    endpoint: str | None = Field(
        default=None, max_length=2048, description="Overrides https://graph.facebook.com."
    )


class WhatsAppOut(ResponseModel):
    phone_number_id: str
    graph_version: str
    endpoint: str | None = None
    has_access_token: bool
    has_app_secret: bool
    has_verify_token: bool
    created_at: datetime
    updated_at: datetime
