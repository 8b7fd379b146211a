"""The eligibility API at 200 requests/s (the account's rate limit raised): p99 ≤ 20 ms.

SQLite: one ``parlay serve`` process (API and an idle dispatcher, the default deployment);
PostgreSQL (``--postgres ADMIN_URL`` or ``PARLAY_BENCH_POSTGRES_URL``): one ``parlay api``, then
two (the scaled-out deployment, one per core, sharing Redis for their rate limits and live
events as they would behind a load balancer; the client spreads the requests over both, turn
by turn).
The account's rate limits are raised far above the rate (``create_account``), so no request is
refused. Each request is a different caller: a consumer logged in to the app with one device,
and a phone number, on a handoff with the in-app channel: every check runs and the answer is
eligible. Each check writes its call, as the API does.

The load is open-loop: request i starts at ``i / rate`` seconds whatever the earlier ones are
doing (a slow answer does not slow the load down and hide itself), over a few connections kept
alive. Each latency runs from the request's start (waiting for a free connection included) to
the answer read. The client is aiohttp: with httpx, requests queued for a connection made the
client itself slower (its pool's bookkeeping grows with the queue), and once the server fell
behind the load generator used a whole core and set the pace (the server's CPU half idle).

Beside the percentiles, the rate the server answered at: below 200/s it cannot keep up, requests
queue, and the percentiles measure the queue (they grow with the length of the run).

Baseline, same run, same process, same client, same rate: ``GET /healthz`` (no database, no
authentication): what HTTP and the client cost by themselves on this machine now.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BenchAccount,
    Figure,
    Proc,
    consumer_ids,
    create_account,
    percentile,
    postgres_admin_url,
    print_figures,
    register_app_users,
    start,
    stop,
    temp_database,
    wait_ready,
)

RATE = 200.0  # requests per second
SECONDS = 15.0
WARM_UP = 200  # requests before the timed ones (connections opened, caches warm)
CONNECTIONS = 16
TARGET_P99_MS = 20.0
REDIS_URL = os.environ.get("PARLAY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Load:
    latencies: list[float]  # ms, one per request
    answered_per_second: float  # requests over the time from the first start to the last answer


async def open_loop(
    n: int, rate: float, request: Callable[[int], Awaitable[tuple[int, bytes]]]
) -> Load:
    """Start request i at ``i / rate`` s; each one's latency in ms, and the rate answered (below
    ``rate`` when the server cannot keep up: then the latencies measure the queue, and grow with
    the length of the run)."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []

    async def one(i: int) -> None:
        started = time.perf_counter()
        status, body = await request(i)
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"{status}: {body[:300]!r}")

    begin = loop.time()
    tasks = []
    for i in range(n):
        delay = begin + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return Load(latencies, n / (loop.time() - begin))


async def drive(urls: list[str], account: BenchAccount, n: int, rate: float) -> tuple[Load, Load]:
    """The load spread over ``urls`` turn by turn (a round-robin balancer), then the baseline."""
    path = f"/api/account/{account.account_id}/eligibility?v=2.0"
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def eligibility(i: int) -> tuple[int, bytes]:
            body = {
                "skill": "general",
                "consumerPhoneNumber": f"+1202{i:07d}",
                "handoffId": account.handoff_id,
                "consumerId": f"c{i:06d}",
            }
            url = urls[i % len(urls)] + path
            async with client.post(url, json=body, headers=account.headers) as response:
                return response.status, await response.read()

        async def healthz(i: int) -> tuple[int, bytes]:
            async with client.get(f"{urls[i % len(urls)]}/healthz") as response:
                return response.status, await response.read()

        await open_loop(WARM_UP, rate, healthz)
        base = await open_loop(n, rate, healthz)
        await open_loop(WARM_UP, rate, lambda i: eligibility(n + i))
        measured = await open_loop(n, rate, eligibility)
    return measured, base


def measure(
    kind: str, admin_url: str | None, seconds: float = SECONDS, processes: int = 1
) -> Figure:
    n = int(RATE * seconds)
    with temp_database(kind, admin_url) as url, tempfile.TemporaryDirectory() as tmp:
        account = asyncio.run(create_account(url, "inapp"))
        asyncio.run(register_app_users(url, account.account_id, consumer_ids(n + WARM_UP)))
        env = {"PARLAY_LOG_LEVEL": "WARNING"}
        if processes > 1:
            env["PARLAY_REDIS_URL"] = REDIS_URL
        command = "serve" if kind == "sqlite" else "api"
        procs: list[Proc] = [
            start(f"{command}-{k}", command, url, Path(tmp), env) for k in range(processes)
        ]
        try:
            for proc in procs:
                wait_ready(proc)
            load, base_load = asyncio.run(drive([p.url for p in procs], account, n, RATE))
        finally:
            for proc in procs:
                stop(proc)
    measured, base = load.latencies, base_load.latencies
    p = {q: percentile(measured, q) for q in (50, 95, 99)}
    b = {q: percentile(base, q) for q in (50, 99)}
    mode = "parlay serve" if kind == "sqlite" else "parlay api"
    if processes > 1:
        mode = f"{processes} × {mode}, Redis"
    return Figure(
        what=f"eligibility at {RATE:.0f} req/s, {kind} ({mode})",
        value=(
            f"p50 {p[50]:.1f} / p95 {p[95]:.1f} / p99 {p[99]:.1f} ms ({n:,} requests, "
            f"answered at {load.answered_per_second:.0f}/s)"
        ),
        baseline=f"GET /healthz at the same rate: p50 {b[50]:.1f} / p99 {b[99]:.1f} ms",
        target=f"p99 ≤ {TARGET_P99_MS:.0f} ms",
        ok=p[99] <= TARGET_P99_MS,
        number=round(p[99], 1),
        unit="ms (p99)",
        base=round(b[99], 1),
    )


def run(postgres: str | None = None, seconds: float = SECONDS) -> list[Figure]:
    figures = [measure("sqlite", None, seconds)]
    admin_url = postgres_admin_url(postgres)
    if admin_url:
        figures.append(measure("postgresql", admin_url, seconds))
        figures.append(measure("postgresql", admin_url, seconds, processes=2))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also measure on PostgreSQL")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="length of the timed load")
    args = parser.parse_args()
    print_figures("eligibility", run(args.postgres, args.seconds))


if __name__ == "__main__":
    main()
