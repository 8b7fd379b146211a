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

from parlay.api.schemas.base import RequestModel, ResponseModel, examples
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
    Field(
        max_length=100,
        description='Values of the template\'s {{n}} placeholders by number: {"1": "Ann"}.',
    ),
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
_SDE_ALONE = "Its fields as one object (at most 50), kept with the consumer's sdes for the agent."
# A campaign's variable: a string. Any other JSON scalar is taken in so that it fails only its
# consumer (``VARIABLE_NOT_STRING=<n>``), as LivePerson answers, not the whole request.
VariableValue = Annotated[str, Field(max_length=1550)] | StrictInt | StrictFloat | StrictBool | None
CampaignVariables = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=64)], VariableValue],
    Field(
        max_length=100,
        description='The text\'s {{n}} values by number ({"1": "Ann"}), strings of at most '
        "1,550 characters; another JSON type fails only this consumer (VARIABLE_NOT_STRING=<n>).",
    ),
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
            Field(
                max_length=10,
                description="Channel to address: inapp (the consumer ID), sms or wa (a number, "
                "+ optional). The first channel of the handoff with an address is used.",
            ),
        ]
    ]
    # The legacy form: a number on the handoff's phone channels.
    consumerCountryCode: NotRequired[
        Annotated[
            str,
            Field(max_length=4, description='Legacy form: the number\'s country code ("1").'),
        ]
    ]
    consumerPhoneNumber: NotRequired[
        Annotated[
            str,
            Field(
                max_length=32,
                description="Legacy form: the national number, used on the handoff's phone "
                "channels that consumerContent does not name.",
            ),
        ]
    ]
    variables: NotRequired[CampaignVariables]
    headerVariables: NotRequired[
        Annotated[
            dict[
                Annotated[str, Field(max_length=16)],
                Annotated[str, Field(max_length=2048)],
            ],
            Field(
                max_length=3,
                description="A WhatsApp template's media header: {image | video | document: "
                "an https URL}; ignored by other channels.",
            ),
        ]
    ]
    sdes: NotRequired[Sdes]
    ctmrinfo: NotRequired[Annotated[SdeFields, Field(description="ctmrinfo: " + _SDE_ALONE)]]
    personal: NotRequired[Annotated[SdeFields, Field(description="personal: " + _SDE_ALONE)]]


class CampaignMessage(RequestModel):
    text: str = Field(
        max_length=MAX_MESSAGE_LENGTH,
        description="1–1,000 characters of text and emoji (NFC); {{n}} takes variable n.",
    )


class TimeOfDay(RequestModel):
    hour: int = Field(ge=0, le=24, description="0–24 (24:00 is the end of the day).")
    minute: int = Field(default=0, ge=0, le=59, description="0–59; default 0.")


class SendWindowIn(RequestModel):
    day: str = Field(
        max_length=9, description="MONDAY ... SUNDAY (any case), in the recipient's local time."
    )
    start_time: TimeOfDay = Field(description="When the window opens.")
    end_time: TimeOfDay = Field(description="When it closes (not included); after startTime.")


class SchedulingMetrics(RequestModel):
    windows: list[SendWindowIn] = Field(
        default_factory=list,
        max_length=70,
        description="When deliveries may go; outside every window they wait (SCHEDULED). "
        "None: any time.",
    )


_CONSUMERS = "1–100,000 consumers; a consumer's problem refuses only that consumer."
_CAMPAIGN_ID = "7629a01a-2d96-4b40-8a1f-87328a4a7862"
_CALL_ID = "6ff51677-7154-465c-9b70-4e9d20646388"
_CONSUMERS_IN = [
    {"consumerContent": {"sms": "+14155552671"}, "variables": {"1": "Ann"}},
    {"consumerContent": {"inapp": "bob-17"}, "variables": {"1": "Bob"}},
]


class CampaignIn(RequestModel):
    model_config = examples(
        {
            "campaignName": "January renewals",
            "skill": "billing",
            "templateId": "H493127398494201",
            "consent": True,
            "message": {"text": "Hi {{1}}, your renewal is ready. Reply to talk to us."},
            "schedulingMetrics": {
                "windows": [
                    {
                        "day": "MONDAY",
                        "startTime": {"hour": 9},
                        "endTime": {"hour": 17, "minute": 30},
                    }
                ]
            },
            "consumers": _CONSUMERS_IN,
        }
    )

    campaign_name: str = Field(min_length=1, max_length=255, description="1–255 characters.")
    skill: str = Field(
        min_length=1, max_length=255, description="An existing skill; replies are routed there."
    )
    template_id: str = Field(
        min_length=1, max_length=32, description="The handoff (its channels, texts, lookback)."
    )
    outbound_number: str | None = Field(
        default=None,
        max_length=16,
        description="A sender number instead of the handoff channel's; omitted: the channel's.",
    )
    # Strict: consent is the JSON literal ``true``, never a string or number that looks like it.
    consent: StrictBool = Field(
        description="The literal true: the brand has the recipients' consent."
    )
    message: CampaignMessage | None = Field(
        default=None, description="The text; omitted: each handoff channel's messageText."
    )
    scheduling_metrics: SchedulingMetrics | None = Field(
        default=None, description="Send windows; omitted: any time (SMS quiet hours still apply)."
    )
    consumers: list[ConsumerIn] = Field(
        min_length=1, max_length=MAX_CONSUMERS, description=_CONSUMERS
    )


class AppendConsumersIn(RequestModel):
    model_config = examples({"consumers": _CONSUMERS_IN})

    consumers: list[ConsumerIn] = Field(
        min_length=1, max_length=MAX_CONSUMERS, description=_CONSUMERS
    )


class FailedConsumer(ResponseModel):
    consumer_content: dict[str, Any] = Field(description="As sent.")
    phone: str | None = Field(default=None, description="The legacy number, when sent.")
    country_code: str | None = Field(default=None, description="The legacy code, when sent.")
    variables: dict[str, Any] | None = Field(default=None, description="As sent.")
    header_variables: dict[str, str] | None = Field(default=None, description="As sent.")
    error_message: str = Field(
        description="Why it was refused: INVALID_NUMBER, DUPLICATE_NUMBER, MISSING_VARIABLE=1, ..."
    )


class AcceptedConsumer(ResponseModel):
    id: str = Field(description="The recipient's delivery ID.")
    phone_number: str | None = Field(description="Its number in E.164; null in-app.")
    consumer_content: dict[str, str] = Field(description="As sent.")


_ACCEPTED = {
    "proactiveCampaignId": _CAMPAIGN_ID,
    "leCampaignId": _CAMPAIGN_ID,
    "leEngagementId": "2",
    "acceptedConsumers": [
        {"id": "41", "phoneNumber": "+14155552671", "consumerContent": {"sms": "+14155552671"}}
    ],
    "acceptedCount": 1,
    "failedConsumers": [
        {
            "consumerContent": {"inapp": "bob-17"},
            "variables": {"1": "Bob"},
            "errorMessage": "MISSING_CONSUMER_INFORMATION=sms",
        }
    ],
    "requestTraceId": "2b95a992cddc4369864404ffe339a64b",
}


class CampaignAccepted(ResponseModel):
    model_config = examples(_ACCEPTED)

    proactive_campaign_id: str = Field(description="The campaign's ID.")
    le_campaign_id: str = Field(description="The campaign's ID again (LivePerson's field).")
    le_engagement_id: str = Field(description="The ID of the skill replies are routed to.")
    accepted_consumers: list[AcceptedConsumer] | None = Field(
        description="Who was queued, in request order. Left out with ``Prefer: return=minimal``."
    )
    accepted_count: int = Field(description="How many were queued.")
    failed_consumers: list[FailedConsumer] = Field(description="Who was refused, and why.")
    request_trace_id: str = Field(description="An ID of this request, for support.")


_CAMPAIGN_STATUS = "ACCEPTED, IN_PROGRESS, FINISHED, CANCELLED or FAILED."


class CampaignOut(ResponseModel):
    model_config = examples(
        {
            "proactiveCampaignId": _CAMPAIGN_ID,
            "campaignName": "January renewals",
            "campaignStatus": "FINISHED",
            "skill": "billing",
            "templateId": "H493127398494201",
            "counts": {"SENT": 1},
            "acceptedConsumers": 1,
            "failedConsumers": 1,
            "createdAt": "2026-01-05T17:00:00Z",
            "finishedAt": "2026-01-05T17:00:02Z",
        }
    )

    proactive_campaign_id: str = Field(description="The campaign's ID.")
    campaign_name: str = Field(description="The name it was created with.")
    campaign_status: str = Field(description=_CAMPAIGN_STATUS)
    skill: str = Field(description="The skill replies are routed to.")
    template_id: str = Field(description="The handoff it was sent with.")
    counts: dict[str, int] = Field(
        description="Recipients by delivery status (only statuses present)."
    )
    accepted_consumers: int = Field(description="Recipients queued.")
    failed_consumers: int = Field(description="Consumers refused at intake.")
    created_at: datetime = Field(description="When it was accepted (UTC).")
    finished_at: datetime | None = Field(description="When it finished or was cancelled.")


class RecipientOut(ResponseModel):
    id: str = Field(description="The recipient's current delivery ID.")
    consumer_id: str | None = Field(description="The in-app consumer ID, if any.")
    phone_number: str | None = Field(description="The number (E.164), if any.")
    channel: str = Field(description="inapp, sms or wa.")
    status: str = Field(description="In LivePerson's words: NOT_SENT, SCHEDULED, DELIVERED, ...")
    delivery_status: str = Field(description="In Parlay's words (QUEUED, SENT, READ, ...).")
    error_code: str | None = Field(description="Why it did not go out (a delivery error code).")
    error_message: str | None = Field(description="Details of the error.")
    error_source: str | None = Field(description="parlay, apns, fcm, proxy, twilio, ...")
    conversation_id: str | None = Field(description="The conversation its reply opened.")


class RecipientPage(ResponseModel):
    model_config = examples(
        {
            "campaignStatus": "FINISHED",
            "conversations": [
                {
                    "id": "41",
                    "consumerId": None,
                    "phoneNumber": "+14155552671",
                    "channel": "sms",
                    "status": "DELIVERED",
                    "deliveryStatus": "SENT",
                    "errorCode": None,
                    "errorMessage": None,
                    "errorSource": None,
                    "conversationId": None,
                }
            ],
            "nextCursor": None,
        }
    )

    campaign_status: str = Field(description=_CAMPAIGN_STATUS)
    conversations: list[RecipientOut] = Field(description="Recipients in delivery order.")
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` for the next page; null on the last page."
    )


class EligibilityIn(RequestModel):
    model_config = examples(
        {
            "skill": "billing",
            "consumerPhoneNumber": "+442079460000",
            "handoffId": "H493127398494201",
            "ivrNumber": "+18005550199",
            "templateVariables": {"1": "Ann"},
        }
    )

    skill: str = Field(
        min_length=1, max_length=255, description="An existing skill; replies are routed there."
    )
    # No length bound here: whatever is not an E.164 number, however long, is refused by the
    # service with 1001 (invalid phone number), not by the schema with a generic 1000.
    consumer_phone_number: str = Field(
        description="The caller's number: country code and 7–15 digits, + optional."
    )
    handoff_id: str = Field(min_length=1, max_length=16, description="The handoff to send with.")
    consumer_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The caller's in-app consumer ID; required when the handoff has inapp.",
    )
    ivr_number: str | None = Field(
        default=None, max_length=32, description="The number called, shown to the agent."
    )
    template_variables: TemplateVariables | None = Field(
        default=None,
        description='Values of the template\'s {{n}} placeholders by number: {"1": "Ann"}.',
    )
    sdes: Sdes | None = Field(
        default=None,
        description="LivePerson engagement attributes shown to the agent, at most 50 objects "
        f"and {MAX_SDES_BYTES} bytes as JSON.",
    )


class IneligibleChannel(ResponseModel):
    channel: str = Field(description="inapp, sms or wa.")
    reason: str = Field(description="OPEN_CONVERSATION, INVALID_NUMBER, NO_PUSH_TOKEN, ...")


class EligibilityOut(ResponseModel):
    model_config = examples(
        {
            "callId": _CALL_ID,
            "eligible": True,
            "availableChannels": ["wa"],
            "recommendedChannelName": "wa",
            "ineligibleChannels": [{"channel": "sms", "reason": "INVALID_NUMBER"}],
        }
    )

    call_id: str = Field(description="Pass to the invite, within the handoff's lookback.")
    eligible: bool = Field(description="Whether any channel is available now.")
    available_channels: list[str] = Field(description="In the handoff's priority order.")
    recommended_channel_name: str = Field(
        description="The first available channel; empty when none."
    )
    ineligible_channels: list[IneligibleChannel] = Field(
        description="The handoff's other channels, with why."
    )


class InviteIn(RequestModel):
    model_config = examples({"callId": _CALL_ID}, {"callId": _CALL_ID, "overrideChannel": "sms"})

    call_id: str = Field(min_length=1, max_length=36, description="From the eligibility answer.")
    override_channel: Literal["inapp", "sms", "wa", "twilio"] | None = Field(
        default=None,
        description="An available channel instead of the recommended one (twilio = sms).",
    )
    # Up to 1,600 characters on SMS; the service holds other channels to 1,000.
    override_message: str | None = Field(
        default=None,
        max_length=MAX_SMS_LENGTH,
        description="A text instead of the handoff's: up to 1,000 characters, 1,600 by SMS.",
    )
    override_skill: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="An existing skill for replies instead of the call's.",
    )


class InviteOut(ResponseModel):
    model_config = examples(
        {
            "callId": _CALL_ID,
            "deliveryId": "2",
            "channel": "wa",
            "status": "QUEUED",
            "reason": None,
        }
    )

    call_id: str = Field(description="The call.")
    delivery_id: str | None = Field(description="The invite's delivery, recorded either way.")
    channel: str | None = Field(description="The channel used.")
    status: str = Field(description="QUEUED, or NOT_SENT when the consumer cannot be reached.")
    reason: str | None = Field(default=None, description="Why NOT_SENT (OPEN_CONVERSATION, ...).")


class RetryFailedOut(ResponseModel):
    model_config = examples({"requeued": 3})

    requeued: int = Field(
        description="Failed deliveries queued again as new deliveries (0 when none could be)."
    )


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
    model_config = examples(
        {
            "campaigns": [
                {
                    "proactiveCampaignId": _CAMPAIGN_ID,
                    "campaignName": "January renewals",
                    "campaignStatus": "FINISHED",
                    "skill": "billing",
                    "templateId": "H493127398494201",
                    "acceptedConsumers": 1,
                    "failedConsumers": 1,
                    "createdAt": "2026-01-05T17:00:00Z",
                    "finishedAt": "2026-01-05T17:00:02Z",
                }
            ],
            "nextCursor": None,
        }
    )

    campaigns: list[CampaignSummaryOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` for the next page; null on the last page."
    )


_DELIVERY = {
    "deliveryId": "2",
    "source": "IVR_DEFLECTION",
    "channel": "wa",
    "status": "READ",
    "proactiveCampaignId": None,
    "callId": _CALL_ID,
    "handOffId": "H493127398494201",
    "skill": "billing",
    "consumerId": None,
    "consumerPhoneNumber": "+442079460000",
    "conversationId": None,
    "errorCode": None,
    "errorMessage": None,
    "errorSource": None,
    "providerMessageId": "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI",
    "supersededBy": None,
    "attempts": 1,
    "attemptedTime": "2026-01-05T17:00:00Z",
    "scheduledTime": None,
    "sentTime": "2026-01-05T17:00:01Z",
    "deliveredTime": "2026-01-05T17:00:03Z",
    "readTime": "2026-01-05T17:02:40Z",
    "failedTime": None,
    "skippedTime": None,
    "expiredTime": None,
    "cancelledTime": None,
    "conversationCreatedTime": None,
    "conversationClosedTime": None,
}


class DeliveryOut(ResponseModel):
    """One delivery with every stage time (null: the stage was not reached)."""

    model_config = examples(_DELIVERY)

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

    model_config = examples(
        {
            "callId": _CALL_ID,
            "handOffId": "H493127398494201",
            "skill": "billing",
            "createdAt": "2026-01-05T16:59:58Z",
            "expiresAt": "2026-01-07T04:59:58Z",
            "invited": True,
            "inviteStatus": "QUEUED",
            "reason": None,
            "delivery": _DELIVERY,
        }
    )

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
