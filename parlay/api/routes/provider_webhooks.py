"""The providers' webhooks: Twilio's status callbacks and inbound SMS, WhatsApp's handshake and
notifications. No login: each request is verified by its provider's signature (or, for Meta's
handshake, the verify token); a refusal is 403, changes nothing, and is counted in
``parlay_provider_webhooks_refused_total``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Header, Query, Request, Response
from fastapi.responses import PlainTextResponse

from parlay.api.deps import ServicesDep
from parlay.api.openapi import problems
from parlay.api.params import MAX_ROW_ID, AccountIdPath
from parlay.api.strict_json import api_router
from parlay.messaging import usecases
from parlay.messaging.usecases import WebhookRefused
from parlay.services import Services

router = api_router(prefix="/webhooks", tags=["provider webhooks"])
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
TwilioSignature = Annotated[
    str,
    Header(
        alias="X-Twilio-Signature",
        max_length=256,
        description="Twilio's signature of the URL and form, with the account's auth token.",
    ),
]
MetaSignature = Annotated[
    str,
    Header(
        alias="X-Hub-Signature-256",
        max_length=256,
        description="sha256=<hex HMAC of the body>, keyed with the Meta app's secret.",
    ),
]


def _signed_url(s: Services, request: Request) -> str:
    """The URL the provider called and signed: under ``PARLAY_PUBLIC_URL`` when set (a proxy in
    front of Parlay changes the scheme and host the request arrives with)."""
    if not s.settings.public_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return s.settings.public_url.rstrip("/") + request.url.path + query


async def _form(request: Request) -> dict[str, str]:
    return dict(
        parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    )


@router.post(
    "/twilio/{accountId}/status",
    operation_id="twilioStatusCallback",
    status_code=204,
    responses=problems(403),
)
async def twilio_status(
    accountId: AccountIdPath,
    request: Request,
    s: ServicesDep,
    signature: TwilioSignature = "",
    deliveryId: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_ROW_ID,
            description="The delivery the status is about, as Parlay wrote it in the callback URL.",
        ),
    ] = None,
) -> Response:
    """Twilio reports an SMS's status (sent, delivered, undelivered, failed)."""
    params = await _form(request)
    try:
        await usecases.twilio_status(
            s.sms_statuses,
            s.providers,
            accountId,
            deliveryId,
            _signed_url(s, request),
            params,
            signature,
        )
    except WebhookRefused:
        s.metrics.webhooks_refused.labels("twilio").inc()
        raise
    return Response(status_code=204)


@router.post(
    "/twilio/{accountId}/inbound",
    operation_id="twilioInboundSms",
    response_class=Response,
    responses={
        **problems(403),
        200: {"description": "Empty TwiML", "content": {"text/xml": {"example": EMPTY_TWIML}}},
    },
)
async def twilio_inbound(
    accountId: AccountIdPath,
    request: Request,
    s: ServicesDep,
    signature: TwilioSignature = "",
) -> Response:
    """A consumer's SMS to the brand's number; answered with empty TwiML (no auto-reply)."""
    params = await _form(request)
    try:
        await usecases.twilio_inbound(
            s.tx, s.providers, s.origins, accountId, _signed_url(s, request), params, signature
        )
    except WebhookRefused:
        s.metrics.webhooks_refused.labels("twilio").inc()
        raise
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.get(
    "/whatsapp/{accountId}",
    operation_id="whatsAppHandshake",
    response_class=PlainTextResponse,
    responses={**problems(403), 200: {"description": "The hub.challenge, as text."}},
)
async def whatsapp_handshake(
    accountId: AccountIdPath,
    s: ServicesDep,
    mode: Annotated[
        str, Query(alias="hub.mode", max_length=32, description="`subscribe`, from Meta.")
    ] = "",
    token: Annotated[
        str,
        Query(
            alias="hub.verify_token",
            max_length=256,
            description="Must be the account's WhatsApp verifyToken.",
        ),
    ] = "",
    challenge: Annotated[
        str,
        Query(
            alias="hub.challenge",
            max_length=256,
            description="Answered back as text/plain when the token matches.",
        ),
    ] = "",
) -> Response:
    """Meta's subscription check: the challenge back when the verify token matches."""
    try:
        answer = await usecases.whatsapp_handshake(s.providers, accountId, mode, token, challenge)
    except WebhookRefused:
        s.metrics.webhooks_refused.labels("whatsapp").inc()
        raise
    return Response(answer, media_type="text/plain")


@router.post(
    "/whatsapp/{accountId}",
    operation_id="whatsAppNotification",
    status_code=200,
    response_class=Response,
    responses={**problems(403), 200: {"description": "Taken (an empty body)."}},
)
async def whatsapp_notification(
    accountId: AccountIdPath,
    request: Request,
    s: ServicesDep,
    signature: MetaSignature = "",
) -> Response:
    """Meta's statuses and the consumers' messages on WhatsApp."""
    body = await request.body()
    doc: Any
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None  # refused below, once the signature is checked
    try:
        await usecases.whatsapp_event(s.tx, s.providers, s.origins, accountId, body, signature, doc)
    except WebhookRefused:
        s.metrics.webhooks_refused.labels("whatsapp").inc()
        raise
    return Response(status_code=200)
