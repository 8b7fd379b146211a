"""Real ``parlay worker`` processes for the scale-out tests, and what they leave behind.

Workers run with a clean ``PARLAY_*`` environment, log to a file each, and record every send the
sandbox channel accepted in one shared JSON-lines file (``PARLAY_SANDBOX_LOG``: one line per
accepted send, with ``deliveryId`` and ``pid``), which is how a test sees what left the system.
Campaigns are queued through the service layer, straight into the shared database.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from parlay.accounts import service as accounts
from parlay.accounts.limits import RateLimits
from parlay.campaigns import service as campaigns
from parlay.delivery.models import Delivery
from parlay.delivery.status import PENDING
from parlay.handoffs import service as handoffs
from parlay.handoffs.snapshot import ChannelConfig
from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database
from tests.conftest import TEST_SECRET_KEY

PARLAY = Path(sys.executable).with_name("parlay")
STARTUP_TIMEOUT = 60.0


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def started(self) -> bool:
        return "dispatcher started" in self.log.read_text(errors="replace")


def start_worker(name: str, tmp: Path, database_url: str, **settings: object) -> Worker:
    """``parlay worker`` with ``PARLAY_<NAME>`` set from ``settings`` (e.g. sandbox_log=...)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLAY_")}
    env["PARLAY_DATABASE_URL"] = database_url
    env["PARLAY_SANDBOX_CHANNELS"] = "inapp,sms,wa"
    env["PARLAY_SECRET_KEY"] = TEST_SECRET_KEY
    for key, value in settings.items():
        env[f"PARLAY_{key.upper()}"] = str(value)
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(PARLAY), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Worker(name, process, log)


def wait_started(workers: Sequence[Worker], timeout: float = STARTUP_TIMEOUT) -> None:
    """Until every worker's dispatcher runs (it logs "dispatcher started")."""
    deadline = time.monotonic() + timeout
    waiting = list(workers)
    while waiting:
        for worker in list(waiting):
            if worker.process.poll() is not None:
                pytest.fail(f"{worker.name} exited at start:\n{worker.log_tail()}")
            if worker.started():
                waiting.remove(worker)
        if waiting and time.monotonic() > deadline:
            tails = "\n".join(f"--- {w.name}\n{w.log_tail()}" for w in waiting)
            pytest.fail(f"workers not started after {timeout}s:\n{tails}")
        if waiting:
            time.sleep(0.05)


def stop(workers: Iterable[Worker]) -> None:
    """SIGTERM (a graceful stop), then SIGKILL whatever is still running after 15 s."""
    running = [w for w in workers if w.process.poll() is None]
    for worker in running:
        worker.process.send_signal(signal.SIGTERM)
    for worker in running:
        try:
            worker.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


def kill(worker: Worker) -> None:
    """SIGKILL: no graceful stop, no last flush of outcomes: a crash."""
    worker.process.kill()
    worker.process.wait()


# --- the shared send log --------------------------------------------------------------------


def sends(log: Path, delivery_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Every accepted send recorded in ``log`` (of these deliveries only, if given)."""
    if not log.exists():
        return []
    wanted = set(delivery_ids) if delivery_ids is not None else None
    out = []
    for line in log.read_text().splitlines():
        record: dict[str, Any] = json.loads(line)
        if wanted is None or record["deliveryId"] in wanted:
            out.append(record)
    return out


# --- the shared database --------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedCampaign:
    account_id: str
    campaign_id: str
    delivery_ids: list[int]


async def queue_wa_campaign(database_url: str, consumers: int) -> QueuedCampaign:
    """A new account with a WhatsApp handoff and a campaign to ``consumers`` numbers, queued."""
    account_id = f"w-{uuid.uuid4().hex[:10]}"
    now = SystemClock().now()
    db = Database(database_url, pool_size=1)
    try:
        async with db.write() as session:
            await accounts.create_account(
                session,
                account_id,
                "Workers",
                now=now,
                rate_limits=RateLimits(1000, 1000, 1000, 1000),
            )
            await accounts.create_skill(session, account_id, "general", now)
            handoff = await handoffs.create_handoff(
                session,
                account_id,
                handoffs.HandoffSpec(
                    name="wa",
                    skill="general",
                    lookback_period_day=None,
                    lookback_period_hour=None,
                    route_all_within_lookback=True,
                    push_when_logged_in=True,
                    push_when_logged_out=False,
                    channels=[
                        ChannelConfig.from_json(
                            {"type": "wa", "templateName": "update", "templateLanguage": "en_US"}
                        )
                    ],
                ),
                now,
            )
            accepted = await campaigns.create_campaign(
                session,
                account_id,
                campaigns.CampaignRequest(
                    name="workers",
                    skill="general",
                    handoff_id=handoff.id,
                    outbound_number=None,
                    consent=True,
                    message_text=None,
                    consumers=[
                        {"consumerContent": {"wa": f"+1415{n:07d}"}} for n in range(consumers)
                    ],
                ),
                now,
            )
            assert accepted.accepted == consumers, accepted.failed[:3]
            campaign_id = accepted.campaign.id
        async with db.read() as session:
            ids = list(
                (
                    await session.execute(
                        select(Delivery.id).where(Delivery.campaign_id == campaign_id)
                    )
                ).scalars()
            )
    finally:
        await db.dispose()
    return QueuedCampaign(account_id, campaign_id, ids)


async def status_counts(database_url: str, campaign_id: str) -> dict[str, int]:
    db = Database(database_url, pool_size=1)
    try:
        async with db.read() as session:
            rows = await session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.campaign_id == campaign_id)
                .group_by(Delivery.status)
            )
            return {status: int(n) for status, n in rows.all()}
    finally:
        await db.dispose()


def wait_settled(
    database_url: str, campaign_id: str, workers: Sequence[Worker], timeout: float
) -> dict[str, int]:
    """Until no delivery of the campaign is pending; the final counts by status."""
    pending = {s.value for s in PENDING}
    deadline = time.monotonic() + timeout
    while True:
        counts = asyncio.run(status_counts(database_url, campaign_id))
        if not pending & counts.keys():
            return counts
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {w.name}\n{w.log_tail(10)}" for w in workers)
            pytest.fail(f"still pending after {timeout}s: {counts}\n{tails}")
        time.sleep(0.1)


def wait_for_sends(log: Path, delivery_ids: Sequence[int], at_least: int, timeout: float) -> int:
    """Until the send log holds ``at_least`` sends of these deliveries; how many it holds."""
    deadline = time.monotonic() + timeout
    while True:
        count = len(sends(log, delivery_ids))
        if count >= at_least:
            return count
        if time.monotonic() > deadline:
            pytest.fail(f"only {count} of {at_least} sends after {timeout}s")
        time.sleep(0.02)
