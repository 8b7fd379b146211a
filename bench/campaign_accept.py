"""Accept a 100,000-consumer campaign (200 returned) in at most 1.5 s.

A real ``parlay api`` process on a temporary SQLite file (and on a temporary PostgreSQL database
with ``--postgres ADMIN_URL`` or ``PARLAY_BENCH_POSTGRES_URL``). Each run POSTs a campaign of
100,000 in-app consumers, from the first byte sent to the 200 received, on a keep-alive
connection; the figure is the median of ``--runs`` runs (the first is a warm-up). Measured twice:
with ``Prefer: return=minimal`` (the answer counts the accepted consumers: what the target is
about) and without (the answer lists all 100,000, as LivePerson's does).

Baseline, same run: the bare driver inserting the same 100,000 delivery rows into the same table
(its indexes and foreign key included) of the same database, in one transaction: ``sqlite3``
``executemany``, or asyncpg ``COPY`` on PostgreSQL. The gap between the two is what Parlay
adds: HTTP, JSON parsing and validation of 100,000 consumers, the per-consumer checks, and the
campaign row.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BenchAccount,
    Figure,
    campaign_body,
    campaign_path,
    consumer_ids,
    create_account,
    postgres_admin_url,
    print_figures,
    start,
    stop,
    temp_database,
    wait_ready,
)

from parlay.delivery.lifecycle import QUEUED_COLUMNS as DELIVERY_COLUMNS

N = 100_000
TARGET_SECONDS = 1.5


def baseline_rows(account_id: str, handoff_id: str, ids: list[str], sqlite: bool) -> list[Any]:
    now = datetime.now(UTC)
    expires = now + timedelta(days=30)
    stamp: Any = now.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else now
    until: Any = expires.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else expires
    campaign_id = str(uuid.uuid4())
    return [
        (
            account_id,
            "PROACTIVE",
            campaign_id,
            handoff_id,
            "general",
            10,
            "inapp",
            c,
            None,
            None,
            30 * 86400,
            until,
            "QUEUED",
            0,
            stamp,
            stamp,
            None,
            None,
        )
        for c in ids
    ]


def sqlite_baseline(url: str, rows: list[Any]) -> float:
    """The same rows through bare sqlite3, into the same table, in one transaction."""
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        sql = (
            f"INSERT INTO deliveries ({', '.join(DELIVERY_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in DELIVERY_COLUMNS)})"
        )
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def postgres_baseline(url: str, rows: list[Any]) -> float:
    """The same rows through bare asyncpg COPY, into the same table, in one transaction."""
    import asyncpg

    async def run() -> float:
        conn = await asyncpg.connect(url)
        try:
            started = time.perf_counter()
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "deliveries", records=rows, columns=list(DELIVERY_COLUMNS)
                )
            return time.perf_counter() - started
        finally:
            await conn.close()

    return asyncio.run(run())


def baseline(kind: str, url: str, account: BenchAccount) -> float:
    rows = baseline_rows(account.account_id, account.handoff_id, consumer_ids(N), kind == "sqlite")
    return (sqlite_baseline if kind == "sqlite" else postgres_baseline)(url, rows)


def time_accepts(url: str, account: BenchAccount, runs: int, minimal: bool) -> list[float]:
    """POST the campaign ``runs`` times to a fresh ``parlay api``; seconds per 200."""
    headers = {**account.headers, **({"Prefer": "return=minimal"} if minimal else {})}
    body = campaign_body(account.handoff_id, consumer_ids(N))
    with tempfile.TemporaryDirectory(prefix="parlay-bench-") as tmp:
        api = start("api", "api", url, Path(tmp))
        try:
            wait_ready(api)
            times = []
            with httpx.Client(base_url=api.url, timeout=60.0) as client:
                client.get("/readyz")
                for i in range(runs + 1):
                    # A new name each time, so that every run is a new campaign of 100,000.
                    payload = body.replace(b'"bench"', f'"bench-{i}"'.encode(), 1)
                    started = time.perf_counter()
                    response = client.post(campaign_path(account), content=payload, headers=headers)
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise RuntimeError(f"{response.status_code}: {response.text[:500]}")
                    accepted = response.json()["acceptedCount"]
                    if accepted != N:
                        raise RuntimeError(f"accepted {accepted} of {N}")
                    if i > 0:  # the first one warms up the process
                        times.append(elapsed)
        finally:
            stop(api)
    return times


def measure(kind: str, admin_url: str | None, runs: int, minimal: bool = True) -> Figure:
    with temp_database(kind, admin_url) as url:
        account = asyncio.run(create_account(url, "inapp"))
        # Before and after the API's runs, on the same table (the table grows by 100,000 rows
        # each time, so either would favour one side): the faster of the two counts.
        before = baseline(kind, url, account)
        times = time_accepts(url, account, runs, minimal)
        base = min(before, baseline(kind, url, account))
    label = "sqlite3 executemany" if kind == "sqlite" else "asyncpg COPY"
    median = statistics.median(times)
    answer = "counted (return=minimal)" if minimal else "listed"
    return Figure(
        what=f"accept {N:,}-consumer campaign, {kind}, {answer}",
        value=f"{median:.2f} s (median of {len(times)}; {min(times):.2f}-{max(times):.2f})",
        baseline=f"{base:.2f} s ({label} of the same rows)",
        target=f"≤ {TARGET_SECONDS} s",
        ok=median <= TARGET_SECONDS,
        number=round(median, 3),
        unit="s",
        base=round(base, 3),
    )


def run(postgres: str | None = None, runs: int = 3) -> list[Figure]:
    figures = [measure("sqlite", None, runs), measure("sqlite", None, runs, minimal=False)]
    admin_url = postgres_admin_url(postgres)
    if admin_url:
        figures.append(measure("postgresql", admin_url, runs))
        figures.append(measure("postgresql", admin_url, runs, minimal=False))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also measure on PostgreSQL")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print_figures("campaign accept", run(args.postgres, args.runs))


if __name__ == "__main__":
    main()
