"""API shapes of handoffs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel, examples, omitted_when_none
from parlay.handoffs.service import MAX_NOTIFICATION_TITLE
from parlay.lib.text import MAX_MESSAGE_LENGTH

ChannelType = Literal["inapp", "sms", "wa"]

_TYPE = "inapp (push to the brand's app), sms or wa (WhatsApp); each type at most once."
_NUMBER = (
    "sms, wa: the sender number in E.164 (spaces, -, . and () removed); "
    "omitted: the account's default sender."
)
_APP_IDS = "inapp, required: the apps (bundle IDs) the push may go to."
_TEXT = "The message, 1–1,000 characters of text and emoji; a campaign may bring its own."
_TITLE = "inapp: the notification's title, at most 100 characters; omitted: none."
_TEMPLATE = "wa, required: the approved template sent outside WhatsApp's 24-hour window."
_LANGUAGE = "wa, required: the template's language, e.g. en_US."
_VARIABLES = "wa: how many variables the template takes, 0–100."
_SKILL = (
    "An existing skill, for replies when a campaign or call names none (today both name "
    "one); null: none."
)
_DAYS = "Days of the lookback (replies within it route to this message's skill), 0–30."
_HOURS = "Hours added to lookbackPeriodDay, 0–23; the total is 1 hour to 30 days."
_ROUTE_ALL = (
    "true: any reply within the lookback is attributed to the message; false: only from "
    "consumers who opened it."
)
_LOGGED_IN = "inapp: push devices that are logged in; default true."
_LOGGED_OUT = "inapp: push devices logged out with NONE or AGENT; default false."
_CHANNELS = "1–3 channels in priority order: the first one usable for a consumer is used."


class ChannelIn(RequestModel):
    type: ChannelType = Field(description=_TYPE)
    outbound_number: str | None = Field(default=None, max_length=32, description=_NUMBER)
    app_ids: list[Annotated[str, Field(max_length=255)]] | None = Field(
        default=None, max_length=20, description=_APP_IDS
    )
    message_text: str | None = Field(default=None, max_length=MAX_MESSAGE_LENGTH, description=_TEXT)
    notification_title: str | None = Field(
        default=None, max_length=MAX_NOTIFICATION_TITLE, description=_TITLE
    )
    template_name: str | None = Field(default=None, max_length=512, description=_TEMPLATE)
    template_language: str | None = Field(default=None, max_length=16, description=_LANGUAGE)
    template_variables: int | None = Field(default=None, ge=0, le=100, description=_VARIABLES)


_HANDOFF_IN = {
    "name": "Billing callback",
    "skill": "billing",
    "lookbackPeriodDay": 2,
    "lookbackPeriodHour": 12,
    "channels": [
        {"type": "inapp", "appIds": ["com.acme.app"], "notificationTitle": "Acme"},
        {
            "type": "sms",
            "outboundNumber": "+14155552671",
            "messageText": "Thanks for calling Acme 👋 Reply here and an agent will answer.",
        },
    ],
}


class HandoffIn(RequestModel):
    model_config = examples(_HANDOFF_IN)

    name: str = Field(min_length=1, max_length=255, description="1–255 characters.")
    skill: str | None = Field(default=None, min_length=1, max_length=255, description=_SKILL)
    lookback_period_day: int | None = Field(
        default=None, ge=0, le=30, description=_DAYS + " Neither given: 30 days."
    )
    lookback_period_hour: int | None = Field(default=None, ge=0, le=23, description=_HOURS)
    route_all_within_lookback: bool = Field(default=True, description=_ROUTE_ALL)
    push_when_logged_in: bool = Field(default=True, description=_LOGGED_IN)
    push_when_logged_out: bool = Field(default=False, description=_LOGGED_OUT)
    channels: list[ChannelIn] = Field(min_length=1, max_length=3, description=_CHANNELS)


class HandoffCreateIn(HandoffIn):
    model_config = examples(_HANDOFF_IN)

    id: str | None = Field(
        default=None,
        pattern=r"^H[0-9]{1,15}$",
        max_length=16,
        description="Admins only: keep the ID a handoff had elsewhere ('H' + digits). "
        "Parlay makes one when absent.",
    )


class ChannelOut(ResponseModel):
    type: ChannelType = Field(description=_TYPE)
    outbound_number: str | None = omitted_when_none(_NUMBER)
    app_ids: list[str] | None = omitted_when_none(_APP_IDS)
    message_text: str | None = omitted_when_none(_TEXT)
    notification_title: str | None = omitted_when_none(_TITLE)
    template_name: str | None = omitted_when_none(_TEMPLATE)
    template_language: str | None = omitted_when_none(_LANGUAGE)
    template_variables: int | None = omitted_when_none(_VARIABLES)


_HANDOFF = {
    "id": "H482019375561204",
    **_HANDOFF_IN,
    "routeAllWithinLookback": True,
    "pushWhenLoggedIn": True,
    "pushWhenLoggedOut": False,
    "createdAt": "2026-01-01T09:00:00Z",
    "updatedAt": "2026-01-01T09:00:00Z",
}


class HandoffOut(ResponseModel):
    model_config = examples(_HANDOFF)

    id: str = Field(description="'H' and digits; campaigns and calls name it as templateId.")
    name: str = Field(description="Its name.")
    skill: str | None = Field(description=_SKILL)
    lookback_period_day: int = Field(description=_DAYS)
    lookback_period_hour: int = Field(description=_HOURS)
    route_all_within_lookback: bool = Field(description=_ROUTE_ALL)
    push_when_logged_in: bool = Field(description=_LOGGED_IN)
    push_when_logged_out: bool = Field(description=_LOGGED_OUT)
    channels: list[ChannelOut] = Field(description=_CHANNELS)
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it last changed (UTC).")


class HandoffList(ResponseModel):
    model_config = examples({"handoffs": [_HANDOFF]})

    handoffs: list[HandoffOut] = Field(description="Every handoff of the account.")
