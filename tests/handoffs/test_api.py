"""Handoffs over HTTP: create, list, get, replace, delete, and who may do which.

The rules a handoff must follow are proven in ``test_rules.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from parlay.handoffs.models import Handoff
from tests.conftest import Brand, problem
from tests.handoffs.bodies import handoff, sms_channel, wa_channel

pytestmark = pytest.mark.anyio


async def create(brand: Brand, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await brand.client.post(
        f"{brand.url}/handoffs", json=body or handoff(), headers=brand.admin
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_created_handoff_has_server_made_id_and_30_day_default_lookback(brand: Brand) -> None:
    response = await brand.client.post(f"{brand.url}/handoffs", json=handoff(), headers=brand.admin)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("H")
    assert len(body["id"]) <= 16
    assert body["id"][1:].isdigit()
    assert (body["lookbackPeriodDay"], body["lookbackPeriodHour"]) == (30, 0)
    assert body["pushWhenLoggedIn"] is True
    assert body["pushWhenLoggedOut"] is False
    assert body["routeAllWithinLookback"] is True
    assert body["createdAt"] == body["updatedAt"]


async def test_created_handoff_keeps_every_field_given(brand: Brand) -> None:
    given = handoff(
        sms_channel(),
        wa_channel(outboundNumber="+447911123456", messageText="Reply here", templateVariables=1),
        name="Callback",
        skill="general",
        lookbackPeriodDay=2,
        lookbackPeriodHour=12,
        routeAllWithinLookback=False,
        pushWhenLoggedIn=False,
        pushWhenLoggedOut=True,
    )
    body = await create(brand, given)
    assert {k: body[k] for k in given} == given


async def test_list_answers_the_accounts_handoffs_in_creation_order(
    brand: Brand, other_brand: Brand
) -> None:
    first = await create(brand, handoff(name="first"))
    second = await create(brand, handoff(sms_channel(), name="second"))
    await create(other_brand, handoff(name="not ours"))
    response = await brand.client.get(f"{brand.url}/handoffs", headers=brand.admin)
    assert response.status_code == 200
    assert response.json() == {"handoffs": [first, second]}


async def test_get_answers_the_handoff_as_created(brand: Brand) -> None:
    created = await create(brand)
    response = await brand.client.get(f"{brand.url}/handoffs/{created['id']}", headers=brand.admin)
    assert response.status_code == 200
    assert response.json() == created


async def test_get_of_an_unknown_handoff_is_404(brand: Brand) -> None:
    response = await brand.client.get(f"{brand.url}/handoffs/H000", headers=brand.admin)
    assert response.status_code == 404
    assert problem(response)["errorCode"] == 1004


async def test_another_accounts_handoff_is_404_for_every_method(
    brand: Brand, other_brand: Brand
) -> None:
    theirs = await create(other_brand)
    url = f"{brand.url}/handoffs/{theirs['id']}"
    for response in [
        await brand.client.get(url, headers=brand.admin),
        await brand.client.put(url, json=handoff(), headers=brand.admin),
        await brand.client.delete(url, headers=brand.admin),
    ]:
        assert response.status_code == 404
        assert problem(response)["errorCode"] == 1004
    # ... and asking through the other account's URL with our credentials is 404 as well.
    response = await brand.client.get(
        f"{other_brand.url}/handoffs/{theirs['id']}", headers=brand.admin
    )
    assert response.status_code == 404
    mine = await other_brand.client.get(
        f"{other_brand.url}/handoffs/{theirs['id']}", headers=other_brand.admin
    )
    assert mine.json() == theirs


async def test_put_replaces_the_whole_configuration(brand: Brand) -> None:
    created = await create(
        brand, handoff(lookbackPeriodDay=1, pushWhenLoggedOut=True, skill="general")
    )
    url = f"{brand.url}/handoffs/{created['id']}"
    replacement = handoff(sms_channel(), wa_channel(), name="Now SMS", skill="billing")
    response = await brand.client.put(url, json=replacement, headers=brand.admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["createdAt"]) == (created["id"], created["createdAt"])
    assert body["name"] == "Now SMS"
    assert body["skill"] == "billing"
    assert [c["type"] for c in body["channels"]] == ["sms", "wa"]
    # Fields left out of a PUT take their defaults again: it replaces, it does not patch.
    assert (body["lookbackPeriodDay"], body["lookbackPeriodHour"]) == (30, 0)
    assert body["pushWhenLoggedOut"] is False
    assert body["updatedAt"] >= created["updatedAt"]
    assert (await brand.client.get(url, headers=brand.admin)).json() == body


async def test_put_of_an_unknown_handoff_is_404(brand: Brand) -> None:
    url = f"{brand.url}/handoffs/H123"
    response = await brand.client.put(url, json=handoff(), headers=brand.admin)
    assert response.status_code == 404


async def test_deleted_handoff_is_gone_from_get_list_put_and_delete(brand: Brand) -> None:
    kept = await create(brand, handoff(name="kept"))
    deleted = await create(brand, handoff(name="deleted"))
    url = f"{brand.url}/handoffs/{deleted['id']}"
    response = await brand.client.delete(url, headers=brand.admin)
    assert response.status_code == 204
    assert response.content == b""
    assert (await brand.client.get(url, headers=brand.admin)).status_code == 404
    listed = await brand.client.get(f"{brand.url}/handoffs", headers=brand.admin)
    assert listed.json() == {"handoffs": [kept]}
    put = await brand.client.put(url, json=handoff(), headers=brand.admin)
    assert put.status_code == 404
    again = await brand.client.delete(url, headers=brand.admin)
    assert again.status_code == 404


async def test_delete_is_soft_the_row_stays_for_history(brand: Brand) -> None:
    created = await create(brand)
    await brand.client.delete(f"{brand.url}/handoffs/{created['id']}", headers=brand.admin)
    async with brand.container.db.read() as session:
        row = await session.get(Handoff, created["id"])
    assert row is not None
    assert row.deleted_at is not None


# --- who may do what --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "campaign_manager"])
async def test_admin_and_campaign_manager_may_write(brand: Brand, role: str) -> None:
    headers = brand.auth(await brand.user_token(role))
    response = await brand.client.post(f"{brand.url}/handoffs", json=handoff(), headers=headers)
    assert response.status_code == 201, response.text
    url = f"{brand.url}/handoffs/{response.json()['id']}"
    replaced = await brand.client.put(url, json=handoff(name="renamed"), headers=headers)
    assert replaced.status_code == 200
    assert (await brand.client.get(url, headers=headers)).json()["name"] == "renamed"
    assert (await brand.client.delete(url, headers=headers)).status_code == 204


async def _writes(brand: Brand, headers: dict[str, str]) -> list[Any]:
    existing = await create(brand)
    url = f"{brand.url}/handoffs/{existing['id']}"
    return [
        await brand.client.post(f"{brand.url}/handoffs", json=handoff(), headers=headers),
        await brand.client.put(url, json=handoff(name="renamed"), headers=headers),
        await brand.client.delete(url, headers=headers),
    ]


@pytest.mark.parametrize("role", ["agent_manager", "agent"])
async def test_agent_manager_and_agent_may_not_write(brand: Brand, role: str) -> None:
    headers = brand.auth(await brand.user_token(role))
    for response in await _writes(brand, headers):
        assert response.status_code == 403
        assert problem(response)["errorCode"] == 1101
    listed = await brand.client.get(f"{brand.url}/handoffs", headers=brand.admin)
    assert [h["name"] for h in listed.json()["handoffs"]] == ["Billing deflection"]


async def test_agent_manager_may_read_and_agent_may_not(brand: Brand) -> None:
    created = await create(brand)
    for role, status in [("agent_manager", 200), ("agent", 403)]:
        headers = brand.auth(await brand.user_token(role))
        for url in (f"{brand.url}/handoffs", f"{brand.url}/handoffs/{created['id']}"):
            assert (await brand.client.get(url, headers=headers)).status_code == status, role


async def test_api_key_with_handoffs_read_may_read_but_not_write(brand: Brand) -> None:
    headers = brand.auth(await brand.api_key("handoffs:read"))
    created = await create(brand)
    listed = await brand.client.get(f"{brand.url}/handoffs", headers=headers)
    assert listed.status_code == 200
    assert listed.json() == {"handoffs": [created]}
    one = await brand.client.get(f"{brand.url}/handoffs/{created['id']}", headers=headers)
    assert one.json() == created
    for response in await _writes(brand, headers):
        assert response.status_code == 403
        assert problem(response)["errorCode"] == 1101


async def test_api_key_without_handoffs_read_may_not_read(brand: Brand) -> None:
    headers = brand.auth(await brand.api_key("c2m", "proactive", "reporting"))
    response = await brand.client.get(f"{brand.url}/handoffs", headers=headers)
    assert response.status_code == 403


async def test_no_credentials_is_401(brand: Brand) -> None:
    created = await create(brand)
    for response in [
        await brand.client.get(f"{brand.url}/handoffs"),
        await brand.client.post(f"{brand.url}/handoffs", json=handoff()),
        await brand.client.delete(f"{brand.url}/handoffs/{created['id']}"),
    ]:
        assert response.status_code == 401
        assert problem(response)["errorCode"] == 1100
