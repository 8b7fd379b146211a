"""The push side of App Messaging: one client per push service behind one small protocol.

The in-app channel resolves each target device to its app's credentials (``PushApp``) and hands
one ``PushNotification`` per device to the client of the app's push service (APNs, FCM or the
brand's push proxy). Clients answer with the channel results of ``parlay.channels.base``:
``Accepted``, ``RetryLater`` (429, 5xx, timeouts, connection loss; with ``retry_after`` when the
provider sent ``Retry-After``) or ``Rejected`` (permanent; ``dead_tokens`` when the provider said
the token is gone: APNs 410 / FCM UNREGISTERED → ``TOKEN_UNREGISTERED``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from parlay.channels.base import SendResult
from parlay.delivery.origins import sdk_fields


@dataclass(frozen=True)
class ApnsCredentials:
    """Token-based (.p8) authentication of one app with APNs."""

    team_id: str
    key_id: str
    private_key_pem: str  # the ES256 signing key
    environment: Literal["production", "sandbox"] = "production"
    endpoint: str | None = None  # overrides the APNs host (tests, sandbox, egress proxy)

    @property
    def base_url(self) -> str:
        if self.endpoint:
            return self.endpoint.rstrip("/")
        if self.environment == "sandbox":
            return "https://api.sandbox.push.apple.com"
        return "https://api.push.apple.com"


@dataclass(frozen=True)
class FcmCredentials:
    """A Firebase service account (the JSON file Google issues) for FCM HTTP v1."""

    service_account: dict[str, Any]  # project_id, client_email, private_key, token_uri, ...
    endpoint: str | None = None  # overrides https://fcm.googleapis.com

    @property
    def base_url(self) -> str:
        return (self.endpoint or "https://fcm.googleapis.com").rstrip("/")

    @property
    def project_id(self) -> str:
        return str(self.service_account["project_id"])


@dataclass(frozen=True)
class ProxyConfig:
    """The brand's own push sender: Parlay POSTs signed JSON to it."""

    url: str
    secret: str  # HMAC-SHA256 key of the signature header
    basic_auth: tuple[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PushApp:
    """One app of an account (bundle or package ID) and how to push to it."""

    account_id: str
    app_id: str
    platform: Literal["ios", "android"]
    push_service: Literal["apns", "fcm", "proxy"]
    apns: ApnsCredentials | None = None
    fcm: FcmCredentials | None = None
    proxy: ProxyConfig | None = None


@dataclass(frozen=True)
class PushNotification:
    """One outbound message to one device. ``push_message_id`` is the delivery ID: the SDK
    reports ``received``/``tapped`` with it, and it makes a retried push recognisable."""

    push_message_id: str
    token: str
    platform: Literal["ios", "android"]
    message: str
    title: str | None
    backend_service: str  # prmsg | c2m | ams
    lookback_seconds: int
    expires_at: datetime  # end of the lookback period
    # An outbound message's campaignInfo; None for a conversation's message (ams).
    campaign_info: dict[str, Any] | None = field(default_factory=dict)
    collapse_id: str | None = None  # newer notices of the same key replace older ones
    conversation_id: str | None = None  # a conversation's message (ams): its conversation

    def payload_fields(self) -> dict[str, Any]:
        """The fields every push carries to the SDK, whatever the service."""
        return sdk_fields(
            self.push_message_id,
            self.message,
            self.backend_service,
            self.lookback_seconds,
            self.campaign_info,
            self.conversation_id,
        )


class PushClient(Protocol):
    """A thin async client of one push service. Safe to call concurrently; keeps its
    connections (and, for APNs, one long-lived HTTP/2 connection per app) between sends."""

    async def push(self, app: PushApp, note: PushNotification) -> SendResult: ...

    async def close(self) -> None: ...
