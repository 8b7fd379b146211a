"""API keys: shown once, stored as a digest, scoped, revocable."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.accounts.conftest import FrozenBrand
from tests.conftest import Brand, problem

pytestmark = pytest.mark.anyio


async def create(brand: Brand, **body: Any) -> httpx.Response:
    body = {"name": "ivr", "scopes": ["c2m"], **body}
    return await brand.client.post(f"{brand.url}/apikeys", json=body, headers=brand.admin)


async def test_the_key_is_in_the_creation_response_only(brand: Brand) -> None:
    response = await create(brand, scopes=["c2m", "reporting"])
    assert response.status_code == 201, response.text
    created = response.json()
    key = created["key"]
    assert key.startswith("plk_")
    assert len(key) > 40
    assert created["scopes"] == ["c2m", "reporting"]
    assert created["name"] == "ivr"
    assert key.startswith(f"plk_{created['prefix']}_")

    listed = await brand.client.get(f"{brand.url}/apikeys", headers=brand.admin)
    assert listed.status_code == 200
    (entry,) = [k for k in listed.json()["apiKeys"] if k["id"] == created["id"]]
    assert "key" not in entry
    assert key not in listed.text


async def test_the_database_holds_no_plaintext_key(brand: Brand) -> None:
    key = (await create(brand)).json()["key"]
    secret = key.rpartition("_")[2]
    async with brand.container.db.read() as session:
        rows = (await session.execute(text("SELECT * FROM api_keys"))).all()
    stored = repr(rows)
    assert rows
    assert key not in stored
    assert secret not in stored


async def test_a_key_authenticates_as_its_account(brand: Brand) -> None:
    key = (await create(brand, scopes=["handoffs:read"])).json()["key"]
    response = await brand.client.get(f"{brand.url}/handoffs", headers=brand.auth(key))
    assert response.status_code == 200, response.text


async def test_a_tampered_key_is_401(brand: Brand) -> None:
    key = (await create(brand, scopes=["handoffs:read"])).json()["key"]
    tampered = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    response = await brand.client.get(f"{brand.url}/handoffs", headers=brand.auth(tampered))
    assert response.status_code == 401
    assert problem(response)["errorCode"] == 1100


async def test_a_revoked_key_is_401_at_once(brand: Brand) -> None:
    created = (await create(brand, scopes=["handoffs:read"])).json()
    url, key = f"{brand.url}/handoffs", created["key"]
    assert (await brand.client.get(url, headers=brand.auth(key))).status_code == 200

    revoked = await brand.client.delete(f"{brand.url}/apikeys/{created['id']}", headers=brand.admin)
    assert revoked.status_code == 204

    response = await brand.client.get(url, headers=brand.auth(key))
    assert response.status_code == 401
    assert problem(response)["errorCode"] == 1100
    listed = await brand.client.get(f"{brand.url}/apikeys", headers=brand.admin)
    assert created["id"] not in [k["id"] for k in listed.json()["apiKeys"]]


async def test_revoking_twice_or_an_unknown_key_is_404(brand: Brand) -> None:
    created = (await create(brand)).json()
    url = f"{brand.url}/apikeys/{created['id']}"
    assert (await brand.client.delete(url, headers=brand.admin)).status_code == 204
    for response in (
        await brand.client.delete(url, headers=brand.admin),
        await brand.client.delete(f"{brand.url}/apikeys/999999", headers=brand.admin),
    ):
        assert response.status_code == 404
        assert problem(response)["errorCode"] == 1004


@pytest.mark.edge
@pytest.mark.parametrize(
    "scopes",
    [["admin"], ["c2m", "everything"], [], "c2m"],
    ids=["unknown", "one-unknown", "none", "not-a-list"],
)
async def test_scopes_must_be_known_and_at_least_one(brand: Brand, scopes: Any) -> None:
    response = await create(brand, scopes=scopes)
    assert response.status_code == 400
    body = problem(response)
    assert body["errorCode"] == 1000
    assert all(e["field"].startswith("scopes") for e in body["errors"]), body


async def test_repeated_scopes_are_kept_once(brand: Brand) -> None:
    response = await create(brand, scopes=["c2m", "c2m", "proactive"])
    assert response.json()["scopes"] == ["c2m", "proactive"]


async def test_name_is_required_and_unknown_fields_refused(brand: Brand) -> None:
    missing = await brand.client.post(
        f"{brand.url}/apikeys", json={"scopes": ["c2m"]}, headers=brand.admin
    )
    assert [e["field"] for e in problem(missing)["errors"]] == ["name"]
    extra = await create(brand, expiresAt="2030-01-01")
    assert problem(extra)["errors"] == [{"field": "expiresAt", "message": "unknown field"}]


async def test_an_api_key_cannot_manage_api_keys(brand: Brand) -> None:
    every_scope = await brand.api_key("c2m", "proactive", "reporting", "handoffs:read", "webhooks")
    for response in (
        await brand.client.get(f"{brand.url}/apikeys", headers=brand.auth(every_scope)),
        await brand.client.post(
            f"{brand.url}/apikeys",
            json={"name": "escalate", "scopes": ["c2m"]},
            headers=brand.auth(every_scope),
        ),
    ):
        assert response.status_code == 403
        assert problem(response)["errorCode"] == 1101


async def test_last_use_is_recorded_to_the_minute(frozen: FrozenBrand) -> None:
    brand, clock = frozen.brand, frozen.clock
    created = (await create(brand, scopes=["handoffs:read"])).json()
    assert created["lastUsedAt"] is None

    async def use_then_last_used() -> str | None:
        used = await brand.client.get(f"{brand.url}/handoffs", headers=brand.auth(created["key"]))
        assert used.status_code == 200
        keys = (await brand.client.get(f"{brand.url}/apikeys", headers=brand.admin)).json()
        (entry,) = [k for k in keys["apiKeys"] if k["id"] == created["id"]]
        last_used: str | None = entry["lastUsedAt"]
        return last_used

    first = await use_then_last_used()
    assert first is not None
    assert datetime.fromisoformat(first) == clock.now()
    clock.advance(timedelta(seconds=30))
    assert await use_then_last_used() == first  # within the minute: no write
    clock.advance(timedelta(seconds=30))
    assert datetime.fromisoformat(await use_then_last_used() or "") == clock.now()
