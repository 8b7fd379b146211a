"""Handoffs: the account's saved outbound configurations; a form to create or change one.

The form is validated with the JSON API's schema and saved by the same use cases, so every rule
of a handoff is the API's. A refusal names the field by its API path (``channels.0.appIds``);
the page shows it beside its own input.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from parlay.accounts import usecases as accounts
from parlay.accounts.permissions import Permission
from parlay.api.routes.handoffs import handoff_spec
from parlay.api.schemas.handoffs import HandoffIn
from parlay.handoffs import usecases
from parlay.handoffs.models import Handoff
from parlay.lib.errors import ParlayError
from parlay.web.auth import Viewer, page, services_of
from parlay.web.pages.formdata import (
    checked,
    optional,
    refusal,
    snake,
    text,
    validation_errors,
    words,
)
from parlay.web.security import WEB_ROOT
from parlay.web.templating import render

router = APIRouter()

CHANNEL_TYPES = ("inapp", "sms", "wa")
CHANNEL_TITLES = {"inapp": "In-app push", "sms": "SMS", "wa": "WhatsApp"}
# The inputs of each channel's fieldset, by the API's field name.
CHANNEL_FIELDS = {
    "inapp": ("appIds", "notificationTitle", "messageText"),
    "sms": ("outboundNumber", "messageText"),
    "wa": (
        "outboundNumber",
        "templateName",
        "templateLanguage",
        "templateVariables",
        "messageText",
    ),
}
TOP_FIELDS = frozenset(
    {
        "name",
        "skill",
        "lookback_period_day",
        "lookback_period_hour",
        "route_all_within_lookback",
        "push_when_logged_in",
        "push_when_logged_out",
    }
)
# When a handoff has both SMS and WhatsApp, which is tried first.
ORDERS = {"sms,wa": "SMS first, then WhatsApp", "wa,sms": "WhatsApp first, then SMS"}


def channel_input(kind: str, api_field: str) -> str:
    """The input of one channel's field: ``wa_template_name``."""
    return f"{kind}_{snake(api_field)}"


def _types(form: FormData) -> list[str]:
    """The channels ticked, in the order they are tried."""
    types = [kind for kind in CHANNEL_TYPES if checked(form, f"channel_{kind}")]
    if "sms" in types and "wa" in types and text(form, "order") == "wa,sms":
        types = [t for t in types if t not in ("sms", "wa")] + ["wa", "sms"]
    return types


def _namer(types: list[str]) -> Any:
    def name(path: str) -> str | None:
        parts = path.split(".")
        if parts[0] == "channels":
            if len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(types):
                kind = types[int(parts[1])]
                if parts[2] in CHANNEL_FIELDS[kind]:
                    return channel_input(kind, parts[2])
            return "channels"
        field = snake(parts[0])
        return field if field in TOP_FIELDS else None

    return name


def _body(form: FormData, types: list[str]) -> dict[str, Any]:
    """The JSON API's body, from the form: an empty input is a field left out."""
    channels = []
    for kind in types:
        channel: dict[str, Any] = {"type": kind}
        for api_field in CHANNEL_FIELDS[kind]:
            value = optional(form, channel_input(kind, api_field))
            if value is None:
                continue
            channel[api_field] = words(value) if api_field == "appIds" else value
        channels.append(channel)
    return {
        "name": text(form, "name"),
        "skill": optional(form, "skill"),
        "lookbackPeriodDay": optional(form, "lookback_period_day"),
        "lookbackPeriodHour": optional(form, "lookback_period_hour"),
        "routeAllWithinLookback": checked(form, "route_all_within_lookback"),
        "pushWhenLoggedIn": checked(form, "push_when_logged_in"),
        "pushWhenLoggedOut": checked(form, "push_when_logged_out"),
        "channels": channels,
    }


def _values_of_form(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {key: text(form, key) for key in form}
    for key in ("route_all_within_lookback", "push_when_logged_in", "push_when_logged_out"):
        values[key] = checked(form, key)
    for kind in CHANNEL_TYPES:
        values[f"channel_{kind}"] = checked(form, f"channel_{kind}")
    return values


def _values_of(handoff: Handoff | None) -> dict[str, Any]:
    """The form filled with a handoff (or a new one's defaults)."""
    if handoff is None:
        return {
            "route_all_within_lookback": True,
            "push_when_logged_in": True,
            "push_when_logged_out": False,
            "order": "sms,wa",
        }
    values: dict[str, Any] = {
        "name": handoff.name,
        "skill": handoff.skill or "",
        "lookback_period_day": str(handoff.lookback_period_day),
        "lookback_period_hour": str(handoff.lookback_period_hour),
        "route_all_within_lookback": handoff.route_all_within_lookback,
        "push_when_logged_in": handoff.push_when_logged_in,
        "push_when_logged_out": handoff.push_when_logged_out,
    }
    types = [str(c["type"]) for c in handoff.channels]
    values["order"] = "wa,sms" if types[:2] == ["wa", "sms"] else "sms,wa"
    for channel in handoff.channels:
        kind = str(channel["type"])
        values[f"channel_{kind}"] = True
        for api_field in CHANNEL_FIELDS.get(kind, ()):
            value = channel.get(api_field)
            if value is None:
                continue
            shown = ", ".join(value) if isinstance(value, list) else str(value)
            values[channel_input(kind, api_field)] = shown
    return values


async def _form_page(
    request: Request,
    viewer: Viewer,
    *,
    handoff: Handoff | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    skills = await accounts.list_skills(services_of(request).tx, viewer.principal.account_id)
    context = {
        "handoff": handoff,
        "values": values,
        "errors": errors or {},
        "skills": [s.name for s in skills],
        "channel_types": CHANNEL_TYPES,
        "channel_titles": CHANNEL_TITLES,
        "orders": ORDERS,
        "can_write": viewer.can(Permission.HANDOFFS_WRITE),
    }
    return render(request, "handoffs/form.html", context, status=status)


def _summary(handoff: Handoff) -> str:
    return ", ".join(CHANNEL_TITLES.get(str(c["type"]), str(c["type"])) for c in handoff.channels)


@router.get("/handoffs", name="web_handoffs")
async def handoffs(
    request: Request, viewer: Annotated[Viewer, page(Permission.HANDOFFS_READ)]
) -> Response:
    items = await usecases.list_handoffs(services_of(request).tx, viewer.principal.account_id)
    context = {
        "handoffs": [(h, _summary(h)) for h in items],
        "can_write": viewer.can(Permission.HANDOFFS_WRITE),
        "saved": request.query_params.get("saved"),
        "deleted": request.query_params.get("deleted"),
    }
    return render(request, "handoffs/list.html", context)


@router.get("/handoffs/new", name="web_new_handoff")
async def new_handoff(
    request: Request, viewer: Annotated[Viewer, page(Permission.HANDOFFS_WRITE)]
) -> Response:
    return await _form_page(request, viewer, handoff=None, values=_values_of(None))


@router.post("/handoffs", name="web_create_handoff")
async def create_handoff(
    request: Request, viewer: Annotated[Viewer, page(Permission.HANDOFFS_WRITE)]
) -> Response:
    """Create a handoff; each refusal comes back beside the input it is about."""
    form = await request.form()
    types = _types(form)
    namer = _namer(types)
    values = _values_of_form(form)
    try:
        body = HandoffIn.model_validate(_body(form, types))
    except ValidationError as exc:
        errors = validation_errors(exc, namer)
        return await _form_page(
            request, viewer, handoff=None, values=values, errors=errors, status=400
        )
    try:
        await usecases.create_handoff(
            services_of(request).tx,
            viewer.principal.account_id,
            handoff_spec(body),
            repeat=None,
            answer=_no_answer,
        )
    except ParlayError as exc:
        return await _form_page(
            request,
            viewer,
            handoff=None,
            values=values,
            errors=refusal(exc, namer),
            status=exc.status,
        )
    return _saved(body.name)


def _no_answer(handoff: Handoff) -> tuple[int, Any]:
    # No Idempotency-Key from a form: the answer is never stored, only the redirect follows.
    return 201, None


def _saved(name: str) -> Response:
    return RedirectResponse(f"{WEB_ROOT}/handoffs?{urlencode({'saved': name})}", status_code=303)


@router.get("/handoffs/{handoff_id}", name="web_handoff")
async def handoff_page(
    request: Request,
    handoff_id: str,
    viewer: Annotated[Viewer, page(Permission.HANDOFFS_READ)],
) -> Response:
    """A handoff's settings: a form to change them for those who may, read-only otherwise."""
    handoff = await usecases.get_handoff(
        services_of(request).tx, viewer.principal.account_id, handoff_id
    )
    return await _form_page(request, viewer, handoff=handoff, values=_values_of(handoff))


@router.post("/handoffs/{handoff_id}", name="web_replace_handoff")
async def replace_handoff(
    request: Request,
    handoff_id: str,
    viewer: Annotated[Viewer, page(Permission.HANDOFFS_WRITE)],
) -> Response:
    tx, account_id = services_of(request).tx, viewer.principal.account_id
    handoff = await usecases.get_handoff(tx, account_id, handoff_id)  # 404 before any rule
    form = await request.form()
    types = _types(form)
    namer = _namer(types)
    values = _values_of_form(form)
    try:
        body = HandoffIn.model_validate(_body(form, types))
        await usecases.replace_handoff(tx, account_id, handoff_id, handoff_spec(body))
    except ValidationError as exc:
        errors = validation_errors(exc, namer)
        return await _form_page(
            request, viewer, handoff=handoff, values=values, errors=errors, status=400
        )
    except ParlayError as exc:
        if exc.status == 404:
            raise
        return await _form_page(
            request,
            viewer,
            handoff=handoff,
            values=values,
            errors=refusal(exc, namer),
            status=exc.status,
        )
    return _saved(body.name)


@router.post("/handoffs/{handoff_id}/delete", name="web_delete_handoff")
async def delete_handoff(
    request: Request,
    handoff_id: str,
    viewer: Annotated[Viewer, page(Permission.HANDOFFS_WRITE)],
) -> Response:
    tx, account_id = services_of(request).tx, viewer.principal.account_id
    handoff = await usecases.get_handoff(tx, account_id, handoff_id)
    await usecases.delete_handoff(tx, account_id, handoff_id)
    query = urlencode({"deleted": handoff.name})
    return RedirectResponse(f"{WEB_ROOT}/handoffs?{query}", status_code=303)
