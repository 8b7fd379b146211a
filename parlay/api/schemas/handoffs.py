"""API shapes of handoffs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel, omitted_when_none
from parlay.handoffs.service import MAX_NOTIFICATION_TITLE
from parlay.lib.text import MAX_MESSAGE_LENGTH

ChannelType = Literal["inapp", "sms", "wa"]


class ChannelIn(RequestModel):
    type: ChannelType
    outbound_number: str | None = Field(default=None, max_length=32)
    app_ids: list[Annotated[str, Field(max_length=255)]] | None = Field(default=None, max_length=20)
    message_text: str | None = Field(default=None, max_length=MAX_MESSAGE_LENGTH)
    notification_title: str | None = Field(default=None, max_length=MAX_NOTIFICATION_TITLE)
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


class HandoffCreateIn(HandoffIn):
    id: str | None = Field(
        default=None,
        pattern=r"^H[0-9]{1,15}$",
        max_length=16,
        description="Admins only: keep the ID a handoff had elsewhere ('H' + digits). "
        "Parlay makes one when absent.",
    )


class ChannelOut(ResponseModel):
    type: ChannelType
    outbound_number: str | None = omitted_when_none()
    app_ids: list[str] | None = omitted_when_none()
    message_text: str | None = omitted_when_none()
    notification_title: str | None = omitted_when_none()
    template_name: str | None = omitted_when_none()
    template_language: str | None = omitted_when_none()
    template_variables: int | None = omitted_when_none()


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
