"""Rate limits keyed by who is asking, on in-memory and on Redis storage.

A brand's systems (API keys) share a budget per account and API family (c2m 30, proactive 10,
reporting 10 per second by default, admin-settable); each consumer has its own (10/s); each
staff user or key its own (50/s); each agent its own (20/s). One caller never uses up another's.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
import time_machine

from parlay.lib.ratelimit import ApiFamily, Limit, LimitsRateLimiter, storage_url
from tests.conftest import REDIS_URL, problem
from tests.fakes.jwks import SigningKey
from tests.ratelimit.conftest import Limited, LimitedBrand, redis_reachable

pytestmark = pytest.mark.anyio

# The limiter reads the limits with the credential and never touches the database otherwise:
# past the first test, SQLite alone drives it (each storage still runs).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def burst(
    limited: Limited, brand: LimitedBrand, n: int = 10, path: str = "/handoffs"
) -> list[httpx.Response]:
    """``n`` GETs in a row with the brand's credential, in one second (the clock stands still)."""
    url = f"{brand.url}{path}"
    # Not counted (refused before the limiter): the route is built and the database opened
    # first, so the burst takes milliseconds. Redis expires a window's key in real time: a
    # first request that took seconds on a loaded machine let a fourth one through.
    await limited.client.get(url)
    return [await limited.client.get(url, headers=brand.headers) for _ in range(n)]


def statuses(responses: list[httpx.Response]) -> list[int]:
    return [r.status_code for r in responses]


async def ivr_burst(limited: Limited, brand: LimitedBrand, n: int) -> list[int]:
    """``n`` C2M eligibility calls with one API key of the account: counted, then refused by
    validation (400) until the account's c2m budget is spent (429)."""
    key = brand.brand.auth(await brand.brand.api_key("c2m"))
    url = f"{brand.url}/eligibility?v=2.0"
    return [(await limited.client.post(url, json={}, headers=key)).status_code for _ in range(n)]


async def test_ten_requests_in_one_second_at_three_per_second_get_three_answers(
    limited: Limited,
) -> None:
    brand = await limited.brand()  # an API key on a configuration route: its own budget, 3/s

    responses = await burst(limited, brand)

    assert statuses(responses) == [200] * 3 + [429] * 7
    for refused in responses[3:]:
        body = problem(refused)
        assert body["status"] == 429
        assert body["errorCode"] == 1029
        retry_after = refused.headers["Retry-After"]
        assert retry_after.isdigit()
        # A one-second window never asks for a longer wait than one second.
        assert int(retry_after) == 1


@sqlite_only
async def test_after_retry_after_the_budget_is_back(limited: Limited) -> None:
    brand = await limited.brand()
    refused = (await burst(limited, brand, 4))[-1]
    assert refused.status_code == 429

    limited.clock.shift(int(refused.headers["Retry-After"]) + 0.001)
    assert statuses(await burst(limited, brand, 4)) == [200] * 3 + [429]


@sqlite_only
async def test_api_families_are_counted_separately(limited: Limited) -> None:
    brand = await limited.brand(rate_limit=3)
    assert statuses(await burst(limited, brand, 4)) == [200] * 3 + [429]
    # The key's configuration budget is spent; the account's IVR budget is another.
    assert await ivr_burst(limited, brand, 4) == [400] * 3 + [429]

    account = f"fam-{uuid.uuid4().hex[:8]}"
    for family in ApiFamily:
        hits = [await limited.container.limiter.hit(family, account, Limit(3)) for _ in range(4)]
        assert hits[:3] == [None] * 3, family
        assert hits[3] is not None, family


@sqlite_only
async def test_two_accounts_do_not_share_a_budget(limited: Limited) -> None:
    acme, globex = await limited.brand(rate_limit=3), await limited.brand(rate_limit=3)

    assert await ivr_burst(limited, acme, 4) == [400] * 3 + [429]
    assert await ivr_burst(limited, globex, 4) == [400] * 3 + [429]


@sqlite_only
async def test_a_brands_systems_share_one_budget_per_family(limited: Limited) -> None:
    """Two API keys of one account (two IVR servers) count against the account's c2m budget."""
    brand = await limited.brand(rate_limit=4)
    assert await ivr_burst(limited, brand, 2) == [400, 400]
    assert await ivr_burst(limited, brand, 3) == [400, 400, 429]


@sqlite_only
async def test_the_limit_follows_the_account_setting_when_an_admin_changes_it(
    limited: Limited,
) -> None:
    brand = await limited.brand(rate_limit=3, with_admin=True)

    raised = await limited.client.put(
        f"{brand.url}/settings", json={"rateLimits": {"c2m": 6}}, headers=brand.headers
    )
    assert raised.status_code == 200, raised.text
    assert await ivr_burst(limited, brand, 8) == [400] * 6 + [429] * 2

    # Lowered below what this second already used: refused at once, no fresh window.
    await brand.brand.set_rate_limit(2)
    assert await ivr_burst(limited, brand, 2) == [429, 429]

    limited.clock.shift(1.001)
    assert await ivr_burst(limited, brand, 3) == [400, 400, 429]


@sqlite_only
async def test_25_admin_requests_in_one_second_are_all_served(staff_limited: Limited) -> None:
    brand = await staff_limited.brand(with_admin=True)

    assert statuses(await burst(staff_limited, brand, 25)) == [200] * 25


@sqlite_only
async def test_one_admin_spending_their_budget_leaves_another_admins_alone(
    limited: Limited,
) -> None:
    brand = await limited.brand(with_admin=True)
    other = brand.brand.auth(await brand.brand.user_token("admin"))

    assert statuses(await burst(limited, brand, 4)) == [200] * 3 + [429]
    assert (await limited.client.get(f"{brand.url}/handoffs", headers=other)).status_code == 200


@sqlite_only
async def test_12_consumers_3_requests_each_are_all_served_while_one_hammering_is_limited_alone(
    staff_limited: Limited,
) -> None:
    """The consumer API is limited per consumer (the JWT's sub), 10/s by default."""
    brand = await staff_limited.brand(with_admin=True)
    key = SigningKey.rsa()
    configured = await staff_limited.client.put(
        f"{brand.url}/settings",
        json={
            "consumerAuth": {
                "issuer": "https://id.acme.example",
                "audience": "acme-app",
                "algorithms": ["RS256"],
                "publicKeyPem": key.public_pem,
            }
        },
        headers=brand.headers,
    )
    assert configured.status_code == 200, configured.text
    url = f"{brand.url}/consumer/pending-outbound"

    async def call(consumer: str) -> int:
        auth = {"Authorization": f"Bearer {key.token(consumer)}"}
        return (await staff_limited.client.get(url, headers=auth)).status_code

    hammer = [await call("hammer") for _ in range(15)]
    others = [await call(f"consumer-{n}") for n in range(12) for _ in range(3)]

    assert hammer == [200] * 10 + [429] * 5
    assert others == [200] * 36


@pytest.mark.parametrize("limiter_settings", ["redis"], indirect=True)
@sqlite_only
async def test_redis_storage_keeps_the_window_in_redis(limited: Limited) -> None:
    assert limited.storage == "redis"
    brand = await limited.brand(rate_limit=3)
    await ivr_burst(limited, brand, 1)

    conn = aioredis.from_url(REDIS_URL)
    try:
        keys = [k async for k in conn.scan_iter(match=f"*c2m/{brand.brand.id}/*")]
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
            hits = [await limiters[i % 2].hit(ApiFamily.C2M, "acme", Limit(3)) for i in range(10)]
        return hits.count(None)

    assert await allowed(shared) == 3
    assert await allowed(separate) == 6


async def test_when_redis_is_unreachable_requests_pass_and_the_failure_is_counted() -> None:
    """Losing rate limiting must not take the API down: the limiter fails open, loudly."""
    failures: list[None] = []
    limiter = LimitsRateLimiter(
        storage_url("redis://127.0.0.1:1/0"), on_error=lambda: failures.append(None)
    )
    # Over the limit of 1 if it were counted; each try waits out the client's reconnects (~7 s).
    hits = [await limiter.hit(ApiFamily.C2M, "acme", Limit(1)) for _ in range(2)]

    assert hits == [None, None]
    assert len(failures) == 2
