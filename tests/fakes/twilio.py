"""A loopback fake of Twilio's Messages API and of the webhooks Twilio sends back.

What it checks, as Twilio does: HTTP Basic with the account SID and auth token (401, 20003), the
account in the path, a form body with ``To`` (E.164, else 21211), ``From`` or
``MessagingServiceSid`` (21603), ``Body`` (21602; over 1,600 characters 21617),
``ValidityPeriod`` (1 - 36,000) and a ``StatusCallback`` URL. A send answers 201 with the JSON
Twilio returns (``sid`` SM + 32 hex, ``num_segments``...), errors with Twilio's error document.

Afterwards it plays each message's status lifecycle back to its ``StatusCallback`` (by default
``sent`` then ``delivered``), as form posts signed the way Twilio signs them
(``X-Twilio-Signature``: HMAC-SHA1 over the URL followed by each parameter's name and value in
name order, base64), implemented here from the documented algorithm, not with the twilio
package, so a server that checks wrongly fails. Lifecycles are scripted per number, in any
order (out-of-order callbacks) and with delays; ``inbound`` sends a consumer's SMS signed the
same way. Callbacks go through ``deliver`` (an httpx client: the tests' ASGI app).

Sends are scripted per number, one outcome per request (then normal): ``error:<code>`` (the
code's HTTP status and document) · ``status:<http>`` (a bare 5xx or 429) · ``lifecycle:<s>,<s>``
(statuses played back; ``undelivered/<code>`` carries an ErrorCode) · ``drop`` (no answer).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import signal
import sys
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

from tests.fakes.loopback import Http1Transport, LoopbackServer, Request, Response

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages\.json$")
# HTTP status of each error code the fake answers.
_ERROR_STATUS = {20003: 401, 20429: 429, 21211: 400, 21602: 400, 21603: 400, 21610: 400,
                 21611: 400, 21617: 400, 21620: 400, 30001: 400}  # fmt: skip
_GSM = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("\f^{}\\[~]|€")


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """``X-Twilio-Signature`` of a form post to ``url``, as Twilio computes it."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    mac = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def segments(body: str) -> int:
    if all(c in _GSM or c in _GSM_EXT for c in body):
        n = sum(2 if c in _GSM_EXT else 1 for c in body)
        return 1 if n <= 160 else -(-n // 153)
    n = len(body.encode("utf-16-le")) // 2
    return 1 if n <= 70 else -(-n // 67)


@dataclass
class SentSms:
    sid: str
    form: dict[str, str]
    lifecycle: list[str]
    callbacks: list[tuple[str, int]] = field(default_factory=list)  # (status, HTTP answer)


class TwilioFake:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        deliver: httpx.AsyncClient,
        lifecycle: tuple[str, ...] = ("sent", "delivered"),
        callback_delay: float = 0.0,
        record: bool = True,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.deliver = deliver
        self.lifecycle = lifecycle
        self.callback_delay = callback_delay
        self.record = record  # False: keep no request or message in memory (benchmarks)
        self.accepted = 0
        self.server = LoopbackServer(self._handle)
        self.requests: list[Request] = []
        self.sent: list[SentSms] = []
        self.refusals: list[int] = []  # the error code of each refused request
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._callbacks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return self.server.url

    def script(self, to: str, *outcomes: str) -> None:
        self._scripts[to].extend(outcomes)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.settle()
        await self.server.stop()

    async def settle(self) -> None:
        """Wait until every callback scheduled so far was delivered."""
        while self._callbacks:
            await asyncio.gather(*list(self._callbacks), return_exceptions=True)

    def _error(self, code: int, message: str) -> Response:
        self.refusals.append(code)
        status = _ERROR_STATUS.get(code, 400)
        return Response.json(
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    async def _handle(self, request: Request) -> Response | None:
        if self.record:
            self.requests.append(request)
        match = _PATH.match(request.path)
        if request.method != "POST" or match is None:
            return Response.json(404, {"code": 20404, "message": "not found", "status": 404})
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Basic {expected}".encode()):
            return self._error(20003, "Authenticate")
        if match.group(1) != self.account_sid:
            return self._error(20003, "the path names another account")
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return self._error(21620, "form body expected")
        form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        to, body = form.get("To", ""), form.get("Body", "")
        if not _E164.match(to):
            return self._error(21211, f"The 'To' number {to} is not a valid phone number.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return self._error(21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if not body:
            return self._error(21602, "Message body is required.")
        if len(body) > 1600:
            return self._error(21617, "The concatenated message body exceeds 1600 characters.")
        validity = form.get("ValidityPeriod", "36000")
        if not validity.isdigit() or not 1 <= int(validity) <= 36000:
            return self._error(21620, "ValidityPeriod must be between 1 and 36000")
        callback = form.get("StatusCallback")
        if callback is not None and not callback.startswith(("http://", "https://")):
            return self._error(21620, "StatusCallback is not a URL")
        lifecycle = list(self.lifecycle)
        queue = self._scripts[to]
        name, _, argument = (queue.popleft() if queue else "ok").partition(":")
        if name == "drop":
            return None
        if name == "error":
            return self._error(int(argument), f"scripted error {argument}")
        if name == "status":
            return Response.json(int(argument), {"message": "scripted", "status": int(argument)})
        if name == "lifecycle":
            lifecycle = argument.split(",")
        elif name != "ok":
            raise ValueError(f"unknown Twilio fake outcome: {name}")
        sid = "SM" + secrets.token_hex(16)
        sms = SentSms(sid, form, lifecycle)
        self.accepted += 1
        if self.record:
            self.sent.append(sms)
        if callback:
            self._spawn(self._play(sms, callback))
        return Response.json(
            201,
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "api_version": "2010-04-01",
                "body": body,
                "direction": "outbound-api",
                "from": form.get("From"),
                "to": to,
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "num_segments": str(segments(body)),
                "num_media": "0",
                "price": None,
                "status": "accepted" if form.get("MessagingServiceSid") else "queued",
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
        )

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    async def _play(self, sms: SentSms, url: str) -> None:
        for step in sms.lifecycle:
            status, _, code = step.partition("/")
            params = {
                "MessageSid": sms.sid,
                "SmsSid": sms.sid,
                "MessageStatus": status,
                "SmsStatus": status,
                "AccountSid": self.account_sid,
                "From": sms.form.get("From", ""),
                "To": sms.form["To"],
                "ApiVersion": "2010-04-01",
            }
            if code:
                params |= {"ErrorCode": code, "ErrorMessage": f"scripted {code}"}
            if self.callback_delay:
                await asyncio.sleep(self.callback_delay)
            for attempt in range(3):  # Twilio retries a callback whose connection failed
                try:
                    answer = await self.post_signed(url, params)
                    break
                except httpx.TransportError:
                    if attempt == 2:
                        raise
            sms.callbacks.append((status, answer))

    async def post_signed(
        self, url: str, params: dict[str, str], *, signature: str | None = None
    ) -> int:
        """Post a webhook as Twilio does (``signature``: send this one instead, to forge)."""
        sign = twilio_signature(self.auth_token, url, params) if signature is None else signature
        response = await self.deliver.post(url, data=params, headers={"X-Twilio-Signature": sign})
        return response.status_code

    async def inbound(
        self, url: str, from_number: str, to_number: str, body: str
    ) -> httpx.Response:
        """A consumer's SMS to the brand's number, posted to the brand's inbound webhook."""
        params = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "AccountSid": self.account_sid,
            "From": from_number,
            "To": to_number,
            "Body": body,
            "NumMedia": "0",
            "ApiVersion": "2010-04-01",
        }
        return await self.deliver.post(
            url,
            data=params,
            headers={"X-Twilio-Signature": twilio_signature(self.auth_token, url, params)},
        )


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[TwilioFake]:
    fake = TwilioFake(**options)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def _serve(arguments: argparse.Namespace) -> None:
    transport = Http1Transport(max_connections=arguments.callback_connections)
    async with httpx.AsyncClient(transport=transport, timeout=30) as deliver:
        fake = TwilioFake(
            account_sid=arguments.account_sid,
            auth_token=arguments.auth_token,
            deliver=deliver,
            record=False,
        )
        await fake.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        if arguments.exit_on_stdin_eof:  # the parent died: don't outlive it
            loop.add_reader(sys.stdin.fileno(), lambda: None if sys.stdin.read(1) else stop.set())
        print(json.dumps({"base_url": fake.url}), flush=True)
        await stop.wait()
        await fake.stop()
        print(json.dumps({"accepted": fake.accepted}), flush=True)


def main() -> None:
    """Serve the fake on 127.0.0.1 (benchmarks): its URL as a JSON line on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--callback-connections", type=int, default=32)
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
