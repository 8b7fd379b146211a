"""``Idempotency-Key``, proven through handoff creation.

The piece is reusable (``parlay.lib.idempotency.service.idempotent``); campaigns and invites use it
the same way, so what holds here holds for them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from parlay.handoffs.models import Handoff
from parlay.lib.clock import FrozenClock
from parlay.lib.idempotency.models import IdempotencyRecord
from parlay.lib.idempotency.service import MAX_KEY_LENGTH, StoredResponse, idempotent
from tests.conftest import Brand, problem
from tests.handoffs.bodies import handoff, sms_channel

pytestmark = pytest.mark.anyio

KEY = "0b6f3c1e-6a55-4c3b-9d1f-2f6f7e1e9a10"


async def post(
    brand: Brand, body: dict[str, Any] | None = None, key: str | None = KEY
) -> httpx.Response:
    headers = dict(brand.admin)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await brand.client.post(f"{brand.url}/handoffs", json=body or handoff(), headers=headers)


async def handoff_ids(brand: Brand) -> list[str]:
    response = await brand.client.get(f"{brand.url}/handoffs", headers=brand.admin)
    return [h["id"] for h in response.json()["handoffs"]]


async def test_same_key_and_body_returns_the_first_response_and_creates_once(
    brand: Brand,
) -> None:
    first = await post(brand)
    again = await post(brand)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content  # byte for byte, on PostgreSQL's JSONB too
    assert await handoff_ids(brand) == [first.json()["id"]]


async def test_same_key_with_another_body_is_409(brand: Brand) -> None:
    first = await post(brand)
    response = await post(brand, handoff(name="Something else"))
    assert response.status_code == 409
    assert problem(response)["errorCode"] == 1030
    assert await handoff_ids(brand) == [first.json()["id"]]
    # The first body still replays after the refusal.
    assert (await post(brand)).json() == first.json()


async def test_key_order_and_whitespace_of_the_json_do_not_matter(brand: Brand) -> None:
    body = handoff(sms_channel(), lookbackPeriodDay=3)
    first = await post(brand, body)
    reordered = dict(reversed(list(body.items())))
    reordered["channels"] = [dict(reversed(list(c.items()))) for c in body["channels"]]
    raw = json.dumps(reordered, indent=4, ensure_ascii=False).encode()
    again = await brand.client.post(
        f"{brand.url}/handoffs",
        content=b"\n  " + raw + b"\n",
        headers={**brand.admin, "Idempotency-Key": KEY, "Content-Type": "application/json"},
    )
    assert again.status_code == 201, again.text
    assert again.content == first.content
    assert len(await handoff_ids(brand)) == 1


async def test_keys_belong_to_one_account(brand: Brand, other_brand: Brand) -> None:
    ours = await post(brand)
    theirs = await post(other_brand, handoff(name="Globex deflection"))
    assert ours.status_code == theirs.status_code == 201
    assert ours.json()["id"] != theirs.json()["id"]
    assert await handoff_ids(other_brand) == [theirs.json()["id"]]


async def test_without_a_key_every_request_creates(brand: Brand) -> None:
    first = await post(brand, key=None)
    second = await post(brand, key=None)
    assert first.json()["id"] != second.json()["id"]
    assert len(await handoff_ids(brand)) == 2


@pytest.mark.parametrize("key", ["", "k" * (MAX_KEY_LENGTH + 1)], ids=["empty", "too-long"])
async def test_an_empty_or_overlong_key_is_400(brand: Brand, key: str) -> None:
    response = await post(brand, key=key)
    assert response.status_code == 400
    body = problem(response)
    assert body["errorCode"] == 1000
    assert [e["field"] for e in body["errors"]] == ["Idempotency-Key"]
    assert await handoff_ids(brand) == []


async def test_a_key_of_the_longest_length_is_accepted(brand: Brand) -> None:
    key = "k" * MAX_KEY_LENGTH
    first = await post(brand, key=key)
    assert first.status_code == 201
    assert (await post(brand, key=key)).json() == first.json()


async def test_a_refused_request_does_not_use_up_its_key(brand: Brand) -> None:
    refused = await post(brand, handoff(skill="no such skill"))
    assert refused.status_code == 400
    accepted = await post(brand)
    assert accepted.status_code == 201
    assert await handoff_ids(brand) == [accepted.json()["id"]]


async def test_a_key_is_remembered_until_its_time_to_live_has_passed(
    brand: Brand, clock: FrozenClock
) -> None:
    ttl = brand.container.settings.idempotency_ttl
    first = await post(brand)
    clock.advance(ttl - timedelta(seconds=1))
    brand.admin_token = await brand.login("admin")  # access tokens live shorter than keys
    assert (await post(brand)).json() == first.json()
    assert (await post(brand, handoff(name="other"))).status_code == 409

    clock.advance(timedelta(seconds=1))
    reused = await post(brand, handoff(name="other"))
    assert reused.status_code == 201, reused.text
    assert reused.json()["id"] != first.json()["id"]
    assert await handoff_ids(brand) == [first.json()["id"], reused.json()["id"]]
    # From now on the key replays the second request.
    assert (await post(brand, handoff(name="other"))).json() == reused.json()
    assert (await post(brand)).status_code == 409


async def test_expired_records_are_not_left_behind_when_a_key_is_reused(
    brand: Brand, clock: FrozenClock
) -> None:
    await post(brand)
    clock.advance(brand.container.settings.idempotency_ttl)
    brand.admin_token = await brand.login("admin")
    await post(brand)
    async with brand.container.db.read() as session:
        records = (await session.execute(IdempotencyRecord.__table__.select())).all()
    assert len(records) == 1


# --- concurrency: the losers wait for the winner and replay its response ---------------------


async def test_concurrent_requests_with_one_key_create_one_handoff(brand: Brand) -> None:
    responses = await asyncio.gather(*(post(brand) for _ in range(10)))
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert await handoff_ids(brand) == [responses[0].json()["id"]]
    async with brand.container.db.read() as session:
        rows = (await session.execute(Handoff.__table__.select())).all()
    assert len(rows) == 1


async def test_concurrent_requests_with_one_key_and_two_bodies_create_one_handoff(
    brand: Brand,
) -> None:
    bodies = [handoff(name="A"), handoff(name="B")] * 5
    responses = await asyncio.gather(*(post(brand, body) for body in bodies))
    winners = [r for r in responses if r.status_code == 201]
    losers = [r for r in responses if r.status_code != 201]
    (winner_name,) = {r.json()["name"] for r in winners}
    assert len(winners) == 5
    assert len({r.content for r in winners}) == 1
    assert len(losers) == 5
    assert all(r.status_code == 409 and problem(r)["errorCode"] == 1030 for r in losers)
    assert all(r.request.content != winners[0].request.content for r in losers)
    assert await handoff_ids(brand) == [winners[0].json()["id"]]
    assert winner_name in {"A", "B"}


@pytest.mark.parametrize("first_commits", [True, False], ids=["commits", "rolls-back"])
async def test_a_waiting_request_replays_a_commit_or_does_the_work_after_a_rollback(
    brand: Brand, first_commits: bool
) -> None:
    db, now, ttl = brand.container.db, brand.container.clock.now(), timedelta(hours=1)
    claimed, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    def work(who: str) -> Callable[[], Awaitable[tuple[int, Any]]]:
        async def run() -> tuple[int, Any]:
            runs.append(who)
            if who == "first":
                claimed.set()
                await release.wait()
            return 201, {"done by": who}

        return run

    async def call(who: str) -> StoredResponse:
        async with db.write() as session:
            result = await idempotent(
                session,
                account_id=brand.id,
                operation="test",
                key=KEY,
                body={"same": 1},
                now=now,
                ttl=ttl,
                work=work(who),
            )
            if who == "first" and not first_commits:
                raise RuntimeError("crashed before commit")
            return result

    first = asyncio.create_task(call("first"))
    await claimed.wait()
    second = asyncio.create_task(call("second"))
    await asyncio.sleep(0.2)
    assert not second.done()  # it waits for the first to commit or roll back
    release.set()
    if first_commits:
        assert (await first).body == (await second).body == {"done by": "first"}
        assert runs == ["first"]
    else:
        with pytest.raises(RuntimeError):
            await first
        assert (await second).body == {"done by": "second"}
        assert runs == ["first", "second"]
