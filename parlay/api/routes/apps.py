"""HTTP routes of apps: admins and campaign managers configure push credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ServicesDep, require
from parlay.api.params import AccountIdPath
from parlay.api.schemas.apps import AppIn, AppList, AppOut
from parlay.apps import usecases
from parlay.apps.credentials import public_view
from parlay.apps.usecases import AppSpec
from parlay.lib.ratelimit import ApiFamily

router = APIRouter(prefix="/api/account/{accountId}/apps", tags=["apps"])
CONFIG = ApiFamily.CONFIG


def _spec(body: AppIn) -> AppSpec:
    sections = {
        name: section.model_dump(by_alias=True, exclude_none=True) if section else None
        for name, section in (("apns", body.apns), ("fcm", body.fcm), ("proxy", body.proxy))
    }
    return AppSpec(body.app_id, body.platform, body.push_service, sections)


@router.post("", operation_id="createApp", status_code=201, response_model=AppOut)
async def create_app(
    accountId: AccountIdPath,
    body: AppIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APPS_WRITE, CONFIG)],
) -> AppOut:
    """Register an app (bundle or package ID) with the credentials of its push service."""
    app = await usecases.create_app(s.tx, s.urls, me.account_id, _spec(body))
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
    appId: str,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APPS_READ, CONFIG)],
) -> AppOut:
    """One app."""
    return AppOut.model_validate(public_view(await usecases.get_app(s.tx, me.account_id, appId)))


@router.put("/{appId}", operation_id="replaceApp", response_model=AppOut)
async def replace_app(
    accountId: AccountIdPath,
    appId: str,
    body: AppIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APPS_WRITE, CONFIG)],
) -> AppOut:
    """Replace an app's settings. A secret left out keeps its stored value."""
    app = await usecases.replace_app(s.tx, s.urls, me.account_id, appId, _spec(body))
    return AppOut.model_validate(public_view(app))


@router.delete("/{appId}", operation_id="deleteApp", status_code=204)
async def delete_app(
    accountId: AccountIdPath,
    appId: str,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.APPS_WRITE, CONFIG)],
) -> Response:
    """Remove an app: its devices get no more pushes."""
    await usecases.delete_app(s.tx, me.account_id, appId)
    return Response(status_code=204)
