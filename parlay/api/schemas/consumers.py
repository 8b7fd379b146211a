"""API shapes of the consumer API, used by the brand's app through the mobile SDK."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel


class DeviceIn(RequestModel):
    app_id: str = Field(min_length=1, max_length=255)
    platform: Literal["ios", "android"]
    push_service: Literal["apns", "fcm", "proxy"]
    push_token: str | None = Field(default=None, min_length=1, max_length=4096)
    os_version: str = Field(min_length=1, max_length=64)
    device_model: str = Field(min_length=1, max_length=128)
    sdk_version: str = Field(min_length=1, max_length=64)
    country: str | None = Field(default=None, max_length=64)
    city: str | None = Field(default=None, max_length=128)


class DeviceOut(ResponseModel):
    device_id: str
    app_id: str
    platform: str
    push_service: str
    has_push_token: bool
    push_token_disabled: bool
    logged_in: bool
    logout_mode: str | None
    registered_at: datetime
    updated_at: datetime


class LogoutIn(RequestModel):
    unregister_type: Literal["ALL", "NONE", "AGENT"] = "ALL"


class ReceiptOut(ResponseModel):
    push_message_id: str
    status: str


class PendingOutbound(ResponseModel):
    push_message_id: str
    message: str
    backend_service: str
    look_back_period: int
    campaign_info: dict[str, Any]
    sent_time: datetime | None
    expires_at: datetime


class PendingOutboundList(ResponseModel):
    messages: list[PendingOutbound]
