"""The FCM HTTP v1 client against the loopback FCM fake (OAuth token endpoint + messages:send)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from parlay.channels.base import Accepted, Rejected, RetryLater, SendResult
from parlay.channels.fcm import FcmClient, data_payload, payload_size
from parlay.channels.push import FcmCredentials, PushApp, PushNotification
from parlay.delivery.status import ErrorCode, ErrorSource
from parlay.lib.http.client import tls_context
from tests.fakes.fcm import FcmFake, make_service_account, running
from tests.fakes.fcm import payload_size as fake_payload_size
from tests.fakes.loopback import LOOPBACK_URLS, ManualClock, loopback_tls

pytestmark = pytest.mark.anyio

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


@dataclass
class Fcm:
    fake: FcmFake
    client: FcmClient
    app: PushApp
    clock: ManualClock


def android_app(fake: FcmFake, account: dict[str, Any] | None = None) -> PushApp:
    credentials = FcmCredentials(account or fake.service_account(), endpoint=fake.url)
    return PushApp("acct-1", "com.example.parlay", "android", "fcm", fcm=credentials)


def fcm_token() -> str:
    """Shaped like an FCM registration token."""
    return f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(100)}"


def notification(clock: ManualClock, **changes: Any) -> PushNotification:
    lookback = changes.pop("lookback_seconds", 3600)
    fields: dict[str, Any] = {
        "push_message_id": f"delivery-{secrets.token_hex(4)}",
        "token": fcm_token(),
        "platform": "android",
        "message": "Your order shipped. Reply to chat with us.",
        "title": "Acme",
        "backend_service": "prmsg",
        "lookback_seconds": lookback,
        "expires_at": datetime.fromtimestamp(clock(), UTC) + timedelta(seconds=lookback),
        "campaign_info": {"campaignId": "c-1", "engagementId": "e-1"},
    }
    fields.update(changes)
    return PushNotification(**fields)


@asynccontextmanager
async def fcm(
    tls_dir: Path | None = None, timeout: float = 2.0, **options: Any
) -> AsyncIterator[Fcm]:
    """An FCM fake, a client of it and an app whose service account the fake trusts; the
    client and the fake read one clock, so a test can move time for both."""
    clock = ManualClock()
    if tls_dir is not None:
        options["ssl_context"], options["ca_bundle"] = loopback_tls(tls_dir)
    async with running(clock=clock, **options) as fake:
        client = FcmClient(
            urls=LOOPBACK_URLS, ca_bundle=fake.ca_bundle, timeout=timeout, clock=clock
        )
        try:
            yield Fcm(fake, client, android_app(fake), clock)
        finally:
            await client.close()


# --- the request -------------------------------------------------------------------------------


async def test_push_sends_one_data_message_of_strings_living_as_long_as_the_lookback() -> None:
    async with fcm() as f:
        note = notification(f.clock, lookback_seconds=7200, title="Acme")

        result = await f.client.push(f.app, note)

        assert len(f.fake.accepted) == 1
        sent = f.fake.accepted[0]
        assert result == Accepted(ErrorSource.FCM, provider_message_id=sent.name)
        assert sent.name.startswith("projects/parlay-test/messages/")
        assert sent.message == {
            "token": note.token,
            "data": {
                "pushMessageId": note.push_message_id,
                "message": note.message,
                "backendService": "prmsg",
                "lookBackPeriod": "7200",
                "campaignInfo": '{"campaignId":"c-1","engagementId":"e-1"}',
                "title": "Acme",
            },
            "android": {"priority": "HIGH", "ttl": "7200s"},
        }
        assert json.loads(sent.message["data"]["campaignInfo"]) == note.campaign_info


async def test_collapse_id_becomes_the_android_collapse_key() -> None:
    async with fcm() as f:
        await f.client.push(f.app, notification(f.clock, collapse_id="order-42"))

        assert f.fake.accepted[0].message["android"]["collapse_key"] == "order-42"


async def test_ios_device_of_an_fcm_app_gets_an_apns_alert_expiring_with_the_lookback() -> None:
    async with fcm() as f:
        note = notification(f.clock, platform="ios", collapse_id="order-42")

        result = await f.client.push(f.app, note)

        assert isinstance(result, Accepted)
        message = f.fake.accepted[0].message
        assert "android" not in message
        assert message["data"]["pushMessageId"] == note.push_message_id
        assert message["apns"] == {
            "headers": {
                "apns-priority": "10",
                "apns-push-type": "alert",
                "apns-expiration": str(int(note.expires_at.timestamp())),
                "apns-collapse-id": "order-42",
            },
            "payload": {
                "aps": {"alert": {"title": "Acme", "body": note.message}, "sound": "default"}
            },
        }


async def test_message_without_title_carries_no_title_key() -> None:
    async with fcm() as f:
        await f.client.push(f.app, notification(f.clock, title=None))

        assert "title" not in f.fake.accepted[0].message["data"]


async def test_ttl_is_capped_at_four_weeks() -> None:
    async with fcm() as f:
        note = notification(f.clock, lookback_seconds=60 * 86400)

        await f.client.push(f.app, note)

        assert f.fake.accepted[0].message["android"]["ttl"] == "2419200s"


async def test_retried_push_lives_only_for_the_rest_of_the_lookback() -> None:
    async with fcm() as f:
        note = notification(f.clock, lookback_seconds=3600)
        f.clock.advance(600)

        await f.client.push(f.app, note)

        assert f.fake.accepted[0].message["android"]["ttl"] == "3000s"


async def test_push_after_the_lookback_is_expired_without_a_request() -> None:
    async with fcm() as f:
        note = notification(f.clock, lookback_seconds=60)
        f.clock.advance(61)

        result = await f.client.push(f.app, note)

        assert isinstance(result, Rejected)
        assert result.code == ErrorCode.EXPIRED
        assert f.fake.send_requests == []
        assert f.fake.token_requests == []


async def test_oversized_payload_is_refused_without_a_request() -> None:
    async with fcm() as f:
        result = await f.client.push(f.app, notification(f.clock, message="x" * 4000))

        assert isinstance(result, Rejected)
        assert result.code == ErrorCode.PROVIDER_REJECTED
        assert result.source == ErrorSource.FCM
        assert "4096" in result.message
        assert f.fake.send_requests == []
        assert f.fake.token_requests == []


async def test_payload_of_exactly_4096_bytes_is_sent_and_one_more_is_not() -> None:
    async with fcm() as f:
        used = payload_size(data_payload(notification(f.clock, message="")))
        filler = "é" * ((4096 - used) // 2) + "x" * ((4096 - used) % 2)

        assert isinstance(
            await f.client.push(f.app, notification(f.clock, message=filler)), Accepted
        )
        assert fake_payload_size(f.fake.accepted[0].message) == 4096  # the fake counts alike
        bigger = notification(f.clock, message=filler + "x")
        assert isinstance(await f.client.push(f.app, bigger), Rejected)
        assert len(f.fake.send_requests) == 1


async def test_ios_alert_counts_against_the_payload_limit() -> None:
    async with fcm() as f:
        note = notification(f.clock, platform="ios", message="x" * 2100)

        result = await f.client.push(f.app, note)

        assert isinstance(result, Rejected)
        assert result.code == ErrorCode.PROVIDER_REJECTED
        assert f.fake.send_requests == []


# --- OAuth access tokens -----------------------------------------------------------------------


async def test_access_token_comes_from_a_signed_assertion_and_is_reused() -> None:
    async with fcm() as f:
        for _ in range(3):
            assert isinstance(await f.client.push(f.app, notification(f.clock)), Accepted)

        assert len(f.fake.token_requests) == 1
        grant = f.fake.token_requests[0]
        assert grant.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        assert grant.claims is not None
        account = f.app.fcm.service_account if f.app.fcm else {}
        assert grant.claims["iss"] == account["client_email"]
        assert grant.claims["aud"] == f.fake.token_uri
        assert grant.claims["scope"] == FCM_SCOPE
        assert grant.claims["exp"] - grant.claims["iat"] <= 3600
        bearers = {m.access_token for m in f.fake.accepted}
        assert bearers == {grant.access_token}


async def test_concurrent_pushes_share_one_token_request() -> None:
    async with fcm() as f:
        results = await asyncio.gather(
            *(f.client.push(f.app, notification(f.clock)) for _ in range(10))
        )

        assert all(isinstance(r, Accepted) for r in results)
        assert len(f.fake.token_requests) == 1


async def test_each_service_account_has_its_own_token() -> None:
    async with fcm() as f:
        other = android_app(f.fake, f.fake.service_account(project_id="other-project"))

        await f.client.push(f.app, notification(f.clock))
        await f.client.push(other, notification(f.clock))
        await f.client.push(f.app, notification(f.clock))

        assert len(f.fake.token_requests) == 2
        assert [m.project_id for m in f.fake.accepted] == [
            "parlay-test",
            "other-project",
            "parlay-test",
        ]


async def test_access_token_is_renewed_five_minutes_before_it_expires() -> None:
    async with fcm(token_lifetime=3599) as f:
        await f.client.push(f.app, notification(f.clock))
        f.clock.advance(3599 - 301)
        await f.client.push(f.app, notification(f.clock))
        assert len(f.fake.token_requests) == 1

        f.clock.advance(2)  # now inside the five minutes before expiry
        await f.client.push(f.app, notification(f.clock))

        assert len(f.fake.token_requests) == 2
        first, renewed = (r.access_token for r in f.fake.token_requests)
        assert [m.access_token for m in f.fake.accepted] == [first, first, renewed]


async def test_expired_token_is_refused_by_fcm_and_replaced() -> None:
    async with fcm(token_lifetime=3599) as f:
        await f.client.push(f.app, notification(f.clock))
        f.clock.advance(3600)

        result = await f.client.push(f.app, notification(f.clock))

        assert isinstance(result, Accepted)
        assert len(f.fake.token_requests) == 2
        # The expired token was never even tried: the client knew it had expired.
        assert [r.status for r in f.fake.send_requests] == [200, 200]


async def test_unauthenticated_answer_renews_the_token_once() -> None:
    async with fcm() as f:
        await f.client.push(f.app, notification(f.clock))
        f.fake.revoke_access_tokens()

        result = await f.client.push(f.app, notification(f.clock))

        assert isinstance(result, Accepted)
        assert len(f.fake.token_requests) == 2
        assert [r.status for r in f.fake.send_requests] == [200, 401, 200]


async def test_a_fresh_token_refused_again_fails_the_push() -> None:
    async with fcm(token_lifetime=0) as f:  # every token is dead on arrival
        result = await f.client.push(f.app, notification(f.clock))

        assert isinstance(result, Rejected)
        assert result.code == ErrorCode.PROVIDER_REJECTED
        assert "UNAUTHENTICATED" in result.message
        assert len(f.fake.token_requests) == 2
        assert [r.status for r in f.fake.send_requests] == [401, 401]


async def test_a_key_google_does_not_know_fails_with_the_grant_error() -> None:
    async with fcm() as f:
        email = f.app.fcm.service_account["client_email"] if f.app.fcm else ""
        forged = make_service_account(f.fake.token_uri, client_email=email)  # another key

        result = await f.client.push(android_app(f.fake, forged), notification(f.clock))

        assert isinstance(result, Rejected)
        assert result.code == ErrorCode.PROVIDER_REJECTED
        assert "invalid_grant" in result.message
        assert "Signature" in result.message
        assert f.fake.send_requests == []


@pytest.mark.parametrize(
    ("description", "shown"),
    [
        ("MARKER-7f3a: the key is wrong, call +1 555 0100", "invalid_grant"),
        ("Invalid JWT Signature.", "invalid_grant: Invalid JWT Signature."),  # known to Parlay
        ("account_disabled", "invalid_grant: account_disabled"),  # a code word
    ],
)
async def test_a_token_refusal_shows_the_oauth_code_never_free_text(
    description: str, shown: str
) -> None:
    async with fcm() as f:
        f.fake.script_token_endpoint(f"refuse:invalid_grant:{description}")

        result = await f.client.push(f.app, notification(f.clock))

        assert isinstance(result, Rejected)
        assert result.message == f"the OAuth token endpoint refused the service account: {shown}"
        assert "MARKER" not in result.message


async def test_free_text_of_an_fcm_error_never_reaches_the_result() -> None:
    async with fcm() as f:
        first, second = notification(f.clock), notification(f.clock)
        f.fake.script(first.token, "invalid_argument:MARKER-7f3a: field x is wrong, see y")
        f.fake.script(second.token, "text:502:<html>MARKER-7f3a upstream error</html>")

        refused = await f.client.push(f.app, first)
        unavailable = await f.client.push(f.app, second)

        assert isinstance(refused, Rejected)
        assert refused.message == "INVALID_ARGUMENT: FCM answered 400"
        assert isinstance(unavailable, RetryLater)
        assert unavailable.reason == "FCM answered 502"


@pytest.mark.parametrize("outcome", ["unavailable", "drop", "slow:5"])
async def test_token_endpoint_trouble_is_retried_later(outcome: str) -> None:
    async with fcm(timeout=0.5) as f:
        f.fake.script_token_endpoint(outcome)

        result = await f.client.push(f.app, notification(f.clock))
        assert isinstance(result, RetryLater)
        assert result.source == ErrorSource.FCM
        assert f.fake.send_requests == []

        assert isinstance(await f.client.push(f.app, notification(f.clock)), Accepted)


async def test_token_endpoint_down_while_renewing_keeps_using_the_valid_token() -> None:
    async with fcm(token_lifetime=3599) as f:
        await f.client.push(f.app, notification(f.clock))
        f.clock.advance(3400)  # inside the renewal margin, not yet expired
        f.fake.script_token_endpoint("unavailable")

        result = await f.client.push(f.app, notification(f.clock))

        assert isinstance(result, Accepted)
        assert [r.status for r in f.fake.token_requests] == [200, 503]


# --- FCM's answers -----------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["unregistered", "invalid_argument", "sender_id_mismatch"])
async def test_token_fcm_will_never_deliver_to_is_reported_dead(outcome: str) -> None:
    async with fcm() as f:
        note = notification(f.clock)
        f.fake.script(note.token, outcome)

        result = await f.client.push(f.app, note)

        assert isinstance(result, Rejected)
        assert result.code == ErrorCode.TOKEN_UNREGISTERED
        assert result.dead_tokens == (note.token,)
        assert result.source == ErrorSource.FCM


async def test_malformed_token_is_reported_dead() -> None:
    async with fcm() as f:
        note = notification(f.clock, token="not a token!")

        result = await f.client.push(f.app, note)

        assert isinstance(result, Rejected)
        assert result.dead_tokens == ("not a token!",)
        assert "not a valid FCM registration token" in result.message


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("invalid_argument:Request contains an invalid argument.", "INVALID_ARGUMENT"),
        ("permission_denied", "PERMISSION_DENIED"),
        ("third_party_auth_error", "THIRD_PARTY_AUTH_ERROR"),
    ],
)
async def test_other_refusals_fail_with_fcm_reason_and_keep_the_token(
    outcome: str, reason: str
) -> None:
    async with fcm() as f:
        note = notification(f.clock)
        f.fake.script(note.token, outcome)

        result = await f.client.push(f.app, note)

        assert isinstance(result, Rejected)
        assert result.code == ErrorCode.PROVIDER_REJECTED
        assert result.message.startswith(f"{reason}: ")
        assert result.dead_tokens == ()
        assert len(f.fake.token_requests) == 1  # a 401 with an FcmError is not about our token


@pytest.mark.parametrize(
    ("outcome", "retry_after"),
    [
        ("quota:30", 30.0),
        ("quota", 60.0),
        ("unavailable", None),
        ("unavailable:7", 7.0),
        ("internal", None),
        ("slow:5", None),
        ("drop", None),
    ],
)
async def test_transient_failures_are_retried_later(
    outcome: str, retry_after: float | None
) -> None:
    async with fcm(timeout=0.5) as f:
        note = notification(f.clock)
        f.fake.script(note.token, outcome)

        result = await f.client.push(f.app, note)

        assert isinstance(result, RetryLater)
        assert result.source == ErrorSource.FCM
        assert result.retry_after == retry_after
        assert isinstance(await f.client.push(f.app, note), Accepted)  # the retry goes through


async def test_project_quota_is_retried_after_the_window() -> None:
    async with fcm(messages_per_minute=2) as f:
        results = [await f.client.push(f.app, notification(f.clock)) for _ in range(3)]

        assert [type(r) for r in results] == [Accepted, Accepted, RetryLater]
        last = results[2]
        assert isinstance(last, RetryLater)
        assert last.retry_after is not None
        assert 0 < last.retry_after <= 60
        assert "QUOTA_EXCEEDED" in last.reason


async def test_unreachable_fcm_is_retried_later() -> None:
    async with fcm() as f:
        await f.fake.stop()

        result = await f.client.push(f.app, notification(f.clock))

        assert isinstance(result, RetryLater)


async def test_client_trusts_the_given_ca_bundle(tmp_path: Path) -> None:
    async with fcm(tls_dir=tmp_path) as f:
        assert f.fake.url.startswith("https://")

        assert isinstance(await f.client.push(f.app, notification(f.clock)), Accepted)


async def test_app_without_service_account_is_refused() -> None:
    async with fcm() as f:
        app = PushApp("acct-1", "com.example.parlay", "android", "fcm")

        result = await f.client.push(app, notification(f.clock))

        assert isinstance(result, Rejected)
        assert result.source == ErrorSource.PARLAY


@pytest.mark.parametrize("broken", [{"private_key": "not a PEM key"}, {"client_email": ""}])
async def test_unusable_service_account_is_refused_without_a_request(
    broken: dict[str, str],
) -> None:
    async with fcm() as f:
        account = {**(f.app.fcm.service_account if f.app.fcm else {}), **broken}

        result = await f.client.push(android_app(f.fake, account), notification(f.clock))

        assert isinstance(result, Rejected)
        assert result.source == ErrorSource.PARLAY
        assert "unusable" in result.message
        assert f.fake.token_requests == []
        assert f.fake.send_requests == []


async def test_construction_does_no_io_and_close_is_idempotent() -> None:
    client = FcmClient(
        urls=LOOPBACK_URLS, ca_bundle="/nonexistent/ca.pem"
    )  # read only when first used

    await client.close()
    await client.close()


# --- the fake is not a rubber stamp ------------------------------------------------------------


def assertion(account: dict[str, Any], now: float, **claims: Any) -> str:
    payload = {
        "iss": account["client_email"],
        "scope": FCM_SCOPE,
        "aud": account["token_uri"],
        "iat": int(now),
        "exp": int(now) + 3600,
        **claims,
    }
    headers = {"kid": account["private_key_id"]}
    return jwt.encode(payload, account["private_key"], algorithm="RS256", headers=headers)


def http_client(fake: FcmFake) -> httpx.AsyncClient:
    """An HTTP/1.1 client (httpx's default) trusting the fake's CA: the fake speaks both."""
    return httpx.AsyncClient(verify=tls_context(fake.ca_bundle))


async def grant(fake: FcmFake, token: str) -> httpx.Response:
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": token}
    async with http_client(fake) as http:
        return await http.post(fake.token_uri, data=form)


async def test_fake_token_endpoint_grants_a_valid_assertion() -> None:
    async with running() as fake:
        account = fake.service_account()

        response = await grant(fake, assertion(account, time.time()))

        assert response.status_code == 200
        assert response.json()["token_type"] == "Bearer"
        assert response.json()["expires_in"] == 3599


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"aud": "https://oauth2.googleapis.com/token"}, "invalid_grant"),
        ({"exp_offset": 7200}, "invalid_grant"),
        ({"iat_offset": -7200}, "invalid_grant"),
        ({"scope": "https://www.googleapis.com/auth/userinfo.email"}, "invalid_scope"),
    ],
)
async def test_fake_token_endpoint_refuses_bad_claims(change: dict[str, Any], error: str) -> None:
    async with running() as fake:
        account = fake.service_account()
        now = time.time()
        claims = dict(change)
        if "exp_offset" in claims:
            claims["exp"] = int(now) + claims.pop("exp_offset")
        if "iat_offset" in claims:
            offset = claims.pop("iat_offset")
            claims["iat"], claims["exp"] = int(now) + offset, int(now) + offset + 3600

        response = await grant(fake, assertion(account, now, **claims))

        assert response.status_code == 400
        assert response.json()["error"] == error


async def test_fake_token_endpoint_refuses_a_forged_assertion() -> None:
    async with running() as fake:
        account = fake.service_account()
        forged = make_service_account(fake.token_uri, client_email=account["client_email"])
        forged["private_key_id"] = account["private_key_id"]

        response = await grant(fake, assertion(forged, time.time()))

        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_grant",
            "error_description": "Invalid JWT Signature.",
        }


async def test_fake_token_endpoint_refuses_an_unknown_account_and_grant_type() -> None:
    async with running() as fake:
        stranger = make_service_account(fake.token_uri)
        assert (await grant(fake, assertion(stranger, time.time()))).status_code == 400

        async with http_client(fake) as http:
            response = await http.post(fake.token_uri, data={"grant_type": "password"})
        assert response.json()["error"] == "unsupported_grant_type"


async def access_token(fake: FcmFake, account: dict[str, Any]) -> str:
    response = await grant(fake, assertion(account, time.time()))
    return str(response.json()["access_token"])


async def send(
    fake: FcmFake, bearer: str, body: Any, project: str = "parlay-test"
) -> httpx.Response:
    url = f"{fake.url}/v1/projects/{project}/messages:send"
    async with http_client(fake) as http:
        return await http.post(url, json=body, headers={"Authorization": f"Bearer {bearer}"})


def fcm_error_code(response: httpx.Response) -> str | None:
    details = response.json()["error"].get("details", [])
    codes = [d["errorCode"] for d in details if d["@type"].endswith("FcmError")]
    return codes[0] if codes else None


async def test_fake_send_refuses_an_unknown_bearer() -> None:
    async with running() as fake:
        fake.service_account()

        response = await send(fake, "ya29.guess", {"message": {"token": fcm_token()}})

        assert response.status_code == 401
        assert response.json()["error"]["status"] == "UNAUTHENTICATED"
        assert fcm_error_code(response) is None
        assert fake.accepted == []


async def test_fake_send_refuses_a_token_of_another_project() -> None:
    async with running() as fake:
        bearer = await access_token(fake, fake.service_account(project_id="other"))

        response = await send(fake, bearer, {"message": {"token": fcm_token()}})

        assert response.status_code == 403
        assert response.json()["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    "message",
    [
        {"data": {"a": "b"}},  # no target
        {"token": "t1", "topic": "news"},  # two targets
        {"token": "t1", "data": {"lookBackPeriod": 3600}},  # not a string
        {"token": "t1", "data": {"from": "me"}},  # reserved key
        {"token": "t1", "data": {"google.c.a": "x"}},  # reserved prefix
        {"token": "t1", "android": {"ttl": "3600"}},  # no unit
        {"token": "t1", "android": {"ttl": "2419201s"}},  # over four weeks
        {"token": "t1", "android": {"priority": "URGENT"}},
        {"token": "t1", "data": {"message": "x" * 4097}},  # too big
        {"token": "t1", "unknown": 1},
        {"token": "t1", "apns": {"headers": {"apns-priority": 10}}},  # header not a string
        {"token": "not a token!"},
    ],
)
async def test_fake_send_refuses_invalid_messages(message: dict[str, Any]) -> None:
    async with running() as fake:
        bearer = await access_token(fake, fake.service_account())

        response = await send(fake, bearer, {"message": message})

        assert response.status_code == 400
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert fake.accepted == []


async def test_fake_validate_only_answers_without_delivering() -> None:
    async with running() as fake:
        bearer = await access_token(fake, fake.service_account())

        response = await send(fake, bearer, {"validate_only": True, "message": {"token": "t1"}})

        assert response.status_code == 200
        assert response.json()["name"].endswith("/fake_message_id")
        assert fake.accepted == []


# --- HTTP/2: one connection, many streams ------------------------------------------------------


def send_connections(fake: FcmFake) -> set[int]:
    """The connections messages:send requests came on (the token endpoint has its own)."""
    return {r.connection for r in fake.send_requests}


def assert_retried_or_resent(fake: FcmFake, results: list[SendResult]) -> None:
    """Pushes cut off with their connection: each is retried later, or was sent once more on a
    fresh connection by libcurl (it does so for a request without an answer) and reported sent
    only with the name FCM gave it there."""
    names = {m.name for m in fake.accepted}
    for outcome in results:
        if isinstance(outcome, Accepted):
            assert outcome.provider_message_id in names
        else:
            assert isinstance(outcome, RetryLater)
            assert outcome.source == ErrorSource.FCM
            # libcurl does not say whether a GOAWAY or a plain close ended the connection.
            assert "ConnectionLost" in outcome.reason


async def until_in_flight(fake: FcmFake, count: int) -> None:
    """Wait until the fake has had ``count`` requests in flight on one connection at once."""
    async with asyncio.timeout(5):
        while fake.peak_streams < count:
            await asyncio.sleep(0.01)


async def test_concurrent_pushes_share_one_http2_connection() -> None:
    async with fcm() as f:
        notes = [notification(f.clock) for _ in range(200)]
        for note in notes[:20]:
            f.fake.script(note.token, "slow:0.2")  # keeps streams open while the others go

        results = await asyncio.gather(*(f.client.push(f.app, note) for note in notes))

        assert all(isinstance(r, Accepted) for r in results)
        assert len(f.fake.accepted) == 200
        assert len(send_connections(f.fake)) == 1
        assert f.fake.peak_streams >= 20  # concurrent streams, not one request after another


async def test_no_more_streams_than_the_server_allows() -> None:
    async with fcm(max_concurrent_streams=5) as f:
        notes = [notification(f.clock) for _ in range(30)]
        for note in notes:
            f.fake.script(note.token, "slow:0.05")

        results = await asyncio.gather(*(f.client.push(f.app, note) for note in notes))

        assert all(isinstance(r, Accepted) for r in results)
        assert f.fake.peak_streams == 5  # waited for a free stream, never refused one
        assert len(send_connections(f.fake)) == 1


async def test_goaway_retries_the_pushes_on_the_connection_and_the_next_one_reconnects() -> None:
    async with fcm() as f:
        await f.client.push(f.app, notification(f.clock))  # the connection and a token
        slow = [notification(f.clock) for _ in range(3)]
        for note in slow:
            f.fake.script(note.token, "slow:1")
        waiting = [asyncio.create_task(f.client.push(f.app, note)) for note in slow]
        await until_in_flight(f.fake, 3)
        going_away = notification(f.clock)
        f.fake.script(going_away.token, "goaway")

        result = await f.client.push(f.app, going_away)
        others = await asyncio.gather(*waiting)

        assert_retried_or_resent(f.fake, [result, *others])
        assert isinstance(await f.client.push(f.app, notification(f.clock)), Accepted)
        assert len(send_connections(f.fake)) >= 2  # the next push opened a new connection


async def test_a_dropped_connection_retries_every_push_on_it() -> None:
    async with fcm() as f:
        slow = [notification(f.clock) for _ in range(3)]
        for note in slow:
            f.fake.script(note.token, "slow:1")
        waiting = [asyncio.create_task(f.client.push(f.app, note)) for note in slow]
        await until_in_flight(f.fake, 3)
        dropped = notification(f.clock)
        f.fake.script(dropped.token, "drop")

        results = [await f.client.push(f.app, dropped), *await asyncio.gather(*waiting)]

        # Each is retried later, or was sent once more on a fresh connection by libcurl (it
        # does so for a request that had no answer yet) and reported sent once that answered.
        assert_retried_or_resent(f.fake, results)
        assert isinstance(await f.client.push(f.app, notification(f.clock)), Accepted)
        assert len(send_connections(f.fake)) >= 2


async def test_a_slow_answer_fails_only_its_own_push() -> None:
    async with fcm(timeout=0.5) as f:
        late = notification(f.clock)
        f.fake.script(late.token, "slow:3")
        notes = [late, *(notification(f.clock) for _ in range(5))]

        results = await asyncio.gather(*(f.client.push(f.app, note) for note in notes))

        assert isinstance(results[0], RetryLater)
        assert "timed out" in results[0].reason
        assert all(isinstance(r, Accepted) for r in results[1:])
        assert len(send_connections(f.fake)) == 1


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:1", "ftp://fcm.example"])
async def test_an_endpoint_that_is_not_https_is_refused_without_a_request(endpoint: str) -> None:
    async with fcm() as f:
        account = f.app.fcm.service_account if f.app.fcm else {}
        app = PushApp(
            "acct-1", "com.example.parlay", "android", "fcm", fcm=FcmCredentials(account, endpoint)
        )

        result = await f.client.push(app, notification(f.clock))

        assert isinstance(result, Rejected)
        assert result.code == ErrorCode.PROVIDER_REJECTED
        assert "bad FCM endpoint" in result.message
        assert f.fake.token_requests == []
        assert f.fake.send_requests == []


async def test_the_fake_speaks_http2_to_clients_that_offer_it() -> None:
    async with running() as fake:
        bearer = await access_token(fake, fake.service_account())
        async with httpx.AsyncClient(http2=True, verify=tls_context(fake.ca_bundle)) as http:
            response = await http.post(
                f"{fake.url}/v1/projects/parlay-test/messages:send",
                json={"message": {"token": fcm_token()}},
                headers={"Authorization": f"Bearer {bearer}"},
            )

        assert response.http_version == "HTTP/2"
        assert response.status_code == 200
        assert fake.server.stats.http2_connections == 1  # the token request was HTTP/1.1
