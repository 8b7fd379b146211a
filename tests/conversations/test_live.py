"""The live streams. An agent's stream hears of conversations assigned to them
and of their consumers' messages; a consumer's stream hears the agent's replies and the close.
And scaled out: a consumer writing to one process reaches an agent streaming from another,
through Redis."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from parlay.accounts import service as accounts
from parlay.accounts.limits import RateLimits
from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database
from tests.conftest import TEST_PASSWORD
from tests.conversations.streams import event_stream, serving
from tests.conversations.support import Desk
from tests.fakes.jwks import AUDIENCE, ISSUER, SigningKey
from tests.ratelimit.test_multiprocess import start
from tests.servers import Server, stop, wait_ready

pytestmark = pytest.mark.anyio


@pytest.fixture
def long_streams(desk: Desk) -> Desk:
    """Streams stay open for the test (the suite's default ends them at once)."""
    c = desk.brand.container
    c.settings = c.settings.model_copy(update={"events_max_seconds": 60.0})
    return desk


async def test_the_agent_hears_the_assignment_and_the_consumer_hears_the_reply(
    long_streams: Desk,
) -> None:
    desk = long_streams
    await desk.settings(defaultSkill="general")
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    async with serving(desk.brand.container) as base, httpx.AsyncClient(base_url=base) as http:
        async with (
            event_stream(http, f"{agent.url}/events", agent.headers) as agent_events,
            event_stream(
                http, f"{desk.sdk.url}/events", desk.sdk.headers("ana")
            ) as consumer_events,
        ):
            written = await http.post(
                f"{desk.sdk.url}/messages", json={"text": "hello"}, headers=desk.sdk.headers("ana")
            )
            assert written.status_code == 201, written.text
            conversation_id = written.json()["conversationId"]

            assigned = await agent_events.next("conversation.assigned")
            assert (assigned["conversationId"], assigned["agentId"]) == (
                conversation_id,
                agent.user_id,
            )
            message = await agent_events.next("conversation.message")
            assert (message["message"]["sender"], message["message"]["text"]) == (
                "consumer",
                "hello",
            )

            reply = await http.post(
                f"{agent.url}/conversations/{conversation_id}/messages",
                json={"text": "Hi Ana!"},
                headers=agent.headers,
            )
            assert reply.status_code == 201
            heard = await consumer_events.next("message")
            assert (heard["conversationId"], heard["message"]["sender"]) == (
                conversation_id,
                "agent",
            )
            assert heard["message"]["text"] == "Hi Ana!"

            closed = await http.post(
                f"{agent.url}/conversations/{conversation_id}/close", headers=agent.headers
            )
            assert closed.status_code == 200
            assert (await consumer_events.next("conversation.closed"))["closedBy"] == "agent"
            assert (await agent_events.next("conversation.closed"))["conversationId"] == (
                conversation_id
            )


async def test_agents_of_the_skill_hear_the_queue_and_others_do_not(long_streams: Desk) -> None:
    desk = long_streams
    await desk.settings(defaultSkill="general")
    general = await desk.agent("general")  # OFFLINE: the conversation waits
    billing = await desk.agent("billing")
    async with serving(desk.brand.container) as base, httpx.AsyncClient(base_url=base) as http:
        async with (
            event_stream(http, f"{general.url}/events", general.headers) as general_events,
            event_stream(http, f"{billing.url}/events", billing.headers) as billing_events,
        ):
            written = await http.post(
                f"{desk.sdk.url}/messages", json={"text": "hi"}, headers=desk.sdk.headers("bo")
            )
            added = await general_events.next("queue.added")
            assert (added["conversationId"], added["skill"]) == (
                written.json()["conversationId"],
                "general",
            )
            # The billing agent's stream got nothing: an event for them would arrive before
            # this state change of their own.
            await http.put(f"{billing.url}/state", json={"state": "AWAY"}, headers=billing.headers)
            await billing_events.next("agent.state")
            assert [e["type"] for e in billing_events.seen] == ["agent.state"]


async def test_a_consumers_stream_does_not_hear_another_consumer(long_streams: Desk) -> None:
    desk = long_streams
    await desk.settings(defaultSkill="general")
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    ana = await desk.says("ana", "hi")
    async with serving(desk.brand.container) as base, httpx.AsyncClient(base_url=base) as http:
        async with event_stream(http, f"{desk.sdk.url}/events", desk.sdk.headers("bo")) as bo:
            await http.post(
                f"{agent.url}/conversations/{ana}/messages",
                json={"text": "for Ana only"},
                headers=agent.headers,
            )
            bo_id = (
                await http.post(
                    f"{desk.sdk.url}/messages", json={"text": "me"}, headers=desk.sdk.headers("bo")
                )
            ).json()["conversationId"]
            await http.post(
                f"{agent.url}/conversations/{bo_id}/messages",
                json={"text": "for Bo"},
                headers=agent.headers,
            )
            heard = await bo.next("message")
            assert heard["message"]["text"] == "for Bo"
            assert all(e.get("conversationId") == bo_id for e in bo.seen)


async def test_an_open_app_hears_an_outbound_message_as_soon_as_it_is_sent(
    long_streams: Desk,
) -> None:
    desk = long_streams
    await desk.register("ana")
    async with serving(desk.brand.container) as base, httpx.AsyncClient(base_url=base) as http:
        async with event_stream(http, f"{desk.sdk.url}/events", desk.sdk.headers("ana")) as ana:
            delivery = await desk.campaign_push("ana", message={"text": "A new offer"})
            heard = await ana.next("outbound")
    assert heard["pushMessageId"] == str(delivery.id)
    assert heard["message"] == "A new offer"
    assert heard["backendService"] == "prmsg"
    assert heard["campaignInfo"]["campaignId"] == delivery.campaign_id


# --- scaled out -----------------------------------------------------------------------------


@pytest.fixture
def two_servers(
    postgres_database: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[Server, Server]]:
    """Two ``parlay api`` processes on one PostgreSQL database, sharing Redis."""
    servers = [start(name, tmp_path, postgres_database, redis_url) for name in ("a", "b")]
    try:
        wait_ready(servers)
        yield servers[0], servers[1]
    finally:
        stop(servers)


async def _brand_with_an_agent(database_url: str, key: SigningKey) -> tuple[str, str]:
    account_id = f"live-{uuid.uuid4().hex[:10]}"
    db = Database(database_url, pool_size=1)
    try:
        async with db.write() as session:
            now = SystemClock().now()
            account = await accounts.create_account(
                session,
                account_id,
                "Brand",
                now=now,
                rate_limits=RateLimits(1000, 1000, 1000, 1000),
            )
            await accounts.create_skill(session, account_id, "general", now)
            account.default_skill = "general"
            account.consumer_auth = {
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "algorithms": ["ES256"],
                "publicKeyPem": key.public_pem,
            }
            await accounts.create_user(
                session,
                account_id,
                username="agent",
                password=TEST_PASSWORD,
                roles=["agent"],
                skills=["general"],
                now=now,
            )
    finally:
        await db.dispose()
    return account_id, "agent"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")
async def test_a_message_written_to_one_process_reaches_an_agent_streaming_from_another(
    two_servers: tuple[Server, Server], postgres_database: str
) -> None:
    a, b = two_servers
    key = SigningKey.ec()
    account_id, username = await _brand_with_an_agent(postgres_database, key)
    base = f"/api/account/{account_id}"
    consumer = {"Authorization": f"Bearer {key.token('ana')}"}
    async with httpx.AsyncClient(timeout=10) as http:
        login = await http.post(
            f"{b.url}{base}/login", json={"username": username, "password": TEST_PASSWORD}
        )
        assert login.status_code == 200, login.text
        agent = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        assert (
            await http.put(f"{b.url}{base}/agent/state", json={"state": "ONLINE"}, headers=agent)
        ).status_code == 200

        async with event_stream(http, f"{b.url}{base}/agent/events", agent) as on_b:
            written = await http.post(
                f"{a.url}{base}/consumer/messages", json={"text": "written to A"}, headers=consumer
            )
            assert written.status_code == 201, written.text
            conversation_id = written.json()["conversationId"]

            assigned = await on_b.next("conversation.assigned")
            message = await on_b.next("conversation.message")

        assert assigned["conversationId"] == conversation_id
        assert message["message"]["text"] == "written to A"

        # And back: the agent replies on B, the consumer streaming from A hears it.
        async with event_stream(http, f"{a.url}{base}/consumer/events", consumer) as on_a:
            reply = await http.post(
                f"{b.url}{base}/agent/conversations/{conversation_id}/messages",
                json={"text": "answered on B"},
                headers=agent,
            )
            assert reply.status_code == 201, reply.text
            heard = await on_a.next("message")
        assert heard["message"]["text"] == "answered on B"


async def test_a_stream_ends_when_the_hub_closes_and_when_its_time_is_up(desk: Desk) -> None:
    """Streams end by themselves: after ``PARLAY_EVENTS_MAX_SECONDS`` (the client reconnects and
    is authenticated again), and at once when the process shuts its hub down."""
    from parlay.lib.events.hub import MemoryHub
    from parlay.lib.events.sse import bounded as _bounded

    hub = MemoryHub()
    async with _bounded(hub.subscribe(["t"]), 60.0) as subscription:
        events = aiter(subscription)
        await hub.publish(["t"], {"type": "x"})
        assert (await anext(events))["type"] == "x"
        await hub.close()
        with pytest.raises(StopAsyncIteration):
            await anext(events)

    hub = MemoryHub()
    async with _bounded(hub.subscribe(["t"]), 0.05) as subscription:
        assert [event async for event in subscription] == []
