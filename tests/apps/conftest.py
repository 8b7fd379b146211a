"""Fixtures of the apps tests: the apps API of a brand, called as its admin by default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from parlay.apps.credentials import push_app
from parlay.apps.models import App
from parlay.apps.service import get_app
from parlay.channels.push import PushApp
from tests.conftest import Brand


@dataclass
class AppsApi:
    brand: Brand

    @property
    def url(self) -> str:
        return f"{self.brand.url}/apps"

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return headers if headers is not None else self.brand.admin

    async def post(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return await self.brand.client.post(self.url, json=body, headers=self._headers(headers))

    async def put(
        self, app_id: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.brand.client.put(
            f"{self.url}/{app_id}", json=body, headers=self._headers(headers)
        )

    async def get(self, app_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.brand.client.get(f"{self.url}/{app_id}", headers=self._headers(headers))

    async def list(self, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.brand.client.get(self.url, headers=self._headers(headers))

    async def delete(self, app_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.brand.client.delete(
            f"{self.url}/{app_id}", headers=self._headers(headers)
        )

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.post(body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def stored(self, app_id: str) -> App:
        async with self.brand.container.db.read() as session:
            return await get_app(session, self.brand.id, app_id)

    async def push_view(self, app_id: str) -> PushApp:
        """The app as the push clients get it (secrets included)."""
        return push_app(await self.stored(app_id), self.brand.container.secrets)


@pytest.fixture
def apps(brand: Brand) -> AppsApi:
    return AppsApi(brand)


@pytest.fixture
def other_apps(other_brand: Brand) -> AppsApi:
    return AppsApi(other_brand)
