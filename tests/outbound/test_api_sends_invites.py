"""Scaled out, ``parlay api`` sends the invites it queues itself (the caller does not wait for a
worker busy with a campaign); campaigns stay with the workers. No worker runs here: what left
the system is read from the sandbox's shared send log."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from parlay.delivery.models import Delivery
from parlay.handoffs.models import Handoff
from parlay.lib.db.engine import Database
from parlay.seed import create_api_key
from tests.outbound.processes import queue_wa_campaign, sends
from tests.outbound.support import SF_MOBILE
from tests.servers import start_api, stop, wait_ready

pytestmark = pytest.mark.slow


async def _key_and_handoff(database_url: str, account_id: str) -> tuple[str, str]:
    db = Database(database_url, pool_size=1)
    try:
        key = await create_api_key(db, account_id, "ivr", ["c2m"])
        async with db.read() as session:
            handoff = await session.scalar(
                select(Handoff.id).where(Handoff.account_id == account_id)
            )
        assert handoff is not None
        return key, handoff
    finally:
        await db.dispose()


async def _status(database_url: str, delivery_id: int) -> str:
    db = Database(database_url, pool_size=1)
    try:
        async with db.read() as session:
            return str(
                await session.scalar(select(Delivery.status).where(Delivery.id == delivery_id))
            )
    finally:
        await db.dispose()


def test_the_api_sends_the_invites_it_queues_and_leaves_campaigns_to_workers(
    postgres_database: str, tmp_path: Path
) -> None:
    campaign = asyncio.run(queue_wa_campaign(postgres_database, 2))
    key, handoff_id = asyncio.run(_key_and_handoff(postgres_database, campaign.account_id))
    send_log = tmp_path / "sends.jsonl"
    api = start_api("api", tmp_path, postgres_database, sandbox_channels="wa", sandbox_log=send_log)
    try:
        wait_ready([api])
        base = f"{api.url}/api/account/{campaign.account_id}"
        headers = {"Authorization": f"Bearer {key}"}
        check = httpx.post(
            f"{base}/eligibility?v=2.0",
            json={"skill": "general", "handoffId": handoff_id, "consumerPhoneNumber": SF_MOBILE},
            headers=headers,
        )
        assert check.status_code == 200, check.text
        assert check.json()["eligible"], check.text
        invite = httpx.post(
            f"{base}/invite?v=2.0", json={"callId": check.json()["callId"]}, headers=headers
        )
        assert invite.status_code == 200, invite.text
        delivery_id = int(invite.json()["deliveryId"])

        deadline = time.monotonic() + 15
        while asyncio.run(_status(postgres_database, delivery_id)) != "SENT":
            assert time.monotonic() < deadline, api.log.read_text()[-2000:]
            time.sleep(0.05)

        assert [s["deliveryId"] for s in sends(send_log)] == [delivery_id]
        assert sends(send_log)[0]["pid"] == api.process.pid
        # The campaign, queued before, is a worker's: still queued, nothing of it sent.
        for queued in campaign.delivery_ids:
            assert asyncio.run(_status(postgres_database, queued)) == "QUEUED"
    finally:
        stop([api])
