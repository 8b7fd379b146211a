"""SMS through Twilio's Messages API: a thin async client behind the channel protocol.

One request per message: ``POST {base}/2010-04-01/Accounts/{sid}/Messages.json``, HTTP Basic
(account SID and auth token), a form body with ``To``, ``From`` or ``MessagingServiceSid``,
``Body``, ``StatusCallback`` (Parlay's status webhook, naming the delivery, so a callback that
overtakes the dispatcher's own record still finds it) and ``ValidityPeriod`` (what is left of
the lookback, at most Twilio's 36,000 s: Twilio drops it from its queue after that). The 201's
``sid`` is kept on the delivery.

Twilio's error codes decide what happens (the code only reaches the delivery, never Twilio's
words): 21610 the number unsubscribed (recorded: no SMS to it from now on; SKIPPED OPTED_OUT);
21211/21614 not a number that takes SMS (INVALID_NUMBER); 21611/30001 the sender's queue is full
and 20429/429 too many requests (retried later); 5xx, timeouts and connection loss retried;
anything else refused for good (PROVIDER_REJECTED). An account without Twilio credentials is
served by the sandbox.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

import httpx

from parlay.channels.base import (
    Accepted,
    Channel,
    OutboundMessage,
    Rejected,
    RetryLater,
    SendResult,
)
from parlay.channels.pacing import SenderPacer
from parlay.channels.provider_http import ProviderChannel
from parlay.channels.providers import ProviderAccounts, TwilioAccount
from parlay.channels.segments import Segments, count_segments
from parlay.delivery.status import ErrorCode, ErrorSource
from parlay.lib.clock import Clock
from parlay.lib.http.client import DEFAULT_TIMEOUT, code_word
from parlay.lib.http.h1post import HttpError
from parlay.lib.http.urls import BlockedAddress, UrlPolicy

SOURCE = ErrorSource.TWILIO
MAX_VALIDITY_SECONDS = 36_000
UNSUBSCRIBED = 21610
NOT_SMS_NUMBERS = frozenset({21211, 21614})
# The sender's queue at Twilio is full (10 h of backlog, or overflowing): wait before more.
QUEUE_FULL = frozenset({21611, 30001})
QUEUE_FULL_BACKOFF_SECONDS = 60.0
TOO_MANY_REQUESTS = 20429


def status_callback_url(public_url: str, account_id: str, delivery_id: int) -> str:
    """Where Twilio reports the delivery's statuses (signed with the account's auth token)."""
    base = public_url.rstrip("/")
    return f"{base}/webhooks/twilio/{account_id}/status?deliveryId={delivery_id}"


def validity_seconds(expires_at: datetime, now: datetime) -> int:
    """What is left of the lookback, within Twilio's 1 - 36,000 s."""
    return max(1, min(MAX_VALIDITY_SECONDS, int((expires_at - now).total_seconds())))


def message_form(
    message: OutboundMessage, account: TwilioAccount, public_url: str | None, now: datetime
) -> dict[str, str]:
    """The Messages API form for one SMS."""
    form = {"To": message.phone or "", "Body": message.text}
    sender = message.from_number or account.from_number
    if account.messaging_service_sid and not message.from_number:
        form["MessagingServiceSid"] = account.messaging_service_sid
    elif sender:
        form["From"] = sender
    if public_url:
        form["StatusCallback"] = status_callback_url(
            public_url, message.account_id, message.delivery_id
        )
    form["ValidityPeriod"] = str(validity_seconds(message.expires_at, now))
    return form


class TwilioChannel(ProviderChannel):
    """The ``sms`` channel. Safe for concurrent sends."""

    def __init__(
        self,
        accounts: ProviderAccounts,
        sandbox: Channel,
        *,
        urls: UrlPolicy,
        public_url: str | None,
        ca_bundle: str | None = None,
        clock: Clock | None = None,
        pacer: SenderPacer | None = None,
        on_segments: Callable[[Segments], None] | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(
            accounts, sandbox, urls=urls, ca_bundle=ca_bundle, clock=clock, timeout=timeout
        )
        self._public_url = public_url
        self._pacer = pacer or SenderPacer()
        self._on_segments = on_segments

    async def send(self, message: OutboundMessage) -> SendResult:
        account = await self._accounts.twilio(message.account_id)
        if account is None:
            return await self._sandbox.send(message)
        form = message_form(message, account, self._public_url, self._clock.now())
        if "From" not in form and "MessagingServiceSid" not in form:
            return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, "no sender: set fromNumber")
        sender = form.get("From") or form["MessagingServiceSid"]
        wait = await self._pacer.slot(
            f"{account.account_sid}:{sender}", account.max_messages_per_second
        )
        if wait is not None:
            return RetryLater(SOURCE, "the sender's send rate is used up", retry_after=wait)
        url = f"{account.base_url}/2010-04-01/Accounts/{account.account_sid}/Messages.json"
        credentials = f"{account.account_sid}:{account.auth_token}".encode()
        headers = {
            "Authorization": "Basic " + base64.b64encode(credentials).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        try:
            response = await self._post(url, urlencode(form).encode(), headers)
        except TimeoutError:
            return RetryLater(SOURCE, "Twilio timed out")
        except BlockedAddress as exc:
            return Rejected(ErrorSource.PARLAY, ErrorCode.PROVIDER_REJECTED, f"Twilio: {exc}")
        except HttpError as exc:
            return RetryLater(SOURCE, f"Twilio is unreachable: {exc.kind}")
        result = await self._result(response, message)
        if isinstance(result, Accepted) and self._on_segments is not None:
            self._on_segments(count_segments(message.text))
        return result

    async def _result(self, response: httpx.Response, message: OutboundMessage) -> SendResult:
        status = response.status_code
        body = _json(response)
        if status == 201 or (200 <= status < 300 and "sid" in body):
            sid = code_word(body.get("sid"))
            if sid is None:
                return RetryLater(SOURCE, f"Twilio answered {status} without a message sid")
            return Accepted(SOURCE, sid)
        code = body.get("code") if isinstance(body.get("code"), int) else None
        reason = f"Twilio error {code}" if code is not None else f"Twilio answered {status}"
        if code == UNSUBSCRIBED:
            if message.phone:
                await self._accounts.opt_out(message.account_id, message.phone)
            return Rejected(SOURCE, ErrorCode.OPTED_OUT, reason)
        if code in QUEUE_FULL:
            return RetryLater(SOURCE, reason, retry_after=QUEUE_FULL_BACKOFF_SECONDS)
        if status == 429 or code == TOO_MANY_REQUESTS or status >= 500 or status == 408:
            return self._retry_later(SOURCE, response, reason)
        if code in NOT_SMS_NUMBERS:
            return Rejected(SOURCE, ErrorCode.INVALID_NUMBER, reason)
        return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, reason)


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        doc = response.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
