"""Request bodies of valid handoffs, to be varied one field at a time by the tests."""

from __future__ import annotations

from typing import Any

APP_ID = "com.acme.app"
OUTBOUND_NUMBER = "+14155552671"


def inapp_channel(**overrides: Any) -> dict[str, Any]:
    return {"type": "inapp", "appIds": [APP_ID], "messageText": "Hi 👋", **overrides}


def sms_channel(**overrides: Any) -> dict[str, Any]:
    return {"type": "sms", "outboundNumber": OUTBOUND_NUMBER, "messageText": "Hi", **overrides}


def wa_channel(**overrides: Any) -> dict[str, Any]:
    return {"type": "wa", "templateName": "callback", "templateLanguage": "en_US", **overrides}


def handoff(*channels: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A valid handoff body (in-app only unless channels are given)."""
    body: dict[str, Any] = {
        "name": "Billing deflection",
        "skill": "billing",
        "channels": list(channels) or [inapp_channel()],
    }
    body.update(overrides)
    return body
