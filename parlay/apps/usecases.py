"""The app use cases, one unit of work each. The JSON API and the web pages call these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parlay.apps import service
from parlay.apps.credentials import Sections, check_urls
from parlay.apps.models import App
from parlay.lib.db.uow import Transactions
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.secretbox import SecretBox
from parlay.lib.secretbox.check import record_key
from parlay.webhooks import service as webhooks


@dataclass(frozen=True)
class AppsChanged:
    """A signal: an app of the account changed. Readers of push credentials read them again."""

    account_id: str


@dataclass(frozen=True)
class AppSpec:
    app_id: str
    platform: str
    push_service: str
    sections: Sections


async def create_app(
    tx: Transactions, urls: UrlPolicy, box: SecretBox, account_id: str, spec: AppSpec
) -> App:
    await check_urls(urls, spec.push_service, spec.sections)  # may resolve names: no tx open
    async with tx.write() as uow:
        app = await service.create_app(
            uow.session,
            account_id,
            spec.app_id,
            spec.platform,
            spec.push_service,
            spec.sections,
            box,
            uow.now,
        )
        uow.emit(AppsChanged(account_id))
    return app


async def list_apps(tx: Transactions, account_id: str) -> Sequence[App]:
    async with tx.read() as uow:
        return await service.list_apps(uow.session, account_id)


async def get_app(tx: Transactions, account_id: str, app_id: str) -> App:
    async with tx.read() as uow:
        return await service.get_app(uow.session, account_id, app_id)


async def replace_app(
    tx: Transactions,
    urls: UrlPolicy,
    box: SecretBox,
    account_id: str,
    app_id: str,
    spec: AppSpec,
) -> App:
    await check_urls(urls, spec.push_service, spec.sections)  # may resolve names: no tx open
    async with tx.write() as uow:
        app = await service.replace_app(
            uow.session,
            account_id,
            app_id,
            spec.app_id,
            spec.platform,
            spec.push_service,
            spec.sections,
            box,
            uow.now,
        )
        uow.emit(AppsChanged(account_id))
    return app


async def delete_app(tx: Transactions, account_id: str, app_id: str) -> None:
    async with tx.write() as uow:
        await service.delete_app(uow.session, account_id, app_id)
        uow.emit(AppsChanged(account_id))


async def reencrypt_secrets(tx: Transactions, box: SecretBox) -> int:
    """Every stored secret encrypted again with the newest key of ``box`` (after a rotation):
    the apps' credentials and the status webhooks' signing secrets, and the database's key check
    with them, in one transaction; how many apps. Nothing a push client holds changes (the
    secrets are the same), so no signal."""
    async with tx.write() as uow:
        count = await service.reencrypt_secrets(uow.session, box)
        await webhooks.reencrypt(uow.session, box)
        await record_key(uow.session, box, uow.now)
    return count
