"""HTTP routes of apps: admins and campaign managers configure push credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import Response

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ServicesDep, require
from parlay.api.openapi import problems
from parlay.api.params import AccountIdPath, AppIdPath
from parlay.api.schemas.apps import AppIn, AppList, AppOut
from parlay.api.strict_json import api_router
from parlay.apps import usecases
from parlay.apps.credentials import ApnsInput, FcmInput, ProxyInput, Sections, public_view
from parlay.apps.usecases import AppSpec
from parlay.lib.ratelimit import ApiFamily

router = api_router(prefix="/api/account/{accountId}/apps", tags=["apps"])
CONFIG = ApiFamily.CONFIG


def app_spec(body: AppIn) -> AppSpec:
    """The use case's input from the request body (the web tool's form maps to it too)."""
    apns, fcm, proxy = body.apns, body.fcm, body.proxy
    sections = Sections(
        apns=None
        if apns is None
        else ApnsInput(
            team_id=apns.team_id,
            key_id=apns.key_id,
            environment=apns.environment,
            endpoint=apns.endpoint,
            private_key_pem=apns.private_key_pem,
        ),
        fcm=None
        if fcm is None
        else FcmInput(service_account_json=fcm.service_account_json, endpoint=fcm.endpoint),
        proxy=None
        if proxy is None
        else ProxyInput(
            url=proxy.url,
            secret=proxy.secret,
            basic_auth=(proxy.basic_auth.username, proxy.basic_auth.password)
            if proxy.basic_auth
            else None,
            headers=tuple((proxy.headers or {}).items()),
        ),
    )
    return AppSpec(body.app_id, body.platform, body.push_service, sections)


@router.post(
    "", operation_id="createApp", responses=problems(409), status_code=201, response_model=AppOut
)
async def create_app(
    accountId: AccountIdPath,
    body: AppIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APPS_WRITE, CONFIG)],
) -> AppOut:
    """Register an app (bundle or package ID) with the credentials of its push service."""
    app = await usecases.create_app(s.tx, s.urls, s.secrets, me.account_id, app_spec(body))
    return AppOut.model_validate(public_view(app))


@router.get("", operation_id="listApps", response_model=AppList)
async def list_apps(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APPS_READ, CONFIG)],
) -> AppList:
    """The account's apps (secrets are never returned)."""
    apps = await usecases.list_apps(s.tx, me.account_id)
    return AppList(apps=[AppOut.model_validate(public_view(a)) for a in apps])


@router.get("/{appId}", operation_id="getApp", response_model=AppOut)
async def get_app(
    accountId: AccountIdPath,
    appId: AppIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APPS_READ, CONFIG)],
) -> AppOut:
    """One app."""
    return AppOut.model_validate(public_view(await usecases.get_app(s.tx, me.account_id, appId)))


@router.put("/{appId}", operation_id="replaceApp", response_model=AppOut)
async def replace_app(
    accountId: AccountIdPath,
    appId: AppIdPath,
    body: AppIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APPS_WRITE, CONFIG)],
) -> AppOut:
    """Replace an app's settings. A secret left out keeps its stored value."""
    app = await usecases.replace_app(s.tx, s.urls, s.secrets, me.account_id, appId, app_spec(body))
    return AppOut.model_validate(public_view(app))


@router.delete("/{appId}", operation_id="deleteApp", status_code=204)
async def delete_app(
    accountId: AccountIdPath,
    appId: AppIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APPS_WRITE, CONFIG)],
) -> Response:
    """Remove an app: its devices get no more pushes."""
    await usecases.delete_app(s.tx, me.account_id, appId)
    return Response(status_code=204)
