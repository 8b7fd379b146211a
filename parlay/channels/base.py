"""The channel protocol: what the dispatcher hands a channel, and what a channel answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from parlay.delivery.origins import CampaignInfo, OutboundPayload
from parlay.delivery.status import ErrorCode, ErrorSource


@dataclass(frozen=True)
class PushTarget:
    """One device an in-app message may be pushed to."""

    device_id: str
    app_id: str
    platform: str
    push_service: str
    push_token: str


@dataclass(frozen=True)
class Template:
    """An approved WhatsApp template, for sends outside the 24-hour window."""

    name: str
    language: str | None
    variables: dict[str, str]
    # The template's media header, as the campaign gave it per consumer (LivePerson's
    # ``headerVariables``): ``{"image" | "video" | "document": https URL}``.
    header: dict[str, str] | None = None


class OutboundMessage(NamedTuple):
    """Everything a channel needs to send one delivery, resolved by the dispatcher."""

    delivery_id: int
    account_id: str
    channel: str  # inapp | sms | wa
    payload: OutboundPayload  # the message as the consumer's app receives it
    consumer_id: str | None
    phone: str | None
    expires_at: datetime
    attempt: int
    title: str | None = None
    from_number: str | None = None
    variables: dict[str, str] | None = None
    template: Template | None = None
    targets: tuple[PushTarget, ...] = ()
    # Pushes with the same key replace each other on the device (APNs apns-collapse-id, FCM
    # collapse_key): a conversation's push repeated by a retry or a crash shows once.
    collapse_id: str | None = None

    @property
    def text(self) -> str:
        return self.payload.message

    @property
    def backend_service(self) -> str:
        """``prmsg`` (proactive), ``c2m`` (IVR deflection) or ``ams`` (a conversation's)."""
        return self.payload.backend_service

    @property
    def lookback_seconds(self) -> int:
        return self.payload.lookback_seconds

    @property
    def campaign_info(self) -> CampaignInfo | None:
        return self.payload.campaign_info

    @property
    def address(self) -> str:
        """Who receives it: the consumer ID in-app, else the phone number."""
        return (self.consumer_id if self.channel == "inapp" else self.phone) or ""


@dataclass(frozen=True)
class Accepted:
    """The provider took the message (SENT). ``dead_tokens``: other devices of the consumer
    whose tokens the provider refused for good (to disable)."""

    source: ErrorSource
    provider_message_id: str | None = None
    dead_tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetryLater:
    """A transient failure (5xx, 429, timeout, connection loss): try again after a backoff."""

    source: ErrorSource
    reason: str
    retry_after: float | None = None
    dead_tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejected:
    """A permanent failure: never retried. ``dead_tokens`` are disabled for later sends."""

    source: ErrorSource
    code: ErrorCode
    message: str
    dead_tokens: tuple[str, ...] = ()


SendResult = Accepted | RetryLater | Rejected


class Channel(Protocol):
    """One way to reach a consumer. Implementations must be safe to call concurrently."""

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def close(self) -> None: ...
