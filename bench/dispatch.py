"""Dispatch 100,000 in-app pushes with per-recipient status recorded: ≥ 5,000/s, and
≥ 70 % of a bare client's rate against the same fake in the same run.

A real ``parlay worker`` process dispatches a 100,000-consumer in-app campaign through the
sandbox channel (every consumer logged in, one device with a push token each, so every send-time
check runs and passes). The clock starts when the campaign is committed and stops when the
database holds a final status for every recipient (polled, every 50 ms near the end), so it
includes the worker's claims, the send-time checks, the sends and the batched status writes.

Baseline, same run: the sandbox's bare send loop without the database: the same 100,000
messages handed to the same ``SandboxChannel`` (same delay) with the same number of sends in
flight. The sandbox's ``--delay-ms`` stands in for the provider's round trip; with 0 the baseline
measures only Python's own per-send cost, which no database-backed dispatcher can approach.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BenchAccount,
    Figure,
    consumer_ids,
    create_account,
    peak_rss_mb,
    postgres_admin_url,
    print_figures,
    register_app_users,
    start,
    stop,
    temp_database,
    wait_ready,
)

from parlay.campaigns import service as campaigns
from parlay.channels.base import OutboundMessage, PushTarget
from parlay.channels.sandbox import SandboxChannel
from parlay.delivery.models import Delivery
from parlay.delivery.origins import CampaignInfo, OutboundPayload
from parlay.delivery.status import PENDING
from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database

N = 100_000
CONCURRENCY = 256  # the worker's default in-app lane (PARLAY_WORKER_CONCURRENCY_INAPP)
TARGET_RATE = 5_000
TARGET_SHARE = 0.70
TARGET_RSS_MB = 250
TIMEOUT = 300.0


INFO = CampaignInfo("bench", "bench", None, "general")


async def bare_send_loop(delay_seconds: float, n: int = N) -> float:
    """Sends per second of the sandbox alone: no claims, no checks, no status writes."""
    sandbox = SandboxChannel(delay_seconds=delay_seconds)
    expires = datetime.now(UTC) + timedelta(days=30)
    messages = [
        OutboundMessage(
            delivery_id=i,
            account_id="bench",
            channel="inapp",
            payload=OutboundPayload(str(i), "Your order has shipped", "prmsg", 30 * 86400, INFO),
            consumer_id=f"c{i:06d}",
            phone=None,
            expires_at=expires,
            attempt=1,
            targets=(PushTarget(f"dev-{i}", "com.bench.app", "ios", "apns", f"token-{i}"),),
        )
        for i in range(n)
    ]
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(message: OutboundMessage) -> None:
        try:
            await sandbox.send(message)
        finally:
            slots.release()

    started = time.perf_counter()
    tasks = set()
    for message in messages:
        await slots.acquire()
        task = asyncio.create_task(one(message))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*list(tasks))
    return n / (time.perf_counter() - started)


async def create_campaign(url: str, account: BenchAccount, ids: list[str]) -> str:
    db = Database(url, pool_size=1)
    try:
        async with db.write() as session:
            accepted = await campaigns.create_campaign(
                session,
                account.account_id,
                campaigns.CampaignRequest(
                    name="dispatch bench",
                    skill="general",
                    handoff_id=account.handoff_id,
                    outbound_number=None,
                    consent=True,
                    message_text=None,
                    consumers=[{"consumerContent": {"inapp": c}} for c in ids],
                ),
                SystemClock().now(),
            )
        return accepted.campaign.id
    finally:
        await db.dispose()


async def wait_final(url: str, campaign_id: str, n: int, worker_pid: int) -> dict[str, object]:
    """Poll until no delivery of the campaign is pending; the time and the final counts."""
    db = Database(url, pool_size=1)
    pending = [s.value for s in PENDING]
    peak_rss = 0.0
    try:
        started = time.perf_counter()
        deadline = started + TIMEOUT
        while time.perf_counter() < deadline:
            async with db.read() as session:
                left = await session.scalar(
                    select(func.count()).where(
                        Delivery.campaign_id == campaign_id, Delivery.status.in_(pending)
                    )
                )
            peak_rss = max(peak_rss, peak_rss_mb(worker_pid) or 0.0)
            if left == 0:
                elapsed = time.perf_counter() - started
                async with db.read() as session:
                    counts = dict(
                        (
                            await session.execute(
                                select(Delivery.status, func.count())
                                .where(Delivery.campaign_id == campaign_id)
                                .group_by(Delivery.status)
                            )
                        ).all()
                    )
                return {"seconds": elapsed, "counts": counts, "rss": peak_rss}
            # Counting pending rows costs the database work in proportion to what is left:
            # look rarely while most is left, every 50 ms near the end.
            await asyncio.sleep(max(0.05, min(1.0, (left or 0) / 20_000)))
        raise RuntimeError(f"campaign not dispatched within {TIMEOUT}s")
    finally:
        await db.dispose()


def measure(kind: str, admin_url: str | None, delay_ms: float) -> list[Figure]:
    ids = consumer_ids(N)
    with temp_database(kind, admin_url) as url, tempfile.TemporaryDirectory() as tmp:
        account = asyncio.run(create_account(url, "inapp"))
        asyncio.run(register_app_users(url, account.account_id, ids))
        worker = start(
            "worker",
            "worker",
            url,
            Path(tmp),
            {"PARLAY_SANDBOX_DELAY_MS": str(delay_ms)},
        )
        try:
            wait_ready(worker)
            campaign_id = asyncio.run(create_campaign(url, account, ids))
            result = asyncio.run(wait_final(url, campaign_id, N, worker.process.pid))
        finally:
            stop(worker)
    counts = result["counts"]
    assert isinstance(counts, dict)
    if counts.get("SENT") != N:
        raise RuntimeError(f"not every delivery was sent: {counts}")
    seconds = float(result["seconds"])  # type: ignore[arg-type]
    rate = N / seconds
    bare = asyncio.run(bare_send_loop(delay_ms / 1000))
    share = rate / bare
    rss = float(result["rss"])  # type: ignore[arg-type]
    label = f"{kind}, sandbox delay {delay_ms:g} ms"
    return [
        Figure(
            what=f"dispatch {N:,} in-app, {label}",
            value=f"{rate:,.0f}/s ({seconds:.1f} s)",
            baseline="-",
            target=f"≥ {TARGET_RATE:,}/s",
            ok=rate >= TARGET_RATE,
            number=round(rate),
            unit="deliveries/s",
            base=round(bare),
        ),
        Figure(
            what=f"dispatch rate / bare send loop, {label}",
            value=f"{share:.0%}",
            baseline=f"{bare:,.0f}/s (bare sandbox send loop, {CONCURRENCY} in flight)",
            target=f"≥ {TARGET_SHARE:.0%} (of a bare HTTP/2 client, docs/operations.md#targets)",
            ok=share >= TARGET_SHARE,
            number=round(share, 3),
            unit="share of the bare loop",
        ),
        Figure(
            what=f"worker peak RSS, {label}",
            value=f"{rss:.0f} MB",
            baseline="-",
            target=f"≤ {TARGET_RSS_MB} MB",
            ok=rss <= TARGET_RSS_MB,
            number=round(rss, 1),
            unit="MB",
        ),
    ]


def run(postgres: str | None = None, delay_ms: float = 10.0) -> list[Figure]:
    figures = measure("sqlite", None, delay_ms)
    admin_url = postgres_admin_url(postgres)
    if admin_url:
        figures += measure("postgresql", admin_url, delay_ms)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also measure on PostgreSQL")
    parser.add_argument(
        "--delay-ms", type=float, default=10.0, help="the sandbox's simulated provider latency"
    )
    args = parser.parse_args()
    print_figures("dispatch", run(args.postgres, args.delay_ms))


if __name__ == "__main__":
    main()
