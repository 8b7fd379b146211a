"""What the SMS and WhatsApp channels need of an account: its provider credentials (secrets
decrypted), the WhatsApp window of a number, and a place to record a number Twilio says has
opted out. ``parlay.messaging`` implements the port (``ProviderAccounts``); an account with no
credentials for a channel is served by the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

TWILIO_API = "https://api.twilio.com"
GRAPH_API = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v21.0"


@dataclass(frozen=True)
class TwilioAccount:
    account_sid: str
    auth_token: str
    from_number: str | None  # the sender when the handoff names none
    messaging_service_sid: str | None  # Twilio picks the sender from the service's pool
    max_messages_per_second: float  # per sender: Twilio queues the excess, then refuses it
    endpoint: str | None = None  # overrides https://api.twilio.com (tests, an egress proxy)

    @property
    def base_url(self) -> str:
        return (self.endpoint or TWILIO_API).rstrip("/")


@dataclass(frozen=True)
class WhatsAppAccount:
    phone_number_id: str
    access_token: str
    app_secret: str  # signs Meta's webhooks (X-Hub-Signature-256)
    verify_token: str  # the webhook handshake's shared word
    graph_version: str = DEFAULT_GRAPH_VERSION
    endpoint: str | None = None  # overrides https://graph.facebook.com

    @property
    def base_url(self) -> str:
        return (self.endpoint or GRAPH_API).rstrip("/")


class ProviderAccounts(Protocol):
    async def twilio(self, account_id: str) -> TwilioAccount | None:
        """The account's Twilio credentials; None: its SMS go to the sandbox."""
        ...

    async def whatsapp(self, account_id: str) -> WhatsAppAccount | None:
        """The account's WhatsApp credentials; None: its WhatsApp messages go to the sandbox."""
        ...

    async def last_inbound(self, account_id: str, phone: str) -> datetime | None:
        """When the number last wrote on WhatsApp (opens the 24-hour window)."""
        ...

    async def opt_out(self, account_id: str, phone: str) -> None:
        """Twilio refused a send because the number unsubscribed (21610): no more SMS to it."""
        ...
