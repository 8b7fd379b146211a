"""HTTP routes of an account's SMS and WhatsApp provider accounts (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Response

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ServicesDep, require
from parlay.api.params import AccountIdPath
from parlay.api.schemas.channels import SmsIn, SmsOut, WhatsAppIn, WhatsAppOut
from parlay.api.strict_json import api_router
from parlay.lib.ratelimit import ApiFamily
from parlay.messaging import usecases
from parlay.messaging.credentials import TwilioInput, WhatsAppInput, public_view

router = api_router(prefix="/api/account/{accountId}/channels", tags=["channels"])
CONFIG = ApiFamily.CONFIG


@router.put("/sms", operation_id="connectSms", response_model=SmsOut)
async def connect_sms(
    accountId: AccountIdPath,
    body: SmsIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CHANNELS_WRITE, CONFIG)],
) -> SmsOut:
    """Connect the account's Twilio account: its SMS go through it from now on."""
    given = TwilioInput(
        account_sid=body.account_sid,
        auth_token=body.auth_token,
        from_number=body.from_number,
        messaging_service_sid=body.messaging_service_sid,
        max_messages_per_second=body.max_messages_per_second,
        endpoint=body.endpoint,
    )
    stored = await usecases.save_sms(s.tx, s.urls, s.secrets, me.account_id, given)
    return SmsOut.model_validate(public_view(stored))


@router.get("/sms", operation_id="getSms", response_model=SmsOut)
async def get_sms(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CHANNELS_READ, CONFIG)],
) -> SmsOut:
    """The Twilio account SMS go through (its auth token is never shown); 404: the sandbox."""
    return SmsOut.model_validate(
        public_view(await usecases.get_channel(s.tx, me.account_id, "sms"))
    )


@router.delete("/sms", operation_id="disconnectSms", status_code=204)
async def disconnect_sms(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CHANNELS_WRITE, CONFIG)],
) -> Response:
    """Forget the Twilio account: SMS go to the sandbox again."""
    await usecases.disconnect(s.tx, me.account_id, "sms")
    return Response(status_code=204)


@router.put("/wa", operation_id="connectWhatsApp", response_model=WhatsAppOut)
async def connect_whatsapp(
    accountId: AccountIdPath,
    body: WhatsAppIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CHANNELS_WRITE, CONFIG)],
) -> WhatsAppOut:
    """Connect the account's WhatsApp Business number (Cloud API)."""
    given = WhatsAppInput(
        phone_number_id=body.phone_number_id,
        access_token=body.access_token,
        app_secret=body.app_secret,
        verify_token=body.verify_token,
        graph_version=body.graph_version,
        endpoint=body.endpoint,
    )
    stored = await usecases.save_whatsapp(s.tx, s.urls, s.secrets, me.account_id, given)
    return WhatsAppOut.model_validate(public_view(stored))


@router.get("/wa", operation_id="getWhatsApp", response_model=WhatsAppOut)
async def get_whatsapp(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CHANNELS_READ, CONFIG)],
) -> WhatsAppOut:
    """The WhatsApp number messages go through (no secret is shown); 404: the sandbox."""
    stored = await usecases.get_channel(s.tx, me.account_id, "wa")
    return WhatsAppOut.model_validate(public_view(stored))


@router.delete("/wa", operation_id="disconnectWhatsApp", status_code=204)
async def disconnect_whatsapp(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CHANNELS_WRITE, CONFIG)],
) -> Response:
    """Forget the WhatsApp number: WhatsApp messages go to the sandbox again."""
    await usecases.disconnect(s.tx, me.account_id, "wa")
    return Response(status_code=204)
