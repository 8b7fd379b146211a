"""What an operator relies on: health, readiness, metrics, request ids, and errors
that are problem+json even when no route was reached."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from parlay.app import create_app
from parlay.bootstrap import Container, build_container
from parlay.config import Settings
from parlay.lib.observability.metrics import Metrics
from parlay.runtime import metrics_listener
from tests.conftest import TEST_SECRET_KEY, Brand, make_brand, problem

pytestmark = pytest.mark.anyio

BASE = "http://parlay.test"


async def test_healthz_answers_while_the_process_lives(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_200_when_the_database_does(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_readyz_answers_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    # Nothing listens on port 1: connecting is refused at once.
    settings = Settings(
        database_url="postgresql://parlay@127.0.0.1:1/parlay",
        log_json=False,
        secret_key=TEST_SECRET_KEY,
    )
    container = build_container(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(container.services))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")
    finally:
        await container.close()
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert alive.status_code == 200  # alive, just not ready: restart would not help


METRICS_TOKEN = "scrape-me"


@pytest.fixture
async def metered(settings: Settings) -> AsyncIterator[tuple[Brand, httpx.AsyncClient]]:
    """An app whose /metrics answers to ``Authorization: Bearer scrape-me``."""
    container = build_container(
        settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
    )
    transport = httpx.ASGITransport(app=create_app(container.services))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield await make_brand(container, client, "acme"), client
    await container.close()


async def test_metrics_count_requests_by_route_template_and_429s_by_family_only(
    metered: tuple[Brand, httpx.AsyncClient],
) -> None:
    brand, client = metered
    key = brand.auth(await brand.api_key("proactive"))
    await brand.set_rate_limit(1)
    campaign = f"/api/v2/account/{brand.id}/campaign/1"
    assert (await client.get(campaign, headers=key)).status_code == 404
    assert (await client.get(campaign, headers=key)).status_code == 429

    metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert (
        'parlay_http_requests_total{method="GET",'
        'route="/api/v2/account/{accountId}/campaign/{campaignId}",status="404"} 1.0' in text
    )
    assert 'parlay_rate_limited_total{family="proactive"} 1.0' in text
    assert "parlay_http_request_duration_seconds_bucket" in text
    assert brand.id not in text  # no account ID in any label


async def test_metrics_answer_only_to_the_metrics_token(
    metered: tuple[Brand, httpx.AsyncClient],
) -> None:
    brand, client = metered
    for headers in ({}, {"Authorization": "Bearer wrong"}, brand.admin):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert problem(response)["errorCode"] == 1100


async def test_metrics_are_not_served_on_the_api_without_a_token(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404


def test_metrics_bind_serves_the_metrics_alone_on_their_own_address() -> None:
    metrics = Metrics()
    metrics.rate_limited.labels("c2m").inc()
    bound = Settings(metrics_bind="127.0.0.1:0")  # port 0: any free port
    with metrics_listener(bound, metrics.registry) as url:
        assert url is not None
        scraped = httpx.get(url)
    assert scraped.status_code == 200
    assert 'parlay_rate_limited_total{family="c2m"} 1.0' in scraped.text
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)  # closed with the process's lifecycle


@pytest.mark.parametrize("bind", ["9464", "host:", ":9464", "host:99999", "host:９４６４"])
def test_metrics_bind_must_be_host_and_port(bind: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        Settings(metrics_bind=bind)


async def test_every_answer_carries_the_security_headers(
    brand: Brand, client: httpx.AsyncClient
) -> None:
    for response in (
        await client.get(f"{brand.url}/settings", headers=brand.admin),
        await client.get(f"{brand.url}/settings"),  # a 401 problem
        await client.get("/healthz"),
    ):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"] == (
            "default-src 'none'; frame-ancestors 'none'"
        )


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "ivr-call-42"})
    assert response.headers["X-Request-ID"] == "ivr-call-42"


async def test_request_id_is_made_when_absent(client: httpx.AsyncClient) -> None:
    first = (await client.get("/healthz")).headers["X-Request-ID"]
    second = (await client.get("/healthz")).headers["X-Request-ID"]
    assert first != second
    assert uuid.UUID(hex=first)
    assert uuid.UUID(hex=second)


# --- body size limit ------------------------------------------------------------------------


@pytest.fixture
async def small_bodies(settings: Settings) -> AsyncIterator[tuple[Brand, httpx.AsyncClient]]:
    """An app that takes bodies of at most 1 KiB (PARLAY_MAX_BODY_BYTES)."""
    container = build_container(settings.model_copy(update={"max_body_bytes": 1024}))
    transport = httpx.ASGITransport(app=create_app(container.services))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield await make_brand(container, client, "acme"), client
    await container.close()


def skill_body(size: int) -> bytes:
    body = b'{"name": "' + b"s" * (size - 12) + b'"}'
    assert len(body) == size
    return body


async def chunks(body: bytes, size: int = 256) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_body_over_the_limit_with_content_length_is_413(
    small_bodies: tuple[Brand, httpx.AsyncClient],
) -> None:
    brand, client = small_bodies
    headers = {**brand.admin, "Content-Type": "application/json"}

    response = await client.post(f"{brand.url}/skills", content=skill_body(1025), headers=headers)

    assert response.status_code == 413
    assert problem(response)["status"] == 413


async def test_chunked_body_over_the_limit_is_413(
    small_bodies: tuple[Brand, httpx.AsyncClient],
) -> None:
    brand, client = small_bodies
    headers = {**brand.admin, "Content-Type": "application/json"}

    response = await client.post(
        f"{brand.url}/skills", content=chunks(skill_body(4096)), headers=headers
    )

    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert problem(response)["status"] == 413


async def test_chunked_body_under_the_limit_reaches_the_route(
    small_bodies: tuple[Brand, httpx.AsyncClient],
) -> None:
    brand, client = small_bodies
    headers = {**brand.admin, "Content-Type": "application/json"}
    body = b'{"name": "' + b"k" * 200 + b'"}'

    response = await client.post(f"{brand.url}/skills", content=chunks(body, 64), headers=headers)

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "k" * 200


# --- errors outside any route -----------------------------------------------------------------


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    assert problem(response)["errorCode"] == 1004


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/healthz")
    assert response.status_code == 405
    assert problem(response)["status"] == 405
    assert response.headers["Allow"] == "GET"


async def test_unhandled_exception_is_500_problem_without_internals(container: Container) -> None:
    app = create_app(container.services)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret: password=hunter2")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "trace-me"})

    assert response.status_code == 500
    body = problem(response)
    assert body["errorCode"] == 5000
    assert body["status"] == 500
    assert "Traceback" not in response.text
    assert "hunter2" not in response.text
    # The operator finds the log line of this failure by the id the caller saw.
    assert response.headers["X-Request-ID"] == "trace-me"


def test_every_route_has_a_unique_operation_id(tmp_path: Path) -> None:
    container = build_container(
        Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", secret_key=TEST_SECRET_KEY)
    )
    document = create_app(container.services).openapi()

    operations = [
        (method.upper(), path, operation.get("operationId"))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "patch", "delete")
    ]
    assert operations
    assert [op for op in operations if not op[2]] == []
    ids = [op[2] for op in operations]
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
