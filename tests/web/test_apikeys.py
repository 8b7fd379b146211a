"""The API keys page: a key is shown once, works at once, and stops working when revoked."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import WebClient

pytestmark = pytest.mark.anyio

_REVOKE = re.compile(r'action="/app/apikeys/(\d+)/revoke"')


async def test_a_new_key_is_shown_once_authenticates_and_stops_when_revoked(
    web: WebClient,
) -> None:
    csrf = await web.signed_in_as("admin")
    created = await web.http.post(
        "/app/apikeys",
        data={"csrf_token": csrf, "name": "ivr", "kind": "bearer", "scopes": "handoffs:read"},
    )
    assert created.status_code == 201, created.text
    key = re.search(r"\bplk_[A-Za-z0-9_-]+", created.text)
    assert key is not None
    handoffs = f"{web.brand.url}/handoffs"
    bearer = {"Authorization": f"Bearer {key.group(0)}"}
    assert (await web.http.get(handoffs, headers=bearer)).status_code == 200

    listed = await web.http.get("/app/apikeys")
    assert listed.status_code == 200
    assert key.group(0) not in listed.text
    found = _REVOKE.search(listed.text)
    assert found is not None
    revoked = await web.http.post(
        f"/app/apikeys/{found.group(1)}/revoke", data={"csrf_token": csrf, "name": "ivr"}
    )
    assert revoked.status_code == 303
    assert "revoked" in (await web.http.get(revoked.headers["location"])).text
    assert (await web.http.get(handoffs, headers=bearer)).status_code == 401


async def test_an_oauth_key_shows_its_four_secrets_once(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    created = await web.http.post(
        "/app/apikeys",
        data={"csrf_token": csrf, "name": "crm", "kind": "oauth1", "scopes": "reporting"},
    )
    assert created.status_code == 201, created.text
    for field in ("new-consumer-key", "new-consumer-secret", "new-token", "new-token-secret"):
        assert f'id="{field}"' in created.text
    listed = await web.http.get("/app/apikeys")
    assert "new-consumer-secret" not in listed.text


async def test_a_key_without_a_name_or_scope_is_shown_its_errors(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    refused = await web.http.post(
        "/app/apikeys", data={"csrf_token": csrf, "name": "", "kind": "bearer"}
    )
    assert refused.status_code == 400
    assert 'aria-invalid="true"' in refused.text
