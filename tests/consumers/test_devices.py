"""Devices: registering is logging in; logging out with ALL, NONE or AGENT decides which
pushes the device still gets, as the in-app send-time checks read it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from parlay.apps.models import Device
from parlay.bootstrap import Container
from parlay.consumers.models import Consumer
from parlay.delivery.status import ErrorCode
from parlay.eligibility.facts import load_facts
from parlay.eligibility.rules import CheckResult, Fail, Pass, Recipient, check
from parlay.lib.clock import FrozenClock
from tests.apps.bodies import ANDROID_APP, IOS_APP, proxy_app
from tests.conftest import Brand, problem
from tests.consumers.conftest import START, Sdk, configure_consumer_auth, create_apps

pytestmark = pytest.mark.anyio

TOKEN = "a1" * 32
OTHER_TOKEN = "b2" * 32


async def devices_of(c: Container, account_id: str, consumer_id: str) -> list[Device]:
    async with c.db.read() as session:
        rows = await session.execute(
            select(Device)
            .where(Device.account_id == account_id, Device.consumer_id == consumer_id)
            .order_by(Device.id)
        )
        return list(rows.scalars())


async def consumer_row(c: Container, account_id: str, consumer_id: str) -> Consumer | None:
    async with c.db.read() as session:
        consumer: Consumer | None = await session.scalar(
            select(Consumer).where(
                Consumer.account_id == account_id, Consumer.consumer_id == consumer_id
            )
        )
        return consumer


async def in_app(
    c: Container,
    account_id: str,
    consumer_id: str,
    *,
    app_ids: tuple[str, ...] = (IOS_APP,),
    push_when_logged_in: bool = True,
    push_when_logged_out: bool = False,
) -> CheckResult:
    """The send-time check of an in-app delivery to ``consumer_id`` under these push rules."""
    recipient = Recipient(
        account_id=account_id,
        channel="inapp",
        consumer_id=consumer_id,
        phone=None,
        app_ids=app_ids,
        push_when_logged_in=push_when_logged_in,
        push_when_logged_out=push_when_logged_out,
    )
    async with c.db.read() as session:
        facts = await load_facts(session, [recipient])
    return check(recipient, facts, c.clock.now())


def tokens(result: CheckResult) -> list[str]:
    assert isinstance(result, Pass), result
    return [t.push_token for t in result.targets]


def fails(result: CheckResult, code: ErrorCode) -> None:
    assert isinstance(result, Fail), result
    assert result.code == code, result


def refused(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    body = problem(response)
    assert body["errorCode"] == 1000
    assert field in [e["field"] for e in body.get("errors", [])], body


# --- registering ---------------------------------------------------------------------------


async def test_registering_creates_a_logged_in_device(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    body = await sdk.register("device-1", pushToken=TOKEN)
    assert body == {
        "deviceId": "device-1",
        "appId": IOS_APP,
        "platform": "ios",
        "pushService": "apns",
        "hasPushToken": True,
        "pushTokenDisabled": False,
        "loggedIn": True,
        "logoutMode": None,
        "registeredAt": "2026-01-05T17:00:00Z",
        "updatedAt": "2026-01-05T17:00:00Z",
    }
    assert TOKEN not in str(body)
    [stored] = await devices_of(container, brand.id, "consumer-1")
    assert (stored.push_token, stored.os_version, stored.device_model) == (
        TOKEN,
        "18.2",
        "iPhone16,2",
    )
    assert (stored.sdk_version, stored.country, stored.city) == ("1.4.0", "US", "San Francisco")
    assert tokens(await in_app(container, brand.id, "consumer-1")) == [TOKEN]


async def test_registering_is_the_consumers_first_login(
    sdk: Sdk, brand: Brand, container: Container, clock: FrozenClock
) -> None:
    fails(await in_app(container, brand.id, "consumer-1"), ErrorCode.NEVER_LOGGED_IN)
    await sdk.register("device-1")
    consumer = await consumer_row(container, brand.id, "consumer-1")
    assert consumer is not None
    assert consumer.first_login_at == START
    clock.advance(timedelta(days=1))
    await sdk.register("device-2", pushToken=OTHER_TOKEN)
    consumer = await consumer_row(container, brand.id, "consumer-1")
    assert consumer is not None
    assert consumer.first_login_at == START


async def test_a_consumer_known_but_never_logged_in_gets_a_first_login(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    async with container.db.write() as session:
        session.add(
            Consumer(
                account_id=brand.id,
                consumer_id="consumer-1",
                phone="+14155552671",
                created_at=START - timedelta(days=3),
            )
        )
    await sdk.register("device-1")
    consumer = await consumer_row(container, brand.id, "consumer-1")
    assert consumer is not None
    assert (consumer.first_login_at, consumer.phone) == (START, "+14155552671")


async def test_re_registering_updates_the_device(
    sdk: Sdk, brand: Brand, container: Container, clock: FrozenClock
) -> None:
    await sdk.register("device-1", pushToken=TOKEN)
    clock.advance(timedelta(hours=2))
    body = await sdk.register("device-1", pushToken=OTHER_TOKEN, osVersion="18.3", city=None)
    assert body["registeredAt"] == "2026-01-05T17:00:00Z"
    assert body["updatedAt"] == "2026-01-05T19:00:00Z"
    [stored] = await devices_of(container, brand.id, "consumer-1")
    assert (stored.push_token, stored.os_version, stored.city) == (OTHER_TOKEN, "18.3", None)
    assert tokens(await in_app(container, brand.id, "consumer-1")) == [OTHER_TOKEN]


async def disable_token(c: Container, account_id: str, consumer_id: str) -> None:
    """What the dispatcher does when APNs answers 410 or FCM UNREGISTERED."""
    async with c.db.write() as session:
        for d in (
            await session.execute(
                select(Device).where(
                    Device.account_id == account_id, Device.consumer_id == consumer_id
                )
            )
        ).scalars():
            d.token_disabled_at = c.clock.now()


async def test_a_new_token_revives_a_device_whose_token_was_disabled(
    sdk: Sdk, brand: Brand, container: Container, clock: FrozenClock
) -> None:
    await sdk.register("device-1", pushToken=TOKEN)
    await disable_token(container, brand.id, "consumer-1")
    fails(await in_app(container, brand.id, "consumer-1"), ErrorCode.NO_PUSH_TOKEN)
    clock.advance(timedelta(minutes=5))
    body = await sdk.register("device-1", pushToken=OTHER_TOKEN)
    assert body["pushTokenDisabled"] is False
    assert tokens(await in_app(container, brand.id, "consumer-1")) == [OTHER_TOKEN]


async def test_registering_the_same_token_after_it_was_disabled_revives_it(
    sdk: Sdk, brand: Brand, container: Container, clock: FrozenClock
) -> None:
    """Apple: after a 410, stop pushing "until the device registers a token with a later
    timestamp". The app registering the token again is that registration."""
    await sdk.register("device-1", pushToken=TOKEN)
    await disable_token(container, brand.id, "consumer-1")
    clock.advance(timedelta(minutes=5))
    body = await sdk.register("device-1", pushToken=TOKEN)
    assert body["pushTokenDisabled"] is False
    assert tokens(await in_app(container, brand.id, "consumer-1")) == [TOKEN]


async def test_a_device_without_a_push_token_gets_no_push(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    body = await sdk.register("device-1", pushToken=None)
    assert body["hasPushToken"] is False
    fails(await in_app(container, brand.id, "consumer-1"), ErrorCode.NO_PUSH_TOKEN)


async def test_re_registering_without_a_token_clears_the_old_one(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    """The app registers without a token when the user turned notifications off."""
    await sdk.register("device-1", pushToken=TOKEN)
    assert (await sdk.register("device-1", pushToken=None))["hasPushToken"] is False
    fails(await in_app(container, brand.id, "consumer-1"), ErrorCode.NO_PUSH_TOKEN)


async def test_an_android_device_registers_with_the_fcm_app(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    body = await sdk.register(
        "pixel", appId=ANDROID_APP, platform="android", pushService="fcm", pushToken="fcm-token"
    )
    assert (body["appId"], body["platform"], body["pushService"]) == (
        ANDROID_APP,
        "android",
        "fcm",
    )
    result = await in_app(container, brand.id, "consumer-1", app_ids=(IOS_APP, ANDROID_APP))
    assert tokens(result) == ["fcm-token"]
    fails(await in_app(container, brand.id, "consumer-1"), ErrorCode.NO_PUSH_TOKEN)


async def test_an_unknown_app_id_is_refused(sdk: Sdk, brand: Brand, container: Container) -> None:
    refused(await sdk.put_device("device-1", appId="com.nobody.app"), "appId")
    assert await devices_of(container, brand.id, "consumer-1") == []
    assert await consumer_row(container, brand.id, "consumer-1") is None


async def test_an_app_of_another_account_is_unknown(
    sdk: Sdk, other_brand: Brand, container: Container, brand: Brand
) -> None:
    response = await other_brand.client.post(
        f"{other_brand.url}/apps", json=proxy_app("com.globex.app"), headers=other_brand.admin
    )
    assert response.status_code == 201
    body = {"appId": "com.globex.app", "platform": "android", "pushService": "proxy"}
    refused(await sdk.put_device("device-1", **body), "appId")


@pytest.mark.edge
@pytest.mark.parametrize(
    "fields",
    [
        {"pushService": "fcm"},
        {"pushService": "proxy"},
        {"platform": "android"},
        {"appId": ANDROID_APP},
        {"appId": ANDROID_APP, "platform": "android", "pushService": "apns"},
    ],
    ids=["ios-app-fcm", "ios-app-proxy", "ios-app-android", "android-app-ios", "fcm-app-apns"],
)
async def test_push_service_and_platform_must_match_the_app(
    sdk: Sdk, brand: Brand, container: Container, fields: dict[str, str]
) -> None:
    refused(await sdk.put_device("device-1", **fields), "pushService")
    assert await devices_of(container, brand.id, "consumer-1") == []


@pytest.mark.edge
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"osVersion": None}, "osVersion"),
        ({"deviceModel": None}, "deviceModel"),
        ({"sdkVersion": None}, "sdkVersion"),
        ({"platform": "windows"}, "platform"),
        ({"pushService": "huawei"}, "pushService"),
        ({"pushToken": ""}, "pushToken"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_a_registration_body_is_validated(
    sdk: Sdk, fields: dict[str, Any], field: str
) -> None:
    refused(await sdk.put_device("device-1", **fields), field)


async def test_a_push_token_registered_by_another_consumer_moves_to_the_new_registration(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    """A shared or handed-over phone: the token belongs to whoever registered it last."""
    await sdk.register("device-1", "consumer-1", pushToken=TOKEN)
    await sdk.register("device-1", "consumer-2", pushToken=TOKEN)
    [old] = await devices_of(container, brand.id, "consumer-1")
    assert old.push_token is None
    fails(await in_app(container, brand.id, "consumer-1"), ErrorCode.NO_PUSH_TOKEN)
    assert tokens(await in_app(container, brand.id, "consumer-2")) == [TOKEN]


async def test_a_push_token_moves_from_an_older_install_of_the_same_consumer(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    await sdk.register("install-1", pushToken=TOKEN)
    await sdk.register("install-2", pushToken=TOKEN)
    assert tokens(await in_app(container, brand.id, "consumer-1")) == [TOKEN]
    old, new = await devices_of(container, brand.id, "consumer-1")
    assert (old.device_id, old.push_token) == ("install-1", None)
    assert (new.device_id, new.push_token) == ("install-2", TOKEN)


async def test_a_push_token_registered_by_several_consumers_at_once_ends_with_one_of_them(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    consumers = [f"consumer-{n}" for n in range(6)]
    for _ in range(3):
        token = uuid.uuid4().hex
        answers = await asyncio.gather(
            *(sdk.put_device("device-1", consumer, pushToken=token) for consumer in consumers)
        )
        assert [a.status_code for a in answers] == [200] * len(consumers)
        holders = [
            d
            for consumer in consumers
            for d in await devices_of(container, brand.id, consumer)
            if d.push_token == token
        ]
        assert len(holders) == 1


async def test_a_push_token_in_another_account_is_left_alone(
    sdk: Sdk, brand: Brand, other_brand: Brand, container: Container, rsa_key: Any
) -> None:
    await configure_consumer_auth(other_brand, publicKeyPem=rsa_key.public_pem)
    await create_apps(other_brand)
    await sdk.register("device-1", pushToken=TOKEN)
    await Sdk(other_brand, rsa_key).register("device-1", pushToken=TOKEN)
    assert tokens(await in_app(container, brand.id, "consumer-1")) == [TOKEN]
    assert tokens(await in_app(container, other_brand.id, "consumer-1")) == [TOKEN]


# --- logging out -------------------------------------------------------------------------------


@pytest.mark.parametrize("unregister_type", ["ALL", "NONE", "AGENT"])
async def test_logout_records_the_unregister_type(
    sdk: Sdk, clock: FrozenClock, unregister_type: str
) -> None:
    await sdk.register("device-1")
    clock.advance(timedelta(minutes=1))
    response = await sdk.logout("device-1", unregister_type)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["loggedIn"], body["logoutMode"]) == (False, unregister_type)
    assert body["updatedAt"] == "2026-01-05T17:01:00Z"
    assert body["hasPushToken"] is True


async def test_logout_without_a_type_is_all(sdk: Sdk) -> None:
    await sdk.register("device-1")
    response = await sdk.logout("device-1", None)
    assert response.status_code == 200, response.text
    assert response.json()["logoutMode"] == "ALL"


async def test_an_unknown_unregister_type_is_refused(sdk: Sdk) -> None:
    await sdk.register("device-1")
    refused(await sdk.logout("device-1", "SOME"), "unregisterType")


# (device state, pushWhenLoggedIn, pushWhenLoggedOut) → None when the push goes out, else why not.
PUSH_RULES = [
    ("IN", True, False, None),
    ("IN", True, True, None),
    ("IN", False, True, ErrorCode.LOGGED_IN_PUSH_DISABLED),
    ("IN", False, False, ErrorCode.LOGGED_IN_PUSH_DISABLED),
    ("ALL", True, True, ErrorCode.LOGGED_OUT_PUSH_DISABLED),
    ("ALL", True, False, ErrorCode.LOGGED_OUT_PUSH_DISABLED),
    ("ALL", False, True, ErrorCode.LOGGED_OUT_PUSH_DISABLED),
    ("NONE", True, True, None),
    ("NONE", False, True, None),
    ("NONE", True, False, ErrorCode.LOGGED_OUT_PUSH_DISABLED),
    ("AGENT", True, True, None),
    ("AGENT", False, True, None),
    ("AGENT", True, False, ErrorCode.LOGGED_OUT_PUSH_DISABLED),
]


@pytest.mark.parametrize(
    ("state", "when_in", "when_out", "expected"),
    PUSH_RULES,
    ids=[f"{s}-in{int(i)}-out{int(o)}" for s, i, o, _ in PUSH_RULES],
)
async def test_logout_mode_and_handoff_push_rules_gate_outbound_pushes(
    sdk: Sdk,
    brand: Brand,
    container: Container,
    state: str,
    when_in: bool,
    when_out: bool,
    expected: ErrorCode | None,
) -> None:
    """ALL: no pushes; NONE and AGENT: outbound pushes when the handoff's pushWhenLoggedOut
    allows; a logged-in device follows pushWhenLoggedIn."""
    await sdk.register("device-1", pushToken=TOKEN)
    if state != "IN":
        assert (await sdk.logout("device-1", state)).status_code == 200
    result = await in_app(
        container,
        brand.id,
        "consumer-1",
        push_when_logged_in=when_in,
        push_when_logged_out=when_out,
    )
    if expected is None:
        assert tokens(result) == [TOKEN]
    else:
        fails(result, expected)


async def test_registering_again_after_logout_logs_back_in(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    await sdk.register("device-1", pushToken=TOKEN)
    await sdk.logout("device-1", "ALL")
    fails(await in_app(container, brand.id, "consumer-1"), ErrorCode.LOGGED_OUT_PUSH_DISABLED)
    body = await sdk.register("device-1", pushToken=TOKEN)
    assert (body["loggedIn"], body["logoutMode"]) == (True, None)
    assert tokens(await in_app(container, brand.id, "consumer-1")) == [TOKEN]


async def test_only_the_devices_the_rules_allow_are_pushed(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    await sdk.register("phone", pushToken=TOKEN)
    await sdk.register("tablet", pushToken=OTHER_TOKEN)
    await sdk.logout("tablet", "ALL")
    result = await in_app(container, brand.id, "consumer-1", push_when_logged_out=True)
    assert tokens(result) == [TOKEN]
    await sdk.logout("phone", "AGENT")
    assert tokens(await in_app(container, brand.id, "consumer-1", push_when_logged_out=True)) == [
        TOKEN
    ]
    fails(await in_app(container, brand.id, "consumer-1"), ErrorCode.LOGGED_OUT_PUSH_DISABLED)


async def test_logout_of_an_unknown_device_answers_404(sdk: Sdk) -> None:
    response = await sdk.logout("never-registered", "ALL")
    assert response.status_code == 404, response.text
    assert problem(response)["errorCode"] == 1004


async def test_a_consumer_cannot_log_out_another_consumers_device(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    await sdk.register("device-1", "consumer-1", pushToken=TOKEN)
    response = await sdk.logout("device-1", "ALL", sub="consumer-2")
    assert response.status_code == 404, response.text
    [device_1] = await devices_of(container, brand.id, "consumer-1")
    assert device_1.logged_in is True
    assert tokens(await in_app(container, brand.id, "consumer-1")) == [TOKEN]


async def test_a_consumer_registering_the_same_device_id_gets_a_device_of_its_own(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    await sdk.register("device-1", "consumer-1", pushToken=TOKEN, osVersion="18.2")
    await sdk.register("device-1", "consumer-2", pushToken=OTHER_TOKEN, osVersion="17.0")
    await sdk.logout("device-1", "ALL", sub="consumer-2")
    [mine] = await devices_of(container, brand.id, "consumer-1")
    assert (mine.push_token, mine.os_version, mine.logged_in) == (TOKEN, "18.2", True)
    [theirs] = await devices_of(container, brand.id, "consumer-2")
    assert (theirs.push_token, theirs.logged_in) == (OTHER_TOKEN, False)


async def test_devices_are_per_account(
    sdk: Sdk, brand: Brand, other_brand: Brand, container: Container, rsa_key: Any
) -> None:
    """The same consumer ID in another account is another person."""
    await configure_consumer_auth(other_brand, publicKeyPem=rsa_key.public_pem)
    await create_apps(other_brand)
    await sdk.register("device-1")
    response = await Sdk(other_brand, rsa_key).logout("device-1", "ALL")
    assert response.status_code == 404, response.text
    [device_1] = await devices_of(container, brand.id, "consumer-1")
    assert device_1.logged_in is True
    assert await consumer_row(container, other_brand.id, "consumer-1") is None


async def test_a_device_id_is_at_most_255_characters(sdk: Sdk) -> None:
    assert (await sdk.put_device("d" * 256)).status_code == 400
    assert (await sdk.put_device("d" * 255)).status_code == 200


async def test_concurrent_registrations_of_a_new_consumer_all_succeed(
    sdk: Sdk, brand: Brand, container: Container
) -> None:
    """The SDK may register several installs (or retry) at once on a first login."""
    responses = await asyncio.gather(
        *(sdk.put_device(f"device-{i}", pushToken=f"token-{i}") for i in range(6)),
        *(sdk.put_device("device-0", pushToken="token-0") for _ in range(3)),
    )
    for response in responses:
        assert response.status_code == 200, response.text
    stored = await devices_of(container, brand.id, "consumer-1")
    assert sorted(d.device_id for d in stored) == [f"device-{i}" for i in range(6)]
    assert await consumer_row(container, brand.id, "consumer-1") is not None
