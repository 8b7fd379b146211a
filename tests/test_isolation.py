"""Nothing ever crosses accounts: another account's resources answer 404 —
never 403, never their data — on every route, and never show up in one's own lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI

from parlay.accounts.permissions import GRANTS, Permission, Role
from tests.conftest import Brand, problem
from tests.fakes.jwks import AUDIENCE, ISSUER, SigningKey
from tests.routes import HANDOFF_BODY, Operation, body, operations, url

pytestmark = pytest.mark.anyio

EVERY_SCOPE = ("c2m", "proactive", "reporting", "handoffs:read", "webhooks")


@dataclass
class Holdings:
    """Account B and what it owns: the IDs to aim at, and strings only B's data contains."""

    brand: Brand
    ids: dict[str, str] = field(default_factory=dict)  # path parameter name → B's resource ID
    secrets: list[str] = field(default_factory=list)

    def leaked(self, text: str) -> list[str]:
        return [s for s in self.secrets if s in text]


@pytest.fixture
async def b(other_brand: Brand) -> Holdings:
    """Account B with one of each resource, made through the public API as B's admin would."""
    held = Holdings(other_brand)
    ob, admin = other_brand, other_brand.admin

    async def post(path: str, json: object, headers: dict[str, str] = admin) -> dict[str, object]:
        response = await ob.client.post(f"{ob.url}{path}", json=json, headers=headers)
        assert response.status_code in (200, 201, 202), response.text
        result: dict[str, object] = response.json()
        return result

    await post("/skills", {"name": "globex-secret-skill"})
    user = await post(
        "/users",
        {"username": "globex-secret-user", "password": "globex password", "roles": ["agent"]},
    )
    key = await post("/apikeys", {"name": "globex-secret-key", "scopes": ["proactive"]})
    handoff = await post(
        "/handoffs",
        {**HANDOFF_BODY, "name": "Globex secret handoff", "skill": "globex-secret-skill"},
    )
    app = await post(
        "/apps",
        {
            "appId": "com.globex.secret",
            "platform": "android",
            "pushService": "proxy",
            "proxy": {"url": "https://push.globex.example/notify", "secret": "globex-secret-hmac"},
        },
    )
    settings = await ob.client.put(
        f"{ob.url}/settings",
        json={
            "defaultSkill": "globex-secret-skill",
            "welcomeMessage": {"enabled": True, "text": "globex secret welcome"},
        },
        headers=admin,
    )
    assert settings.status_code == 200, settings.text
    campaign_response = await ob.client.post(
        f"/api/v2/account/{ob.id}/campaign",
        json={
            "campaignName": "globex-secret-campaign",
            "skill": "globex-secret-skill",
            "templateId": handoff["id"],
            "consent": True,
            "consumers": [{"consumerContent": {"sms": "+14155550142"}}],
        },
        headers=ob.auth(str(key["key"])),
    )
    assert campaign_response.status_code == 200, campaign_response.text
    campaign = campaign_response.json()
    # One of B's consumers writes: a conversation on B's default skill.
    consumer_key = SigningKey.ec()
    auth = {"issuer": ISSUER, "audience": AUDIENCE, "algorithms": ["ES256"]}
    auth["publicKeyPem"] = consumer_key.public_pem
    configured = await ob.client.put(
        f"{ob.url}/settings", json={"consumerAuth": auth}, headers=admin
    )
    assert configured.status_code == 200, configured.text
    conversation = await post(
        "/consumer/messages",
        {"text": "globex secret message"},
        {"Authorization": f"Bearer {consumer_key.token('globex-secret-consumer')}"},
    )

    webhook = await post(
        "/webhooks",
        {
            "url": "https://hooks.globex.example/parlay",
            "events": ["delivery.*", "conversation.*"],
            "description": "globex secret webhook",
        },
    )
    c2m_key = await post("/apikeys", {"name": "globex-secret-ivr", "scopes": ["c2m"]})
    call = await post(
        "/eligibility?v=2.0",
        {
            "skill": "globex-secret-skill",
            "consumerPhoneNumber": "+14155550143",
            "handoffId": handoff["id"],
        },
        ob.auth(str(c2m_key["key"])),
    )
    held.ids = {
        "callId": str(call["callId"]),
        "deliveryId": str(campaign["acceptedConsumers"][0]["id"]),
        "userId": str(user["id"]),
        "keyId": str(key["id"]),
        "handoffId": str(handoff["id"]),
        "campaignId": str(campaign["proactiveCampaignId"]),
        "appId": str(app["appId"]),
        "conversationId": str(conversation["conversationId"]),
        "webhookId": str(webhook["id"]),
        # Not a resource: which report (campaigns or invites) of the account.
        "app": "prmsg",
    }
    held.secrets = [
        "globex-secret",
        "Globex secret",
        "globex secret",
        str(key["key"]),
        str(key["prefix"]),
        "4155550142",
        "push.globex.example",
        "hooks.globex.example",
        str(webhook["secret"]),
    ]
    return held


async def credentials_of(a: Brand) -> dict[str, str]:
    """A's credentials: its admin, its least-privileged role, and a key of every scope."""
    return {
        "admin": a.admin_token,
        "agent": await a.user_token("agent"),
        "every-scope-key": await a.api_key(*EVERY_SCOPE),
    }


async def credentials_with_grants(
    a: Brand,
) -> dict[str, tuple[str, Callable[[Permission], bool]]]:
    """Each of A's credentials with whether GRANTS lets it use a permission."""
    tokens = await credentials_of(a)
    return {
        "admin": (tokens["admin"], lambda p: Role.ADMIN in GRANTS[p].roles),
        "agent": (tokens["agent"], lambda p: Role.AGENT in GRANTS[p].roles),
        "every-scope-key": (tokens["every-scope-key"], lambda p: bool(GRANTS[p].scopes)),
    }


def swept(app: FastAPI) -> list[Operation]:
    # The consumer API is reached with the brand's JWT, verified with the account's own keys: its
    # isolation is proven in tests/consumers.
    return [op for op in operations(app) if op.staff]


async def test_every_route_of_another_account_answers_404_without_its_data(
    brand: Brand, b: Holdings, app: FastAPI
) -> None:
    wrong: list[str] = []
    for who, token in (await credentials_of(brand)).items():
        for op in swept(app):
            response = await brand.client.request(
                op.method, url(op, b.brand.id, b.ids), json=body(op), headers=brand.auth(token)
            )
            if response.status_code != 404 or problem(response)["errorCode"] != 1004:
                wrong.append(f"{who} {op}: {response.status_code} {response.text[:200]}")
            elif leaked := b.leaked(response.text):
                wrong.append(f"{who} {op}: leaked {leaked}")
    assert wrong == []


async def test_another_account_answers_exactly_like_one_that_does_not_exist(
    brand: Brand, b: Holdings, app: FastAPI
) -> None:
    def essence(text: dict[str, object]) -> tuple[object, ...]:
        return text["status"], text["errorCode"], text["errorMessage"], text["title"]

    token = brand.admin
    for op in swept(app):
        existing = await brand.client.request(
            op.method, url(op, b.brand.id, b.ids), json=body(op), headers=token
        )
        missing = await brand.client.request(
            op.method, url(op, "no-such-account", b.ids), json=body(op), headers=token
        )
        assert essence(problem(existing)) == essence(problem(missing)), op


async def test_another_accounts_resource_ids_are_404_under_ones_own_account(
    brand: Brand, b: Holdings, app: FastAPI
) -> None:
    targeted = [op for op in swept(app) if set(op.path_params) - {"accountId", "app"}]
    assert targeted, "no route names a resource: the sweep would check nothing"
    unmapped = {p for op in targeted for p in op.path_params if p != "accountId"} - set(b.ids)
    assert not unmapped, f"create one of B's resources for {unmapped} in the `b` fixture"

    wrong: list[str] = []
    for who, (token, may) in (await credentials_with_grants(brand)).items():
        for op in targeted:
            response = await brand.client.request(
                op.method, url(op, brand.id, b.ids), json=body(op), headers=brand.auth(token)
            )
            status = response.status_code
            # Without the permission, 403 may come first; it tells nothing about B either.
            expected = {404} if may(op.requirements[0][0]) else {403, 404}
            if status not in expected or (status == 404 and problem(response)["errorCode"] != 1004):
                wrong.append(f"{who} {op}: {status} {response.text[:200]}")
            elif leaked := b.leaked(response.text):
                wrong.append(f"{who} {op}: leaked {leaked}")
    assert wrong == []


async def test_accounts_b_resources_are_untouched_after_account_a_tried_everything(
    brand: Brand, b: Holdings, app: FastAPI
) -> None:
    for token in (await credentials_of(brand)).values():
        for op in swept(app):
            for account in (b.brand.id, brand.id):
                await brand.client.request(
                    op.method, url(op, account, b.ids), json=body(op), headers=brand.auth(token)
                )
    ob, admin = b.brand, b.brand.admin

    user = (await ob.client.get(f"{ob.url}/users/{b.ids['userId']}", headers=admin)).json()
    assert user["disabled"] is False
    keys = (await ob.client.get(f"{ob.url}/apikeys", headers=admin)).json()["apiKeys"]
    assert [k["name"] for k in keys] == ["globex-secret-key", "globex-secret-ivr"]
    handoff = await ob.client.get(f"{ob.url}/handoffs/{b.ids['handoffId']}", headers=admin)
    assert handoff.json()["name"] == "Globex secret handoff"
    settings = (await ob.client.get(f"{ob.url}/settings", headers=admin)).json()
    assert settings["welcomeMessage"]["text"] == "globex secret welcome"
    users = (await ob.client.get(f"{ob.url}/users", headers=admin)).json()["users"]
    assert sorted(u["username"] for u in users) == ["admin", "globex-secret-user"]
    skills = (await ob.client.get(f"{ob.url}/skills", headers=admin)).json()["skills"]
    assert "created-by-the-caller" not in [s["name"] for s in skills]
    campaign = await ob.client.get(
        f"/api/v2/account/{ob.id}/campaign/{b.ids['campaignId']}", headers=admin
    )
    assert campaign.json()["campaignStatus"] not in ("CANCELLED",)


async def test_no_list_of_one_account_shows_anything_of_another(
    brand: Brand, b: Holdings, app: FastAPI
) -> None:
    lists = [op for op in swept(app) if op.method == "GET" and set(op.path_params) == {"accountId"}]
    assert {op.path.rsplit("/", 1)[1] for op in lists} >= {"users", "skills", "apikeys", "handoffs"}
    answered = 0
    for who, token in (await credentials_of(brand)).items():
        for op in lists:
            response = await brand.client.get(url(op, brand.id, {}), headers=brand.auth(token))
            answered += response.status_code == 200
            assert not b.leaked(response.text), f"{who} {op} leaked {b.leaked(response.text)}"
    assert answered >= 6, "too few lists answered to prove anything"

    a = brand.admin
    user_ids = {
        u["id"] for u in (await brand.client.get(f"{brand.url}/users", headers=a)).json()["users"]
    }
    key_ids = {
        k["id"]
        for k in (await brand.client.get(f"{brand.url}/apikeys", headers=a)).json()["apiKeys"]
    }
    assert int(b.ids["userId"]) not in user_ids
    assert int(b.ids["keyId"]) not in key_ids


async def test_a_token_of_one_account_cannot_reach_another_by_its_login_route(
    brand: Brand, b: Holdings
) -> None:
    # B's users log in at B's login; A's username and password mean nothing there.
    response = await brand.client.post(
        f"{b.brand.url}/login", json={"username": "globex-secret-user", "password": "wrong"}
    )
    assert response.status_code == 401
    response = await brand.client.post(
        f"{brand.url}/login", json={"username": "globex-secret-user", "password": "globex password"}
    )
    assert response.status_code == 401
