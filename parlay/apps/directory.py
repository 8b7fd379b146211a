"""The apps of an account as the in-app channel needs them (``channels.inapp.PushApps``), read
from the database and cached for a few seconds: every push needs its app's credentials."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy import select

from parlay.apps.credentials import push_app
from parlay.apps.models import App
from parlay.channels.push import PushApp
from parlay.lib.db.engine import Database
from parlay.lib.secretbox import SecretBox

APPS_CACHE_SECONDS = 30.0


class PushAppDirectory:
    def __init__(
        self,
        db: Database,
        secrets: SecretBox,
        *,
        cache_seconds: float = APPS_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._secrets = secrets  # decrypts the credentials as they are read
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._apps: dict[str, tuple[float, dict[str, PushApp]]] = {}
        self._loading: dict[str, asyncio.Lock] = {}

    def forget(self, account_id: str) -> None:
        """An app of the account changed: read its apps again on the next send (in this
        process; other processes within ``cache_seconds``)."""
        self._apps.pop(account_id, None)

    def _fresh(self, account_id: str) -> dict[str, PushApp] | None:
        cached = self._apps.get(account_id)
        if cached is not None and self._monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        return None

    async def apps_of(self, account_id: str) -> dict[str, PushApp]:
        if (apps := self._fresh(account_id)) is not None:
            return apps
        async with self._loading.setdefault(account_id, asyncio.Lock()):
            if (apps := self._fresh(account_id)) is not None:
                return apps
            async with self._db.read() as session:
                rows = await session.execute(select(App).where(App.account_id == account_id))
                # An app whose secrets no key opens raises: the send is retried (and logged)
                # until the operator puts the key back, rather than failed for good.
                apps = {a.app_id: push_app(a, self._secrets) for a in rows.scalars()}
            self._apps[account_id] = (self._monotonic(), apps)
            return apps
