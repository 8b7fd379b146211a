"""ApnsClient against the APNs fake over real loopback TLS and HTTP/2."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from parlay.channels.apns import (
    APNS_ID_NAMESPACE,
    MAX_PAYLOAD_BYTES,
    ApnsClient,
    apns_id,
    apns_payload,
)
from parlay.channels.base import Accepted, Rejected, RetryLater
from parlay.channels.push import PushApp, PushNotification
from parlay.delivery.status import ErrorCode, ErrorSource
from parlay.lib.clock import FrozenClock
from parlay.lib.http.client import make_client
from tests.channels.conftest import APNS_KEY, APNS_TEAM, APNS_TOPIC
from tests.fakes.apns import ApnsFake
from tests.fakes.loopback import LOOPBACK_URLS

pytestmark = pytest.mark.anyio


def device_token() -> str:
    """A token shaped like Apple's: 32 bytes as hex."""
    return secrets.token_hex(32)


def notification(token: str | None = None, **changes: Any) -> PushNotification:
    note = PushNotification(
        push_message_id=f"delivery-{secrets.token_hex(4)}",
        token=token or device_token(),
        platform="ios",
        message="Your order shipped. Reply to chat with us.",
        title="Acme",
        backend_service="prmsg",
        lookback_seconds=3600,
        expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1),
        campaign_info={"campaignId": "c-1", "engagementId": "e-1"},
    )
    return replace(note, **changes)


def claims(token: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a provider token, unverified."""
    assert token
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def clock(apns_fake: ApnsFake) -> FrozenClock:
    """A clock both sides read: the client mints with it, the fake measures token age with it."""
    frozen = FrozenClock(datetime.now(UTC))
    apns_fake.now = lambda: frozen.now().timestamp()
    return frozen


@pytest.fixture
async def quick(apns_fake: ApnsFake) -> AsyncIterator[ApnsClient]:
    """A client that gives up on an answer after one second."""
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=apns_fake.ca_bundle, timeout=1.0)
    yield client
    await client.close()


# --- the request ------------------------------------------------------------------------------


async def test_push_sends_token_auth_headers_and_the_sdk_payload(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    note = notification()

    result = await apns.push(apns_app, note)

    expected_id = str(uuid.uuid5(APNS_ID_NAMESPACE, note.push_message_id))
    assert result == Accepted(ErrorSource.APNS, provider_message_id=expected_id)
    [request] = apns_fake.records
    assert request.token == note.token
    assert request.headers[":path"] == f"/3/device/{note.token}"
    assert request.headers["apns-topic"] == APNS_TOPIC
    assert request.headers["apns-push-type"] == "alert"
    assert request.headers["apns-priority"] == "10"
    assert request.headers["apns-expiration"] == str(int(note.expires_at.timestamp()))
    assert request.headers["apns-id"] == expected_id
    assert "apns-collapse-id" not in request.headers
    header, body = claims(request.jwt)
    assert header == {"alg": "ES256", "kid": APNS_KEY, "typ": "JWT"}
    assert body["iss"] == APNS_TEAM
    assert abs(body["iat"] - time.time()) < 60
    assert request.payload == {
        "aps": {"alert": {"title": "Acme", "body": note.message}, "sound": "default"},
        "pushMessageId": note.push_message_id,
        "message": note.message,
        "backendService": "prmsg",
        "lookBackPeriod": 3600,
        "campaignInfo": {"campaignId": "c-1", "engagementId": "e-1"},
    }


async def test_expiration_is_the_end_of_the_lookback(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    end_of_lookback = datetime(2031, 5, 17, 9, 30, 15, tzinfo=UTC)

    await apns.push(apns_app, notification(expires_at=end_of_lookback, lookback_seconds=900))

    [request] = apns_fake.records
    assert request.headers["apns-expiration"] == "1936776615"
    assert request.payload is not None
    assert request.payload["lookBackPeriod"] == 900


async def test_alert_without_title_and_with_collapse_id(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    await apns.push(apns_app, notification(title=None, collapse_id="campaign-7"))

    [request] = apns_fake.records
    assert request.payload is not None
    assert request.payload["aps"]["alert"] == {"body": "Your order shipped. Reply to chat with us."}
    assert request.headers["apns-collapse-id"] == "campaign-7"


async def test_payload_is_compact_json_with_unicode_as_is() -> None:
    payload = apns_payload(notification(message="Olá 👋", title=None))

    assert b": " not in payload
    assert b", " not in payload
    assert "Olá 👋".encode() in payload


async def test_retried_push_carries_the_same_apns_id(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    note = notification()
    apns_fake.script(note.token, "unavailable")

    first = await apns.push(apns_app, note)
    second = await apns.push(apns_app, note)

    assert isinstance(first, RetryLater)
    assert isinstance(second, Accepted)
    failed, accepted = apns_fake.requests_for(note.token)
    assert (failed.status, accepted.status) == (503, 200)
    assert failed.apns_id == accepted.apns_id == second.provider_message_id
    assert failed.payload == accepted.payload


async def test_another_delivery_gets_another_apns_id(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    await apns.push(apns_app, notification(push_message_id="delivery-1"))
    await apns.push(apns_app, notification(push_message_id="delivery-2"))

    first, second = apns_fake.records
    assert first.apns_id != second.apns_id


@given(st.text())
def test_the_apns_id_is_the_uuid5_of_the_delivery_in_the_apns_namespace(delivery: str) -> None:
    assert apns_id(delivery) == str(uuid.uuid5(APNS_ID_NAMESPACE, delivery))


# --- the connection and the provider token ----------------------------------------------------


async def test_one_connection_carries_100_concurrent_sends(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    notes = [notification() for _ in range(100)]
    for note in notes:  # answers held back a little, so the streams are open together
        apns_fake.script(note.token, "slow:0.2")

    results = await asyncio.gather(*(apns.push(apns_app, note) for note in notes))
    results.append(await apns.push(apns_app, notification()))

    assert all(isinstance(result, Accepted) for result in results)
    assert apns_fake.connections == 1
    assert len(apns_fake.accepted) == 101
    # The fake allows one stream until a valid token, then 1,000: all 100 sends were on it.
    assert apns_fake.peak_streams == 100
    assert len({request.jwt for request in apns_fake.records}) == 1


async def test_apps_of_one_signing_key_share_the_connection(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    assert apns_app.apns is not None
    apns_fake.register(APNS_TEAM, APNS_KEY, _public_pem(apns_app), "com.example.other")
    other = replace(apns_app, app_id="com.example.other")

    assert isinstance(await apns.push(apns_app, notification()), Accepted)
    assert isinstance(await apns.push(other, notification()), Accepted)

    assert apns_fake.connections == 1
    assert [r.headers["apns-topic"] for r in apns_fake.records] == [APNS_TOPIC, "com.example.other"]


async def test_provider_token_is_reused_then_reminted_after_its_max_age(
    apns_fake: ApnsFake, apns_app: PushApp, clock: FrozenClock
) -> None:
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=apns_fake.ca_bundle, clock=clock)
    try:
        await client.push(apns_app, notification())
        clock.advance(timedelta(minutes=39))
        await client.push(apns_app, notification())
        clock.advance(timedelta(minutes=2))
        await client.push(apns_app, notification())
    finally:
        await client.close()

    first, second, third = (request.jwt for request in apns_fake.records)
    assert first == second != third
    assert claims(third)[1]["iat"] - claims(first)[1]["iat"] == 41 * 60
    assert [request.status for request in apns_fake.records] == [200, 200, 200]


@pytest.mark.parametrize("minutes", [19, 61])
async def test_token_max_age_outside_apples_window_is_refused(minutes: int) -> None:
    with pytest.raises(ValueError, match="re-minted every 20 to 60 minutes"):
        ApnsClient(urls=LOOPBACK_URLS, token_max_age=timedelta(minutes=minutes))


async def test_expired_provider_token_is_reminted_and_the_push_retried_once(
    apns_fake: ApnsFake, apns_app: PushApp, clock: FrozenClock
) -> None:
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=apns_fake.ca_bundle, clock=clock)
    try:
        await client.push(apns_app, notification())
        # APNs's clock runs 31 minutes ahead: at 30 minutes our token is over an hour old there.
        clock.advance(timedelta(minutes=30))
        apns_fake.now = lambda: clock.now().timestamp() + 31 * 60
        note = notification()

        result = await client.push(apns_app, note)
    finally:
        await client.close()

    assert isinstance(result, Accepted)
    refused, accepted = apns_fake.requests_for(note.token)
    assert (refused.status, refused.reason) == (403, "ExpiredProviderToken")
    assert accepted.status == 200
    assert accepted.jwt != refused.jwt
    assert refused.apns_id == accepted.apns_id
    assert apns_fake.connections == 1


async def test_a_fresh_token_refused_as_expired_is_not_retried_again(
    apns_fake: ApnsFake, apns_app: PushApp, clock: FrozenClock
) -> None:
    apns_fake.now = lambda: clock.now().timestamp() + 2 * 3600  # a clock two hours off
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=apns_fake.ca_bundle, clock=clock)
    try:
        result = await client.push(apns_app, notification())
    finally:
        await client.close()

    assert result == Rejected(ErrorSource.APNS, ErrorCode.PROVIDER_REJECTED, "ExpiredProviderToken")
    assert len(apns_fake.records) == 2


async def test_constructing_the_client_does_no_io() -> None:
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle="/nonexistent/ca.pem")

    await client.close()


async def test_app_without_apns_credentials_is_rejected(
    apns: ApnsClient, apns_app: PushApp
) -> None:
    result = await apns.push(replace(apns_app, apns=None), notification())

    assert isinstance(result, Rejected)
    assert result.code == ErrorCode.PROVIDER_REJECTED


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("unregistered", "Unregistered"),
        ("expired_token", "ExpiredToken"),
        ("bad_device_token", "BadDeviceToken"),
        ("reason:DeviceTokenNotForTopic", "DeviceTokenNotForTopic"),
    ],
)
async def test_token_that_can_never_work_is_unregistered_and_dead(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake, outcome: str, reason: str
) -> None:
    note = notification()
    apns_fake.script(note.token, outcome)

    result = await apns.push(apns_app, note)

    assert result == Rejected(
        ErrorSource.APNS, ErrorCode.TOKEN_UNREGISTERED, reason, dead_tokens=(note.token,)
    )


@pytest.mark.parametrize("token", ["not-a-hex-token", "ab/../cd?x=1"])
async def test_malformed_token_is_refused_by_apns_and_dead(
    apns: ApnsClient, apns_app: PushApp, token: str
) -> None:
    result = await apns.push(apns_app, notification(token=token))

    assert result == Rejected(
        ErrorSource.APNS, ErrorCode.TOKEN_UNREGISTERED, "BadDeviceToken", dead_tokens=(token,)
    )


async def test_a_reason_that_is_not_a_code_word_is_not_repeated(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    """An APNs endpoint may be a brand's egress proxy: its words never reach a delivery."""
    note = notification()
    apns_fake.script(note.token, "reason:MARKER-7f3a please call us")

    result = await apns.push(apns_app, note)

    assert result == Rejected(ErrorSource.APNS, ErrorCode.PROVIDER_REJECTED, "HTTP 400")


@pytest.mark.parametrize(
    "reason",
    [
        "TopicDisallowed",
        "BadPriority",
        "Forbidden",
        "InvalidProviderToken",
        "BadPath",
        "MethodNotAllowed",
        "PayloadTooLarge",
    ],
)
async def test_other_permanent_errors_pass_apns_reason_through(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake, reason: str
) -> None:
    note = notification()
    apns_fake.script(note.token, f"reason:{reason}")

    result = await apns.push(apns_app, note)

    assert result == Rejected(ErrorSource.APNS, ErrorCode.PROVIDER_REJECTED, reason)


async def test_unknown_topic_is_rejected_without_killing_the_token(
    apns: ApnsClient, apns_app: PushApp
) -> None:
    result = await apns.push(replace(apns_app, app_id="com.example.unknown"), notification())

    assert result == Rejected(ErrorSource.APNS, ErrorCode.PROVIDER_REJECTED, "BadTopic")


async def test_wrong_signing_key_is_rejected_as_invalid_provider_token(
    apns: ApnsClient, apns_app: PushApp
) -> None:
    assert apns_app.apns is not None
    forged = replace(apns_app, apns=replace(apns_app.apns, private_key_pem=_new_private_pem()))

    result = await apns.push(forged, notification())

    assert result == Rejected(ErrorSource.APNS, ErrorCode.PROVIDER_REJECTED, "InvalidProviderToken")


@pytest.mark.parametrize(("outcome", "retry_after"), [("throttle:7", 7.0), ("throttle", None)])
async def test_throttled_push_is_retried_later_honouring_retry_after(
    apns: ApnsClient,
    apns_app: PushApp,
    apns_fake: ApnsFake,
    outcome: str,
    retry_after: float | None,
) -> None:
    note = notification()
    apns_fake.script(note.token, outcome)

    result = await apns.push(apns_app, note)

    assert result == RetryLater(ErrorSource.APNS, "TooManyRequests", retry_after=retry_after)


async def test_retry_after_as_an_http_date(
    apns_fake: ApnsFake, apns_app: PushApp, clock: FrozenClock
) -> None:
    note = notification()
    when = clock.now().replace(microsecond=0) + timedelta(seconds=30)
    apns_fake.script(note.token, f"throttle:{format_datetime(when, usegmt=True)}")
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=apns_fake.ca_bundle, clock=clock)
    try:
        result = await client.push(apns_app, note)
    finally:
        await client.close()

    assert isinstance(result, RetryLater)
    assert result.retry_after == pytest.approx(30, abs=1)


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [("unavailable", "ServiceUnavailable"), ("internal", "InternalServerError")],
)
async def test_server_errors_are_retried_later(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake, outcome: str, reason: str
) -> None:
    note = notification()
    apns_fake.script(note.token, outcome)

    result = await apns.push(apns_app, note)

    assert result == RetryLater(ErrorSource.APNS, reason)
    assert isinstance(await apns.push(apns_app, note), Accepted)


async def test_slow_answer_is_retried_later_without_failing_its_neighbours(
    quick: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    slow = notification()
    apns_fake.script(slow.token, "slow:10")
    started = time.monotonic()

    results = await asyncio.gather(
        quick.push(apns_app, slow), *(quick.push(apns_app, notification()) for _ in range(5))
    )

    assert time.monotonic() - started < 5
    assert isinstance(results[0], RetryLater)
    assert all(isinstance(result, Accepted) for result in results[1:])
    # The connection kept answering the others, so it stays in use.
    assert isinstance(await quick.push(apns_app, notification()), Accepted)
    assert apns_fake.connections == 1


async def test_connection_that_answers_nothing_is_replaced(
    quick: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    slow = notification()
    assert isinstance(await quick.push(apns_app, notification()), Accepted)
    apns_fake.script(slow.token, "slow:10")

    assert isinstance(await quick.push(apns_app, slow), RetryLater)
    assert isinstance(await quick.push(apns_app, notification()), Accepted)

    assert apns_fake.connections == 2


@pytest.mark.parametrize(
    ("outcomes", "connections"),
    [
        # A request that got no answer on a connection that broke is sent once more on a fresh
        # connection by libcurl itself; only when that breaks too is the push retried later.
        (("drop", "drop"), 3),
        # A GOAWAY that names the request as possibly processed is not re-sent by libcurl.
        (("goaway",), 2),
    ],
)
async def test_lost_connection_is_retried_later_and_the_next_send_reconnects(
    apns: ApnsClient,
    apns_app: PushApp,
    apns_fake: ApnsFake,
    outcomes: tuple[str, ...],
    connections: int,
) -> None:
    assert isinstance(await apns.push(apns_app, notification()), Accepted)
    note = notification()
    apns_fake.script(note.token, *outcomes)

    result = await apns.push(apns_app, note)
    again = await apns.push(apns_app, note)

    assert isinstance(result, RetryLater)
    assert result.source == ErrorSource.APNS
    assert "ConnectionLost" in result.reason
    assert isinstance(again, Accepted)
    assert apns_fake.connections == connections


async def test_connection_cut_between_sends_is_reopened(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    assert isinstance(await apns.push(apns_app, notification()), Accepted)
    apns_fake.drop_all()
    await asyncio.sleep(0.05)

    results = [await apns.push(apns_app, notification()) for _ in range(2)]

    # The first send may find the dead connection (RetryLater); the next one reconnects.
    assert isinstance(results[-1], Accepted)
    assert apns_fake.connections == 2


async def test_unreachable_apns_is_retried_later(apns: ApnsClient, apns_app: PushApp) -> None:
    assert apns_app.apns is not None
    nowhere = replace(apns_app, apns=replace(apns_app.apns, endpoint="https://127.0.0.1:9"))

    result = await apns.push(nowhere, notification())

    assert isinstance(result, RetryLater)
    assert "ConnectError" in result.reason


async def test_payload_over_4kb_is_refused_without_a_request(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    result = await apns.push(apns_app, notification(message="x" * 2100))

    assert result == Rejected(ErrorSource.APNS, ErrorCode.PROVIDER_REJECTED, "PayloadTooLarge")
    assert apns_fake.records == []


async def test_payload_of_exactly_4kb_is_sent(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    note = notification(title="t")
    note = replace(note, title="t" * (1 + MAX_PAYLOAD_BYTES - len(apns_payload(note))))
    assert len(apns_payload(note)) == MAX_PAYLOAD_BYTES

    assert isinstance(await apns.push(apns_app, note), Accepted)


async def test_collapse_id_over_64_bytes_is_refused_without_a_request(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    result = await apns.push(apns_app, notification(collapse_id="c" * 65))

    assert result == Rejected(ErrorSource.APNS, ErrorCode.PROVIDER_REJECTED, "BadCollapseId")
    assert apns_fake.records == []


# --- the fake is not a rubber stamp -----------------------------------------------------------


def _new_private_pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def _public_pem(app: PushApp) -> str:
    assert app.apns is not None
    private = serialization.load_pem_private_key(app.apns.private_key_pem.encode(), None)
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _provider_token(pem: str, *, iat: float | None = None, kid: str = APNS_KEY) -> str:
    return jwt.encode(
        {"iss": APNS_TEAM, "iat": int(iat if iat is not None else time.time())},
        pem,
        algorithm="ES256",
        headers={"kid": kid},
    )


async def _raw_post(
    fake: ApnsFake,
    *,
    authorization: str | None,
    token: str | None = None,
    body: bytes = b'{"aps":{"alert":"hi"}}',
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request with hand-made headers, as a misbehaving client would send it."""
    sent = {"apns-topic": APNS_TOPIC, "apns-push-type": "alert", **(headers or {})}
    if authorization is not None:
        sent["authorization"] = f"bearer {authorization}"
    async with make_client(urls=LOOPBACK_URLS, http2=True, ca_bundle=fake.ca_bundle) as client:
        return await client.post(
            f"{fake.base_url}/3/device/{token or device_token()}", content=body, headers=sent
        )


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        ("other_key", "InvalidProviderToken"),
        ("unknown_kid", "InvalidProviderToken"),
        ("garbage", "InvalidProviderToken"),
        ("expired", "ExpiredProviderToken"),
        ("missing", "MissingProviderToken"),
    ],
)
async def test_fake_refuses_forged_expired_and_missing_provider_tokens(
    apns_fake: ApnsFake, apns_app: PushApp, forge: str, reason: str
) -> None:
    assert apns_app.apns is not None
    good_pem = apns_app.apns.private_key_pem
    authorization = {
        "other_key": _provider_token(_new_private_pem()),
        "unknown_kid": _provider_token(good_pem, kid="OTHERKEY99"),
        "garbage": "not.a.jwt",
        "expired": _provider_token(good_pem, iat=time.time() - 3601),
        "missing": None,
    }[forge]

    response = await _raw_post(apns_fake, authorization=authorization)

    assert response.status_code == 403
    assert response.json() == {"reason": reason}
    assert response.http_version == "HTTP/2"


@pytest.mark.parametrize(
    ("changes", "status", "reason"),
    [
        ({"apns-topic": "com.example.unknown"}, 400, "BadTopic"),
        ({"apns-topic": ""}, 400, "MissingTopic"),
        ({"apns-push-type": "shout"}, 400, "InvalidPushType"),
        ({"apns-expiration": "tomorrow"}, 400, "BadExpirationDate"),
        ({"apns-id": "not-a-uuid"}, 400, "BadMessageId"),
        ({"apns-priority": "7"}, 400, "BadPriority"),
        ({"apns-collapse-id": "c" * 65}, 400, "BadCollapseId"),
        ({"token": "zz-not-hex"}, 400, "BadDeviceToken"),
        ({"body": b""}, 400, "PayloadEmpty"),
        ({"body": b'{"aps":{"alert":"' + b"x" * 4100 + b'"}}'}, 413, "PayloadTooLarge"),
    ],
)
async def test_fake_validates_headers_token_and_payload(
    apns_fake: ApnsFake, apns_app: PushApp, changes: dict[str, Any], status: int, reason: str
) -> None:
    assert apns_app.apns is not None
    authorization = _provider_token(apns_app.apns.private_key_pem)

    headers = dict(changes)
    token, body = headers.pop("token", None), headers.pop("body", b'{"aps":{"alert":"hi"}}')
    response = await _raw_post(
        apns_fake, authorization=authorization, token=token, body=body, headers=headers
    )

    assert (response.status_code, response.json()) == (status, {"reason": reason})


async def test_fake_answers_200_echoing_apns_id_and_410_with_a_timestamp(
    apns_fake: ApnsFake, apns_app: PushApp
) -> None:
    assert apns_app.apns is not None
    authorization = _provider_token(apns_app.apns.private_key_pem)
    apns_id = str(uuid.uuid4())
    token = device_token()
    apns_fake.script(token, "unregistered")

    gone = await _raw_post(apns_fake, authorization=authorization, token=token)
    ok = await _raw_post(
        apns_fake, authorization=authorization, token=token, headers={"apns-id": apns_id}
    )

    assert gone.status_code == 410
    body = json.loads(gone.content)
    assert body["reason"] == "Unregistered"
    assert abs(body["timestamp"] / 1000 - time.time()) < 60
    assert (ok.status_code, ok.headers["apns-id"], ok.content) == (200, apns_id, b"")


async def test_fake_allows_one_stream_until_a_valid_token(
    apns_fake: ApnsFake, apns_app: PushApp
) -> None:
    assert apns_app.apns is not None
    forged = replace(apns_app, apns=replace(apns_app.apns, private_key_pem=_new_private_pem()))
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=apns_fake.ca_bundle)
    try:
        refused = await asyncio.gather(*(client.push(forged, notification()) for _ in range(10)))
    finally:
        await client.close()

    assert all(isinstance(result, Rejected) for result in refused)
    assert apns_fake.peak_streams == 1
    assert apns_fake.accepted == []


async def test_fake_refuses_token_updates_within_20_minutes_on_a_connection(
    apns_fake: ApnsFake, apns_app: PushApp, clock: FrozenClock
) -> None:
    assert apns_app.apns is not None
    pem = apns_app.apns.private_key_pem
    now = clock.now().timestamp()
    async with make_client(urls=LOOPBACK_URLS, http2=True, ca_bundle=apns_fake.ca_bundle) as client:

        async def post(iat: float) -> httpx.Response:
            return await client.post(
                f"{apns_fake.base_url}/3/device/{device_token()}",
                content=b'{"aps":{}}',
                headers={
                    "authorization": f"bearer {_provider_token(pem, iat=iat)}",
                    "apns-topic": APNS_TOPIC,
                    "apns-push-type": "alert",
                },
            )

        first = await post(now - 600)
        too_soon = await post(now)
        later = await post(now - 600 + 1200)

    assert [first.status_code, too_soon.status_code, later.status_code] == [200, 429, 200]
    assert too_soon.json() == {"reason": "TooManyProviderTokenUpdates"}


# --- the HTTP/2 connection under load and faults ----------------------------------------------


@pytest.fixture
async def fake_with(apns_app: PushApp) -> AsyncIterator[Callable[..., Awaitable[ApnsFake]]]:
    """Start another APNs fake with other settings, trusting ``apns_app``'s key."""
    started: list[ApnsFake] = []

    async def start(**options: Any) -> ApnsFake:
        fake = ApnsFake(**options)
        fake.register(APNS_TEAM, APNS_KEY, _public_pem(apns_app), APNS_TOPIC)
        await fake.start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        await fake.close()


def at(fake: ApnsFake, app: PushApp) -> PushApp:
    assert app.apns is not None
    return replace(app, apns=replace(app.apns, endpoint=fake.base_url))


async def test_sends_wait_for_a_free_stream_within_the_servers_limit(
    fake_with: Callable[..., Awaitable[ApnsFake]], apns_app: PushApp
) -> None:
    fake = await fake_with(raised_streams=3)
    app = at(fake, apns_app)
    notes = [notification() for _ in range(20)]
    for note in notes:
        fake.script(note.token, "slow:0.05")
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=fake.ca_bundle)
    try:
        results = await asyncio.gather(*(client.push(app, note) for note in notes))
    finally:
        await client.close()

    assert all(isinstance(result, Accepted) for result in results)
    assert fake.peak_streams == 3
    assert fake.connections == 1


async def test_more_sends_than_the_stream_limit_share_one_connection(
    fake_with: Callable[..., Awaitable[ApnsFake]], apns_app: PushApp
) -> None:
    fake = await fake_with(raised_streams=200)
    app = at(fake, apns_app)
    notes = [notification() for _ in range(600)]
    for note in notes[:300]:
        # Long enough that all 200 streams are open at once even on a loaded machine.
        fake.script(note.token, "slow:0.5")
    # A long deadline: what is tested is the sharing of streams, not the deadline (a run under
    # load once answered a send otherwise).
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=fake.ca_bundle, timeout=60.0)
    try:
        results = await asyncio.gather(*(client.push(app, note) for note in notes))
    finally:
        await client.close()

    assert [r for r in results if not isinstance(r, Accepted)] == []
    assert len(fake.accepted) == 600
    assert fake.peak_streams == 200
    assert fake.connections == 1


async def test_goaway_fails_the_sends_on_the_connection_and_new_sends_reconnect(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    assert isinstance(await apns.push(apns_app, notification()), Accepted)
    waiting = [notification() for _ in range(5)]
    for note in waiting:
        apns_fake.script(note.token, "slow:1")
    goaway = notification()
    apns_fake.script(goaway.token, "goaway")

    async def goaway_later() -> Any:
        await asyncio.sleep(0.1)  # after the slow ones are on the connection
        return await apns.push(apns_app, goaway)

    results = await asyncio.gather(*(apns.push(apns_app, note) for note in waiting), goaway_later())
    after = await apns.push(apns_app, notification())

    assert all(isinstance(result, RetryLater) for result in results)
    # libcurl does not say whether a GOAWAY or a plain close ended the connection.
    assert all("ConnectionLost" in r.reason for r in results if isinstance(r, RetryLater))
    assert isinstance(after, Accepted)
    assert apns_fake.connections == 2
    assert apns_fake.records[-1].connection == 2


async def test_a_send_waiting_for_a_stream_moves_to_the_new_connection_after_goaway(
    fake_with: Callable[..., Awaitable[ApnsFake]], apns_app: PushApp
) -> None:
    fake = await fake_with(raised_streams=1)
    app = at(fake, apns_app)
    first, second = notification(), notification()
    fake.script(first.token, "goaway")
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=fake.ca_bundle)
    try:
        results = await asyncio.gather(client.push(app, first), client.push(app, second))
    finally:
        await client.close()

    # The second push never had a stream on the first connection: nothing was sent there.
    assert isinstance(results[0], RetryLater)
    assert isinstance(results[1], Accepted)
    assert [(r.token, r.connection) for r in fake.records] == [
        (first.token, 1),
        (second.token, 2),
    ]


async def test_dropped_connection_fails_every_send_on_it_and_the_next_reconnects(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake
) -> None:
    assert isinstance(await apns.push(apns_app, notification()), Accepted)
    waiting = [notification() for _ in range(5)]
    for note in waiting:
        apns_fake.script(note.token, "slow:5")

    async def drop_later() -> None:
        await asyncio.sleep(0.1)
        apns_fake.drop_all()

    *results, _ = await asyncio.gather(
        *(apns.push(apns_app, note) for note in waiting), drop_later()
    )
    after = await apns.push(apns_app, notification())

    # Each is retried later, or was sent once more on the fresh connection by libcurl (it does
    # so for a request that had no answer yet) and reported sent only once that one answered.
    for note, result in zip(waiting, results, strict=True):
        if isinstance(result, Accepted):
            assert apns_fake.requests_for(note.token)[-1].connection >= 2
        else:
            assert isinstance(result, RetryLater)
            assert "ConnectionLost" in result.reason
    assert isinstance(after, Accepted)
    assert apns_fake.connections >= 2


async def test_large_payloads_wait_for_window_updates(
    fake_with: Callable[..., Awaitable[ApnsFake]], apns_app: PushApp
) -> None:
    # A 1,000-byte stream window: each 4 KB payload needs the server's WINDOW_UPDATEs, and
    # 100 of them (400 KB) also overrun the connection's 64 KB window many times.
    fake = await fake_with(initial_window=1000)
    app = at(fake, apns_app)
    notes = []
    for _ in range(100):
        note = notification(title="t")
        notes.append(replace(note, title="t" * (1 + MAX_PAYLOAD_BYTES - len(apns_payload(note)))))
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=fake.ca_bundle)
    try:
        results = await asyncio.gather(*(client.push(app, note) for note in notes))
    finally:
        await client.close()

    assert all(isinstance(result, Accepted) for result in results)
    received = {r.payload["pushMessageId"]: r.payload for r in fake.accepted if r.payload}
    assert received == {n.push_message_id: json.loads(apns_payload(n)) for n in notes}


async def test_a_slow_send_resets_its_stream_and_frees_the_slot(
    fake_with: Callable[..., Awaitable[ApnsFake]], apns_app: PushApp
) -> None:
    fake = await fake_with(raised_streams=1)
    app = at(fake, apns_app)
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=fake.ca_bundle, timeout=1.0)
    slow = notification()
    fake.script(slow.token, "slow:10")
    try:
        assert isinstance(await client.push(app, notification()), Accepted)

        async def half_a_second_later() -> Any:
            await asyncio.sleep(0.5)  # its own deadline ends after the slow one's
            return await client.push(app, notification())

        results = await asyncio.gather(client.push(app, slow), half_a_second_later())
    finally:
        await client.close()

    # With one stream allowed, the second push got it only because the first one gave it back
    # (RST_STREAM) at its deadline.
    assert isinstance(results[0], RetryLater)
    assert "no answer" in results[0].reason
    assert isinstance(results[1], Accepted)


@pytest.mark.parametrize("collapse_id", ["line\nbreak", " padded", "nul\0"])
async def test_collapse_id_that_is_no_valid_header_value_is_refused_without_a_request(
    apns: ApnsClient, apns_app: PushApp, apns_fake: ApnsFake, collapse_id: str
) -> None:
    result = await apns.push(apns_app, notification(collapse_id=collapse_id))

    assert result == Rejected(ErrorSource.APNS, ErrorCode.PROVIDER_REJECTED, "BadCollapseId")
    assert apns_fake.records == []
