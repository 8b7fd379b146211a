"""Apps of an account (bundle or package IDs): create, read, replace, delete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.apps.credentials import Sections, check_app, resealed, stored_settings
from parlay.apps.models import App, Device
from parlay.apps.stored import to_json
from parlay.lib.errors import Conflict, NotFound, invalid_field
from parlay.lib.secretbox import SecretBox


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
    sections: Sections,
    box: SecretBox,
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
        credentials=to_json(check_app(platform, push_service, sections, box)),
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
    sections: Sections,
    box: SecretBox,
    now: datetime,
) -> App:
    app = await get_app(session, account_id, app_id)
    if body_app_id != app_id:
        raise invalid_field("appId", "must match the app in the path (an app ID cannot change)")
    settings = check_app(platform, push_service, sections, box, stored_settings(app))
    app.credentials = to_json(settings)
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


async def reencrypt_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Every app's secrets encrypted again with the newest key; how many apps."""
    apps = (await session.execute(select(App).order_by(App.id))).scalars().all()
    for app in apps:
        app.credentials = to_json(resealed(stored_settings(app), box))
    await session.flush()
    return len(apps)
