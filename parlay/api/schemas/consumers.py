"""API shapes of the consumer API, used by the brand's app through the mobile SDK."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel, examples


class DeviceIn(RequestModel):
    model_config = examples(
        {
            "appId": "com.acme.app",
            "platform": "ios",
            "pushService": "apns",
            "pushToken": "a1a1c0ffee5eed",
            "osVersion": "18.2",
            "deviceModel": "iPhone16,2",
            "sdkVersion": "1.4.0",
            "country": "US",
            "city": "San Francisco",
        }
    )

    app_id: str = Field(
        min_length=1, max_length=255, description="An app of this account (its bundle ID)."
    )
    platform: Literal["ios", "android"] = Field(description="Must be the app's platform.")
    push_service: Literal["apns", "fcm", "proxy"] = Field(
        description="Must be the app's push service."
    )
    push_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="The APNs or FCM token; omitted: the device gets no pushes.",
    )
    os_version: str = Field(min_length=1, max_length=64, description="Shown to agents.")
    device_model: str = Field(min_length=1, max_length=128, description="Shown to agents.")
    sdk_version: str = Field(min_length=1, max_length=64, description="The SDK's version.")
    country: str | None = Field(default=None, max_length=64, description="Shown to agents.")
    city: str | None = Field(default=None, max_length=128, description="Shown to agents.")


_DEVICE = {
    "deviceId": "8c1f0e2a-install",
    "appId": "com.acme.app",
    "platform": "ios",
    "pushService": "apns",
    "hasPushToken": True,
    "pushTokenDisabled": False,
    "loggedIn": True,
    "logoutMode": None,
    "registeredAt": "2026-01-05T17:00:00Z",
    "updatedAt": "2026-01-05T17:00:00Z",
}


class DeviceOut(ResponseModel):
    model_config = examples(_DEVICE)

    device_id: str = Field(description="The SDK's ID of this install.")
    app_id: str = Field(description="The app it runs.")
    platform: str = Field(description="ios or android.")
    push_service: str = Field(description="apns, fcm or proxy.")
    has_push_token: bool = Field(description="Whether a push token is registered.")
    push_token_disabled: bool = Field(
        description="The provider declared the token dead; registering again clears it."
    )
    logged_in: bool = Field(description="false after a logout.")
    logout_mode: str | None = Field(
        description="ALL, NONE or AGENT: which pushes still reach a logged-out device."
    )
    registered_at: datetime = Field(description="The first registration (UTC).")
    updated_at: datetime = Field(description="The last registration or logout (UTC).")


class LogoutIn(RequestModel):
    model_config = examples({"unregisterType": "AGENT"})

    unregister_type: Literal["ALL", "NONE", "AGENT"] = Field(
        default="ALL",
        description="ALL (default): no more pushes; NONE: agents' messages and, as the "
        "handoff's pushWhenLoggedOut allows, outbound ones; AGENT: outbound ones only.",
    )


class ReceiptOut(ResponseModel):
    model_config = examples({"pushMessageId": "48213", "status": "READ"})

    push_message_id: str = Field(description="The delivery the push carried.")
    status: str = Field(description="The delivery's status after the receipt.")


class PendingOutbound(ResponseModel):
    push_message_id: str = Field(description="Report it with the receipts routes.")
    message: str = Field(description="The text as it was pushed.")
    backend_service: str = Field(description="prmsg (campaign) or c2m (IVR invite).")
    look_back_period: int = Field(description="Seconds from sentTime that replies route back.")
    campaign_info: dict[str, Any] = Field(
        description="{campaignId, campaignName, callId, skill}: campaign fields null for c2m."
    )
    sent_time: datetime | None = Field(description="When it was pushed (UTC).")
    expires_at: datetime = Field(description="When it leaves the list (UTC).")


class PendingOutboundList(ResponseModel):
    model_config = examples(
        {
            "messages": [
                {
                    "pushMessageId": "48213",
                    "message": "Hi Ann, your renewal is ready",
                    "backendService": "prmsg",
                    "lookBackPeriod": 3600,
                    "campaignInfo": {
                        "campaignId": "3f0c9a7e-5b2d-4c18-a6e0-f1b2c3d4e5f6",
                        "campaignName": "January renewals",
                        "callId": None,
                        "skill": "billing",
                    },
                    "sentTime": "2026-01-05T16:10:00Z",
                    "expiresAt": "2026-01-05T17:10:00Z",
                }
            ]
        }
    )

    messages: list[PendingOutbound] = Field(
        description="Unopened outbound pushes within their lookback, newest first, at most 50."
    )
