"""HTTP routes of apps (SPEC §9): admins and campaign managers configure push credentials."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ContainerDep, require
from parlay.api.params import AccountIdPath
from parlay.apps import service
from parlay.apps.schemas import AppIn, AppList, AppOut
from parlay.ratelimit.limiter import ApiFamily

router = APIRouter(prefix="/api/account/{accountId}/apps", tags=["apps"])
CONFIG = ApiFamily.CONFIG


def _sections(body: AppIn) -> dict[str, dict[str, Any] | None]:
    return {
        name: section.model_dump(by_alias=True, exclude_none=True) if section else None
        for name, section in (("apns", body.apns), ("fcm", body.fcm), ("proxy", body.proxy))
    }


@router.post("", operation_id="createApp", status_code=201, response_model=AppOut)
async def create_app(
    accountId: AccountIdPath,
    body: AppIn,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.APPS_WRITE, CONFIG)],
) -> AppOut:
    """Register an app (bundle or package ID) with the credentials of its push service."""
    async with c.db.write() as session:
        app = await service.create_app(
            session,
            me.account_id,
            body.app_id,
            body.platform,
            body.push_service,
            _sections(body),
            c.clock.now(),
        )
    c.notify_apps_changed(me.account_id)
    return AppOut.model_validate(service.public_view(app))


@router.get("", operation_id="listApps", response_model=AppList)
async def list_apps(
    accountId: AccountIdPath,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.APPS_READ, CONFIG)],
) -> AppList:
    """The account's apps (secrets are never returned)."""
    async with c.db.read() as session:
        apps = await service.list_apps(session, me.account_id)
    return AppList(apps=[AppOut.model_validate(service.public_view(a)) for a in apps])


@router.get("/{appId}", operation_id="getApp", response_model=AppOut)
async def get_app(
    accountId: AccountIdPath,
    appId: str,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.APPS_READ, CONFIG)],
) -> AppOut:
    """One app."""
    async with c.db.read() as session:
        app = await service.get_app(session, me.account_id, appId)
    return AppOut.model_validate(service.public_view(app))


@router.put("/{appId}", operation_id="replaceApp", response_model=AppOut)
async def replace_app(
    accountId: AccountIdPath,
    appId: str,
    body: AppIn,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.APPS_WRITE, CONFIG)],
) -> AppOut:
    """Replace an app's settings. A secret left out keeps its stored value."""
    async with c.db.write() as session:
        app = await service.replace_app(
            session,
            me.account_id,
            appId,
            body.app_id,
            body.platform,
            body.push_service,
            _sections(body),
            c.clock.now(),
        )
    c.notify_apps_changed(me.account_id)
    return AppOut.model_validate(service.public_view(app))


@router.delete("/{appId}", operation_id="deleteApp", status_code=204)
async def delete_app(
    accountId: AccountIdPath,
    appId: str,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.APPS_WRITE, CONFIG)],
) -> Response:
    """Remove an app: its devices get no more pushes."""
    async with c.db.write() as session:
        await service.delete_app(session, me.account_id, appId)
    c.notify_apps_changed(me.account_id)
    return Response(status_code=204)
