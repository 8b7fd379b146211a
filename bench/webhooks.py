"""Status webhooks: 100,000 events to a local receiver (≥ 2,000/s), and campaign dispatch with a
subscription against the rate without one (≥ 80 %).

Relay: 100,000 queued deliveries, each with a ``delivery.sent`` event in the outbox of one
subscription, sent by one relay (``parlay.dispatch.webhooks``, default settings: 64 requests in
flight, batches of 500, two lanes) to a receiver in a process of its own (uvicorn, answering 204).
The clock runs from the relay's start until the outbox is empty: leases, rendering each
delivery's state, signing, the POSTs and the recorded results (rows deleted, attempts kept).

Dispatch: ``bench/dispatch.py``'s measurement (a real ``parlay worker``, a 100,000-consumer in-app
campaign through the sandbox) twice in the same run: without a subscription, then with one to
``delivery.*`` whose events the same worker's relay POSTs to the receiver while it dispatches.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_SECRET_KEY,
    Figure,
    create_account,
    free_port,
    postgres_admin_url,
    print_figures,
    register_app_users,
    start,
    stop,
    temp_database,
    wait_ready,
)
from dispatch import create_campaign, wait_final

from parlay.delivery import lifecycle
from parlay.delivery.models import Delivery
from parlay.dispatch.webhooks import RelayConfig, WebhookRelay
from parlay.lib.clock import SystemClock
from parlay.lib.db.bulk import insert_rows
from parlay.lib.db.engine import Database
from parlay.lib.http.client import tls_context
from parlay.lib.http.h1post import Http1Poster
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.secretbox import SecretBox
from parlay.webhooks import service
from parlay.webhooks.models import WebhookOutboxEvent, WebhookSubscription
from parlay.webhooks.outbox import OUTBOX, enqueue_delivery_changes

EVENTS = 100_000
DISPATCH_N = 100_000
TARGET_RATE = 2_000
TARGET_SHARE = 0.80
TIMEOUT = 600.0


# --- the receiver (a process of its own) ------------------------------------------------------


class _Receiver(asyncio.Protocol):
    """The cheapest HTTP/1.1 receiver that keeps connections open: reads each request (headers
    and ``Content-Length`` bytes of body) and answers 204; ``GET`` answers the count taken. Its
    cost should not count against the relay's rate."""

    count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < head_end + 4 + length:
                return
            self.buffer = self.buffer[head_end + 4 + length :]
            if head.startswith(b"get"):
                body = str(_Receiver.count).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
                )
            else:
                _Receiver.count += 1
                self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")


def serve_receiver(port: int) -> None:
    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(_Receiver, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(serve())


def start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve-receiver", str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=1.0) as client:
        while True:
            try:
                client.get(f"{url}/count")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError("the receiver did not start") from None
                time.sleep(0.05)
    return process, f"{url}/hooks"


def received(url: str) -> int:
    return int(httpx.get(url.rsplit("/", 1)[0] + "/count").text)


# --- 100,000 events -------------------------------------------------------------------------


async def subscribe(url: str, account_id: str, target: str) -> None:
    db = Database(url, pool_size=1)
    try:
        async with db.write() as session:
            await service.create(
                session,
                SecretBox([BENCH_SECRET_KEY]),
                account_id,
                url=target,
                events=["delivery.*"],
                description="bench",
                now=SystemClock().now(),
            )
    finally:
        await db.dispose()


_OUTBOX_COLUMNS = (
    "subscription_id",
    "account_id",
    "event_id",
    "event_type",
    "delivery_id",
    "sequence",
    "data",
    "created_at",
    "next_attempt_at",
    "attempts",
)


async def queue_events(url: str, account_id: str, n: int) -> None:
    """``n`` queued deliveries, each with a ``delivery.sent`` event for the one subscription."""
    now = SystemClock().now()
    expires = now + timedelta(days=1)
    head = (account_id, "PROACTIVE", "bench", "H0", "general", 10, "inapp")
    unset = (None, None)  # header variables, SDEs
    db = Database(url, pool_size=1)
    try:
        async with db.write() as session:
            await lifecycle.add_queued(
                session,
                [
                    (*head, f"c{i:06d}", None, None, 86400, expires, "QUEUED", 0, now, now, *unset)
                    for i in range(n)
                ],
            )
        async with db.write() as session:
            first = await session.scalar(select(func.min(Delivery.id)))
            subscription_id = await session.scalar(select(WebhookSubscription.id))
            assert first is not None
            assert subscription_id is not None
            tail = (None, now, now, 0)
            rows = [
                (subscription_id, account_id, f"evt_d{d}_1", "delivery.sent", d, 1, *tail)
                for d in range(first, first + n)
            ]
            await insert_rows(session, OUTBOX, _OUTBOX_COLUMNS, rows)
    finally:
        await db.dispose()


async def relay_rate(url: str, n: int) -> float:
    db = Database(url)
    relay = WebhookRelay(
        db,
        SystemClock(),
        SecretBox([BENCH_SECRET_KEY]),
        UrlPolicy(allow_private=True),
        RelayConfig(),
    )
    started = time.perf_counter()
    relay.start()
    try:
        deadline = started + TIMEOUT
        while time.perf_counter() < deadline:
            async with db.read() as session:
                left = await session.scalar(select(func.count()).select_from(WebhookOutboxEvent))
            if left == 0:
                return n / (time.perf_counter() - started)
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{left} events still in the outbox after {TIMEOUT}s")
    finally:
        await relay.stop()
        await db.dispose()


async def bare_post_rate(target: str, n: int) -> float:
    """The same client and receiver without Parlay: ``n`` signed-size bodies, the relay's
    number in flight, no database, no rendering."""
    poster = Http1Poster(UrlPolicy(allow_private=True), tls_context(), max_idle=64)
    body = b'{"id":"evt_d1_1","type":"delivery.sent","data":{' + b'"x":"' + b"y" * 900 + b'"}}'
    headers = {"Content-Type": "application/json", "X-Parlay-Signature": "t=1,v1=" + "0" * 64}
    slots = asyncio.Semaphore(RelayConfig().concurrency)

    async def one() -> None:
        async with slots:
            await poster.post(target, body, headers, timeout=10)

    started = time.perf_counter()
    for first in range(0, n, 1000):
        await asyncio.gather(*(one() for _ in range(min(1000, n - first))))
    rate = n / (time.perf_counter() - started)
    await poster.aclose()
    return rate


def measure_relay(kind: str, admin_url: str | None, target: str, n: int) -> Figure:
    before = received(target)
    with temp_database(kind, admin_url) as url:
        account = asyncio.run(create_account(url, "inapp"))
        asyncio.run(subscribe(url, account.account_id, target))
        asyncio.run(queue_events(url, account.account_id, n))
        rate = asyncio.run(relay_rate(url, n))
    got = received(target) - before
    if got < n:
        raise RuntimeError(f"the receiver took {got} of {n} events")
    bare = asyncio.run(bare_post_rate(target, n))
    return Figure(
        what=f"webhook events to a local receiver, {kind}",
        value=f"{rate:,.0f}/s ({n:,} in {n / rate:.1f} s; {got - n} sent twice)",
        baseline=f"{bare:,.0f}/s: the same POSTs, no database ({rate / bare:.0%})",
        target=f"≥ {TARGET_RATE:,}/s",
        ok=rate >= TARGET_RATE,
        number=round(rate),
        unit="events/s",
        base=round(bare),
    )


# --- what an account without a subscription pays ----------------------------------------------


@dataclass(frozen=True, slots=True)
class _Change:
    delivery_id: int
    account_id: str
    sequence: int
    kind: str


def no_subscription_cost(kind: str, admin_url: str | None, batches: int = 200) -> Figure:
    """The outbox's part of one outcome flush of 500 deliveries of an account with no
    subscription (another account of the database has one): its one indexed read."""

    async def run(url: str) -> float:
        account = await create_account(url, "inapp")
        other = await create_account(url, "inapp")
        await subscribe(url, other.account_id, "http://127.0.0.1:9/unused")
        changes = [_Change(i, account.account_id, 1, "SENT") for i in range(500)]
        db = Database(url, pool_size=1)
        try:
            async with db.write() as session:
                await enqueue_delivery_changes(session, changes, SystemClock().now())  # warm
                started = time.perf_counter()
                for _ in range(batches):
                    await enqueue_delivery_changes(session, changes, SystemClock().now())
                return (time.perf_counter() - started) / batches
        finally:
            await db.dispose()

    with temp_database(kind, admin_url) as url:
        per_flush = asyncio.run(run(url))
    return Figure(
        what=f"outbox cost of a 500-outcome flush, account without a subscription, {kind}",
        value=f"{per_flush * 1e3:.2f} ms per flush ({per_flush / 500 * 1e6:.2f} µs per delivery)",
        baseline="-",
        target="~nothing",
        ok=None,
    )


# --- dispatch with and without a subscription -------------------------------------------------


@dataclass(frozen=True)
class Dispatched:
    rate: float
    events_by_the_end: int = 0  # events the receiver had when the last delivery was final
    catch_up_seconds: float = 0.0  # then until it had them all


def dispatch_rate(kind: str, admin_url: str | None, n: int, target: str | None) -> Dispatched:
    from _common import consumer_ids

    ids = consumer_ids(n)
    with temp_database(kind, admin_url) as url, tempfile.TemporaryDirectory() as tmp:
        account = asyncio.run(create_account(url, "inapp"))
        asyncio.run(register_app_users(url, account.account_id, ids))
        if target is not None:
            asyncio.run(subscribe(url, account.account_id, target))
            before = received(target)
        worker = start(
            "worker",
            "worker",
            url,
            Path(tmp),
            {"PARLAY_SANDBOX_DELAY_MS": "10", "PARLAY_ALLOW_PRIVATE_URLS": "true"},
        )
        try:
            wait_ready(worker)
            campaign_id = asyncio.run(create_campaign(url, account, ids))
            result = asyncio.run(wait_final(url, campaign_id, n, worker.process.pid))
            by_the_end, catch_up = 0, 0.0
            if target is not None:
                by_the_end = received(target) - before
                started = time.perf_counter()
                while received(target) - before < n:
                    if time.perf_counter() - started > TIMEOUT:
                        raise RuntimeError("the relay did not catch up")
                    time.sleep(0.2)
                catch_up = time.perf_counter() - started
        finally:
            stop(worker)
    counts = result["counts"]
    assert isinstance(counts, dict)
    if counts.get("SENT") != n:
        raise RuntimeError(f"not every delivery was sent: {counts}")
    rate = n / float(result["seconds"])  # type: ignore[arg-type]
    return Dispatched(rate, by_the_end, catch_up)


def measure_dispatch(kind: str, admin_url: str | None, target: str, n: int) -> Figure:
    without = dispatch_rate(kind, admin_url, n, None)
    with_one = dispatch_rate(kind, admin_url, n, target)
    share = with_one.rate / without.rate
    return Figure(
        what=f"dispatch {n:,} in-app with a delivery.* subscription, {kind}",
        value=f"{with_one.rate:,.0f}/s = {share:.0%} ({with_one.events_by_the_end:,} events sent "
        f"by the end, all {n:,} {with_one.catch_up_seconds:.1f} s later)",
        baseline=f"{without.rate:,.0f}/s without a subscription",
        target=f"≥ {TARGET_SHARE:.0%}",
        ok=share >= TARGET_SHARE,
        number=round(share, 3),
        unit="share of the rate without a subscription",
    )


def run(
    postgres: str | None = None, events: int = EVENTS, dispatch_n: int = DISPATCH_N
) -> list[Figure]:
    process, target = start_receiver()
    try:
        kinds: list[tuple[str, str | None]] = [("sqlite", None)]
        admin_url = postgres_admin_url(postgres)
        if admin_url:
            kinds.append(("postgresql", admin_url))
        figures = []
        for kind, admin in kinds:
            figures.append(no_subscription_cost(kind, admin))
            if events:
                figures.append(measure_relay(kind, admin, target, events))
            if dispatch_n:
                figures.append(measure_dispatch(kind, admin, target, dispatch_n))
        return figures
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also measure on PostgreSQL")
    parser.add_argument("--events", type=int, default=EVENTS, help="events to send; 0 skips")
    parser.add_argument(
        "--dispatch-n", type=int, default=DISPATCH_N, help="campaign size; 0 skips the dispatch"
    )
    parser.add_argument("--serve-receiver", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return
    print_figures("webhooks", run(args.postgres, args.events, args.dispatch_n))


if __name__ == "__main__":
    main()
