"""Settings: the account's settings the API exposes — the time zone reports split days in, the
default skill, the welcome message and the rate limits (consumer sign-in keys stay with the
API, where their PEM or JWKS address is pasted)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from parlay.accounts import usecases
from parlay.accounts.permissions import Permission
from parlay.accounts.settings import AccountSettings
from parlay.api.routes.accounts import settings_change
from parlay.api.schemas.accounts import SettingsUpdate
from parlay.lib.errors import ParlayError
from parlay.web.auth import Viewer, page, services_of
from parlay.web.pages.formdata import (
    checked,
    nested,
    optional,
    refusal,
    text,
    validation_errors,
    whole_number,
)
from parlay.web.security import WEB_ROOT
from parlay.web.templating import render

router = APIRouter()

FAMILIES = (
    ("c2m", "Click to message (per account)"),
    ("proactive", "Campaigns (per account)"),
    ("reporting", "Reporting (per account)"),
    ("consumer", "Consumer apps (per consumer)"),
)
_namer = nested(
    {"time_zone", "default_skill", "welcome_message_enabled", "welcome_message_text"}
    | {f"rate_limits_{family}" for family, _ in FAMILIES}
)


def _values_of(settings: AccountSettings) -> dict[str, Any]:
    values: dict[str, Any] = {
        "time_zone": settings.time_zone,
        "default_skill": settings.default_skill or "",
        "welcome_message_enabled": settings.welcome_enabled,
        "welcome_message_text": settings.welcome_text or "",
    }
    for family, _ in FAMILIES:
        values[f"rate_limits_{family}"] = str(getattr(settings.rate_limits, family))
    return values


def _values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {key: text(form, key) for key in form}
    values["welcome_message_enabled"] = checked(form, "welcome_message_enabled")
    return values


def _body(form: FormData) -> dict[str, Any]:
    return {
        "timeZone": text(form, "time_zone").strip(),
        "defaultSkill": optional(form, "default_skill"),
        "welcomeMessage": {
            "enabled": checked(form, "welcome_message_enabled"),
            "text": optional(form, "welcome_message_text"),
        },
        "rateLimits": {
            family: whole_number(text(form, f"rate_limits_{family}")) for family, _ in FAMILIES
        },
    }


async def _page(
    request: Request,
    viewer: Viewer,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    tx, account_id = services_of(request).tx, viewer.principal.account_id
    current = await usecases.get_settings(tx, account_id)
    skills = await usecases.list_skills(tx, account_id)
    context = {
        "values": values or _values_of(current),
        "errors": errors or {},
        "skills": [("", "None")] + [(s.name, s.name) for s in skills],
        "families": FAMILIES,
        "consumer_auth": current.consumer_auth,
        "can_write": viewer.can(Permission.SETTINGS_WRITE),
        "saved": "saved" in request.query_params,
    }
    return render(request, "settings/page.html", context, status=status)


@router.get("/settings", name="web_settings")
async def settings(
    request: Request, viewer: Annotated[Viewer, page(Permission.SETTINGS_READ)]
) -> Response:
    return await _page(request, viewer)


@router.post("/settings", name="web_update_settings")
async def update_settings(
    request: Request, viewer: Annotated[Viewer, page(Permission.SETTINGS_WRITE)]
) -> Response:
    form = await request.form()
    values = _values(form)
    s = services_of(request)
    try:
        body = SettingsUpdate.model_validate(_body(form))
        await usecases.update_settings(
            s.tx, s.urls, viewer.principal.account_id, settings_change(body)
        )
    except ValidationError as exc:
        errors = validation_errors(exc, _namer)
        return await _page(request, viewer, values=values, errors=errors, status=400)
    except ParlayError as exc:
        errors = refusal(exc, _namer)
        return await _page(request, viewer, values=values, errors=errors, status=exc.status)
    return RedirectResponse(f"{WEB_ROOT}/settings?saved", status_code=303)
