"""The delivery state machine (SPEC §8): status only moves forward; each stage keeps its time."""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    QUEUED = "QUEUED"
    SCHEDULED = "SCHEDULED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"
    REPLIED = "REPLIED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


S = DeliveryStatus
PENDING = frozenset({S.QUEUED, S.SCHEDULED})
# The progress chain; a status may only be replaced by one further along it.
PROGRESS = (S.QUEUED, S.SCHEDULED, S.SENT, S.DELIVERED, S.READ, S.REPLIED)
# Terminal without progress: nothing may follow them.
TERMINAL_FAILURES = frozenset({S.FAILED, S.SKIPPED, S.EXPIRED, S.CANCELLED})
# The time column each status stamps when reached.
STAGE_TIME = {
    S.SCHEDULED: "scheduled_time",
    S.SENT: "sent_time",
    S.DELIVERED: "delivered_time",
    S.READ: "read_time",
    S.REPLIED: "conversation_created_time",
    S.FAILED: "failed_time",
    S.SKIPPED: "skipped_time",
    S.EXPIRED: "expired_time",
    S.CANCELLED: "cancelled_time",
}


def can_move(current: DeliveryStatus, new: DeliveryStatus) -> bool:
    """Whether ``current`` may become ``new`` (forward only; failures only from pending)."""
    if current in TERMINAL_FAILURES or current == new:
        return False
    if new in TERMINAL_FAILURES:
        return current in PENDING
    return PROGRESS.index(new) > PROGRESS.index(current)


def statuses_before(new: DeliveryStatus) -> list[str]:
    """The statuses from which ``new`` may be reached (for guarded SQL updates)."""
    return [s.value for s in DeliveryStatus if can_move(s, new)]


class ErrorCode(StrEnum):
    """Stable per-delivery failure codes (SPEC §8)."""

    NEVER_LOGGED_IN = "NEVER_LOGGED_IN"
    NO_PUSH_TOKEN = "NO_PUSH_TOKEN"
    LOGGED_OUT_PUSH_DISABLED = "LOGGED_OUT_PUSH_DISABLED"
    LOGGED_IN_PUSH_DISABLED = "LOGGED_IN_PUSH_DISABLED"
    OPEN_CONVERSATION = "OPEN_CONVERSATION"
    EXPIRED = "EXPIRED"
    OPTED_OUT = "OPTED_OUT"
    INVALID_NUMBER = "INVALID_NUMBER"
    TOKEN_UNREGISTERED = "TOKEN_UNREGISTERED"
    PROVIDER_REJECTED = "PROVIDER_REJECTED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    CANCELLED = "CANCELLED"


# Failures that may succeed if tried again later (``retry-failed`` re-queues only these).
RETRYABLE = frozenset(
    {
        ErrorCode.PROVIDER_UNAVAILABLE,
        ErrorCode.OPEN_CONVERSATION,
        ErrorCode.NEVER_LOGGED_IN,
        ErrorCode.NO_PUSH_TOKEN,
        ErrorCode.LOGGED_OUT_PUSH_DISABLED,
        ErrorCode.LOGGED_IN_PUSH_DISABLED,
        ErrorCode.TOKEN_UNREGISTERED,
    }
)


class ErrorSource(StrEnum):
    PARLAY = "parlay"
    APNS = "apns"
    FCM = "fcm"
    PROXY = "proxy"
    TWILIO = "twilio"
    WHATSAPP = "whatsapp"
    SANDBOX = "sandbox"


class CampaignStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    IN_PROGRESS = "IN_PROGRESS"
    FINISHED = "FINISHED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


class Source(StrEnum):
    PROACTIVE = "PROACTIVE"
    IVR_DEFLECTION = "IVR_DEFLECTION"


INVITE_PRIORITY = 0
CAMPAIGN_PRIORITY = 10
