"""The push-proxy client against a loopback receiver that checks auth and signatures."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from parlay.channels.base import Accepted, Rejected, RetryLater
from parlay.channels.push import ProxyConfig, PushApp, PushNotification
from parlay.channels.pushproxy import PushProxyClient
from parlay.delivery.status import ErrorCode, ErrorSource
from parlay.lib.signing import signature
from tests.fakes.loopback import LOOPBACK_URLS, ManualClock, loopback_tls
from tests.fakes.pushproxy import PushProxyFake, running, verify_signature

pytestmark = pytest.mark.anyio

SECRET = "s3cret-shared-with-the-brand"
BASIC = ("parlay", "proxy-password")
HEADERS = {"X-Brand-Key": "brand-key-123"}


@dataclass
class Proxy:
    fake: PushProxyFake
    client: PushProxyClient
    app: PushApp
    clock: ManualClock


def notification(clock: ManualClock, **changes: Any) -> PushNotification:
    fields: dict[str, Any] = {
        "push_message_id": f"delivery-{secrets.token_hex(4)}",
        "token": secrets.token_hex(32),
        "platform": "ios",
        "message": "Your order shipped. Reply to chat with us.",
        "title": "Acme",
        "backend_service": "c2m",
        "lookback_seconds": 3600,
        "expires_at": datetime.fromtimestamp(clock(), UTC) + timedelta(hours=1),
        "campaign_info": {"campaignId": "c-1", "engagementId": "e-1"},
    }
    fields.update(changes)
    return PushNotification(**fields)


def proxy_app(url: str, **changes: Any) -> PushApp:
    options: dict[str, Any] = {"secret": SECRET, "basic_auth": BASIC, "headers": HEADERS}
    options.update(changes)
    return PushApp(
        "acct-1", "com.example.parlay", "ios", "proxy", proxy=ProxyConfig(url, **options)
    )


@asynccontextmanager
async def proxy(
    tls_dir: Path | None = None, timeout: float = 2.0, **options: Any
) -> AsyncIterator[Proxy]:
    """A proxy receiver expecting the app's Basic auth, custom header and secret, its client,
    and the app; both read one clock."""
    clock = ManualClock()
    ca_bundle = None
    if tls_dir is not None:
        options["ssl_context"], ca_bundle = loopback_tls(tls_dir)
    expected: dict[str, Any] = {"secret": SECRET, "basic_auth": BASIC, "headers": HEADERS}
    expected.update(options)
    async with running(clock=clock, **expected) as fake:
        client = PushProxyClient(
            urls=LOOPBACK_URLS, ca_bundle=ca_bundle, timeout=timeout, clock=clock
        )
        try:
            yield Proxy(fake, client, proxy_app(fake.url), clock)
        finally:
            await client.close()


# --- the request -------------------------------------------------------------------------------


async def test_push_posts_the_documented_json_with_auth_headers_and_signature() -> None:
    async with proxy() as p:
        note = notification(p.clock)

        result = await p.client.push(p.app, note)

        assert result == Accepted(ErrorSource.PROXY)
        assert p.fake.refusals == []
        push = p.fake.pushes[0]
        assert push.body == {
            "pushService": "apns",
            "platform": "ios",
            "deviceToken": note.token,
            "notification": {"title": "Acme", "body": note.message},
            "pushMessageId": note.push_message_id,
            "message": note.message,
            "backendService": "c2m",
            "lookBackPeriod": 3600,
            "campaignInfo": {"campaignId": "c-1", "engagementId": "e-1"},
        }
        credentials = base64.b64encode(b"parlay:proxy-password").decode()
        assert push.headers["authorization"] == f"Basic {credentials}"
        assert push.headers["x-brand-key"] == "brand-key-123"
        assert push.headers["content-type"] == "application/json"


async def test_signature_covers_the_exact_body_and_its_time() -> None:
    async with proxy() as p:
        await p.client.push(p.app, notification(p.clock))

        push = p.fake.pushes[0]
        header = push.headers["x-parlay-signature"]
        t = int(header.split(",")[0].removeprefix("t="))
        assert abs(t - p.clock()) < 5
        assert header == signature(SECRET, push.raw, t)
        assert verify_signature(SECRET, header, push.raw, p.clock()) is None
        tampered = push.raw.replace(b'"c2m"', b'"ams"')
        assert verify_signature(SECRET, header, tampered, p.clock()) == "signature mismatch"
        assert verify_signature("another secret", header, push.raw, p.clock()) is not None


async def test_android_devices_are_pushed_through_fcm_and_titles_are_optional() -> None:
    async with proxy() as p:
        note = notification(p.clock, platform="android", title=None)

        await p.client.push(p.app, note)

        body = p.fake.pushes[0].body
        assert (body["pushService"], body["platform"]) == ("fcm", "android")
        assert body["notification"] == {"body": note.message}


async def test_proxy_without_basic_auth_gets_no_authorization_header() -> None:
    async with proxy(basic_auth=None, headers={}) as p:
        app = proxy_app(p.fake.url, basic_auth=None, headers={})

        assert isinstance(await p.client.push(app, notification(p.clock)), Accepted)
        assert "authorization" not in p.fake.pushes[0].headers


async def test_custom_headers_cannot_displace_the_signature() -> None:
    async with proxy() as p:
        app = proxy_app(p.fake.url, headers={**HEADERS, "X-Parlay-Signature": "t=1,v1=00"})

        assert isinstance(await p.client.push(app, notification(p.clock)), Accepted)


async def test_push_over_tls_trusts_the_given_ca_bundle(tmp_path: Path) -> None:
    async with proxy(tls_dir=tmp_path) as p:
        assert p.fake.url.startswith("https://")

        assert isinstance(await p.client.push(p.app, notification(p.clock)), Accepted)


# --- the proxy's answers -----------------------------------------------------------------------


async def test_forbidden_means_the_token_cannot_take_pushes() -> None:
    async with proxy() as p:
        note = notification(p.clock)
        p.fake.script(note.token, "forbidden")

        result = await p.client.push(p.app, note)

        assert isinstance(result, Rejected)
        assert result.code == ErrorCode.TOKEN_UNREGISTERED
        assert result.dead_tokens == (note.token,)
        assert result.source == ErrorSource.PROXY


async def test_unauthorized_fails_the_push_and_keeps_the_token() -> None:
    async with proxy() as p:
        note = notification(p.clock)
        p.fake.script(note.token, "unauthorized")

        result = await p.client.push(p.app, note)

        assert result == Rejected(
            ErrorSource.PROXY, ErrorCode.PROVIDER_REJECTED, "proxy refused our credentials"
        )


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_other_client_errors_fail_with_the_status_not_the_body(status: int) -> None:
    """The body is the proxy's own words (``proxy says 400``): never in a delivery's
    errorMessage, which carries the status only."""
    async with proxy() as p:
        note = notification(p.clock)
        p.fake.script(note.token, f"status:{status}")

        result = await p.client.push(p.app, note)

        assert isinstance(result, Rejected)
        assert result.code == ErrorCode.PROVIDER_REJECTED
        assert result.dead_tokens == ()
        assert result.message == f"push proxy answered {status}"


@pytest.mark.parametrize("status", [400, 500])
async def test_no_word_of_the_proxys_body_reaches_the_result(status: int) -> None:
    async with proxy() as p:
        note = notification(p.clock)
        p.fake.script(note.token, f"answer:{status}:MARKER-7f3a <script>token=abc</script>")

        result = await p.client.push(p.app, note)

        text = result.message if isinstance(result, Rejected) else getattr(result, "reason", "")
        assert text == f"push proxy answered {status}"


@pytest.mark.parametrize(
    ("outcome", "retry_after"),
    [("error", None), ("busy:12", 12.0), ("status:503", None), ("slow:5", None), ("drop", None)],
)
async def test_transient_failures_are_retried_later(
    outcome: str, retry_after: float | None
) -> None:
    async with proxy(timeout=0.5) as p:
        note = notification(p.clock)
        p.fake.script(note.token, outcome)

        result = await p.client.push(p.app, note)

        assert isinstance(result, RetryLater)
        assert result.source == ErrorSource.PROXY
        assert result.retry_after == retry_after
        assert isinstance(await p.client.push(p.app, note), Accepted)


async def test_unreachable_proxy_is_retried_later() -> None:
    async with proxy() as p:
        await p.fake.stop()

        assert isinstance(await p.client.push(p.app, notification(p.clock)), RetryLater)


async def test_app_without_proxy_is_refused() -> None:
    async with proxy() as p:
        app = PushApp("acct-1", "com.example.parlay", "ios", "proxy")

        result = await p.client.push(app, notification(p.clock))

        assert isinstance(result, Rejected)
        assert result.source == ErrorSource.PARLAY


async def test_construction_does_no_io_and_close_is_idempotent() -> None:
    client = PushProxyClient(urls=LOOPBACK_URLS, ca_bundle="/nonexistent/ca.pem")

    await client.close()
    await client.close()


# --- the receiver is not a rubber stamp --------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"secret": "not-the-shared-secret"}, "signature mismatch"),
        ({"basic_auth": ("parlay", "wrong")}, "bad basic auth"),
        ({"basic_auth": None}, "bad basic auth"),
        ({"headers": {}}, "missing or wrong header x-brand-key"),
    ],
)
async def test_receiver_refuses_wrong_credentials(changes: dict[str, Any], refusal: str) -> None:
    async with proxy() as p:
        app = proxy_app(p.fake.url, **changes)

        result = await p.client.push(app, notification(p.clock))

        assert isinstance(result, Rejected)
        assert result.message == "proxy refused our credentials"
        assert p.fake.refusals == [refusal]
        assert p.fake.pushes == []


async def test_receiver_refuses_a_signature_from_outside_its_window() -> None:
    async with proxy(tolerance=300) as p:
        client = PushProxyClient(
            urls=LOOPBACK_URLS, timeout=2.0, clock=ManualClock(p.clock.offset - 301)
        )  # a slow clock
        try:
            result = await client.push(p.app, notification(p.clock))
        finally:
            await client.close()

        assert isinstance(result, Rejected)
        assert p.fake.refusals == ["signature timestamp outside the tolerance window"]


async def test_receiver_refuses_a_replayed_body_with_another_body() -> None:
    async with proxy() as p:
        await p.client.push(p.app, notification(p.clock))
        original = p.fake.pushes[0]
        forged = json.loads(original.raw)
        forged["message"] = "Click here to claim your prize"
        headers = {
            "authorization": original.headers["authorization"],
            "x-brand-key": original.headers["x-brand-key"],
            "x-parlay-signature": original.headers["x-parlay-signature"],
            "content-type": "application/json",
        }

        async with httpx.AsyncClient() as http:
            replayed = await http.post(p.fake.url, content=original.raw, headers=headers)
            tampered = await http.post(p.fake.url, json=forged, headers=headers)
            unsigned = await http.post(
                p.fake.url,
                content=original.raw,
                headers={k: v for k, v in headers.items() if k != "x-parlay-signature"},
            )

        assert replayed.status_code == 200  # same body, fresh enough: a receiver dedupes by id
        assert tampered.status_code == 401
        assert unsigned.status_code == 401
        assert p.fake.refusals == ["signature mismatch", "no signature"]


async def test_receiver_refuses_a_malformed_signature_header() -> None:
    assert verify_signature(SECRET, "v1=abc", b"{}", 0) == "malformed signature header"
    assert verify_signature(SECRET, "t=abc,v1=abc", b"{}", 0) == "malformed signature header"
