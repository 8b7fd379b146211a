"""API shapes of handoffs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel

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


def _is_none(value: Any) -> bool:
    return value is None


def _omitted_when_unset() -> Any:
    """A response field left out of the JSON when unset (a channel shows no ``appIds: null``)."""
    return Field(default=None, exclude_if=_is_none)


class ChannelOut(ResponseModel):
    type: ChannelType
    outbound_number: str | None = _omitted_when_unset()
    app_ids: list[str] | None = _omitted_when_unset()
    message_text: str | None = _omitted_when_unset()
    notification_title: str | None = _omitted_when_unset()
    template_name: str | None = _omitted_when_unset()
    template_language: str | None = _omitted_when_unset()
    template_variables: int | None = _omitted_when_unset()


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
