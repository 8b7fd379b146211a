"""Every client that fetches a brand-chosen URL checks the address it connects to: a name that
resolved publicly when it was saved and resolves to 127.0.0.1 now (DNS rebinding) reaches
nothing, and the send fails as refused by Parlay (not retried: the URL is the problem)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from parlay.channels.apns import ApnsClient
from parlay.channels.base import Rejected
from parlay.channels.fcm import FcmClient
from parlay.channels.push import ApnsCredentials, FcmCredentials, PushApp
from parlay.channels.pushproxy import PushProxyClient
from parlay.consumers.auth import JwksCache
from parlay.delivery.status import ErrorCode, ErrorSource
from parlay.lib.errors import ServiceUnavailable
from parlay.lib.http.urls import UrlPolicy
from tests.channels import test_fcm, test_pushproxy
from tests.channels.conftest import APNS_KEY, APNS_TEAM, APNS_TOPIC
from tests.channels.test_apns import notification as apns_notification
from tests.fakes import fcm as fcm_fake
from tests.fakes import pushproxy as proxy_fake
from tests.fakes.apns import ApnsFake
from tests.fakes.jwks import JwksServer, SigningKey
from tests.fakes.loopback import ManualClock

pytestmark = pytest.mark.anyio

REBOUND = "rebound.brand.test"  # resolves to 127.0.0.1 by the time Parlay connects


async def rebound_dns(host: str, port: int) -> Sequence[str]:
    """127.0.0.1 for ``REBOUND`` (the address the fakes listen on), other names as given."""
    return ["127.0.0.1"] if host == REBOUND else [host]


class StrictFor(UrlPolicy):
    """The production policy for ``REBOUND``; lifted for the fakes' own 127.0.0.1 (an FCM send
    needs an access token from the fake's token endpoint before it reaches FCM itself)."""

    def __init__(self) -> None:
        super().__init__(allow_private=True, resolver=rebound_dns)
        self._strict = UrlPolicy(resolver=rebound_dns)

    async def addresses(self, host: str, port: int) -> list[str]:
        if host == REBOUND:
            return await self._strict.addresses(host, port)
        return await super().addresses(host, port)


def refused_by_parlay(result: object, where: str) -> None:
    assert isinstance(result, Rejected), result
    assert (result.source, result.code) == (ErrorSource.PARLAY, ErrorCode.PROVIDER_REJECTED)
    assert where in result.message
    assert f"{REBOUND} resolves to an address that is not public" in result.message
    assert result.dead_tokens == ()


async def test_the_push_proxy_is_not_reached_through_a_rebound_name() -> None:
    clock = ManualClock()
    async with proxy_fake.running(secret=test_pushproxy.SECRET, clock=clock) as fake:
        client = PushProxyClient(urls=StrictFor(), clock=clock)
        try:
            app = test_pushproxy.proxy_app(fake.url.replace("127.0.0.1", REBOUND))
            result = await client.push(app, test_pushproxy.notification(clock))
        finally:
            await client.close()
    refused_by_parlay(result, "push proxy")
    assert fake.requests == []


async def test_apns_is_not_reached_through_a_rebound_endpoint(apns_fake: ApnsFake) -> None:
    credentials = ApnsCredentials(
        team_id=APNS_TEAM,
        key_id=APNS_KEY,
        private_key_pem=apns_fake.new_key(APNS_TEAM, APNS_KEY, APNS_TOPIC),
        environment="sandbox",
        endpoint=apns_fake.base_url.replace("127.0.0.1", REBOUND),
    )
    app = PushApp("acct-1", APNS_TOPIC, "ios", "apns", apns=credentials)
    client = ApnsClient(urls=StrictFor(), ca_bundle=apns_fake.ca_bundle)
    try:
        result = await client.push(app, apns_notification())
    finally:
        await client.close()
    refused_by_parlay(result, "APNs endpoint")
    assert apns_fake.connections == 0


async def test_fcm_is_not_reached_through_a_rebound_endpoint() -> None:
    clock = ManualClock()
    async with fcm_fake.running(clock=clock) as fake:
        credentials = FcmCredentials(
            fake.service_account(), endpoint=fake.url.replace("127.0.0.1", REBOUND)
        )
        app = PushApp("acct-1", "com.example.parlay", "android", "fcm", fcm=credentials)
        client = FcmClient(urls=StrictFor(), ca_bundle=fake.ca_bundle, clock=clock)
        try:
            result = await client.push(app, test_fcm.notification(clock))
        finally:
            await client.close()
    refused_by_parlay(result, "FCM endpoint")
    assert len(fake.token_requests) == 1  # the token came from the fake's own address
    assert fake.send_requests == []


async def test_the_token_uri_is_not_reached_through_a_rebound_name() -> None:
    clock = ManualClock()
    async with fcm_fake.running(clock=clock) as fake:
        account = fake.service_account()
        account["token_uri"] = account["token_uri"].replace("127.0.0.1", REBOUND)
        app = test_fcm.android_app(fake, account)
        client = FcmClient(urls=StrictFor(), ca_bundle=fake.ca_bundle, clock=clock)
        try:
            result = await client.push(app, test_fcm.notification(clock))
        finally:
            await client.close()
    refused_by_parlay(result, "token_uri")
    assert fake.token_requests == []
    assert fake.send_requests == []


async def test_a_jwks_url_is_not_fetched_through_a_rebound_name() -> None:
    server = JwksServer(SigningKey.rsa("kid-1"))
    await server.start()
    cache = JwksCache(urls=StrictFor())
    try:
        with pytest.raises(ServiceUnavailable):
            await cache.key(server.url.replace("127.0.0.1", REBOUND), "kid-1")
    finally:
        await cache.close()
        await server.stop()
    assert server.fetches == 0
