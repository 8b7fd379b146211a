"""API keys: the keys the account's systems call Parlay with. A new key's secret is shown once,
on the answer to the form that created it; the list shows prefixes, never secrets."""

from __future__ import annotations

from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from parlay.accounts import usecases
from parlay.accounts.permissions import Permission
from parlay.api.schemas.accounts import ApiKeyCreate, Scope
from parlay.web.auth import Viewer, page, services_of
from parlay.web.pages.formdata import chosen, text, top_level, validation_errors
from parlay.web.security import WEB_ROOT
from parlay.web.templating import render

router = APIRouter()

SCOPES: tuple[str, ...] = get_args(Scope)
SCOPE_HINTS = {
    "c2m": "c2m: invite callers from an IVR (click to message)",
    "proactive": "proactive: send campaigns and read their results",
    "reporting": "reporting: read the analytics",
    "handoffs:read": "handoffs:read: list the handoffs",
    "webhooks": "webhooks: subscribe to status events",
}
KINDS = (
    ("bearer", "Bearer key (sent as a bearer token, or exchanged for one)"),
    ("oauth1", "OAuth 1.0a (LivePerson's signed requests)"),
)
_namer = top_level({"name", "scopes", "kind"})


async def _page(
    request: Request,
    viewer: Viewer,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    created: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    keys = await usecases.list_api_keys(services_of(request).tx, viewer.principal.account_id)
    context = {
        "keys": keys,
        "scopes": [(scope, SCOPE_HINTS.get(scope, scope)) for scope in SCOPES],
        "kinds": KINDS,
        "values": values or {"kind": "bearer", "scopes": []},
        "errors": errors or {},
        "created": created,
        "revoked": request.query_params.get("revoked"),
    }
    return render(request, "apikeys/page.html", context, status=status)


@router.get("/apikeys", name="web_apikeys")
async def apikeys(
    request: Request, viewer: Annotated[Viewer, page(Permission.APIKEYS_MANAGE)]
) -> Response:
    return await _page(request, viewer)


@router.post("/apikeys", name="web_create_apikey")
async def create_apikey(
    request: Request, viewer: Annotated[Viewer, page(Permission.APIKEYS_MANAGE)]
) -> Response:
    """Create a key and show its secret in this answer only (the page after a reload, or any
    other, never shows it again: only its digest is stored)."""
    form = await request.form()
    values = {
        "name": text(form, "name"),
        "scopes": chosen(form, "scopes"),
        "kind": text(form, "kind"),
    }
    try:
        body = ApiKeyCreate.model_validate(values)
    except ValidationError as exc:
        errors = validation_errors(exc, _namer)
        return await _page(request, viewer, values=values, errors=errors, status=400)
    s, account_id = services_of(request), viewer.principal.account_id
    created: dict[str, str]
    if body.kind == "oauth1":
        secrets, record = await usecases.create_oauth_key(
            s.tx, s.secrets, account_id, body.name, body.scopes
        )
        created = {
            "name": record.name,
            "consumer_key": secrets.consumer_key,
            "consumer_secret": secrets.consumer_secret,
            "token": secrets.token,
            "token_secret": secrets.token_secret,
        }
    else:
        key, record = await usecases.create_api_key(s.tx, account_id, body.name, body.scopes)
        created = {"name": record.name, "key": key, "client_id": record.prefix}
    return await _page(request, viewer, created=created, status=201)


@router.post("/apikeys/{key_id}/revoke", name="web_revoke_apikey")
async def revoke_apikey(
    request: Request, key_id: int, viewer: Annotated[Viewer, page(Permission.APIKEYS_MANAGE)]
) -> Response:
    """Revoke a key: it stops authenticating at once."""
    s, account_id = services_of(request), viewer.principal.account_id
    name = text(await request.form(), "name")
    await usecases.revoke_api_key(s.tx, account_id, key_id)
    query = urlencode({"revoked": name or str(key_id)})
    return RedirectResponse(f"{WEB_ROOT}/apikeys?{query}", status_code=303)
