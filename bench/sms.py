"""SMS through the Twilio fake, status callbacks processed: ≥ 1,000/s (docs/operations.md#targets).

A real ``parlay serve`` process (API and dispatcher, the real Twilio channel, its public URL its
own address) sends an N-consumer SMS campaign to ``tests.fakes.twilio`` running in a process of
its own; the fake answers each message 201 and posts two signed status callbacks (``sent``,
``delivered``) back to Parlay's status webhook, which verifies each with twilio's
``RequestValidator`` and records it. The clock starts when the campaign is committed and stops
when every recipient is ``DELIVERED``: claims, checks, the sends, the outcome writes and 2N
webhook requests.

Baseline, same run, same fake: a bare client (the HTTP/1.1 poster the channel uses) sending the
same N messages with the same number in flight, no database and no callbacks. The numbers are
chosen in a country where it is daytime now (SMS quiet hours would hold them otherwise).

Runnable: ``python bench/sms.py --n 5000`` (default 20,000).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_SECRET_KEY,
    STARTUP_TIMEOUT,
    BenchAccount,
    Figure,
    create_account,
    free_port,
    postgres_admin_url,
    print_figures,
    start,
    stop,
    temp_database,
    wait_ready,
)

from parlay.campaigns import service as campaigns
from parlay.delivery.models import Delivery
from parlay.delivery.status import DeliveryStatus
from parlay.eligibility.quiet_hours import next_send_time
from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database
from parlay.lib.db.uow import Signals, Transactions
from parlay.lib.http.h1post import Http1Poster
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.phone import is_mobile
from parlay.lib.secretbox import SecretBox
from parlay.messaging.credentials import TwilioInput
from parlay.messaging.usecases import save_sms

N = 20_000
TARGET = 1_000.0
CONCURRENCY = 64
TIMEOUT = 300.0
ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "0a" * 16
# Mobile number ranges of several time zones: the first where it is daytime now is used.
RANGES = (("+141520", 5), ("+4477009", 5), ("+81901", 7), ("+61412", 6), ("+91981", 7))
ROOT = Path(__file__).resolve().parent.parent


def numbers(n: int) -> list[str]:
    now = SystemClock().now()
    for prefix, width in RANGES:
        candidates = [f"{prefix}{i:0{width}d}" for i in range(n)]
        if next_send_time(candidates[0], now) is None and is_mobile(candidates[-1]):
            return candidates
    raise RuntimeError("no range is inside the SMS hours now")


@contextmanager
def fake_twilio() -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.twilio",
            "--account-sid",
            ACCOUNT_SID,
            "--auth-token",
            AUTH_TOKEN,
            "--exit-on-stdin-eof",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the Twilio fake did not start")
        yield str(json.loads(line)["base_url"])
    finally:
        process.terminate()
        process.wait(timeout=STARTUP_TIMEOUT)


async def connect(url: str, account: BenchAccount, endpoint: str, key: str) -> None:
    db = Database(url, pool_size=1)
    tx = Transactions(db, SystemClock(), Signals(), idempotency_ttl=timedelta(hours=1))
    try:
        await save_sms(
            tx,
            UrlPolicy(allow_private=True),
            SecretBox.from_setting(key),
            account.account_id,
            TwilioInput(
                account_sid=ACCOUNT_SID,
                auth_token=AUTH_TOKEN,
                from_number="+14155550199",
                max_messages_per_second=1_000_000,
                endpoint=endpoint,
            ),
        )
    finally:
        await db.dispose()


async def send_campaign(url: str, account: BenchAccount, phones: list[str]) -> str:
    db = Database(url, pool_size=1)
    try:
        async with db.write() as session:
            accepted = await campaigns.create_campaign(
                session,
                account.account_id,
                campaigns.CampaignRequest(
                    name="sms bench",
                    skill="general",
                    handoff_id=account.handoff_id,
                    outbound_number=None,
                    consent=True,
                    message_text=None,
                    consumers=[{"consumerContent": {"sms": p}} for p in phones],
                ),
                SystemClock().now(),
            )
        return accepted.campaign.id
    finally:
        await db.dispose()


async def wait_delivered(url: str, campaign_id: str, n: int) -> tuple[float, dict[str, int]]:
    db = Database(url, pool_size=1)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < TIMEOUT:
            async with db.read() as session:
                done = await session.scalar(
                    select(func.count()).where(
                        Delivery.campaign_id == campaign_id,
                        Delivery.status == DeliveryStatus.DELIVERED,
                    )
                )
            if done == n:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        async with db.read() as session:
            rows = await session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.campaign_id == campaign_id)
                .group_by(Delivery.status)
            )
            return elapsed, {str(s): int(c) for s, c in rows.all()}
    finally:
        await db.dispose()


async def bare_rate(endpoint: str, phones: list[str]) -> float:
    """The same messages through a bare client with the same number in flight: the fake's own
    limit on this machine. The client is the HTTP/1.1 poster Parlay's SMS channel uses (httpx's
    pool, the first baseline, managed ~90 requests/s with 64 in flight: it measured httpx)."""
    path = f"{endpoint}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    headers = {
        "Authorization": f"Basic {basic}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    queue = list(reversed(phones))
    poster = Http1Poster(UrlPolicy(allow_private=True), ssl.create_default_context())
    try:

        async def one_lane() -> None:
            while queue:
                to = queue.pop()
                form = {"To": to, "From": "+14155550199", "Body": "Your order has shipped"}
                answer = await poster.post(path, urlencode(form).encode(), headers, timeout=30)
                assert answer.status == 201, answer.body

        started = time.perf_counter()
        await asyncio.gather(*(one_lane() for _ in range(CONCURRENCY)))
        return len(phones) / (time.perf_counter() - started)
    finally:
        await poster.aclose()


def run_one(kind: str, n: int, admin_url: str | None) -> Figure:
    phones = numbers(n)
    with (
        temp_database(kind, admin_url) as url,
        fake_twilio() as endpoint,
        tempfile.TemporaryDirectory(prefix="sms-bench-") as tmp,
    ):
        account = asyncio.run(create_account(url, channel="sms"))
        asyncio.run(connect(url, account, endpoint, BENCH_SECRET_KEY))
        port = free_port()
        env = {
            "PARLAY_SANDBOX_CHANNELS": "inapp",
            "PARLAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PARLAY_ALLOW_PRIVATE_URLS": "true",
            "PARLAY_LOG_LEVEL": "WARNING",
        }
        proc = start("serve", "serve", url, Path(tmp), env, port=port)
        try:
            wait_ready(proc)
            campaign_id = asyncio.run(send_campaign(url, account, phones))
            elapsed, counts = asyncio.run(wait_delivered(url, campaign_id, n))
        finally:
            stop(proc)
        baseline = asyncio.run(bare_rate(endpoint, phones))
    rate = counts.get("DELIVERED", 0) / elapsed
    return Figure(
        f"{n:,} SMS to the Twilio fake, callbacks processed ({kind})",
        f"{rate:,.0f} /s",
        f"bare client {baseline:,.0f} /s",
        f"≥ {TARGET:,.0f} /s",
        rate >= TARGET and counts.get("DELIVERED") == n,
        [f"statuses {counts}", f"{elapsed:.1f} s"],
        number=round(rate, 1),
        unit="messages/s",
        base=round(baseline, 1),
    )


def run(admin_url: str | None, n: int = N) -> list[Figure]:
    kinds = ["sqlite", *(["postgresql"] if admin_url else [])]
    return [run_one(kind, n, admin_url) for kind in kinds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--postgres", metavar="ADMIN_URL")
    args = parser.parse_args()
    print_figures("SMS", run(postgres_admin_url(args.postgres), args.n))


if __name__ == "__main__":
    main()
