"""Shapes of the Reporting API: LivePerson's Outbound Reporting field names (``transactionday``,
``conversationscreated``...), so a dashboard or ETL job written for it reads Parlay unchanged."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from parlay.api.schemas.base import RequestModel, ResponseModel, examples

FilterValue = Annotated[str, Field(min_length=1, max_length=255)]
_CHANNELS = "Only these channels (inapp, sms, wa); omitted: all."
_SKILLS = "Only these skills; omitted: all."


class FiltersIn(RequestModel):
    channels: list[FilterValue] | None = Field(default=None, max_length=20, description=_CHANNELS)
    skills: list[FilterValue] | None = Field(default=None, max_length=500, description=_SKILLS)


class ReportQueryIn(RequestModel):
    """``{"filters": {"channels": [...], "skills": [...]}}``; the transactions report also takes
    ``channels`` and ``skills`` at the top level, as LivePerson's does."""

    model_config = examples({"filters": {"channels": ["sms", "wa"], "skills": ["billing"]}})

    filters: FiltersIn | None = Field(default=None, description="Which rows to keep.")
    channels: list[FilterValue] | None = Field(
        default=None, max_length=20, description="Transactions only: " + _CHANNELS
    )
    skills: list[FilterValue] | None = Field(
        default=None, max_length=500, description="Transactions only: " + _SKILLS
    )


class _Lower(ResponseModel):
    """LivePerson's analytics fields are all lower case (``conversationscreated``)."""

    model_config = ConfigDict(alias_generator=None, serialize_by_alias=False)


class AnalyticsRowOut(_Lower):
    channel: str = Field(description="inapp, sms or wa.")
    skill: str = Field(description="The skill replies were routed to.")
    transactionday: str = Field(description='The day in the account\'s time zone, "MM-DD-YYYY".')
    attempted: int = Field(description="Deliveries asked for (accepted consumers, invites).")
    eligible: int = Field(description="Passed Parlay's checks and handed to a provider.")
    skipped: int = Field(description="Not sent: the number had opted out.")
    sent: int = Field(description="Accepted by the provider.")
    failed: int = Field(description="Failed or expired.")
    delivered: int = Field(description="Reached the device or phone (read ones included).")
    read: int = Field(description="Opened (in-app: tapped); answered ones included.")
    conversationscreated: int = Field(description="Answered: a conversation opened from it.")
    conversationsclosed: int = Field(description="...and that conversation is closed.")
    csat: float | None = Field(description="Average 1-5 rating; null when none.")
    failureReasons: dict[str, int] = Field(
        description="Failed, skipped, expired and cancelled deliveries by errorCode."
    )


class FiltersOut(ResponseModel):
    channels: list[str] | None = Field(description="The channels kept; null: all.")
    skills: list[str] | None = Field(description="The skills kept; null: all.")


class RequestMetadata(ResponseModel):
    account_id: str = Field(description="The account.")
    app: str = Field(description="prmsg (campaigns) or c2m (IVR invites).")
    attempted_start_time: int | None = Field(
        default=None, description="The window's start, epoch milliseconds (included)."
    )
    attempted_end_time: int | None = Field(
        default=None, description="The window's end, epoch milliseconds (excluded)."
    )
    proactive_campaign_id: str | None = Field(
        default=None, description="The campaign, for a campaign's report."
    )
    filters: FiltersOut | None = Field(default=None, description="The filters applied.")


_METADATA = {
    "accountId": "acme",
    "app": "prmsg",
    "attemptedStartTime": 1767225600000,
    "attemptedEndTime": 1767830400000,
    "filters": {"channels": None, "skills": None},
}


class AnalyticsOut(ResponseModel):
    model_config = examples(
        {
            "requestMetadata": _METADATA,
            "analytics": [
                {
                    "channel": "inapp",
                    "skill": "billing",
                    "transactionday": "01-05-2026",
                    "attempted": 5,
                    "eligible": 4,
                    "skipped": 0,
                    "sent": 3,
                    "failed": 2,
                    "delivered": 3,
                    "read": 2,
                    "conversationscreated": 1,
                    "conversationsclosed": 1,
                    "csat": 4.0,
                    "failureReasons": {"NEVER_LOGGED_IN": 1, "PROVIDER_REJECTED": 1},
                }
            ],
        }
    )

    request_metadata: RequestMetadata = Field(description="What was asked.")
    analytics: list[AnalyticsRowOut] = Field(
        description="One row per day × channel × skill with deliveries, by day, channel, skill."
    )


class PageOut(ResponseModel):
    count: int = Field(description="Rows in the whole report.")
    previous_offset: int = Field(description="-1 on the first page.")
    current_offset: int = Field(description="This page's offset.")
    next_offset: int = Field(description="-1 on the last page.")


_PAGE = {"count": 1, "previousOffset": -1, "currentOffset": 0, "nextOffset": -1}
_ERROR_CODE = "Why it failed or was skipped (a delivery error code)."
_ERROR_SOURCE = "Who said so: parlay, apns, fcm, proxy, twilio, whatsapp, ..."


class ConsumerReportOut(ResponseModel):
    id: str = Field(description="The recipient's delivery ID.")
    consumer_id: str | None = Field(description="The consumer ID, or the phone number.")
    status: str = Field(description="The delivery status (QUEUED, SENT, READ, FAILED, ...).")
    error_source: str | None = Field(description=_ERROR_SOURCE)
    error_code: str | None = Field(description=_ERROR_CODE)
    error_message: str | None = Field(description="Details of the error.")
    conversation_id: str | None = Field(description="The conversation its reply opened.")


class CampaignReportOut(ResponseModel):
    model_config = examples(
        {
            "requestMetadata": {
                "accountId": "acme",
                "app": "prmsg",
                "proactiveCampaignId": "7629a01a-2d96-4b40-8a1f-87328a4a7862",
            },
            "page": _PAGE,
            "consumersReport": [
                {
                    "id": "41",
                    "consumerId": "+14155552671",
                    "status": "FAILED",
                    "errorSource": "twilio",
                    "errorCode": "PROVIDER_REJECTED",
                    "errorMessage": "Twilio 21610: unsubscribed recipient",
                    "conversationId": None,
                }
            ],
        }
    )

    request_metadata: RequestMetadata = Field(description="What was asked.")
    page: PageOut = Field(description="Where this page is in the report.")
    consumers_report: list[ConsumerReportOut] = Field(description="The page's recipients.")


_TIME = "ISO 8601 UTC; null: not reached."


class TransactionOut(ResponseModel):
    """One delivery; times are ISO 8601 UTC, null for a stage not reached."""

    transaction_id: str = Field(description="The delivery's ID.")
    channel: str = Field(description="inapp, sms or wa.")
    skill: str = Field(description="The skill replies are routed to.")
    initial_channel: str = Field(description="The same as channel (LivePerson's field).")
    initial_skill: str = Field(description="The same as skill (LivePerson's field).")
    proactive_campaign_id: str | None = Field(description="Its campaign (prmsg).")
    hand_off_id: str | None = Field(description="The handoff it was sent with.")
    ivr_number: str | None = Field(description="The IVR number of its call (c2m).")
    consumer_id: str | None = Field(description="The consumer ID, or the phone number.")
    conversation_id: str | None = Field(description="The conversation its reply opened.")
    status: str = Field(description="The delivery status (QUEUED, SENT, READ, FAILED, ...).")
    attempted_time: str = Field(description="When it was asked for (ISO 8601 UTC).")
    eligible_time: str | None = Field(description="When it went to the provider. " + _TIME)
    invite_time: str | None = Field(description="When it went to the provider. " + _TIME)
    sent_time: str | None = Field(description="When the provider accepted it. " + _TIME)
    delivered_time: str | None = Field(description="When it reached the device. " + _TIME)
    read_time: str | None = Field(description="When it was opened. " + _TIME)
    failed_time: str | None = Field(description="When it failed or expired. " + _TIME)
    skipped_time: str | None = Field(description="When it was skipped. " + _TIME)
    cancelled_time: str | None = Field(description="When it was cancelled. " + _TIME)
    opt_ins_time: str | None = Field(description="Always null (an opt-in is not per delivery).")
    opt_outs_time: str | None = Field(description="Skipped as opted out: when. " + _TIME)
    conversations_created_time: str | None = Field(
        description="When its reply opened a conversation. " + _TIME
    )
    conversations_closed_time: str | None = Field(
        description="When that conversation closed. " + _TIME
    )
    error_code: str | None = Field(description=_ERROR_CODE)
    error_message: str | None = Field(description="Details of the error.")
    error_source: str | None = Field(description=_ERROR_SOURCE)


class TransactionsOut(ResponseModel):
    model_config = examples(
        {
            "requestMetadata": {**_METADATA, "app": "c2m"},
            "page": _PAGE,
            "transactions": [
                {
                    "transactionId": "2",
                    "channel": "wa",
                    "skill": "billing",
                    "initialChannel": "wa",
                    "initialSkill": "billing",
                    "proactiveCampaignId": None,
                    "handOffId": "H493127398494201",
                    "ivrNumber": "+18005550199",
                    "consumerId": "+442079460000",
                    "conversationId": "0f8c3b0e-6a53-4d0e-9a57-2f1c8f2b7d11",
                    "status": "REPLIED",
                    "attemptedTime": "2026-01-05T17:00:00Z",
                    "eligibleTime": "2026-01-05T17:00:01Z",
                    "inviteTime": "2026-01-05T17:00:01Z",
                    "sentTime": "2026-01-05T17:00:01Z",
                    "deliveredTime": "2026-01-05T17:00:03Z",
                    "readTime": "2026-01-05T17:02:40Z",
                    "failedTime": None,
                    "skippedTime": None,
                    "cancelledTime": None,
                    "optInsTime": None,
                    "optOutsTime": None,
                    "conversationsCreatedTime": "2026-01-05T17:03:10Z",
                    "conversationsClosedTime": None,
                    "errorCode": None,
                    "errorMessage": None,
                    "errorSource": None,
                }
            ],
        }
    )

    request_metadata: RequestMetadata = Field(description="What was asked.")
    page: PageOut = Field(description="Where this page is in the report.")
    transactions: list[TransactionOut] = Field(description="The page's deliveries.")
