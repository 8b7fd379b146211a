"""Apps of an account (bundle or package IDs): create, read, replace, delete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.apps.credentials import check_app
from parlay.apps.models import App, Device
from parlay.lib.errors import Conflict, NotFound, invalid_field


async def get_app(session: AsyncSession, account_id: str, app_id: str) -> App:
    app = await session.scalar(
        select(App).where(App.account_id == account_id, App.app_id == app_id)
    )
    if app is None:
        raise NotFound(f"no app {app_id!r}")
    return app


async def list_apps(session: AsyncSession, account_id: str) -> Sequence[App]:
    return (
        (
            await session.execute(
                select(App).where(App.account_id == account_id).order_by(App.app_id)
            )
        )
        .scalars()
        .all()
    )


async def create_app(
    session: AsyncSession,
    account_id: str,
    app_id: str,
    platform: str,
    push_service: str,
    sections: dict[str, dict[str, Any] | None],
    now: datetime,
) -> App:
    existing = await session.scalar(
        select(App.id).where(App.account_id == account_id, App.app_id == app_id)
    )
    if existing is not None:
        raise Conflict(f"app {app_id!r} already exists")
    app = App(
        account_id=account_id,
        app_id=app_id,
        platform=platform,
        push_service=push_service,
        credentials=check_app(platform, push_service, sections),
        created_at=now,
        updated_at=now,
    )
    session.add(app)
    try:
        await session.flush()
    except IntegrityError as exc:
        # A concurrent create of the same appId took the unique key between our check and here.
        raise Conflict(f"app {app_id!r} already exists") from exc
    return app


async def replace_app(
    session: AsyncSession,
    account_id: str,
    app_id: str,
    body_app_id: str,
    platform: str,
    push_service: str,
    sections: dict[str, dict[str, Any] | None],
    now: datetime,
) -> App:
    app = await get_app(session, account_id, app_id)
    if body_app_id != app_id:
        raise invalid_field("appId", "must match the app in the path (an app ID cannot change)")
    app.credentials = check_app(platform, push_service, sections, app.credentials)
    app.platform, app.push_service, app.updated_at = platform, push_service, now
    await session.flush()
    return app


async def delete_app(session: AsyncSession, account_id: str, app_id: str) -> None:
    """Remove the app; its devices lose their push tokens, so sends to them fail as
    NO_PUSH_TOKEN at once instead of reaching a provider with no credentials."""
    await session.delete(await get_app(session, account_id, app_id))
    await session.execute(
        update(Device)
        .where(Device.account_id == account_id, Device.app_id == app_id)
        .values(push_token=None, push_token_key=None)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
