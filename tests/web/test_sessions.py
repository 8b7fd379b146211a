"""Signing in to the web tool: the cookie, where it leads, how a session ends."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from parlay.app import create_app
from parlay.bootstrap import build_container
from parlay.config import Settings
from parlay.lib.clock import FrozenClock
from parlay.lib.http.urls import UrlPolicy
from parlay.web.security import safe_next
from tests.conftest import TEST_PASSWORD, make_brand
from tests.web.conftest import ORIGIN, WebClient

pytestmark = pytest.mark.anyio


def _cookie_header(response: httpx.Response) -> str:
    return "; ".join(response.headers.get_list("set-cookie")).lower()


async def test_signing_in_sets_an_httponly_samesite_lax_cookie_and_goes_where_next_says(
    web: WebClient,
) -> None:
    username = await web.new_user("admin")
    form = {"account_id": web.brand.id, "username": username, "password": TEST_PASSWORD}
    response = await web.http.post("/app/sign-in", data={**form, "next": "/app/skills"})
    assert response.status_code == 303
    assert response.headers["location"] == "/app/skills"
    cookie = _cookie_header(response)
    assert "parlay_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # a loopback host: no TLS in development
    assert (await web.http.get("/app/skills")).status_code == 200


async def test_the_session_cookie_is_secure_on_any_host_but_loopback(web: WebClient) -> None:
    username = await web.new_user("admin")
    form = {"account_id": web.brand.id, "username": username, "password": TEST_PASSWORD}
    response = await web.http.post(
        "https://parlay.example/app/sign-in",
        data=form,
        headers={"Origin": "https://parlay.example"},
    )
    assert response.status_code == 303
    assert "secure" in _cookie_header(response)


async def test_a_wrong_password_shows_the_form_again_with_the_error_bound_to_the_field(
    web: WebClient,
) -> None:
    username = await web.new_user("admin")
    response = await web.sign_in(username, "not the password")
    assert response.status_code == 401
    assert "parlay_session" not in _cookie_header(response)
    assert 'aria-describedby="password-error"' in response.text
    assert 'id="password-error"' in response.text
    assert f'value="{username}"' in response.text  # what was typed stays


async def test_a_page_without_a_session_leads_to_sign_in_with_next(web: WebClient) -> None:
    response = await web.http.get("/app/skills?created=x")
    assert response.status_code == 303
    assert response.headers["location"] == "/app/sign-in?next=%2Fapp%2Fskills%3Fcreated%3Dx"


@pytest.mark.parametrize(
    ("given", "goes_to"),
    [
        ("/app/skills", "/app/skills"),
        ("/app/skills?created=a", "/app/skills?created=a"),
        ("https://evil.example/app/", "/app/"),
        ("//evil.example/app/", "/app/"),
        ("/\\evil.example", "/app/"),
        ("/api/account/a/settings", "/app/"),
        ("javascript:alert(1)", "/app/"),
        ("", "/app/"),
        (None, "/app/"),
    ],
)
def test_next_only_leads_to_a_page_of_the_web_tool(given: str | None, goes_to: str) -> None:
    assert safe_next(given) == goes_to


async def test_signing_out_ends_the_session_on_the_server(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    cookie = web.http.cookies.get("parlay_session")
    response = await web.http.post("/app/sign-out", data={"csrf_token": csrf})
    assert response.status_code == 303
    # Even a copy of the cookie kept from before opens nothing now.
    web.http.cookies.set("parlay_session", cookie or "", domain="127.0.0.1")
    assert (await web.http.get("/app/")).status_code == 303


async def test_a_disabled_user_or_a_change_of_roles_ends_the_session(web: WebClient) -> None:
    brand = web.brand
    for change in ({"disabled": True}, {"roles": ["agent"]}):
        username = await web.new_user("admin")
        assert (await web.sign_in(username)).status_code == 303
        users = (await brand.client.get(f"{brand.url}/users", headers=brand.admin)).json()
        user_id = next(u["id"] for u in users["users"] if u["username"] == username)
        changed = await brand.client.patch(
            f"{brand.url}/users/{user_id}", json=change, headers=brand.admin
        )
        assert changed.status_code == 200, changed.text
        assert (await web.http.get("/app/")).status_code == 303, change


async def test_a_session_slides_with_use_and_ends_at_its_cap(
    settings: Settings, url_policy: UrlPolicy
) -> None:
    capped = settings.model_copy(
        update={"web_session_idle_seconds": 3600, "web_session_max_seconds": 3 * 3600}
    )
    clock = FrozenClock()
    container = build_container(capped, clock=clock, urls=url_policy)
    transport = httpx.ASGITransport(app=create_app(container.services))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url=ORIGIN, headers={"Origin": ORIGIN}
        ) as api:
            web = WebClient(await make_brand(container, api, "slide"), api)
            await web.signed_in_as("admin")
            for _ in range(4):  # a request every 40 minutes keeps it open past the hour...
                clock.advance(timedelta(minutes=40))
                assert (await api.get("/app/")).status_code == 200
            clock.advance(timedelta(minutes=25))  # ...until 3 hours after sign-in
            assert (await api.get("/app/")).status_code == 303

            await web.signed_in_as("admin")
            clock.advance(timedelta(minutes=61))  # an hour without a request
            assert (await api.get("/app/")).status_code == 303
    finally:
        await container.close()


async def test_the_demo_login_shows_on_the_sign_in_page_only_under_demo(
    web: WebClient, tmp_path: Path
) -> None:
    plain = await web.http.get("/app/sign-in")
    assert plain.status_code == 200
    assert "Demo login" not in plain.text

    kept = tmp_path / "parlay-demo.demo-credentials"
    kept.write_text(
        "demo account 'demo':\n"
        '  admin login  POST http://h:1/api/account/demo/login {"username": "admin", '
        '"password": "s3cret-demo-pass"}\n'
    )
    services = web.brand.container.services
    settings = services.settings.model_copy(update={"web_demo_credentials_file": kept})
    app = create_app(replace(services, settings=settings))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN
    ) as demo_web:
        demo = await demo_web.get("/app/sign-in")
    assert "Demo login" in demo.text
    assert "s3cret-demo-pass" in demo.text


async def test_the_root_leads_to_the_web_tool(web: WebClient) -> None:
    response = await web.http.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/app/"
