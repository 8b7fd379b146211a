"""docs/push-proxy.md works as written: its payload examples are what Parlay sends, and the
receiver it gives (standard library only) accepts Parlay's signed pushes and makes Parlay do
what its table of answers says."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from parlay.channels.base import Accepted, Rejected, RetryLater
from parlay.channels.push import ProxyConfig, PushApp, PushNotification
from parlay.channels.pushproxy import PushProxyClient, proxy_body
from parlay.delivery.status import ErrorCode, ErrorSource
from parlay.lib.signing import signature
from tests.fakes.loopback import LOOPBACK_URLS

pytestmark = pytest.mark.anyio

DOC = Path(__file__).resolve().parents[2] / "docs" / "push-proxy.md"
SECRET = "a-long-random-shared-secret"
EXPIRES = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def _documented_payloads() -> list[dict[str, Any]]:
    # The request bodies: the JSON blocks that are a bare object with a device token.
    return [
        json.loads(block)
        for block in _blocks("json")
        if block.startswith("{") and '"deviceToken"' in block
    ]


def _receiver() -> dict[str, Any]:
    (code,) = _blocks("python")
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # the page's own sample
    return namespace


def test_documented_payloads_are_the_bodies_parlay_sends() -> None:
    outbound = PushNotification(
        push_message_id="48213",
        token="a1a1c0ffee5eed",
        platform="ios",
        message="Hi Ann, your renewal is ready",
        title="Acme",
        backend_service="prmsg",
        lookback_seconds=3600,
        expires_at=EXPIRES,
        campaign_info={
            "campaignId": "7629a01a-2d96-4b40-8a1f-87328a4a7862",
            "campaignName": "January renewals",
            "callId": None,
            "skill": "billing",
        },
    )
    agent_answer = PushNotification(
        push_message_id="48219",
        token="fcm-token-of-the-device",
        platform="android",
        message="Done: your plan is renewed until January 2027.",
        title=None,
        backend_service="ams",
        lookback_seconds=3600,
        expires_at=EXPIRES,
        campaign_info=None,
        conversation_id="0f8c3b0e-6a53-4d0e-9a57-2f1c8f2b7d11",
    )
    assert _documented_payloads() == [proxy_body(outbound), proxy_body(agent_answer)]


def test_documented_check_refuses_a_changed_body_a_stale_time_and_another_secret() -> None:
    verify: Callable[[str, str, bytes, float], bool] = _receiver()["verify_parlay_signature"]
    body = json.dumps(_documented_payloads()[0]).encode()
    t = 1767632400
    header = signature(SECRET, body, t)

    assert verify(SECRET, header, body, t + 300)
    assert not verify(SECRET, header, body.replace(b"prmsg", b"c2m"), t)
    assert not verify(SECRET, header, body, t + 301)
    assert not verify("another secret of the brand", header, body, t)
    assert not verify(SECRET, "v1=" + header.partition("v1=")[2], body, t)


@contextmanager
def serving(deliver: Callable[[dict[str, Any]], int]) -> Iterator[str]:
    """The page's receiver on 127.0.0.1, answering what ``deliver`` says; yields its URL."""
    handler = _receiver()["push_proxy"](SECRET, deliver)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/notify"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _note(token: str) -> PushNotification:
    return PushNotification(
        push_message_id="48213",
        token=token,
        platform="ios",
        message="Hi Ann, your renewal is ready",
        title="Acme",
        backend_service="prmsg",
        lookback_seconds=3600,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


async def test_documented_receiver_takes_parlays_pushes_and_answers_as_the_page_says() -> None:
    answers = {"live": 200, "dead": 403, "busy": 503}
    received: list[str] = []

    def deliver(push: dict[str, Any]) -> int:
        received.append(push["deviceToken"])
        return answers[push["deviceToken"]]

    client = PushProxyClient(urls=LOOPBACK_URLS)
    try:
        with serving(deliver) as url:
            app = PushApp("acme", "com.acme.app", "ios", "proxy", proxy=ProxyConfig(url, SECRET))
            forged = PushApp(
                "acme", "com.acme.app", "ios", "proxy", proxy=ProxyConfig(url, "not-the-secret")
            )
            sent = await client.push(app, _note("live"))
            dead = await client.push(app, _note("dead"))
            busy = await client.push(app, _note("busy"))
            refused = await client.push(forged, _note("live"))
    finally:
        await client.close()

    assert sent == Accepted(ErrorSource.PROXY)
    assert isinstance(dead, Rejected)
    assert (dead.code, dead.dead_tokens) == (ErrorCode.TOKEN_UNREGISTERED, ("dead",))
    assert isinstance(busy, RetryLater)
    assert isinstance(refused, Rejected)
    assert refused.code == ErrorCode.PROVIDER_REJECTED
    assert received == ["live", "dead", "busy"]  # the forged push never reached deliver
