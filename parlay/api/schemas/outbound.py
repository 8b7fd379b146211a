"""API shapes of the Proactive (campaign) and C2M (eligibility, invite) APIs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, StrictBool, field_validator, with_config
from typing_extensions import TypedDict

from parlay.api.schemas.base import RequestModel, ResponseModel
from parlay.lib.text import MAX_MESSAGE_LENGTH

MAX_CONSUMERS = 100_000
# Kept with the call for the agent's context: bounded so one call cannot grow the database much.
MAX_SDES_BYTES = 32 * 1024
# Template variables: names as a template has them, values as long as WhatsApp takes one.
TemplateVariables = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=64)],
        Annotated[str, Field(max_length=1550)],
    ],
    Field(max_length=100),
]


# Consumers are TypedDicts, not models: validating 100,000 of them must stay well under the
# 1.5 s accept target (docs/operations.md#targets): a model instance each costs four times as much.
@with_config(ConfigDict(extra="forbid"))
class ConsumerContent(TypedDict, total=False):
    inapp: Annotated[str, Field(min_length=1, max_length=255)]
    sms: Annotated[str, Field(min_length=1, max_length=32)]
    wa: Annotated[str, Field(min_length=1, max_length=32)]


@with_config(ConfigDict(extra="forbid"))
class ConsumerIn(TypedDict):
    consumerContent: ConsumerContent
    variables: NotRequired[TemplateVariables]


class CampaignMessage(RequestModel):
    text: str = Field(max_length=MAX_MESSAGE_LENGTH)


class CampaignIn(RequestModel):
    campaign_name: str = Field(min_length=1, max_length=255)
    skill: str = Field(min_length=1, max_length=255)
    template_id: str = Field(min_length=1, max_length=32, description="A handoff ID.")
    outbound_number: str | None = Field(default=None, max_length=16)
    # Strict: consent is the JSON literal ``true``, never a string or number that looks like it.
    consent: StrictBool
    message: CampaignMessage | None = None
    consumers: list[ConsumerIn] = Field(min_length=1, max_length=MAX_CONSUMERS)


class AppendConsumersIn(RequestModel):
    consumers: list[ConsumerIn] = Field(min_length=1, max_length=MAX_CONSUMERS)


class FailedConsumer(ResponseModel):
    consumer_content: dict[str, Any]
    variables: dict[str, str] | None = None
    error_message: str


class CampaignAccepted(ResponseModel):
    proactive_campaign_id: str
    accepted_consumers: int
    failed_consumers: list[FailedConsumer]
    request_trace_id: str


class CampaignOut(ResponseModel):
    proactive_campaign_id: str
    campaign_name: str
    campaign_status: str
    skill: str
    template_id: str
    counts: dict[str, int]
    accepted_consumers: int
    failed_consumers: int
    created_at: datetime
    finished_at: datetime | None


class RecipientOut(ResponseModel):
    id: str
    consumer_id: str | None
    phone_number: str | None
    channel: str
    status: str
    error_code: str | None
    error_message: str | None
    error_source: str | None
    conversation_id: str | None


class RecipientPage(ResponseModel):
    conversations: list[RecipientOut]
    next_cursor: str | None


class EligibilityIn(RequestModel):
    skill: str = Field(min_length=1, max_length=255)
    # No length bound here: whatever is not an E.164 number, however long, is refused by the
    # service with 1001 (invalid phone number), not by the schema with a generic 1000.
    consumer_phone_number: str
    handoff_id: str = Field(min_length=1, max_length=16)
    consumer_id: str | None = Field(default=None, min_length=1, max_length=255)
    ivr_number: str | None = Field(default=None, max_length=32)
    template_variables: TemplateVariables | None = None
    sdes: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=50,
        description=f"LivePerson engagement attributes, at most {MAX_SDES_BYTES} bytes as JSON.",
    )

    @field_validator("sdes")
    @classmethod
    def _sdes_size(cls, sdes: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if sdes is not None and len(json.dumps(sdes, ensure_ascii=False).encode()) > MAX_SDES_BYTES:
            raise ValueError(f"must be at most {MAX_SDES_BYTES} bytes as JSON")
        return sdes


class IneligibleChannel(ResponseModel):
    channel: str
    reason: str


class EligibilityOut(ResponseModel):
    call_id: str
    eligible: bool
    available_channels: list[str]
    recommended_channel_name: str
    ineligible_channels: list[IneligibleChannel]


class InviteIn(RequestModel):
    call_id: str = Field(min_length=1, max_length=36)
    override_channel: Literal["inapp", "sms", "wa", "twilio"] | None = None
    override_message: str | None = Field(default=None, max_length=MAX_MESSAGE_LENGTH)
    override_skill: str | None = Field(default=None, min_length=1, max_length=255)


class InviteOut(ResponseModel):
    call_id: str
    delivery_id: str | None
    channel: str | None
    status: str
    reason: str | None = None
