"""API shapes of handoffs (SPEC §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from parlay.api.schemas import RequestModel, ResponseModel

ChannelType = Literal["inapp", "sms", "wa"]


class ChannelIn(RequestModel):
    type: ChannelType
    outbound_number: str | None = None
    app_ids: list[str] | None = None
    message_text: str | None = None
    notification_title: str | None = None
    template_name: str | None = Field(default=None, max_length=512)
    template_language: str | None = Field(default=None, max_length=16)
    template_variables: int | None = Field(default=None, ge=0, le=100)


class HandoffIn(RequestModel):
    name: str = Field(min_length=1, max_length=255)
    skill: str | None = Field(default=None, min_length=1, max_length=255)
    lookback_period_day: int | None = Field(default=None, ge=0, le=30)
    lookback_period_hour: int | None = Field(default=None, ge=0, le=23)
    route_all_within_lookback: bool = True
    push_when_logged_in: bool = True
    push_when_logged_out: bool = False
    channels: list[ChannelIn] = Field(min_length=1, max_length=3)


class ChannelOut(ResponseModel):
    type: ChannelType
    outbound_number: str | None = None
    app_ids: list[str] | None = None
    message_text: str | None = None
    notification_title: str | None = None
    template_name: str | None = None
    template_language: str | None = None
    template_variables: int | None = None


class HandoffOut(ResponseModel):
    id: str
    name: str
    skill: str | None
    lookback_period_day: int
    lookback_period_hour: int
    route_all_within_lookback: bool
    push_when_logged_in: bool
    push_when_logged_out: bool
    channels: list[ChannelOut]
    created_at: datetime
    updated_at: datetime


class HandoffList(ResponseModel):
    handoffs: list[HandoffOut]
