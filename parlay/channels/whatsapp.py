"""WhatsApp through Meta's Cloud API: a thin async client behind the channel protocol.

``POST {base}/{graphVersion}/{phoneNumberId}/messages`` with a Bearer token and a JSON body.
Inside the 24-hour customer-service window (the number wrote within the last 24 hours) the
message goes as text; outside it only an approved template may go: the handoff's template, its
body parameters from the consumer's ``variables`` (in the order of their names, numerically
when the names are numbers: ``1``, ``2``, ... as the template numbers its placeholders). No
template and no window: refused here (Meta would accept and then fail it with 131047).
``biz_opaque_callback_data`` carries the delivery's ID: Meta echoes it in the status webhooks,
which find the delivery by it even before the dispatcher recorded the send.

Meta's error codes: rate limits (130429 per number, 131056 per pair, 4 and 80007 per app and
account) are retried later, like 429 and 5xx; 131026 (not a WhatsApp user) and everything else
is refused for good, with the code only. An account without WhatsApp credentials is served by
the sandbox.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx

from parlay.channels.base import (
    Accepted,
    Channel,
    OutboundMessage,
    Rejected,
    RetryLater,
    SendResult,
)
from parlay.channels.provider_http import ProviderChannel
from parlay.channels.providers import ProviderAccounts
from parlay.delivery.status import ErrorCode, ErrorSource
from parlay.lib.clock import Clock
from parlay.lib.http.client import DEFAULT_TIMEOUT
from parlay.lib.http.h1post import HttpError
from parlay.lib.http.urls import BlockedAddress, UrlPolicy

SOURCE = ErrorSource.WHATSAPP
WINDOW = timedelta(hours=24)
RATE_LIMITED = frozenset({4, 80007, 130429, 131056})
UNDELIVERABLE = frozenset({131026})
OUTSIDE_WINDOW = 131047


def in_window(last_inbound: datetime | None, now: datetime) -> bool:
    """Whether free text may be sent: the number wrote within the last 24 hours."""
    return last_inbound is not None and now - last_inbound < WINDOW


def _ordered(variables: dict[str, str]) -> list[str]:
    names = list(variables)
    if all(n.isdigit() for n in names):
        names.sort(key=int)
    return [variables[n] for n in names]


def message_body(message: OutboundMessage, window_open: bool) -> dict[str, Any] | None:
    """The Cloud API body: text inside the window (when there is text: a handoff may name only
    its template), else the handoff's template (None: neither may go)."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": (message.phone or "").removeprefix("+"),
        "biz_opaque_callback_data": str(message.delivery_id),
    }
    if window_open and message.text:
        return body | {"type": "text", "text": {"preview_url": False, "body": message.text}}
    template = message.template
    if template is None:
        return None
    document: dict[str, Any] = {"name": template.name}
    if template.language:
        document["language"] = {"code": template.language}
    components: list[dict[str, Any]] = []
    for kind, link in (template.header or {}).items():
        # The template's media header (image, video or document), by link.
        components.append({"type": "header", "parameters": [{"type": kind, kind: {"link": link}}]})
    values = _ordered(template.variables)
    if values:
        components.append(
            {"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}
        )
    if components:
        document["components"] = components
    return body | {"type": "template", "template": document}


def error_code(doc: dict[str, Any]) -> int | None:
    error = doc.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None


class WhatsAppChannel(ProviderChannel):
    """The ``wa`` channel. Safe for concurrent sends."""

    def __init__(
        self,
        accounts: ProviderAccounts,
        sandbox: Channel,
        *,
        urls: UrlPolicy,
        ca_bundle: str | None = None,
        clock: Clock | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(
            accounts, sandbox, urls=urls, ca_bundle=ca_bundle, clock=clock, timeout=timeout
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        account = await self._accounts.whatsapp(message.account_id)
        if account is None:
            return await self._sandbox.send(message)
        last = await self._accounts.last_inbound(message.account_id, message.phone or "")
        body = message_body(message, in_window(last, self._clock.now()))
        if body is None:
            return Rejected(
                SOURCE,
                ErrorCode.PROVIDER_REJECTED,
                "outside the 24-hour window and the handoff has no template",
            )
        url = f"{account.base_url}/{account.graph_version}/{account.phone_number_id}/messages"
        headers = {
            "Authorization": f"Bearer {account.access_token}",
            "Content-Type": "application/json",
        }
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            response = await self._post(url, content, headers)
        except TimeoutError:
            return RetryLater(SOURCE, "WhatsApp timed out")
        except BlockedAddress as exc:
            return Rejected(ErrorSource.PARLAY, ErrorCode.PROVIDER_REJECTED, f"WhatsApp: {exc}")
        except HttpError as exc:
            return RetryLater(SOURCE, f"WhatsApp is unreachable: {exc.kind}")
        return self._result(response)

    def _result(self, response: httpx.Response) -> SendResult:
        status = response.status_code
        try:
            doc = response.json()
        except ValueError:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        if 200 <= status < 300:
            messages = doc.get("messages")
            first = messages[0] if isinstance(messages, list) and messages else None
            wamid = first.get("id") if isinstance(first, dict) else None
            if not isinstance(wamid, str) or not wamid.isprintable() or len(wamid) > 255:
                return RetryLater(SOURCE, f"WhatsApp answered {status} without a message id")
            return Accepted(SOURCE, wamid)
        code = error_code(doc)
        reason = f"WhatsApp error {code}" if code is not None else f"WhatsApp answered {status}"
        if code in RATE_LIMITED or status == 429 or status >= 500:
            return self._retry_later(SOURCE, response, reason)
        if code in UNDELIVERABLE:
            return Rejected(SOURCE, ErrorCode.INVALID_NUMBER, reason)
        return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, reason)
