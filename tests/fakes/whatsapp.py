"""A loopback fake of the WhatsApp Cloud API (Meta Graph) and of the webhooks Meta sends back.

What it checks, as the Graph API does: the Bearer token (401, code 190), the phone number ID in
the path, a JSON body with ``messaging_product: whatsapp``, ``to`` (digits) and a valid ``text``
or ``template`` document (400, code 100 or 132000). A send answers 200 with ``messages[0].id``
(a ``wamid``) and then plays its statuses back to the webhook, signed with the app secret
(``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``), implemented here from the
documented format; ``biz_opaque_callback_data`` is echoed in every status, as Meta does.

Like Meta, it keeps each user's last inbound message: a text sent outside the 24-hour window is
accepted, then fails with 131047; a number in ``undeliverable`` fails with 131026. ``inbound``
posts a consumer's message (and opens the window); ``handshake`` drives the GET verification.
Sends are scripted per number: ``error:<code>`` (the Graph error document; 130429 as a 429).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.loopback import LoopbackServer, Request, Response


def meta_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class SentWhatsApp:
    wamid: str
    body: dict[str, Any]
    statuses: list[tuple[str, int]] = field(default_factory=list)  # (status, HTTP answer)


class WhatsAppFake:
    def __init__(
        self,
        *,
        phone_number_id: str,
        access_token: str,
        app_secret: str,
        deliver: httpx.AsyncClient,
        webhook_url: str,
        clock: Any = time.time,
    ) -> None:
        self.phone_number_id = phone_number_id
        self.access_token = access_token
        self.app_secret = app_secret
        self.deliver = deliver
        self.webhook_url = webhook_url
        self.clock = clock
        self.server = LoopbackServer(self._handle)
        self.sent: list[SentWhatsApp] = []
        self.refusals: list[int] = []
        self.undeliverable: set[str] = set()  # digits of numbers that are not on WhatsApp
        self.last_inbound: dict[str, float] = {}
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return self.server.url

    def script(self, to_digits: str, *outcomes: str) -> None:
        self._scripts[to_digits].extend(outcomes)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.settle()
        await self.server.stop()

    async def settle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _error(self, status: int, code: int, message: str) -> Response:
        self.refusals.append(code)
        return Response.json(
            status,
            {
                "error": {
                    "message": f"(#{code}) {message}",
                    "type": "OAuthException",
                    "code": code,
                    "error_data": {"messaging_product": "whatsapp", "details": message},
                    "fbtrace_id": secrets.token_hex(8),
                }
            },
        )

    def _invalid(self, body: Any) -> str | None:
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return "messaging_product must be whatsapp"
        if not str(body.get("to", "")).isdigit():
            return "to must be the recipient's number in digits"
        kind = body.get("type")
        if kind == "text":
            text = body.get("text")
            if not isinstance(text, dict) or not 1 <= len(str(text.get("body", ""))) <= 4096:
                return "text.body must be 1-4096 characters"
            return None
        if kind == "template":
            template = body.get("template")
            if not isinstance(template, dict) or not template.get("name"):
                return "template.name is required"
            language = template.get("language")
            if not isinstance(language, dict) or not language.get("code"):
                return "template.language.code is required"
            return None
        return f"unsupported type {kind!r}"

    async def _handle(self, request: Request) -> Response | None:
        parts = request.path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 3 or parts[2] != "messages":
            return self._error(404, 100, "unknown path")
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return self._error(401, 190, "Invalid OAuth access token")
        if parts[1] != self.phone_number_id:
            return self._error(400, 100, "unknown phone number ID")
        try:
            body = json.loads(request.body)
        except ValueError:
            return self._error(400, 100, "body is not JSON")
        problem = self._invalid(body)
        if problem is not None:
            return self._error(400, 100, problem)
        to = body["to"]
        queue = self._scripts[to]
        name, _, argument = (queue.popleft() if queue else "ok").partition(":")
        if name == "error":
            code = int(argument)
            return self._error(429 if code == 130429 else 400, code, f"scripted {code}")
        wamid = "wamid." + secrets.token_hex(20)
        sent = SentWhatsApp(wamid, body)
        self.sent.append(sent)
        window = self.clock() - self.last_inbound.get(to, float("-inf")) < 24 * 3600
        if to in self.undeliverable:
            lifecycle: list[tuple[str, int | None]] = [("failed", 131026)]
        elif body["type"] == "text" and not window:
            lifecycle = [("failed", 131047)]
        else:
            lifecycle = [("sent", None), ("delivered", None), ("read", None)]
        self._spawn(self._play(sent, lifecycle))
        return Response.json(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid}],
            },
        )

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550100",
                "phone_number_id": self.phone_number_id,
            },
            **value,
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": "WABA-1", "changes": [{"field": "messages", "value": value}]}],
        }

    async def _play(self, sent: SentWhatsApp, lifecycle: list[tuple[str, int | None]]) -> None:
        for status, code in lifecycle:
            item: dict[str, Any] = {
                "id": sent.wamid,
                "status": status,
                "timestamp": str(int(self.clock())),
                "recipient_id": sent.body["to"],
            }
            if "biz_opaque_callback_data" in sent.body:
                item["biz_opaque_callback_data"] = sent.body["biz_opaque_callback_data"]
            if code is not None:
                item["errors"] = [{"code": code, "title": f"error {code}", "message": "scripted"}]
            answer = await self.post_signed(self._envelope({"statuses": [item]}))
            sent.statuses.append((status, answer.status_code))

    async def post_signed(
        self, document: dict[str, Any], *, signature: str | None = None
    ) -> httpx.Response:
        raw = json.dumps(document).encode()
        sign = meta_signature(self.app_secret, raw) if signature is None else signature
        return await self.deliver.post(
            self.webhook_url,
            content=raw,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign},
        )

    async def inbound(self, phone: str, text: str) -> httpx.Response:
        """The consumer writes to the brand's WhatsApp number (opens the 24-hour window)."""
        digits = phone.removeprefix("+")
        self.last_inbound[digits] = self.clock()
        message = {
            "from": digits,
            "id": "wamid." + secrets.token_hex(20),
            "timestamp": str(int(self.clock())),
            "type": "text",
            "text": {"body": text},
        }
        return await self.post_signed(
            self._envelope(
                {"contacts": [{"profile": {"name": "Ann"}, "wa_id": digits}], "messages": [message]}
            )
        )

    async def handshake(self, verify_token: str, challenge: str = "1158201444") -> httpx.Response:
        return await self.deliver.get(
            self.webhook_url,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": verify_token,
                "hub.challenge": challenge,
            },
        )


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[WhatsAppFake]:
    fake = WhatsAppFake(**options)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
