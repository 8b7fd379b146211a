"""The demo phone's server side, in process: what ``parlay serve --demo`` mounts and prepares,
and what its push proxy accepts. (The whole loop in a browser is tests/web/test_demo_phone.py.)"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from parlay.app import create_app
from parlay.apps import usecases as apps
from parlay.bootstrap import Container, build_container
from parlay.config import Settings
from parlay.handoffs import usecases as handoffs
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.signing import SIGNATURE_HEADER, signature
from parlay.seed import DEMO_ACCOUNT, DEMO_SKILL, seed_demo
from parlay.web.demo.phone import APP_ID, HANDOFF_ID, DemoPhone

pytestmark = pytest.mark.anyio

PHONE_URL = "http://parlay.test"


@pytest.fixture
async def demo(
    settings: Settings, url_policy: UrlPolicy, tmp_path: Path
) -> AsyncIterator[Container]:
    demo_settings = settings.model_copy(
        update={"demo_phone_key_file": tmp_path / "consumer-key.pem", "demo_phone_url": PHONE_URL}
    )
    container = build_container(demo_settings, urls=url_policy)
    assert await seed_demo(container.db, demo_settings) is not None
    yield container
    await container.close()


@pytest.fixture
async def demo_http(demo: Container) -> AsyncIterator[tuple[httpx.AsyncClient, DemoPhone]]:
    app = create_app(demo.services)
    phone: DemoPhone = app.state.demo_phone
    await phone.prepare(demo.services)
    await phone.prepare(demo.services)  # every start prepares again: nothing is duplicated
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=PHONE_URL
    ) as http:
        yield http, phone


async def test_the_demo_phone_is_mounted_only_under_the_demo(client: httpx.AsyncClient) -> None:
    assert (await client.get("/demo/phone")).status_code == 404
    assert (await client.post("/demo/push-proxy", content=b"{}")).status_code == 404


async def test_a_typed_consumer_signs_in_and_registers_through_the_real_consumer_api(
    demo_http: tuple[httpx.AsyncClient, DemoPhone],
) -> None:
    http, _ = demo_http
    assert (await http.get("/demo/phone")).status_code == 200
    signed_in = await http.post("/demo/phone/sign-in", data={"consumer_id": " ana "})
    assert signed_in.status_code == 200
    me = signed_in.json()
    assert (me["consumerId"], me["appId"]) == ("ana", APP_ID)
    registered = await http.put(
        f"/api/account/{DEMO_ACCOUNT}/consumer/devices/phone-1",
        json={
            "appId": APP_ID,
            "platform": "ios",
            "pushService": "proxy",
            "pushToken": me["pushToken"],
            "osVersion": "18.2",
            "deviceModel": "Demo phone",
            "sdkVersion": "demo",
        },
        headers={"Authorization": f"Bearer {me['jwt']}"},
    )
    assert registered.status_code == 200, registered.text
    assert registered.json()["pushService"] == "proxy"


async def test_the_demo_gets_its_app_on_the_push_proxy_and_the_handoff_once(
    demo: Container, demo_http: tuple[httpx.AsyncClient, DemoPhone]
) -> None:
    app = await apps.get_app(demo.services.tx, DEMO_ACCOUNT, APP_ID)
    assert app.push_service == "proxy"
    handoff = await handoffs.get_handoff(demo.services.tx, DEMO_ACCOUNT, HANDOFF_ID)
    assert handoff.skill == DEMO_SKILL


async def test_the_push_proxy_keeps_signed_pushes_per_device_and_refuses_the_rest(
    demo_http: tuple[httpx.AsyncClient, DemoPhone],
) -> None:
    http, phone = demo_http
    body = json.dumps(
        {
            "deviceToken": "tok-1",
            "pushMessageId": "m-1",
            "notification": {"title": "Demo brand", "body": "Hi"},
            "backendService": "proactive",
        }
    ).encode()
    now = int(time.time())
    signed = {SIGNATURE_HEADER: signature(phone.proxy_secret, body, now)}
    forged = {SIGNATURE_HEADER: signature("not-the-secret", body, now)}

    assert (await http.post("/demo/push-proxy", content=body, headers=forged)).status_code == 401
    assert (await http.post("/demo/push-proxy", content=body)).status_code == 401
    garbled = {SIGNATURE_HEADER: signature(phone.proxy_secret, b"[]", now)}
    assert (await http.post("/demo/push-proxy", content=b"[]", headers=garbled)).status_code == 400
    assert (await http.post("/demo/push-proxy", content=body, headers=signed)).status_code == 202

    kept = (await http.get("/demo/phone/pushes", params={"token": "tok-1"})).json()
    assert [(p["pushMessageId"], p["title"], p["body"]) for p in kept] == [
        ("m-1", "Demo brand", "Hi")
    ]
    assert (await http.get("/demo/phone/pushes", params={"token": "tok-2"})).json() == []
