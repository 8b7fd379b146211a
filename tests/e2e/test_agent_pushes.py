"""Agents' replies reach a consumer whose app is in the background as pushes (backendService
``ams``), end to end: the agent API, the dispatcher and the real push clients, to the provider
fakes over loopback. A device holding a live stream gets the reply there instead, whichever
process serves the stream."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from parlay.bootstrap import Container
from parlay.delivery.models import Delivery
from parlay.delivery.status import PENDING, Source
from tests.conftest import TEST_PASSWORD
from tests.conversations.streams import event_stream, serving
from tests.e2e.conftest import (
    ANDROID_APP,
    IOS_APP,
    IOS_TOKEN,
    PROXY_APP,
    World,
    register_device,
)

pytestmark = pytest.mark.anyio

REPLY = "Your refund is on its way 💸"


async def _agent(w: World) -> dict[str, str]:
    """An ONLINE agent of the skill new conversations go to."""
    b = w.brand
    settings = await b.client.put(
        f"{b.url}/settings", headers=b.admin, json={"defaultSkill": "general"}
    )
    assert settings.status_code == 200, settings.text
    created = await b.client.post(
        f"{b.url}/users",
        headers=b.admin,
        json={
            "username": "ann",
            "password": TEST_PASSWORD,
            "roles": ["agent"],
            "skills": ["general"],
        },
    )
    assert created.status_code == 201, created.text
    agent = b.auth(await b.login("ann"))
    online = await b.client.put(f"{b.url}/agent/state", headers=agent, json={"state": "ONLINE"})
    assert online.status_code == 200, online.text
    return agent


async def _conversation(w: World, sub: str) -> str:
    """The consumer writes: a conversation opens and goes to the agent."""
    written = await w.brand.client.post(
        f"{w.brand.url}/consumer/messages", headers=w.consumer(sub), json={"text": "Where is it?"}
    )
    assert written.status_code == 201, written.text
    conversation_id: str = written.json()["conversationId"]
    return conversation_id


async def _reply(w: World, agent: dict[str, str], conversation_id: str) -> dict[str, Any]:
    reply = await w.brand.client.post(
        f"{w.brand.url}/agent/conversations/{conversation_id}/messages",
        headers=agent,
        json={"text": REPLY},
    )
    assert reply.status_code == 201, reply.text
    message: dict[str, Any] = reply.json()
    return message


async def _push_of(w: World, message: dict[str, Any]) -> Delivery:
    """The delivery pushing an agent's message, once the dispatcher is done with it."""
    deadline = time.monotonic() + 20
    rows: list[Delivery] = []
    while time.monotonic() < deadline:
        async with w.container.db.read() as session:
            rows = list(
                (
                    await session.execute(
                        select(Delivery).where(Delivery.source == Source.CONVERSATION)
                    )
                )
                .scalars()
                .all()
            )
        if rows and all(r.status not in PENDING for r in rows):
            (push,) = rows  # only the agent's message is pushed, not the consumer's
            assert push.message_id == int(message["id"])
            return push
        await asyncio.sleep(0.02)
    raise AssertionError(f"the agent's push did not settle: {[r.status for r in rows]}")


async def test_an_agents_reply_reaches_each_backgrounded_device_by_push_with_ams_the_conversation_and_the_text(  # noqa: E501
    world: World,
) -> None:
    w = world
    await register_device(w, "alice", "pixel-alice", ANDROID_APP, "fcm-token-alice")
    await register_device(w, "alice", "galaxy-alice", PROXY_APP, "proxy-token-alice")
    agent = await _agent(w)
    conversation_id = await _conversation(w, "alice")

    push = await _push_of(w, await _reply(w, agent, conversation_id))

    assert (push.status, push.channel, push.conversation_id) == ("SENT", "inapp", conversation_id)
    assert (push.campaign_id, push.call_id) == (None, None)
    sdk = {
        "pushMessageId": str(push.id),
        "message": REPLY,
        "backendService": "ams",
        "conversationId": conversation_id,
    }

    (apns,) = w.apns.accepted
    assert apns.token == IOS_TOKEN
    payload: dict[str, Any] = apns.payload or {}
    assert payload["aps"]["alert"] == {"body": REPLY}
    assert {k: payload[k] for k in sdk} == sdk
    assert "campaignInfo" not in payload
    # A repeat of this push (a retry, a crash before its outcome was written) replaces it.
    assert apns.headers["apns-collapse-id"] == f"ams-{push.id}"

    (fcm,) = w.fcm.accepted
    assert fcm.message["token"] == "fcm-token-alice"
    assert {k: fcm.message["data"][k] for k in sdk} == sdk
    assert fcm.message["android"]["collapse_key"] == f"ams-{push.id}"

    (proxied,) = w.proxy.pushes
    assert proxied.body["deviceToken"] == "proxy-token-alice"
    assert proxied.body["notification"] == {"body": REPLY}
    assert {k: proxied.body[k] for k in sdk} == sdk


async def test_a_transient_failure_of_an_agents_push_is_retried_and_the_push_sent_once(
    world: World,
) -> None:
    w = world
    w.apns.script(IOS_TOKEN, "unavailable")
    agent = await _agent(w)

    push = await _push_of(w, await _reply(w, agent, await _conversation(w, "alice")))

    assert (push.status, push.attempts) == ("SENT", 2)
    first, second = w.apns.requests_for(IOS_TOKEN)
    assert (first.status, second.status) == (503, 200)
    assert len(w.apns.accepted) == 1
    assert first.headers["apns-id"] == second.headers["apns-id"]


@pytest.mark.parametrize(
    "streaming_from",
    ["this process", pytest.param("another process", marks=pytest.mark.shared_redis)],
)
async def test_a_device_holding_a_live_stream_gets_the_reply_there_and_only_the_other_is_pushed(
    world: World, streaming_from: str
) -> None:
    """Presence is consulted at send time; with Redis, a stream served by one process keeps the
    dispatcher of another from pushing to its device."""
    w = world
    ipad_token = "c3" * 32
    await register_device(w, "alice", "ipad-alice", IOS_APP, ipad_token)
    agent = await _agent(w)
    conversation_id = await _conversation(w, "alice")

    async def reply_while_streaming(server: Container) -> tuple[dict[str, Any], Delivery]:
        events = f"{w.brand.url}/consumer/events?deviceId=iphone-1"
        async with serving(server) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
            async with event_stream(http, events, w.consumer("alice")) as stream:
                message = await _reply(w, agent, conversation_id)
                heard = await stream.next("message")
                return heard, await _push_of(w, message)

    if streaming_from == "this process":
        heard, push = await reply_while_streaming(w.container)
    else:
        async with w.second_process() as other:
            heard, push = await reply_while_streaming(other)

    assert (heard["conversationId"], heard["message"]["text"]) == (conversation_id, REPLY)
    assert push.status == "SENT"
    assert [r.token for r in w.apns.accepted] == [ipad_token]
