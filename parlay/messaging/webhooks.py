"""The providers' webhooks as rules: what a Twilio status callback or a Meta notification says,
whether a signature vouches for a request, and which words opt a number out of SMS or back in.
Pure functions; ``parlay.messaging.usecases`` applies them."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twilio.request_validator import RequestValidator

from parlay.delivery.status import DeliveryStatus, ErrorCode

# Opt-out and opt-in keywords, as Twilio and US carriers honour them (the whole message, any case).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
TWILIO_UNSUBSCRIBED = "21610"
# WhatsApp cannot deliver to this number at all (not a WhatsApp user, an old client, ...): the
# failures a handoff's SMS channel may stand in for.
WHATSAPP_UNDELIVERABLE = frozenset({131026, 131021, 131045})


def keyword(text: str) -> str | None:
    """``STOP`` or ``START`` when the message is one of their words alone, else None."""
    word = text.strip().upper()
    if word in STOP_WORDS:
        return "STOP"
    if word in START_WORDS:
        return "START"
    return None


def twilio_signed(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    """Whether ``X-Twilio-Signature`` vouches for this request (twilio's own validator: the
    URL Twilio called, then every parameter sorted by name, HMAC-SHA1 with the auth token)."""
    return bool(signature) and RequestValidator(auth_token).validate(url, dict(params), signature)


def meta_signed(app_secret: str, body: bytes, header: str) -> bool:
    """Whether ``X-Hub-Signature-256`` (``sha256=<hex HMAC-SHA256 of the raw body>``) vouches for
    this body."""
    scheme, _, given = header.partition("=")
    if scheme != "sha256" or not given:
        return False
    mac = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, given.lower())


@dataclass(frozen=True)
class Report:
    """What a status callback says of a delivery."""

    status: DeliveryStatus
    error_code: ErrorCode | None = None
    provider_code: str | None = None  # the provider's own error code, as the errorMessage


_TWILIO_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
}


def _digits(value: object, limit: int = 12) -> str | None:
    text = str(value) if isinstance(value, int | str) else ""
    return text if text.isascii() and text.isdigit() and len(text) <= limit else None


def twilio_report(params: Mapping[str, str]) -> Report | None:
    """The delivery's new status from a Twilio callback (None: a stage Parlay does not record,
    ``queued``, ``sending``, ``accepted``...)."""
    status = _TWILIO_STATUSES.get(params.get("MessageStatus") or params.get("SmsStatus") or "")
    if status is None:
        return None
    if status != DeliveryStatus.FAILED:
        return Report(status)
    code = _digits(params.get("ErrorCode"))
    error = ErrorCode.OPTED_OUT if code == TWILIO_UNSUBSCRIBED else ErrorCode.PROVIDER_REJECTED
    return Report(status, error, code)


@dataclass(frozen=True)
class MetaStatus:
    delivery_id: int | None  # from biz_opaque_callback_data (None: not a delivery of Parlay's)
    message_id: str
    report: Report | None
    undeliverable: bool  # WhatsApp cannot reach the number: the SMS fallback may stand in


@dataclass(frozen=True)
class MetaMessage:
    message_id: str
    phone: str  # E.164
    text: str


@dataclass(frozen=True)
class MetaNotification:
    statuses: list[MetaStatus]
    messages: list[MetaMessage]


_META_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}


def _meta_status(item: dict[str, Any]) -> MetaStatus:
    status = _META_STATUSES.get(str(item.get("status")))
    opaque = _digits(item.get("biz_opaque_callback_data"), 18)
    errors = item.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code") if isinstance(first.get("code"), int) else None
    report = None
    if status == DeliveryStatus.FAILED:
        report = Report(status, ErrorCode.PROVIDER_REJECTED, _digits(code))
    elif status is not None:
        report = Report(status)
    return MetaStatus(
        delivery_id=int(opaque) if opaque else None,
        message_id=str(item.get("id", ""))[:128],
        report=report,
        undeliverable=status == DeliveryStatus.FAILED and code in WHATSAPP_UNDELIVERABLE,
    )


def _meta_message(item: dict[str, Any]) -> MetaMessage | None:
    sender = _digits(item.get("from"), 15)
    if sender is None:
        return None
    if item.get("type") == "text" and isinstance(item.get("text"), dict):
        text = str(item["text"].get("body", ""))
    elif item.get("type") == "button" and isinstance(item.get("button"), dict):
        text = str(item["button"].get("text", ""))
    else:
        text = f"[{str(item.get('type', 'message'))[:32]}]"  # media: the agent sees its kind
    return MetaMessage(str(item.get("id", ""))[:128], f"+{sender}", text[:4096])


def meta_notification(doc: Any) -> MetaNotification:
    """The statuses and inbound messages of a Meta webhook body (what is not understood is
    skipped: Meta adds fields and kinds of change over time)."""
    statuses: list[MetaStatus] = []
    messages: list[MetaMessage] = []
    entries = doc.get("entry") if isinstance(doc, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                continue
            for item in value.get("statuses") or []:
                if isinstance(item, dict):
                    statuses.append(_meta_status(item))
            for item in value.get("messages") or []:
                if isinstance(item, dict) and (message := _meta_message(item)) is not None:
                    messages.append(message)
    return MetaNotification(statuses, messages)
