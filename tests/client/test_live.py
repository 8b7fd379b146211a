"""The client against a live Parlay: rate limits waited out, cursors followed to the end, key
tokens exchanged, creates deduplicated by their key, errors typed, webhooks verified."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from parlay.client import (
    AsyncParlay,
    BadRequest,
    ClientCredentials,
    NotFound,
    Parlay,
    Unauthorized,
)
from parlay.client import webhooks as client_webhooks
from parlay.client.types import Consumer
from tests.client.conftest import Live


def consumers(n: int, *, offset: int = 0) -> list[Consumer]:
    return [
        {"consumerContent": {"wa": f"+4477009{offset + i:05d}"}, "variables": {"1": f"n{i}"}}
        for i in range(n)
    ]


class Recorder:
    """Every answer a client's HTTP transport saw: (method, path, status)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []

    def __call__(self, response: httpx.Response) -> None:
        self.seen.append((response.request.method, response.request.url.path, response.status_code))

    async def hook(self, response: httpx.Response) -> None:
        self(response)


def test_a_rate_limited_request_is_waited_out_then_answered(live: Live) -> None:
    brand = live.brand(rate_limit=1)
    recorder = Recorder()
    http = httpx.Client(event_hooks={"response": [recorder]})
    with Parlay(live.url, brand.account_id, api_key=brand.api_key, http=http) as client:
        for _ in range(3):
            assert list(client.campaigns()) == []
    statuses = [status for _, _, status in recorder.seen]
    assert 429 in statuses
    assert statuses.count(200) == 3


@pytest.mark.anyio
async def test_paging_walks_every_recipient_of_a_5000_recipient_campaign(live: Live) -> None:
    brand = live.brand()
    recorder = Recorder()
    http = httpx.AsyncClient(event_hooks={"response": [recorder.hook]})
    async with AsyncParlay(live.url, brand.account_id, api_key=brand.api_key, http=http) as client:
        accepted = await client.create_campaign(
            name="five thousand",
            skill="general",
            handoff_id=brand.handoff_id,
            consumers=consumers(5000),
        )
        assert accepted["acceptedCount"] == 5000
        campaign_id = accepted["proactiveCampaignId"]
        ids = [r["id"] async for r in client.recipients(campaign_id)]
    assert len(ids) == 5000
    assert len(set(ids)) == 5000
    pages = [p for m, p, _ in recorder.seen if m == "GET" and p.endswith("/conversations")]
    assert len(pages) == 5


def test_the_campaign_list_is_followed_across_pages_newest_first(live: Live) -> None:
    brand = live.brand()
    with Parlay(live.url, brand.account_id, api_key=brand.api_key) as client:
        for i in range(3):
            client.create_campaign(
                name=f"c{i}",
                skill="general",
                handoff_id=brand.handoff_id,
                consumers=consumers(1, offset=i),
            )
        names = [c["campaignName"] for c in client.campaigns(page_size=2)]
    assert names == ["c2", "c1", "c0"]


def test_a_create_sent_again_with_its_idempotency_key_creates_nothing_more(live: Live) -> None:
    brand = live.brand()
    with Parlay(live.url, brand.account_id, api_key=brand.api_key) as client:
        first, again = (
            client.create_campaign(
                name="once",
                skill="general",
                handoff_id=brand.handoff_id,
                consumers=consumers(2),
                idempotency_key="campaign-once",
            )
            for _ in range(2)
        )
        assert again["proactiveCampaignId"] == first["proactiveCampaignId"]
        assert len(list(client.campaigns())) == 1


def test_client_credentials_are_exchanged_for_a_key_token_that_is_then_used(live: Live) -> None:
    brand = live.brand()
    recorder = Recorder()
    sent: list[str] = []
    http = httpx.Client(
        event_hooks={
            "response": [recorder],
            "request": [lambda r: sent.append(r.headers.get("authorization", ""))],
        }
    )
    auth = ClientCredentials.from_api_key(brand.api_key)
    with Parlay(live.url, brand.account_id, auth=auth, http=http) as client:
        assert client.get_handoff(brand.handoff_id)["id"] == brand.handoff_id
        assert client.list_handoffs()[0]["id"] == brand.handoff_id
    exchanges = [p for _, p, _ in recorder.seen if p.startswith("/sentinel/")]
    assert len(exchanges) == 1
    assert [s.split()[1][:4] for s in sent[1:]] == ["pla_", "pla_"]


def test_a_key_token_refused_is_exchanged_once_more_then_the_refusal_stands(live: Live) -> None:
    brand = live.brand()
    recorder = Recorder()
    http = httpx.Client(event_hooks={"response": [recorder]})
    auth = ClientCredentials.from_api_key(brand.api_key)
    with Parlay(live.url, brand.account_id, auth=auth, http=http) as client:
        client.list_handoffs()
        admin = {"Authorization": f"Bearer {brand.admin_token()}"}
        keys = httpx.get(f"{live.url}/api/account/{brand.account_id}/apikeys", headers=admin)
        for key in keys.json()["apiKeys"]:
            url = f"{live.url}/api/account/{brand.account_id}/apikeys/{key['id']}"
            httpx.delete(url, headers=admin).raise_for_status()
        with pytest.raises(Unauthorized):
            client.list_handoffs()
    exchanges = [status for _, p, status in recorder.seen if p.startswith("/sentinel/")]
    assert exchanges == [200, 401]


@pytest.mark.anyio
async def test_the_async_client_exchanges_client_credentials_too(live: Live) -> None:
    brand = live.brand()
    auth = ClientCredentials.from_api_key(brand.api_key)
    async with AsyncParlay(live.url, brand.account_id, auth=auth) as client:
        assert (await client.get_handoff(brand.handoff_id))["id"] == brand.handoff_id


def test_errors_carry_the_problem_fields(live: Live) -> None:
    brand = live.brand()
    with Parlay(live.url, brand.account_id, api_key=brand.api_key) as client:
        with pytest.raises(NotFound) as missing:
            client.get_campaign("no-such-campaign")
        with pytest.raises(BadRequest) as bad:
            client.create_campaign(
                name="x", skill="", handoff_id=brand.handoff_id, consumers=consumers(1)
            )
    assert (missing.value.status, missing.value.error_code) == (404, 1004)
    assert bad.value.error_code == 1000
    assert [e.field for e in bad.value.errors] == ["skill"]
    assert bad.value.detail.startswith("skill:")


def _receiver(received: list[tuple[bytes, str]]) -> type[http.server.BaseHTTPRequestHandler]:
    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers[client_webhooks.SIGNATURE_HEADER]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Receiver


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[bytes, str]]]]:
    """A brand's webhook endpoint on loopback: what it received, body and signature."""
    received: list[tuple[bytes, str]] = []
    handler = _receiver(received)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_webhook_signature_is_verified_and_a_forged_one_refused(
    live: Live, receiver: tuple[str, list[tuple[bytes, str]]]
) -> None:
    url, received = receiver
    brand = live.brand()
    with Parlay(live.url, brand.account_id, api_key=brand.api_key) as client:
        created = client.create_webhook(url, ["delivery.*"])
        client.test_webhook(created["id"])
    deadline = time.monotonic() + 15
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received, "the ping never came"
    body, header = received[0]
    secret = created["secret"]
    assert client_webhooks.verify(secret, body, header)
    assert not client_webhooks.verify(secret, body.replace(b"ping", b"pong"), header)
    assert not client_webhooks.verify("another-secret", body, header)
    timestamp = header.split(",")[0]
    assert not client_webhooks.verify(secret, body, f"{timestamp},v1={'0' * 64}")


@pytest.mark.anyio
async def test_every_brand_call_reaches_its_route_and_reads_its_answer(live: Live) -> None:
    """C2M from eligibility to the invite's delivery, a campaign appended to, retried and
    cancelled, handoffs and webhook subscriptions from creation to deletion."""
    brand = live.brand()
    async with AsyncParlay(live.url, brand.account_id, api_key=brand.api_key) as client:
        check = await client.check_eligibility(
            skill="general",
            phone="+447700900123",
            handoff_id=brand.handoff_id,
            template_variables={"1": "Ann"},
        )
        assert check["availableChannels"] == ["wa"]
        invite = await client.send_invite(check["callId"])
        assert invite["status"] == "QUEUED"
        assert invite["deliveryId"] is not None
        state = await client.get_invite(check["callId"])
        assert state["invited"]
        delivery = await client.get_delivery(invite["deliveryId"])
        assert delivery["callId"] == check["callId"]

        accepted = await client.create_campaign(
            name="appended",
            skill="general",
            handoff_id=brand.handoff_id,
            consumers=consumers(1),
            list_accepted=True,
        )
        campaign_id = accepted["proactiveCampaignId"]
        assert len(accepted.get("acceptedConsumers", [])) == 1
        more = await client.append_consumers(campaign_id, consumers(2, offset=100))
        assert more["acceptedCount"] == 2
        assert await client.retry_failed(campaign_id) == 0
        cancelled = await client.cancel_campaign(campaign_id)
        assert cancelled["campaignStatus"] in ("CANCELLED", "FINISHED")

        handoffs = await client.list_handoffs()
        assert [h["id"] for h in handoffs] == [brand.handoff_id]
        webhook = await client.create_webhook("http://127.0.0.1:9/hook", ["conversation.*"])
        assert [w["id"] for w in await client.list_webhooks()] == [webhook["id"]]
        assert (await client.get_webhook(webhook["id"]))["state"] == "active"
        assert (await client.enable_webhook(webhook["id"]))["state"] == "active"
        await client.delete_webhook(webhook["id"])
        assert await client.list_webhooks() == []


def test_every_staff_call_reaches_its_route_and_reads_its_answer(live: Live) -> None:
    """Skills, users and handoff writes, as an admin logged in through the client."""
    brand = live.brand()
    with Parlay(live.url, brand.account_id) as client:
        client.login("admin", brand.admin_password)
        skill = client.create_skill("billing")
        assert skill["name"] in [s["name"] for s in client.list_skills()]
        user = client.create_user(
            username="ann", password="long enough", roles=["agent"], skills=["billing"]
        )
        assert client.get_user(user["id"])["skills"] == ["billing"]
        assert "ann" in [u["username"] for u in client.list_users()]
        handoff = client.create_handoff(
            {"name": "sms", "channels": [{"type": "sms", "messageText": "Hi"}]}
        )
        replaced = client.replace_handoff(
            handoff["id"],
            {"name": "sms, renamed", "channels": [{"type": "sms", "messageText": "Hi"}]},
        )
        assert replaced["name"] == "sms, renamed"
        assert client.get_handoff(handoff["id"])["name"] == "sms, renamed"
        client.delete_handoff(handoff["id"])
        with pytest.raises(NotFound):
            client.get_handoff(handoff["id"])
