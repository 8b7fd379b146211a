"""Apps: the account's mobile apps and the credentials of their push service (APNs, FCM or the
brand's push proxy). Credentials are write-only: the page says whether each secret is set and
when the app last changed, never the secret; a secret left empty keeps the stored one."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from parlay.accounts.permissions import Permission
from parlay.api.routes.apps import app_spec
from parlay.api.schemas.apps import AppIn, AppOut
from parlay.apps import usecases
from parlay.apps.credentials import public_view
from parlay.apps.models import App
from parlay.lib.errors import ParlayError
from parlay.web.auth import Viewer, page, services_of
from parlay.web.pages.formdata import nested, optional, refusal, text, validation_errors
from parlay.web.security import WEB_ROOT
from parlay.web.templating import render

router = APIRouter()

PLATFORMS = [("ios", "iOS"), ("android", "Android")]
SERVICES = [
    ("apns", "APNs (Apple)"),
    ("fcm", "FCM (Firebase)"),
    ("proxy", "The brand's push proxy"),
]
ENVIRONMENTS = [("production", "Production"), ("sandbox", "Sandbox")]
INPUTS = {
    "app_id",
    "platform",
    "push_service",
    "apns_team_id",
    "apns_key_id",
    "apns_private_key_pem",
    "apns_environment",
    "apns_endpoint",
    "fcm_service_account_json",
    "fcm_endpoint",
    "proxy_url",
    "proxy_secret",
    "proxy_basic_auth_username",
    "proxy_basic_auth_password",
    "proxy_headers",
}
SECRETS = {
    "apns_private_key_pem",
    "fcm_service_account_json",
    "proxy_secret",
    "proxy_basic_auth_password",
    "proxy_headers",
}
_namer = nested(INPUTS)


def _headers(value: str) -> dict[str, str] | str:
    """``Name: value`` lines; a line without a colon goes to the schema, which refuses it."""
    headers: dict[str, str] = {}
    for line in value.splitlines():
        if not line.strip():
            continue
        name, colon, header = line.partition(":")
        if not colon:
            return value
        headers[name.strip()] = header.strip()
    return headers


def _body(form: FormData) -> dict[str, Any]:
    service = text(form, "push_service")
    body: dict[str, Any] = {
        "appId": text(form, "app_id").strip(),
        "platform": text(form, "platform"),
        "pushService": service,
    }
    if service == "apns":
        body["apns"] = {
            "teamId": text(form, "apns_team_id").strip(),
            "keyId": text(form, "apns_key_id").strip(),
            "privateKeyPem": optional(form, "apns_private_key_pem"),
            "environment": text(form, "apns_environment") or "production",
            "endpoint": optional(form, "apns_endpoint"),
        }
    elif service == "fcm":
        body["fcm"] = {
            "serviceAccountJson": optional(form, "fcm_service_account_json"),
            "endpoint": optional(form, "fcm_endpoint"),
        }
    elif service == "proxy":
        proxy: dict[str, Any] = {
            "url": text(form, "proxy_url").strip(),
            "secret": optional(form, "proxy_secret"),
        }
        username = optional(form, "proxy_basic_auth_username")
        if username is not None:
            proxy["basicAuth"] = {
                "username": username,
                "password": text(form, "proxy_basic_auth_password"),
            }
        headers = optional(form, "proxy_headers")
        if headers is not None:
            proxy["headers"] = _headers(headers)
        body["proxy"] = proxy
    return body


def _view(app: App) -> dict[str, Any]:
    return AppOut.model_validate(public_view(app)).model_dump(by_alias=False)


def _values_of(view: dict[str, Any] | None) -> dict[str, Any]:
    if view is None:
        return {"platform": "ios", "push_service": "apns", "apns_environment": "production"}
    values: dict[str, Any] = {
        "app_id": view["app_id"],
        "platform": view["platform"],
        "push_service": view["push_service"],
    }
    for section in ("apns", "fcm", "proxy"):
        for key, value in (view.get(section) or {}).items():
            if isinstance(value, str):
                values[f"{section}_{key}"] = value
    return values


def _values(form: FormData) -> dict[str, Any]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k not in SECRETS}


async def _list_page(
    request: Request,
    viewer: Viewer,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    apps = await usecases.list_apps(services_of(request).tx, viewer.principal.account_id)
    context = {
        "apps": [_view(a) for a in apps],
        "app": None,
        "values": values or _values_of(None),
        "errors": errors or {},
        "can_write": viewer.can(Permission.APPS_WRITE),
        "done": request.query_params.get("done"),
        **_choices(),
    }
    return render(request, "apps/list.html", context, status=status)


def _choices() -> dict[str, Any]:
    return {"platforms": PLATFORMS, "services": SERVICES, "environments": ENVIRONMENTS}


@router.get("/apps", name="web_apps")
async def apps(request: Request, viewer: Annotated[Viewer, page(Permission.APPS_READ)]) -> Response:
    return await _list_page(request, viewer)


@router.post("/apps", name="web_create_app")
async def create_app(
    request: Request, viewer: Annotated[Viewer, page(Permission.APPS_WRITE)]
) -> Response:
    form = await request.form()
    s = services_of(request)
    try:
        body = AppIn.model_validate(_body(form))
        await usecases.create_app(
            s.tx, s.urls, s.secrets, viewer.principal.account_id, app_spec(body)
        )
    except ValidationError as exc:
        errors = validation_errors(exc, _namer)
        return await _list_page(request, viewer, values=_values(form), errors=errors, status=400)
    except ParlayError as exc:
        errors = refusal(exc, _namer)
        if exc.status == 409:
            errors = {"app_id": "An app with this ID is already registered."}
        return await _list_page(
            request, viewer, values=_values(form), errors=errors, status=exc.status
        )
    return RedirectResponse(f"{WEB_ROOT}/apps?{urlencode({'done': body.app_id})}", status_code=303)


async def _app_page(
    request: Request,
    viewer: Viewer,
    app: App,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    view = _view(app)
    context = {
        "app": view,
        "values": values or _values_of(view),
        "errors": errors or {},
        "can_write": viewer.can(Permission.APPS_WRITE),
        "done": request.query_params.get("done"),
        **_choices(),
    }
    return render(request, "apps/app.html", context, status=status)


@router.get("/apps/{app_id}", name="web_app")
async def app_page(
    request: Request, app_id: str, viewer: Annotated[Viewer, page(Permission.APPS_READ)]
) -> Response:
    app = await usecases.get_app(services_of(request).tx, viewer.principal.account_id, app_id)
    return await _app_page(request, viewer, app)


@router.post("/apps/{app_id}", name="web_replace_app")
async def replace_app(
    request: Request, app_id: str, viewer: Annotated[Viewer, page(Permission.APPS_WRITE)]
) -> Response:
    """Change the app's settings; a secret left empty keeps its stored value."""
    s, account_id = services_of(request), viewer.principal.account_id
    app = await usecases.get_app(s.tx, account_id, app_id)
    form = await request.form()
    body_in = _body(form) | {"appId": app_id}
    try:
        body = AppIn.model_validate(body_in)
        await usecases.replace_app(s.tx, s.urls, s.secrets, account_id, app_id, app_spec(body))
    except ValidationError as exc:
        errors = validation_errors(exc, _namer)
        return await _app_page(
            request, viewer, app, values=_values(form), errors=errors, status=400
        )
    except ParlayError as exc:
        if exc.status == 404:
            raise
        errors = refusal(exc, _namer)
        return await _app_page(
            request, viewer, app, values=_values(form), errors=errors, status=exc.status
        )
    return RedirectResponse(f"{WEB_ROOT}/apps/{quote(app_id)}?done=saved", status_code=303)


@router.post("/apps/{app_id}/delete", name="web_delete_app")
async def delete_app(
    request: Request, app_id: str, viewer: Annotated[Viewer, page(Permission.APPS_WRITE)]
) -> Response:
    """Remove the app: its devices get no more pushes."""
    await usecases.delete_app(services_of(request).tx, viewer.principal.account_id, app_id)
    return RedirectResponse(f"{WEB_ROOT}/apps?{urlencode({'done': 'deleted'})}", status_code=303)
