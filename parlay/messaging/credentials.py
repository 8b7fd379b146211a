"""An account's SMS (Twilio) and WhatsApp (Cloud API) credentials: what the API gives, the rules
checked when they are saved, what is stored (every secret sealed with ``PARLAY_SECRET_KEY``),
the view the API may show (never a secret), and the form the channels need (secrets opened).

The JSON column ``channel_accounts.settings`` holds them in API casing, e.g.::

    {"accountSid": "AC…", "authToken": {"enc": "gAAAAAB…"}, "fromNumber": "+15550100",
     "messagingServiceSid": null, "maxMessagesPerSecond": 1.0, "endpoint": null}

Secrets: Twilio's ``authToken``; WhatsApp's ``accessToken``, ``appSecret`` and ``verifyToken``.
A PUT may leave a secret out to keep it, but only while ``endpoint`` stays the same: the
endpoint receives the secret with every request, so whoever moves it must know the secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parlay.channels.providers import DEFAULT_GRAPH_VERSION, TwilioAccount, WhatsAppAccount
from parlay.lib.errors import invalid_field
from parlay.lib.phone import normalize_e164
from parlay.lib.secretbox import Sealed, SecretBox

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_GRAPH_VERSION = re.compile(r"^v[0-9]{1,3}\.[0-9]{1,3}$")
_DIGITS = re.compile(r"^[0-9]{1,32}$")


@dataclass(frozen=True)
class TwilioInput:
    account_sid: str
    auth_token: str | None  # None on PUT: the stored one is kept (same endpoint only)
    from_number: str | None = None
    messaging_service_sid: str | None = None
    max_messages_per_second: float = 1.0
    endpoint: str | None = None


@dataclass(frozen=True)
class WhatsAppInput:
    phone_number_id: str
    access_token: str | None = None  # None on PUT: each secret left out is kept
    app_secret: str | None = None
    verify_token: str | None = None
    graph_version: str = DEFAULT_GRAPH_VERSION
    endpoint: str | None = None


@dataclass(frozen=True)
class Stored:
    """One ``channel_accounts`` row as read: its settings document and times."""

    channel: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _secret(
    box: SecretBox,
    field: str,
    given: str | None,
    stored: dict[str, Any] | None,
    stored_key: str,
    same_endpoint: bool,
) -> dict[str, str]:
    if given:
        if not (given.isascii() and given.isprintable()):
            raise invalid_field(field, "printable ASCII")
        return box.seal(given).to_json()
    if stored is not None and same_endpoint:
        return box.reseal(Sealed.from_json(stored.get(stored_key), field)).to_json()
    if stored is not None:
        raise invalid_field(field, "required again: the endpoint changes")
    raise invalid_field(field, "required")


def check_twilio(
    given: TwilioInput, stored: dict[str, Any] | None, box: SecretBox
) -> dict[str, Any]:
    """The settings document to store (secrets sealed), or a 400 naming the field."""
    if not _ACCOUNT_SID.match(given.account_sid):
        raise invalid_field("accountSid", "AC followed by 32 hex digits")
    sender = None
    if given.from_number is not None:
        sender = normalize_e164(given.from_number)
        if sender is None:
            raise invalid_field("fromNumber", "not an E.164 phone number")
    if given.messaging_service_sid is not None and not _SERVICE_SID.match(
        given.messaging_service_sid
    ):
        raise invalid_field("messagingServiceSid", "MG followed by 32 hex digits")
    if sender is None and given.messaging_service_sid is None:
        raise invalid_field("fromNumber", "fromNumber or messagingServiceSid is required")
    same = stored is not None and stored.get("endpoint") == given.endpoint
    return {
        "accountSid": given.account_sid,
        "authToken": _secret(box, "authToken", given.auth_token, stored, "authToken", same),
        "fromNumber": sender,
        "messagingServiceSid": given.messaging_service_sid,
        "maxMessagesPerSecond": given.max_messages_per_second,
        "endpoint": given.endpoint,
    }


def check_whatsapp(
    given: WhatsAppInput, stored: dict[str, Any] | None, box: SecretBox
) -> dict[str, Any]:
    if not _DIGITS.match(given.phone_number_id):
        raise invalid_field("phoneNumberId", "digits (the number's ID in WhatsApp Manager)")
    if not _GRAPH_VERSION.match(given.graph_version):
        raise invalid_field("graphVersion", "like v21.0")
    same = stored is not None and stored.get("endpoint") == given.endpoint
    return {
        "phoneNumberId": given.phone_number_id,
        "accessToken": _secret(box, "accessToken", given.access_token, stored, "accessToken", same),
        "appSecret": _secret(box, "appSecret", given.app_secret, stored, "appSecret", same),
        "verifyToken": _secret(box, "verifyToken", given.verify_token, stored, "verifyToken", same),
        "graphVersion": given.graph_version,
        "endpoint": given.endpoint,
    }


def resealed(channel: str, settings: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    """The same settings with every secret sealed with the newest key (key rotation)."""
    names = ("authToken",) if channel == "sms" else ("accessToken", "appSecret", "verifyToken")
    return settings | {
        n: box.reseal(Sealed.from_json(settings[n], f"{channel}.{n}")).to_json() for n in names
    }


def public_view(row: Stored) -> dict[str, Any]:
    """What the API shows: everything but the secrets (nothing is decrypted)."""
    s = row.settings
    times = {"createdAt": row.created_at, "updatedAt": row.updated_at}
    if row.channel == "sms":
        return {
            "provider": "twilio",
            "accountSid": s["accountSid"],
            "fromNumber": s.get("fromNumber"),
            "messagingServiceSid": s.get("messagingServiceSid"),
            "maxMessagesPerSecond": s["maxMessagesPerSecond"],
            "endpoint": s.get("endpoint"),
            "hasAuthToken": True,
            **times,
        }
    return {
        "phoneNumberId": s["phoneNumberId"],
        "graphVersion": s["graphVersion"],
        "endpoint": s.get("endpoint"),
        "hasAccessToken": True,
        "hasAppSecret": True,
        "hasVerifyToken": True,
        **times,
    }


def twilio_account(settings: dict[str, Any], box: SecretBox) -> TwilioAccount:
    """The credentials as the SMS channel and the webhooks need them (the token opened)."""
    return TwilioAccount(
        account_sid=settings["accountSid"],
        auth_token=box.open(Sealed.from_json(settings["authToken"], "sms.authToken")),
        from_number=settings.get("fromNumber"),
        messaging_service_sid=settings.get("messagingServiceSid"),
        max_messages_per_second=float(settings["maxMessagesPerSecond"]),
        endpoint=settings.get("endpoint"),
    )


def whatsapp_account(settings: dict[str, Any], box: SecretBox) -> WhatsAppAccount:
    def opened(name: str) -> str:
        return box.open(Sealed.from_json(settings[name], f"wa.{name}"))

    return WhatsAppAccount(
        phone_number_id=settings["phoneNumberId"],
        access_token=opened("accessToken"),
        app_secret=opened("appSecret"),
        verify_token=opened("verifyToken"),
        graph_version=settings["graphVersion"],
        endpoint=settings.get("endpoint"),
    )
