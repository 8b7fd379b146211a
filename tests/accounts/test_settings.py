"""Account settings: rate limit, default skill, welcome message, consumer JWT auth."""

from __future__ import annotations

import unicodedata
from typing import Any

import httpx
import pytest

from parlay.accounts import service as accounts_service
from parlay.accounts.limits import RateLimits
from parlay.lib.clock import SystemClock
from tests.conftest import Brand, problem

pytestmark = pytest.mark.anyio


async def get(brand: Brand) -> dict[str, Any]:
    response = await brand.client.get(f"{brand.url}/settings", headers=brand.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def put(brand: Brand, body: dict[str, Any]) -> httpx.Response:
    return await brand.client.put(f"{brand.url}/settings", json=body, headers=brand.admin)


def refused(response: httpx.Response, field: str, code: int = 1000) -> None:
    """A 400 with ``code`` naming ``field`` in ``errors``."""
    assert response.status_code == 400, response.text
    body = problem(response)
    assert body["errorCode"] == code, body
    assert field in [e["field"] for e in body["errors"]], body


def consumer_auth(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "issuer": "https://id.acme.example",
        "audience": "acme-app",
        "algorithms": ["RS256"],
        "jwksUrl": "https://id.acme.example/.well-known/jwks.json",
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


# --- shape and partial updates ---------------------------------------------------------------


async def test_settings_have_the_five_documented_fields(brand: Brand) -> None:
    settings = await get(brand)
    assert settings == {
        "rateLimits": {"c2m": 10_000, "proactive": 10_000, "reporting": 10_000, "consumer": 10_000},
        "defaultSkill": None,
        "welcomeMessage": {"enabled": False, "text": None},
        "consumerAuth": None,
        "timeZone": "UTC",
    }


async def test_fields_left_out_keep_their_value(brand: Brand) -> None:
    await put(brand, {"defaultSkill": "general", "rateLimits": {"c2m": 50}})
    response = await put(brand, {"welcomeMessage": {"enabled": True, "text": "Hi! 👋"}})
    assert response.status_code == 200, response.text
    assert response.json() == await get(brand)
    settings = await get(brand)
    assert settings["defaultSkill"] == "general"
    assert settings["rateLimits"]["c2m"] == 50
    assert settings["welcomeMessage"] == {"enabled": True, "text": "Hi! 👋"}


async def test_an_empty_update_changes_nothing(brand: Brand) -> None:
    before = await get(brand)
    response = await put(brand, {})
    assert response.status_code == 200
    assert response.json() == before == await get(brand)


# --- rateLimits ------------------------------------------------------------------------------


async def test_a_new_account_has_livepersons_published_limits(brand: Brand) -> None:
    async with brand.container.db.write() as session:
        await accounts_service.create_account(session, "fresh", "Fresh", now=SystemClock().now())
    response = await brand.client.get("/api/account/fresh/settings", headers=brand.admin)
    assert response.status_code == 404  # another account: answered as nothing at all
    async with brand.container.db.read() as session:
        account = await accounts_service.get_account(session, "fresh")
    assert RateLimits.of(account) == RateLimits(c2m=30, proactive=10, reporting=10, consumer=10)


@pytest.mark.parametrize("family", ["c2m", "proactive", "reporting", "consumer"])
@pytest.mark.parametrize("rate", [1, 3, 10_000])
async def test_rate_limit_accepts_1_to_10000(brand: Brand, family: str, rate: int) -> None:
    response = await put(brand, {"rateLimits": {family: rate}})
    assert response.status_code == 200, response.text
    assert response.json()["rateLimits"][family] == rate
    # The other families keep theirs.
    assert all(v == 10_000 for k, v in response.json()["rateLimits"].items() if k != family)


@pytest.mark.edge
@pytest.mark.parametrize("rate", [0, -1, 10_001, True, 2.5, "5"])
async def test_rate_limit_outside_1_to_10000_or_not_an_integer_is_refused(
    brand: Brand, rate: Any
) -> None:
    before = await get(brand)
    refused(await put(brand, {"rateLimits": {"c2m": rate}}), "rateLimits.c2m")
    assert await get(brand) == before


async def test_rate_limits_of_null_or_an_unknown_family_are_refused(brand: Brand) -> None:
    refused(await put(brand, {"rateLimits": None}), "rateLimits")
    refused(await put(brand, {"rateLimits": {"staff": 5}}), "rateLimits.staff")


async def test_a_lowered_rate_limit_applies_to_the_next_requests(brand: Brand) -> None:
    assert (await put(brand, {"rateLimits": {"c2m": 1}})).status_code == 200
    ivr = Brand.auth(await brand.api_key("c2m"))
    answers = [
        (
            await brand.client.post(f"{brand.url}/eligibility?v=2.0", json={}, headers=ivr)
        ).status_code
        for _ in range(3)
    ]
    assert 429 in answers


# --- defaultSkill ----------------------------------------------------------------------------


async def test_default_skill_must_exist_errorcode_1300(brand: Brand, other_brand: Brand) -> None:
    refused(await put(brand, {"defaultSkill": "nope"}), "defaultSkill", code=1300)
    await other_brand.skill("globex-only")
    refused(await put(brand, {"defaultSkill": "globex-only"}), "defaultSkill", code=1300)
    assert (await get(brand))["defaultSkill"] is None


async def test_default_skill_is_set_and_cleared_with_null(brand: Brand) -> None:
    assert (await put(brand, {"defaultSkill": "billing"})).json()["defaultSkill"] == "billing"
    assert (await put(brand, {"defaultSkill": None})).json()["defaultSkill"] is None


# --- welcomeMessage --------------------------------------------------------------------------


async def test_welcome_message_may_be_disabled_keeping_its_text(brand: Brand) -> None:
    await put(brand, {"welcomeMessage": {"enabled": True, "text": "Welcome"}})
    response = await put(brand, {"welcomeMessage": {"enabled": False, "text": "Welcome"}})
    assert response.json()["welcomeMessage"] == {"enabled": False, "text": "Welcome"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "x" * 1001,
        "bell \x07",
        "escape \x1b[31m",
        unicodedata.normalize("NFD", "café"),
    ],
    ids=["empty", "blank", "too-long", "control", "ansi", "not-nfc"],
)
async def test_welcome_text_follows_the_text_and_emoji_rule(brand: Brand, text: str) -> None:
    refused(
        await put(brand, {"welcomeMessage": {"enabled": True, "text": text}}), "welcomeMessage.text"
    )
    assert (await get(brand))["welcomeMessage"] == {"enabled": False, "text": None}


async def test_welcome_text_accepts_emoji_newlines_and_tabs_up_to_1000(brand: Brand) -> None:
    for text in ("Hi 👋🏽\n\tHow can we help?", "é" * 1000):
        response = await put(brand, {"welcomeMessage": {"enabled": True, "text": text}})
        assert response.status_code == 200, response.text
        assert response.json()["welcomeMessage"]["text"] == text


async def test_an_enabled_welcome_message_needs_text(brand: Brand) -> None:
    refused(await put(brand, {"welcomeMessage": {"enabled": True}}), "welcomeMessage.text")


@pytest.mark.parametrize("welcome", [None, {"text": "Hi"}, {"enabled": True, "text": {"rich": 1}}])
async def test_welcome_message_must_be_an_object_with_enabled_and_text(
    brand: Brand, welcome: Any
) -> None:
    response = await put(brand, {"welcomeMessage": welcome})
    assert response.status_code == 400
    assert problem(response)["errors"][0]["field"].startswith("welcomeMessage")


# --- consumerAuth ----------------------------------------------------------------------------


async def test_consumer_auth_with_a_jwks_url_is_stored(brand: Brand) -> None:
    response = await put(brand, {"consumerAuth": consumer_auth(algorithms=["RS256", "ES256"])})
    assert response.status_code == 200, response.text
    assert (await get(brand))["consumerAuth"] == {
        **consumer_auth(algorithms=["ES256", "RS256"]),
        "maxTokenLifetimeSeconds": 86_400,  # the default: one day
    }


async def test_consumer_auth_with_a_pem_public_key_is_stored(
    brand: Brand, rsa_public_pem: str
) -> None:
    config = consumer_auth(jwksUrl=None, publicKeyPem=rsa_public_pem)
    response = await put(brand, {"consumerAuth": config})
    assert response.status_code == 200, response.text
    assert (await get(brand))["consumerAuth"]["publicKeyPem"] == rsa_public_pem


@pytest.mark.edge
@pytest.mark.parametrize(
    "algorithms",
    [["none"], ["HS256"], ["RS256", "HS512"], ["None"], []],
    ids=["none", "HS256", "mixed-HS512", "None", "empty"],
)
async def test_consumer_auth_refuses_none_hmac_and_empty_algorithms(
    brand: Brand, algorithms: list[str]
) -> None:
    response = await put(brand, {"consumerAuth": consumer_auth(algorithms=algorithms)})
    refused(response, "consumerAuth.algorithms")
    assert (await get(brand))["consumerAuth"] is None


async def test_consumer_auth_needs_exactly_one_key_source(
    brand: Brand, rsa_public_pem: str
) -> None:
    both = consumer_auth(publicKeyPem=rsa_public_pem)
    neither = consumer_auth(jwksUrl=None)
    for config in (both, neither):
        response = await put(brand, {"consumerAuth": config})
        refused(response, "consumerAuth")
        assert "exactly one of jwksUrl or publicKeyPem" in problem(response)["errorMessage"]


@pytest.mark.parametrize(
    "pem",
    ["not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "private"],
    ids=["garbage", "bad-base64-body", "private-key"],
)
async def test_consumer_auth_pem_must_parse_as_a_public_key(
    brand: Brand, pem: str, rsa_private_pem: str
) -> None:
    pem = rsa_private_pem if pem == "private" else pem
    response = await put(brand, {"consumerAuth": consumer_auth(jwksUrl=None, publicKeyPem=pem)})
    refused(response, "consumerAuth.publicKeyPem")
    assert "PRIVATE" not in response.text


@pytest.mark.edge
@pytest.mark.production_urls
@pytest.mark.parametrize(
    "url",
    [
        "http://id.acme.example/jwks.json",
        "ftp://id.acme.example/jwks.json",
        "https://",
        "https:///jwks.json",
        "id.acme.example/jwks.json",
        "http://localhost.attacker.example/jwks.json",
        "http://127.0.0.1@attacker.example/jwks.json",
    ],
)
async def test_jwks_url_must_be_https(brand: Brand, url: str) -> None:
    refused(await put(brand, {"consumerAuth": consumer_auth(jwksUrl=url)}), "consumerAuth.jwksUrl")


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8081/jwks.json",
        "http://127.0.0.1/jwks.json",
        "http://[::1]:9000/jwks.json",
        "https://id.acme.example:8443/jwks.json",
    ],
)
async def test_jwks_url_may_be_plain_http_on_loopback_only(brand: Brand, url: str) -> None:
    """With the URL policy lifted (PARLAY_ALLOW_PRIVATE_URLS=true, as in this suite and the
    demo); in production loopback is refused too (tests/apps/test_url_policy.py)."""
    response = await put(brand, {"consumerAuth": consumer_auth(jwksUrl=url)})
    assert response.status_code == 200, response.text


@pytest.mark.edge
@pytest.mark.parametrize("missing", ["issuer", "audience", "algorithms"])
async def test_consumer_auth_requires_issuer_audience_and_algorithms(
    brand: Brand, missing: str
) -> None:
    config = consumer_auth()
    del config[missing]
    refused(await put(brand, {"consumerAuth": config}), f"consumerAuth.{missing}")


async def test_consumer_auth_is_cleared_with_null(brand: Brand) -> None:
    await put(brand, {"consumerAuth": consumer_auth()})
    response = await put(brand, {"consumerAuth": None})
    assert response.status_code == 200
    assert (await get(brand))["consumerAuth"] is None


# --- unknown fields and who may -------------------------------------------------------------


@pytest.mark.edge
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rateLimit": 5}, "rateLimit"),
        ({"rate_limits": {"c2m": 5}}, "rate_limits"),
        (
            {"welcomeMessage": {"enabled": True, "text": "Hi", "html": "<b>Hi</b>"}},
            "welcomeMessage.html",
        ),
        ({"consumerAuth": {**consumer_auth(), "leeway": 30}}, "consumerAuth.leeway"),
    ],
    ids=["top-level", "snake-case", "welcome", "consumer-auth"],
)
async def test_unknown_fields_are_400_1000_and_named(
    brand: Brand, body: dict[str, Any], field: str
) -> None:
    response = await put(brand, body)
    assert response.status_code == 400
    body = problem(response)
    assert body["errorCode"] == 1000
    assert {"field": field, "message": "unknown field"} in body["errors"]


@pytest.mark.parametrize("role", ["campaign_manager", "agent_manager", "agent"])
async def test_only_admin_reads_or_changes_settings(brand: Brand, role: str) -> None:
    token = brand.auth(await brand.user_token(role))
    for response in (
        await brand.client.get(f"{brand.url}/settings", headers=token),
        await brand.client.put(f"{brand.url}/settings", json={}, headers=token),
    ):
        assert response.status_code == 403
        assert problem(response)["errorCode"] == 1101


async def test_consumer_auth_pem_must_fit_one_of_the_listed_algorithms(
    brand: Brand, rsa_public_pem: str
) -> None:
    # An RSA key with only ES256 listed would refuse every consumer token, silently.
    config = consumer_auth(jwksUrl=None, publicKeyPem=rsa_public_pem, algorithms=["ES256"])
    refused(await put(brand, {"consumerAuth": config}), "consumerAuth.publicKeyPem")
    config = consumer_auth(jwksUrl=None, publicKeyPem=rsa_public_pem, algorithms=["ES256", "PS256"])
    assert (await put(brand, {"consumerAuth": config})).status_code == 200
