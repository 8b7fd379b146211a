"""Report rows in their wire names, one definition for JSON and CSV alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from parlay.delivery.counts import PROVIDER_FAILURES
from parlay.delivery.models import Delivery
from parlay.delivery.status import DeliveryStatus, ErrorCode
from parlay.reporting.service import AnalyticsRow, Transaction

ANALYTICS_FIELDS = (
    "channel",
    "skill",
    "transactionday",
    "attempted",
    "eligible",
    "skipped",
    "sent",
    "failed",
    "delivered",
    "read",
    "conversationscreated",
    "conversationsclosed",
    "csat",
)


def analytics_row(r: AnalyticsRow) -> dict[str, Any]:
    return {
        "channel": r.channel,
        "skill": r.skill,
        "transactionday": r.day.strftime("%m-%d-%Y"),
        "attempted": r.count("attempted"),
        "eligible": r.count("eligible"),
        "skipped": r.count("skipped"),
        "sent": r.count("sent"),
        "failed": r.count("failed"),
        "delivered": r.count("delivered"),
        "read": r.count("read"),
        "conversationscreated": r.count("conversations_created"),
        "conversationsclosed": r.count("conversations_closed"),
        "csat": r.csat,
        "failureReasons": {code: n for code, n in sorted(r.reasons.items()) if n},
    }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def consumer_row(d: Delivery) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "consumerId": d.consumer_id or d.phone,
        "status": d.status,
        "errorSource": d.error_source,
        "errorCode": d.error_code,
        "errorMessage": d.error_message,
        "conversationId": d.conversation_id,
    }


CONSUMER_FIELDS = (
    "id",
    "consumerId",
    "status",
    "errorSource",
    "errorCode",
    "errorMessage",
    "conversationId",
)
TRANSACTION_FIELDS = (
    "transactionId",
    "channel",
    "skill",
    "initialChannel",
    "initialSkill",
    "proactiveCampaignId",
    "handOffId",
    "ivrNumber",
    "consumerId",
    "conversationId",
    "status",
    "attemptedTime",
    "eligibleTime",
    "inviteTime",
    "sentTime",
    "deliveredTime",
    "readTime",
    "failedTime",
    "skippedTime",
    "cancelledTime",
    "optInsTime",
    "optOutsTime",
    "conversationsCreatedTime",
    "conversationsClosedTime",
    "errorCode",
    "errorMessage",
    "errorSource",
)


def transaction_row(t: Transaction) -> dict[str, Any]:
    d = t.delivery
    provider_failure = d.status == DeliveryStatus.FAILED and d.error_code in PROVIDER_FAILURES
    opted_out = d.status == DeliveryStatus.SKIPPED and d.error_code == ErrorCode.OPTED_OUT
    return {
        "transactionId": str(d.id),
        "channel": d.channel,
        "skill": d.skill,
        "initialChannel": d.channel,
        "initialSkill": d.skill,
        "proactiveCampaignId": d.campaign_id,
        "handOffId": d.handoff_id or None,
        "ivrNumber": t.ivr_number,
        "consumerId": d.consumer_id or d.phone,
        "conversationId": d.conversation_id,
        "status": d.status,
        "attemptedTime": _iso(d.attempted_time),
        "eligibleTime": _iso(d.sent_time or (d.failed_time if provider_failure else None)),
        "inviteTime": _iso(d.sent_time),
        "sentTime": _iso(d.sent_time),
        "deliveredTime": _iso(d.delivered_time),
        "readTime": _iso(d.read_time),
        "failedTime": _iso(d.failed_time or d.expired_time),
        "skippedTime": _iso(d.skipped_time),
        "cancelledTime": _iso(d.cancelled_time),
        "optInsTime": None,
        "optOutsTime": _iso(d.skipped_time) if opted_out else None,
        "conversationsCreatedTime": _iso(d.conversation_created_time),
        "conversationsClosedTime": _iso(d.conversation_closed_time),
        "errorCode": d.error_code,
        "errorMessage": d.error_message,
        "errorSource": d.error_source,
    }
