"""Channels: the account's SMS (Twilio) and WhatsApp (Cloud API) provider accounts. Secrets are
write-only: the page says whether each is set, never what it is; left empty, a stored one is
kept (while the endpoint stays the same), as with the channels API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from parlay.accounts.permissions import Permission
from parlay.api.schemas.channels import SmsIn, SmsOut, WhatsAppIn, WhatsAppOut
from parlay.lib.errors import NotFound, ParlayError
from parlay.messaging import usecases
from parlay.messaging.credentials import TwilioInput, WhatsAppInput, public_view
from parlay.web.auth import Viewer, page, services_of
from parlay.web.pages.formdata import FieldNamer, optional, refusal, snake, validation_errors
from parlay.web.security import WEB_ROOT
from parlay.web.templating import render

router = APIRouter()

SMS_FIELDS = (
    "accountSid",
    "authToken",
    "fromNumber",
    "messagingServiceSid",
    "maxMessagesPerSecond",
    "endpoint",
)
WA_FIELDS = ("phoneNumberId", "accessToken", "appSecret", "verifyToken", "graphVersion", "endpoint")
FIELDS = {"sms": SMS_FIELDS, "wa": WA_FIELDS}


def _input(channel: str, api_field: str) -> str:
    return f"{channel}_{snake(api_field)}"


def _namer(channel: str) -> FieldNamer:
    def name(path: str) -> str | None:
        field = path.split(".")[0]
        return _input(channel, field) if field in FIELDS[channel] else None

    return name


def _body(form: FormData, channel: str) -> dict[str, Any]:
    """The API's body: an empty input is a field left out (a secret keeps its stored value)."""
    body: dict[str, Any] = {}
    for api_field in FIELDS[channel]:
        value = optional(form, _input(channel, api_field))
        if value is not None:
            body[api_field] = value
    return body


async def _stored(request: Request, viewer: Viewer, channel: str) -> dict[str, Any] | None:
    try:
        stored = await usecases.get_channel(
            services_of(request).tx, viewer.principal.account_id, channel
        )
    except NotFound:
        return None
    shape = SmsOut if channel == "sms" else WhatsAppOut
    return shape.model_validate(public_view(stored)).model_dump(by_alias=False)


def _values_of(stored: dict[str, Any] | None, channel: str) -> dict[str, str]:
    if stored is None:
        return {}
    return {
        _input(channel, api_field): str(stored[snake(api_field)])
        for api_field in FIELDS[channel]
        if stored.get(snake(api_field)) is not None
    }


async def _page(
    request: Request,
    viewer: Viewer,
    *,
    channel: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    sms = await _stored(request, viewer, "sms")
    wa = await _stored(request, viewer, "wa")
    shown = {**_values_of(sms, "sms"), **_values_of(wa, "wa")}
    if channel is not None and values is not None:
        shown = {k: v for k, v in shown.items() if not k.startswith(channel + "_")} | values
    context = {
        "sms": sms,
        "wa": wa,
        "values": shown,
        "errors": errors or {},
        "error_of": channel,
        "can_write": viewer.can(Permission.CHANNELS_WRITE),
        "done": request.query_params.get("done"),
    }
    return render(request, "channels/page.html", context, status=status)


@router.get("/channels", name="web_channels")
async def channels(
    request: Request, viewer: Annotated[Viewer, page(Permission.CHANNELS_READ)]
) -> Response:
    return await _page(request, viewer)


async def _save(request: Request, viewer: Viewer, channel: str) -> Response:
    form = await request.form()
    values = {key: v for key, v in form.items() if isinstance(v, str) and key.startswith(channel)}
    values = {k: v for k, v in values.items() if not _is_secret(channel, k)}
    namer = _namer(channel)
    s, account_id = services_of(request), viewer.principal.account_id
    try:
        if channel == "sms":
            sms = SmsIn.model_validate(_body(form, "sms"))
            given_sms = TwilioInput(
                account_sid=sms.account_sid,
                auth_token=sms.auth_token,
                from_number=sms.from_number,
                messaging_service_sid=sms.messaging_service_sid,
                max_messages_per_second=sms.max_messages_per_second,
                endpoint=sms.endpoint,
            )
            await usecases.save_sms(s.tx, s.urls, s.secrets, account_id, given_sms)
        else:
            wa = WhatsAppIn.model_validate(_body(form, "wa"))
            given_wa = WhatsAppInput(
                phone_number_id=wa.phone_number_id,
                access_token=wa.access_token,
                app_secret=wa.app_secret,
                verify_token=wa.verify_token,
                graph_version=wa.graph_version,
                endpoint=wa.endpoint,
            )
            await usecases.save_whatsapp(s.tx, s.urls, s.secrets, account_id, given_wa)
    except ValidationError as exc:
        errors = validation_errors(exc, namer)
        return await _page(
            request, viewer, channel=channel, values=values, errors=errors, status=400
        )
    except ParlayError as exc:
        errors = refusal(exc, namer)
        return await _page(
            request, viewer, channel=channel, values=values, errors=errors, status=exc.status
        )
    return RedirectResponse(f"{WEB_ROOT}/channels?done={channel}", status_code=303)


def _is_secret(channel: str, key: str) -> bool:
    secrets = {"sms": ("authToken",), "wa": ("accessToken", "appSecret", "verifyToken")}
    return key in {_input(channel, f) for f in secrets[channel]}


@router.post("/channels/sms", name="web_save_sms")
async def save_sms(
    request: Request, viewer: Annotated[Viewer, page(Permission.CHANNELS_WRITE)]
) -> Response:
    """Connect or change the Twilio account SMS go through."""
    return await _save(request, viewer, "sms")


@router.post("/channels/wa", name="web_save_whatsapp")
async def save_whatsapp(
    request: Request, viewer: Annotated[Viewer, page(Permission.CHANNELS_WRITE)]
) -> Response:
    """Connect or change the WhatsApp number messages go through."""
    return await _save(request, viewer, "wa")


async def _disconnect(request: Request, viewer: Viewer, channel: str) -> Response:
    await usecases.disconnect(services_of(request).tx, viewer.principal.account_id, channel)
    return RedirectResponse(f"{WEB_ROOT}/channels?done={channel}-off", status_code=303)


@router.post("/channels/sms/disconnect", name="web_disconnect_sms")
async def disconnect_sms(
    request: Request, viewer: Annotated[Viewer, page(Permission.CHANNELS_WRITE)]
) -> Response:
    """Forget the Twilio account: SMS go to the sandbox again."""
    return await _disconnect(request, viewer, "sms")


@router.post("/channels/wa/disconnect", name="web_disconnect_whatsapp")
async def disconnect_whatsapp(
    request: Request, viewer: Annotated[Viewer, page(Permission.CHANNELS_WRITE)]
) -> Response:
    """Forget the WhatsApp number: its messages go to the sandbox again."""
    return await _disconnect(request, viewer, "wa")
