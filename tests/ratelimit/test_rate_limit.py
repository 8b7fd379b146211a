"""Per-account, per-family request limits, on in-memory and on Redis storage."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
import time_machine

from parlay.lib.ratelimit import ApiFamily, LimitsRateLimiter, storage_url
from tests.conftest import REDIS_URL, problem
from tests.ratelimit.conftest import Limited, LimitedBrand, redis_reachable

pytestmark = pytest.mark.anyio

# The limiter reads the account's limit with the credential and never touches the database
# otherwise: past the first test, SQLite alone drives it (each storage still runs).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def burst(
    limited: Limited, brand: LimitedBrand, n: int = 10, path: str = "/handoffs"
) -> list[httpx.Response]:
    """``n`` configuration-family GETs in a row, in one second (the clock stands still)."""
    url = f"{brand.url}{path}"
    return [await limited.client.get(url, headers=brand.headers) for _ in range(n)]


def statuses(responses: list[httpx.Response]) -> list[int]:
    return [r.status_code for r in responses]


async def test_ten_requests_in_one_second_at_three_per_second_get_three_answers(
    limited: Limited,
) -> None:
    brand = await limited.brand(rate_limit=3)

    responses = await burst(limited, brand)

    assert statuses(responses) == [200] * 3 + [429] * 7
    for refused in responses[3:]:
        body = problem(refused)
        assert body["status"] == 429
        assert body["errorCode"] == 1029
        retry_after = refused.headers["Retry-After"]
        assert retry_after.isdigit()
        assert int(retry_after) >= 1
        # A one-second window never asks for a longer wait than one second.
        assert int(retry_after) == 1


@sqlite_only
async def test_after_retry_after_the_budget_is_back(limited: Limited) -> None:
    brand = await limited.brand(rate_limit=3)
    refused = (await burst(limited, brand, 4))[-1]
    assert refused.status_code == 429

    limited.clock.shift(int(refused.headers["Retry-After"]) + 0.001)
    assert statuses(await burst(limited, brand, 4)) == [200] * 3 + [429]


@sqlite_only
async def test_api_families_are_counted_separately(limited: Limited) -> None:
    brand = await limited.brand(rate_limit=3, with_admin=True)
    assert statuses(await burst(limited, brand, 4)) == [200] * 3 + [429]

    # The configuration budget is spent; logging in is another family and still works.
    await brand.brand.login("admin")

    account = f"fam-{uuid.uuid4().hex[:8]}"
    for family in ApiFamily:
        hits = [await limited.container.limiter.hit(family, account, 3) for _ in range(4)]
        assert hits[:3] == [None] * 3, family
        assert hits[3] is not None, family


@sqlite_only
async def test_two_accounts_do_not_share_a_budget(limited: Limited) -> None:
    acme, globex = await limited.brand(rate_limit=3), await limited.brand(rate_limit=3)

    answered = {acme.url: 0, globex.url: 0}
    for _ in range(10):
        for brand in (acme, globex):
            response = await limited.client.get(f"{brand.url}/handoffs", headers=brand.headers)
            answered[brand.url] += response.status_code == 200

    assert answered == {acme.url: 3, globex.url: 3}


@sqlite_only
async def test_the_limit_follows_the_account_setting_when_an_admin_changes_it(
    limited: Limited,
) -> None:
    brand = await limited.brand(rate_limit=3, with_admin=True)

    raised = await limited.client.put(
        f"{brand.url}/settings", json={"rateLimitPerSecond": 6}, headers=brand.headers
    )
    assert raised.status_code == 200, raised.text
    # The change itself was one configuration request of this second: 5 more fit, not 6.
    assert statuses(await burst(limited, brand)) == [200] * 5 + [429] * 5

    # Lowered below what this second already used: refused at once, no fresh window.
    await brand.brand.set_rate_limit(2)
    assert statuses(await burst(limited, brand, 2)) == [429, 429]

    limited.clock.shift(1.001)
    assert statuses(await burst(limited, brand, 3)) == [200, 200, 429]


@pytest.mark.parametrize("limiter_settings", ["redis"], indirect=True)
@sqlite_only
async def test_redis_storage_keeps_the_window_in_redis(limited: Limited) -> None:
    assert limited.storage == "redis"
    brand = await limited.brand(rate_limit=3)
    await burst(limited, brand, 1)

    conn = aioredis.from_url(REDIS_URL)
    try:
        keys = [k async for k in conn.scan_iter(match=f"*config/{brand.brand.id}*")]
    finally:
        await conn.aclose()
    assert len(keys) == 1


async def test_limiters_of_two_processes_share_one_budget_only_through_redis() -> None:
    """Two limiters stand for two API processes (the real thing: test_multiprocess.py)."""
    prefix = f"parlay-test-{uuid.uuid4().hex[:8]}"
    shared = [LimitsRateLimiter(storage_url(redis_reachable()), key_prefix=prefix) for _ in "ab"]
    separate = [LimitsRateLimiter(storage_url(None)) for _ in "ab"]

    async def allowed(limiters: list[LimitsRateLimiter]) -> int:
        with time_machine.travel(time.time(), tick=False):  # ten hits in one second
            hits = [await limiters[i % 2].hit(ApiFamily.C2M, "acme", 3) for i in range(10)]
        return hits.count(None)

    assert await allowed(shared) == 3
    assert await allowed(separate) == 6
