"""API shapes of the Proactive (campaign) and C2M (eligibility, invite) APIs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    with_config,
)
from typing_extensions import TypedDict

from parlay.api.schemas.base import RequestModel, ResponseModel
from parlay.lib.text import MAX_MESSAGE_LENGTH, MAX_SMS_LENGTH

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


# Structured data about a consumer (LivePerson's engagement attributes, "SDEs"), bounded as a
# whole: at most 50 objects, 32 KiB as JSON.
def _sdes_size(sdes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(json.dumps(sdes, ensure_ascii=False).encode()) > MAX_SDES_BYTES:
        raise ValueError(f"must be at most {MAX_SDES_BYTES} bytes as JSON")
    return sdes


Sdes = Annotated[
    list[dict[str, Any]],
    Field(
        max_length=50,
        description=f"LivePerson engagement attributes, at most {MAX_SDES_BYTES} bytes as JSON.",
    ),
    AfterValidator(_sdes_size),
]
# One engagement attribute given on its own (``ctmrinfo``, ``personal``), as the attribute's
# fields; kept with the others.
SdeFields = Annotated[dict[Annotated[str, Field(max_length=64)], Any], Field(max_length=50)]
# A campaign's variable: a string. Any other JSON scalar is taken in so that it fails only its
# consumer (``VARIABLE_NOT_STRING=<n>``), as LivePerson answers, not the whole request.
VariableValue = Annotated[str, Field(max_length=1550)] | StrictInt | StrictFloat | StrictBool | None
CampaignVariables = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=64)], VariableValue], Field(max_length=100)
]


# Consumers are TypedDicts, not models: validating 100,000 of them must stay well under the
# 1.5 s accept target (docs/operations.md#targets): a model instance each costs four times as much.
@with_config(ConfigDict(extra="forbid"))
class ConsumerIn(TypedDict):
    # channel -> address: ``inapp`` (consumer ID), ``sms``, ``wa`` (numbers, ``+`` optional).
    # Other channels' keys are taken in and fail the consumer (``CHANNEL_NOT_SUPPORTED=<key>``)
    # unless one of these reaches them.
    consumerContent: NotRequired[
        Annotated[
            dict[
                Annotated[str, Field(min_length=1, max_length=32)],
                Annotated[str, Field(min_length=1, max_length=255)],
            ],
            Field(max_length=10),
        ]
    ]
    # The legacy form: a number on the handoff's phone channels.
    consumerCountryCode: NotRequired[Annotated[str, Field(max_length=4)]]
    consumerPhoneNumber: NotRequired[Annotated[str, Field(max_length=32)]]
    variables: NotRequired[CampaignVariables]
    headerVariables: NotRequired[
        Annotated[
            dict[
                Annotated[str, Field(max_length=16)],
                Annotated[str, Field(max_length=2048)],
            ],
            Field(max_length=3),
        ]
    ]
    sdes: NotRequired[Sdes]
    ctmrinfo: NotRequired[SdeFields]
    personal: NotRequired[SdeFields]


class CampaignMessage(RequestModel):
    text: str = Field(max_length=MAX_MESSAGE_LENGTH)


class TimeOfDay(RequestModel):
    hour: int = Field(ge=0, le=24)
    minute: int = Field(default=0, ge=0, le=59)


class SendWindowIn(RequestModel):
    day: str = Field(
        max_length=9, description="MONDAY ... SUNDAY (any case), in the recipient's local time."
    )
    start_time: TimeOfDay
    end_time: TimeOfDay


class SchedulingMetrics(RequestModel):
    windows: list[SendWindowIn] = Field(default_factory=list, max_length=70)


class CampaignIn(RequestModel):
    campaign_name: str = Field(min_length=1, max_length=255)
    skill: str = Field(min_length=1, max_length=255)
    template_id: str = Field(min_length=1, max_length=32, description="A handoff ID.")
    outbound_number: str | None = Field(default=None, max_length=16)
    # Strict: consent is the JSON literal ``true``, never a string or number that looks like it.
    consent: StrictBool
    message: CampaignMessage | None = None
    scheduling_metrics: SchedulingMetrics | None = None
    consumers: list[ConsumerIn] = Field(min_length=1, max_length=MAX_CONSUMERS)


class AppendConsumersIn(RequestModel):
    consumers: list[ConsumerIn] = Field(min_length=1, max_length=MAX_CONSUMERS)


class FailedConsumer(ResponseModel):
    consumer_content: dict[str, Any]
    phone: str | None = None
    country_code: str | None = None
    variables: dict[str, Any] | None = None
    header_variables: dict[str, str] | None = None
    error_message: str


class AcceptedConsumer(ResponseModel):
    id: str
    phone_number: str | None
    consumer_content: dict[str, str]


class CampaignAccepted(ResponseModel):
    proactive_campaign_id: str
    le_campaign_id: str
    le_engagement_id: str
    accepted_consumers: list[AcceptedConsumer] | None = Field(
        description="Left out with ``Prefer: return=minimal``."
    )
    accepted_count: int
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
    status: str = Field(description="In LivePerson's words: NOT_SENT, SCHEDULED, DELIVERED, ...")
    delivery_status: str = Field(description="In Parlay's words (QUEUED, SENT, READ, ...).")
    error_code: str | None
    error_message: str | None
    error_source: str | None
    conversation_id: str | None


class RecipientPage(ResponseModel):
    campaign_status: str
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
    sdes: Sdes | None = None


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
    # Up to 1,600 characters on SMS; the service holds other channels to 1,000.
    override_message: str | None = Field(default=None, max_length=MAX_SMS_LENGTH)
    override_skill: str | None = Field(default=None, min_length=1, max_length=255)


class InviteOut(ResponseModel):
    call_id: str
    delivery_id: str | None
    channel: str | None
    status: str
    reason: str | None = None


class CampaignSummaryOut(ResponseModel):
    """A campaign as the listing shows it (its counts by status: ``GET .../campaign/{id}``)."""

    proactive_campaign_id: str = Field(description="The campaign's ID.")
    campaign_name: str = Field(description="The name it was created with.")
    campaign_status: str = Field(
        description="ACCEPTED, IN_PROGRESS, FINISHED, CANCELLED or FAILED."
    )
    skill: str = Field(description="The skill replies are routed to.")
    template_id: str = Field(description="The handoff it was sent with.")
    accepted_consumers: int = Field(description="Recipients queued.")
    failed_consumers: int = Field(description="Consumers refused at intake.")
    created_at: datetime = Field(description="When it was accepted (UTC).")
    finished_at: datetime | None = Field(description="When its last delivery became final.")


class CampaignListOut(ResponseModel):
    campaigns: list[CampaignSummaryOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` for the next page; null on the last page."
    )


class DeliveryOut(ResponseModel):
    """One delivery with every stage time (null: the stage was not reached)."""

    delivery_id: str = Field(description="The delivery's ID.")
    source: str = Field(description="PROACTIVE, IVR_DEFLECTION or CONVERSATION.")
    channel: str = Field(description="inapp, sms or wa.")
    status: str = Field(description="The delivery status in Parlay's words (QUEUED, SENT, ...).")
    proactive_campaign_id: str | None = Field(description="Its campaign, if any.")
    call_id: str | None = Field(description="Its C2M call, if any.")
    hand_off_id: str = Field(description="The handoff it was sent with.")
    skill: str = Field(description="The skill replies are routed to.")
    consumer_id: str | None = Field(description="The in-app consumer ID, if any.")
    consumer_phone_number: str | None = Field(description="The number (E.164), if any.")
    conversation_id: str | None = Field(description="The conversation its reply opened.")
    error_code: str | None = Field(description="Why it did not go out (a delivery error code).")
    error_message: str | None = Field(description="Details of the error.")
    error_source: str | None = Field(description="parlay, apns, fcm, proxy, sandbox, ...")
    provider_message_id: str | None = Field(description="The provider's ID of the message.")
    superseded_by: str | None = Field(
        description="The delivery that took its place (retry-failed, WhatsApp → SMS fallback)."
    )
    attempts: int = Field(description="Send attempts so far.")
    attempted_time: datetime = Field(description="Queued (accepted).")
    scheduled_time: datetime | None = Field(description="Held for quiet hours or a window.")
    sent_time: datetime | None = Field(description="A provider accepted it.")
    delivered_time: datetime | None = Field(description="The app reported the push received.")
    read_time: datetime | None = Field(description="The consumer opened it.")
    failed_time: datetime | None = Field(description="It failed.")
    skipped_time: datetime | None = Field(description="It was skipped (opted out, ...).")
    expired_time: datetime | None = Field(description="Its lookback ended before it was sent.")
    cancelled_time: datetime | None = Field(description="Its campaign was cancelled.")
    conversation_created_time: datetime | None = Field(
        description="The consumer's reply opened a conversation."
    )
    conversation_closed_time: datetime | None = Field(description="That conversation closed.")


class InviteStateOut(ResponseModel):
    """A C2M call: its eligibility, the invite's answer and the invite's delivery now."""

    call_id: str = Field(description="The call.")
    hand_off_id: str = Field(description="The handoff of the eligibility check.")
    skill: str = Field(description="The skill of the eligibility check.")
    created_at: datetime = Field(description="When eligibility was checked (UTC).")
    expires_at: datetime = Field(description="The end of the call's lookback.")
    invited: bool = Field(description="Whether an invite was sent on the call.")
    invite_status: str | None = Field(
        description="The invite's answer: QUEUED or NOT_SENT; null before an invite."
    )
    reason: str | None = Field(description="Why NOT_SENT (a delivery error code).")
    delivery: DeliveryOut | None = Field(description="The invite's delivery, as it is now.")
