"""The in-app target against the provider fakes: dispatch N in-app pushes through Parlay's real
dispatcher and push clients, ≥ 5,000/s and ≥ 70 % of a bare client's rate, same fake, same run.

For each provider (APNs, FCM) a provider fake runs in a process of its own (so it never shares
an event loop or a core's time slice with the dispatcher), a real ``parlay worker`` process runs
with the real in-app channel (``PARLAY_SANDBOX_CHANNELS`` without ``inapp``, the fake's CA as
``PARLAY_PROVIDER_CA_BUNDLE``), and an N-consumer in-app campaign goes out: every consumer
logged in with one device of the bench app, whose credentials point at the fake. The clock
starts when the campaign is committed and stops when the database holds a final status for
every recipient, so it covers claims, send-time checks, the HTTP pushes and the status writes.

Baseline, same run, same fake: a bare client sending the same N pushes with the same number
in flight and no database: a minimal raw-``h2`` client written for the benchmark, no Parlay
code, one HTTP/2 connection: for APNs ``apns_baseline.bare_rate`` (one pre-minted provider
token), for FCM ``fcm_baseline.bare_rate`` (one access token fetched beforehand). Both fakes
speak HTTP/2 over TLS. Also reported, not a target: Parlay's push client alone
(``ApnsClient.push`` / ``FcmClient.push`` without the dispatcher and the database).

Runnable: ``python bench/inapp_dispatch.py --n 20000`` (default 100,000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    APP_ID,
    BENCH_SECRET_KEY,
    BenchAccount,
    Figure,
    consumer_ids,
    create_account,
    print_figures,
    register_app_users,
    start,
    stop,
    temp_database,
    wait_ready,
)
from apns_baseline import (
    bare_rate,
    client_rate,
    fake_apns_process,
)
from dispatch import create_campaign, wait_final
from fcm_baseline import bare_rate as fcm_bare_rate
from fcm_baseline import client_rate as fcm_client_rate
from fcm_baseline import fake_fcm_process

from parlay.apps.models import App
from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database
from parlay.lib.secretbox import SecretBox

N = 100_000
CONCURRENCY = 256  # the worker's default in-app lane (PARLAY_WORKER_CONCURRENCY_INAPP)
TARGET_RATE = 5_000
TARGET_SHARE = 0.70


# --- fixtures ----------------------------------------------------------------------------------


def apns_token(i: int) -> str:
    return f"{i:064x}"  # 64 hex digits, as APNs device tokens are


def fcm_token(i: int) -> str:
    return f"bench-fcm-{i:08d}:APA91b{i:012d}"


# The credentials' secret parts, encrypted with the workers' key as the apps API stores them
# (a worker refuses a secret stored in clear).
_SECRET_FIELDS = ("privateKeyPem", "serviceAccountJson")


async def add_app(url: str, account_id: str, service: str, credentials: dict[str, Any]) -> None:
    now = SystemClock().now()
    box = SecretBox.from_setting(BENCH_SECRET_KEY)
    credentials = {
        name: box.seal(value).to_json() if name in _SECRET_FIELDS else value
        for name, value in credentials.items()
    }
    db = Database(url, pool_size=1)
    try:
        async with db.write() as session:
            session.add(
                App(
                    account_id=account_id,
                    app_id=APP_ID,
                    platform="ios" if service == "apns" else "android",
                    push_service=service,
                    credentials=credentials,
                    created_at=now,
                    updated_at=now,
                )
            )
    finally:
        await db.dispose()


async def add_app_users(url: str, account_id: str, service: str, ids: list[str]) -> None:
    """Logged-in consumers, one device each on the bench app with a token the fake accepts."""
    token = apns_token if service == "apns" else fcm_token
    await register_app_users(
        url,
        account_id,
        ids,
        platform="ios" if service == "apns" else "android",
        push_service=service,
        token=lambda i, _c: token(i),
    )


# --- Parlay's rate -----------------------------------------------------------------------------


def parlay_rate(
    service: str,
    credentials: dict[str, Any],
    ca_bundle: str,
    n: int,
    workers: int = 1,
    concurrency: int = CONCURRENCY,
    admin_url: str | None = None,
) -> tuple[float, float, dict[Any, Any]]:
    """Deliveries/s of ``workers`` real worker processes pushing an n-consumer campaign, on
    SQLite, or on PostgreSQL when ``admin_url`` is given."""
    ids = consumer_ids(n)
    kind = "postgres" if admin_url else "sqlite"
    with temp_database(kind, admin_url) as url, tempfile.TemporaryDirectory() as tmp:
        account: BenchAccount = asyncio.run(create_account(url, "inapp"))
        asyncio.run(add_app(url, account.account_id, service, credentials))
        asyncio.run(add_app_users(url, account.account_id, service, ids))
        env = {
            "PARLAY_SANDBOX_CHANNELS": "sms,wa",
            "PARLAY_PROVIDER_CA_BUNDLE": ca_bundle,
            "PARLAY_ALLOW_PRIVATE_URLS": "true",  # the fakes listen on loopback
            "PARLAY_WORKER_CONCURRENCY_INAPP": str(concurrency),
        }
        procs = [start(f"worker{i}", "worker", url, Path(tmp), env) for i in range(workers)]
        try:
            for proc in procs:
                wait_ready(proc)
            campaign_id = asyncio.run(create_campaign(url, account, ids))
            result = asyncio.run(wait_final(url, campaign_id, n, procs[0].process.pid))
        finally:
            stop(*procs)
            tail = "\n".join(proc.tail(5) for proc in procs)
    counts = result["counts"]
    assert isinstance(counts, dict)
    if counts.get("SENT") != n:
        raise RuntimeError(f"{service}: not every delivery was sent: {counts}\n{tail}")
    seconds = float(result["seconds"])  # type: ignore[arg-type]
    return n / seconds, seconds, counts


# --- the run -----------------------------------------------------------------------------------


def figures_for(
    label: str,
    n: int,
    rate: float,
    seconds: float,
    bare: float,
    bare_label: str,
    concurrency: int = CONCURRENCY,
) -> list[Figure]:
    share = rate / bare
    return [
        Figure(
            what=f"dispatch {n:,} in-app to the {label} fake, sqlite",
            value=f"{rate:,.0f}/s ({seconds:.1f} s)",
            baseline="-",
            target=f"≥ {TARGET_RATE:,}/s",
            ok=rate >= TARGET_RATE,
            number=round(rate),
            unit="pushes/s",
            base=round(bare),
        ),
        Figure(
            what=f"Parlay / bare client, {label}",
            value=f"{share:.0%}",
            baseline=f"{bare:,.0f}/s ({bare_label}, {concurrency} in flight)",
            target=f"≥ {TARGET_SHARE:.0%}",
            ok=share >= TARGET_SHARE,
            number=round(share, 3),
            unit="share of the bare client",
            base=round(bare),
        ),
    ]


def run_apns(n: int, workers: int = 1, concurrency: int = CONCURRENCY) -> list[Figure]:
    with fake_apns_process() as fake:
        apns = fake.app.apns
        assert apns is not None
        credentials = {
            "service": "apns",
            "teamId": apns.team_id,
            "keyId": apns.key_id,
            "privateKeyPem": apns.private_key_pem,
            "environment": "production",
            "endpoint": fake.base_url,
        }
        rate, seconds, _ = parlay_rate("apns", credentials, fake.ca_bundle, n, workers, concurrency)
        bare = asyncio.run(bare_rate(fake, n, concurrency))
        alone = asyncio.run(client_rate(fake, n, concurrency))
    label = "APNs (HTTP/2, TLS)" if workers == 1 else f"APNs (HTTP/2, TLS; {workers} workers)"
    figures = figures_for(label, n, rate, seconds, bare, "bare raw-h2 client", concurrency)
    # Not a target: Parlay's own APNs client without the dispatcher and the database, the
    # ceiling of the full path on this fake (the minimal bare client spends more CPU per push).
    figures.append(
        Figure(
            what="Parlay / ApnsClient alone (no database), APNs",
            value=f"{rate / alone:.0%}",
            baseline=f"{alone:,.0f}/s (ApnsClient.push, {concurrency} in flight)",
            target="-",
            ok=None,
            number=round(rate / alone, 3),
            unit="share of the client alone",
            base=round(alone),
        )
    )
    return figures


def run_fcm(n: int, workers: int = 1, concurrency: int = CONCURRENCY) -> list[Figure]:
    with fake_fcm_process() as fake:
        credentials = {
            "service": "fcm",
            "projectId": fake.account["project_id"],
            "clientEmail": fake.account["client_email"],
            "tokenUri": fake.account["token_uri"],
            "serviceAccountJson": json.dumps(fake.account),
            "endpoint": fake.url,
        }
        rate, seconds, _ = parlay_rate("fcm", credentials, fake.ca_bundle, n, workers, concurrency)
        bare = asyncio.run(fcm_bare_rate(fake, n, concurrency))
        alone = asyncio.run(fcm_client_rate(fake, n, concurrency))
    label = "FCM (HTTP/2, TLS)" if workers == 1 else f"FCM (HTTP/2, TLS; {workers} workers)"
    figures = figures_for(label, n, rate, seconds, bare, "bare raw-h2 client", concurrency)
    figures.append(
        Figure(
            what="Parlay / FcmClient alone (no database), FCM",
            value=f"{rate / alone:.0%}",
            baseline=f"{alone:,.0f}/s (FcmClient.push, {concurrency} in flight)",
            target="-",
            ok=None,
            number=round(rate / alone, 3),
            unit="share of the client alone",
            base=round(alone),
        )
    )
    return figures


def run(
    n: int = N,
    providers: tuple[str, ...] = ("apns", "fcm"),
    workers: int = 1,
    concurrency: int = CONCURRENCY,
) -> list[Figure]:
    figures: list[Figure] = []
    if "apns" in providers:
        figures += run_apns(n, workers, concurrency)
    if "fcm" in providers:
        figures += run_fcm(n, workers, concurrency)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N, help="deliveries per provider")
    parser.add_argument(
        "--providers", default="apns,fcm", help="comma-separated: apns, fcm (default both)"
    )
    parser.add_argument("--workers", type=int, default=1, help="parlay worker processes")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole measurement")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=CONCURRENCY,
        help="sends in flight: the worker's in-app lane and the bare client alike",
    )
    args = parser.parse_args()
    providers = tuple(p.strip() for p in args.providers.split(",") if p.strip())
    for i in range(args.runs):
        print_figures(
            f"in-app dispatch to provider fakes, N={args.n:,}, run {i + 1} of {args.runs}",
            run(args.n, providers, args.workers, args.concurrency),
        )


if __name__ == "__main__":
    main()
