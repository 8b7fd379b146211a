"""The demo phone: the demo brand's identity provider, its app, and a push proxy that lands
pushes in a browser tab.

Under ``parlay serve --demo`` the demo account gets, at every start:

- a consumer-JWT key of its own (ES256, kept beside the demo database): the phone page signs a
  token for whatever consumer ID is typed, as a brand's identity provider would, and the page
  then calls the real consumer API with it;
- the app ``com.parlay.demophone`` (iOS) pushing through the **push proxy** channel to
  ``<Parlay>/demo/push-proxy``: Parlay's own dispatcher signs and POSTs each push there, the
  receiver checks the signature, keeps the last pushes of each device token and publishes them
  on a live topic the phone page listens to;
- the handoff ``demo-phone`` (skill ``general``) whose in-app channel names that app.

Nothing here reads the deliveries table: a push reaches the phone only if the dispatcher sent it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.responses import Response

from parlay.accounts import usecases as accounts
from parlay.accounts.permissions import Role
from parlay.accounts.service import UserChanges
from parlay.accounts.settings import ConsumerAuth, SettingsChange
from parlay.api.streams import live_stream
from parlay.apps import usecases as apps
from parlay.apps.credentials import ProxyInput, Sections
from parlay.handoffs import usecases as handoffs
from parlay.handoffs.service import HandoffSpec
from parlay.handoffs.snapshot import ChannelConfig
from parlay.lib.errors import NotFound
from parlay.lib.observability.logging import get_logger
from parlay.lib.signing import SIGNATURE_HEADER, verify
from parlay.seed import DEMO_ACCOUNT, DEMO_ADMIN, DEMO_SKILL
from parlay.services import Services
from parlay.web.templating import render

log = get_logger("parlay.demo")

APP_ID = "com.parlay.demophone"
HANDOFF_ID = "demo-phone"
ISSUER = "parlay-demo-phone"
AUDIENCE = "demo-phone"
TOKEN_SECONDS = 3600
KEPT_PER_DEVICE = 50
PROXY_PATH = "/demo/push-proxy"

router = APIRouter(include_in_schema=False)


def push_topic(token: str) -> str:
    return f"demo-phone:push:{hashlib.sha256(token.encode()).hexdigest()[:32]}"


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The demo's identity-provider key, made on first use (mode 0600)."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)  # private before the key is in it
    path.write_bytes(pem)
    return key


@dataclass(frozen=True)
class Push:
    """One push as the proxy received it (the document Parlay signed)."""

    push_message_id: str | None
    title: str | None
    body: str
    backend_service: str | None
    conversation_id: str | None
    received_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "push",
            "pushMessageId": self.push_message_id,
            "title": self.title,
            "body": self.body,
            "backendService": self.backend_service,
            "conversationId": self.conversation_id,
            "receivedAt": self.received_at,
        }


class DemoPhone:
    """The demo's identity provider and push proxy receiver, for one Parlay process."""

    def __init__(self, key_file: Path, public_url: str) -> None:
        self._key = _load_key(key_file)
        self.public_url = public_url.rstrip("/")
        der = self._key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Derived from the key: the app's proxy secret needs no file of its own.
        self.proxy_secret = hmac.new(der, b"push-proxy", hashlib.sha256).hexdigest()
        self._pushes: dict[str, deque[Push]] = {}

    @property
    def public_key_pem(self) -> str:
        return (
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def consumer_token(self, consumer_id: str, now: float) -> str:
        """A consumer JWT for ``consumer_id``, as the brand's identity provider would sign it."""
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": consumer_id,
            "iat": int(now),
            "exp": int(now) + TOKEN_SECONDS,
        }
        return jwt.encode(claims, self._key, algorithm="ES256")

    def record(self, token: str, push: Push) -> None:
        kept = self._pushes.setdefault(token, deque(maxlen=KEPT_PER_DEVICE))
        kept.append(push)

    def pushes(self, token: str) -> Sequence[Push]:
        return list(self._pushes.get(token, ()))

    async def prepare(self, services: Services) -> None:
        """The demo account's consumer authentication, app and handoff, through the same use
        cases as the API (made once; the app's URL follows the address Parlay serves on)."""
        tx, account = services.tx, DEMO_ACCOUNT
        if await accounts.account(tx, account) is None:
            return
        current = await accounts.get_settings(tx, account)
        if current.consumer_auth is None or current.consumer_auth.issuer == ISSUER:
            auth = ConsumerAuth(
                issuer=ISSUER,
                audience=AUDIENCE,
                algorithms=("ES256",),
                public_key_pem=self.public_key_pem,
            )
            await accounts.update_settings(
                tx, services.urls, account, SettingsChange(consumer_auth=auth)
            )
        spec = apps.AppSpec(
            app_id=APP_ID,
            platform="ios",
            push_service="proxy",
            sections=Sections(
                proxy=ProxyInput(url=f"{self.public_url}{PROXY_PATH}", secret=self.proxy_secret)
            ),
        )
        try:
            await apps.get_app(tx, account, APP_ID)
        except NotFound:
            await apps.create_app(tx, services.urls, services.secrets, account, spec)
        else:
            await apps.replace_app(tx, services.urls, services.secrets, account, APP_ID, spec)
        await self._admin_answers(services)
        try:
            await handoffs.get_handoff(tx, account, HANDOFF_ID)
        except NotFound:
            await handoffs.create_handoff(
                tx,
                account,
                _handoff_spec(),
                repeat=None,
                answer=lambda h: (201, h.id),
                handoff_id=HANDOFF_ID,
                may_choose_id=True,
            )

    async def _admin_answers(self, services: Services) -> None:
        """The demo admin is also an agent of the demo skill: the one login the sign-in page
        shows opens the workspace too."""
        for view in await accounts.list_users(services.tx, DEMO_ACCOUNT):
            user = view.user
            if user.username != DEMO_ADMIN or Role.AGENT.value in user.roles:
                continue
            changes = UserChanges(
                roles=[*user.roles, Role.AGENT.value], skills=sorted({*view.skills, DEMO_SKILL})
            )
            await accounts.update_user(services.tx, DEMO_ACCOUNT, user.id, changes)


def _handoff_spec() -> HandoffSpec:
    return HandoffSpec(
        name="Demo phone",
        skill=DEMO_SKILL,
        lookback_period_day=1,
        lookback_period_hour=None,
        route_all_within_lookback=True,
        push_when_logged_in=True,
        push_when_logged_out=False,
        channels=[
            ChannelConfig(
                type="inapp",
                outbound_number=None,
                app_ids=(APP_ID,),
                message_text="Hi 👋 we have news about your order. Tap to chat with us.",
                notification_title="Demo brand",
            )
        ],
    )


def _phone(request: Request) -> DemoPhone:
    phone: DemoPhone = request.app.state.demo_phone
    return phone


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.get("/demo/phone", name="demo_phone")
async def phone_page(request: Request) -> Response:
    """The simulated app."""
    context = {"account_id": DEMO_ACCOUNT, "app_id": APP_ID, "handoff_id": HANDOFF_ID}
    return render(request, "demo/phone.html", context)


@router.post("/demo/phone/sign-in", name="demo_phone_sign_in")
async def sign_in(
    request: Request, consumer_id: Annotated[str, Form(min_length=1, max_length=255)]
) -> JSONResponse:
    """The demo identity provider: a consumer JWT for the typed consumer ID, and a push token
    for this tab (the page registers the device with them through the consumer API)."""
    consumer_id = consumer_id.strip()
    token = _phone(request).consumer_token(consumer_id, time.time())
    return JSONResponse(
        {
            "accountId": DEMO_ACCOUNT,
            "appId": APP_ID,
            "consumerId": consumer_id,
            "jwt": token,
            "pushToken": uuid.uuid4().hex * 2,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post(PROXY_PATH, name="demo_push_proxy")
async def push_proxy(request: Request) -> Response:
    """The demo app's push proxy: Parlay's dispatcher POSTs each push here, signed."""
    phone, body = _phone(request), await request.body()
    header = request.headers.get(SIGNATURE_HEADER, "")
    if not verify(phone.proxy_secret, body, header, now=time.time()):
        return Response(status_code=401)
    try:
        doc = json.loads(body)
        token = str(doc["deviceToken"])
        note = doc.get("notification") or {}
        push = Push(
            push_message_id=doc.get("pushMessageId"),
            title=note.get("title"),
            body=str(note.get("body", "")),
            backend_service=doc.get("backendService"),
            conversation_id=doc.get("conversationId"),
            received_at=time.time(),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return Response(status_code=400)
    phone.record(token, push)
    try:
        await _services(request).hub.publish([push_topic(token)], push.to_json())
    except Exception:
        log.warning("publishing a demo push failed", exc_info=True)
    return Response(status_code=202)


@router.get("/demo/phone/pushes", name="demo_phone_pushes")
async def pushes(
    request: Request, token: Annotated[str, Query(min_length=1, max_length=4096)]
) -> JSONResponse:
    """What the push proxy received for this device token (the last 50)."""
    return JSONResponse([p.to_json() for p in _phone(request).pushes(token)])


@router.get("/demo/phone/push-events", name="demo_phone_push_events")
async def push_events(
    request: Request, token: Annotated[str, Query(min_length=1, max_length=4096)]
) -> StreamingResponse:
    """Pushes to this device token as they arrive (server-sent events)."""
    topic = push_topic(token)
    return live_stream(_services(request), topic, [topic], request)
