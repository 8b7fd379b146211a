"""Every state-changing request of the web tool carries the session's CSRF token and comes from
our own origin; anything else is a 403 page."""

from __future__ import annotations

import pytest

from tests.web.conftest import ORIGIN, WebClient

pytestmark = pytest.mark.anyio


async def test_a_post_without_the_csrf_token_is_refused(web: WebClient) -> None:
    await web.signed_in_as("admin")
    response = await web.http.post("/app/skills", data={"name": "sales"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "security token" in response.text


async def test_a_post_with_a_wrong_token_or_from_another_origin_is_refused(
    web: WebClient,
) -> None:
    csrf = await web.signed_in_as("admin")
    wrong = await web.http.post("/app/skills", data={"name": "sales", "csrf_token": "x" + csrf})
    assert wrong.status_code == 403
    foreign = await web.http.post(
        "/app/skills",
        data={"name": "sales", "csrf_token": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    web.http.headers.pop("Origin")
    no_origin = await web.http.post("/app/skills", data={"name": "sales", "csrf_token": csrf})
    assert no_origin.status_code == 403
    via_referer = await web.http.post(
        "/app/skills",
        data={"name": "sales", "csrf_token": csrf},
        headers={"Referer": f"{ORIGIN}/app/skills"},
    )
    assert via_referer.status_code == 303


async def test_the_token_is_taken_from_the_header_htmx_sends(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    response = await web.http.post(
        "/app/skills", data={"name": "sales"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 303
    page = await web.http.get("/app/")
    assert f'hx-headers=\'{{"X-CSRF-Token": "{csrf}"}}\'' in page.text


async def test_signing_in_from_another_origin_is_refused(web: WebClient) -> None:
    username = await web.new_user("admin")
    response = await web.http.post(
        "/app/sign-in",
        data={"account_id": web.brand.id, "username": username, "password": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
