"""IVR invite → push at the provider, while a 100,000-consumer campaign dispatches:
p99 at most 100 ms.

SQLite: one ``parlay serve`` process (API and dispatcher share it, the default deployment).
PostgreSQL (``--postgres ADMIN_URL`` or ``PARLAY_BENCH_POSTGRES_URL``): scaled out, one
``parlay api`` and one ``parlay worker``. Every channel is the sandbox, with the same simulated
provider latency as ``bench/dispatch.py``; it logs each accepted send with the time it took it.

Each invite is timed from just before its ``POST /invite`` (the caller already has its
``callId`` from eligibility) to the moment the sandbox accepted the push, read from the sandbox's
send log. Only invites sent while campaign deliveries were still being sent count as "under
load". Baseline, same run and same process: the same invites on the idle system, before the
campaign.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BenchAccount,
    Figure,
    Proc,
    campaign_body,
    campaign_path,
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

N = 100_000
IDLE_INVITES = 40
LOADED_INVITES = 150
SPACING = 0.05  # seconds between invites
TARGET_P99_MS = 100.0


@dataclass
class Invite:
    delivery_id: int
    started: float  # time.time() just before the POST


async def one_invite(
    client: httpx.AsyncClient, account: BenchAccount, consumer: str, phone: str
) -> Invite:
    base = f"/api/account/{account.account_id}"
    eligibility = await client.post(
        f"{base}/eligibility?v=2.0",
        json={
            "skill": "general",
            "consumerPhoneNumber": phone,
            "handoffId": account.handoff_id,
            "consumerId": consumer,
        },
        headers=account.headers,
    )
    if eligibility.status_code != 200 or not eligibility.json()["eligible"]:
        raise RuntimeError(f"eligibility: {eligibility.status_code} {eligibility.text[:300]}")
    started = time.time()
    invite = await client.post(
        f"{base}/invite?v=2.0",
        json={"callId": eligibility.json()["callId"]},
        headers=account.headers,
    )
    body = invite.json()
    if invite.status_code != 200 or body.get("status") != "QUEUED":
        raise RuntimeError(f"invite: {invite.status_code} {invite.text[:300]}")
    return Invite(int(body["deliveryId"]), started)


def invitees(prefix: str, n: int) -> list[tuple[str, str]]:
    return [(f"{prefix}{i:05d}", f"+1202555{i:04d}") for i in range(n)]


async def drive(api_url: str, account: BenchAccount, ids: list[str]) -> tuple[list[Invite], ...]:
    async with httpx.AsyncClient(base_url=api_url, timeout=60.0) as client:
        # One invite first, not counted: the first request of a fresh process pays for
        # what is built on first use (statements compiled, connections opened).
        await one_invite(client, account, *invitees("warm", 1)[0])
        idle = []
        for consumer, phone in invitees("idle", IDLE_INVITES):
            idle.append(await one_invite(client, account, consumer, phone))
            await asyncio.sleep(SPACING)
        body = campaign_body(account.handoff_id, ids)
        response = await client.post(campaign_path(account), content=body, headers=account.headers)
        if response.status_code != 200:
            raise RuntimeError(f"campaign: {response.status_code} {response.text[:300]}")
        loaded = []
        for consumer, phone in invitees("busy", LOADED_INVITES):
            loaded.append(await one_invite(client, account, consumer, phone))
            await asyncio.sleep(SPACING)
    return idle, loaded


def read_log(path: Path) -> dict[int, float]:
    """deliveryId -> when the sandbox accepted it (the first time)."""
    at: dict[int, float] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        at.setdefault(record["deliveryId"], record["at"])
    return at


def wait_sent(path: Path, invites: list[Invite], timeout: float = 60.0) -> dict[int, float]:
    deadline = time.monotonic() + timeout
    while True:
        at = read_log(path) if path.exists() else {}
        if all(i.delivery_id in at for i in invites) or time.monotonic() > deadline:
            return at
        time.sleep(0.2)


def latencies_ms(invites: list[Invite], at: dict[int, float]) -> list[float]:
    missing = [i.delivery_id for i in invites if i.delivery_id not in at]
    if missing:
        raise RuntimeError(f"{len(missing)} invites never reached the sandbox, e.g. {missing[:3]}")
    return [(at[i.delivery_id] - i.started) * 1000 for i in invites]


def measure(kind: str, admin_url: str | None, delay_ms: float) -> Figure:
    ids = consumer_ids(N)
    callers = (
        invitees("warm", 1) + invitees("idle", IDLE_INVITES) + invitees("busy", LOADED_INVITES)
    )
    everyone = ids + [consumer for consumer, _ in callers]
    with temp_database(kind, admin_url) as url, tempfile.TemporaryDirectory() as tmp:
        account = asyncio.run(create_account(url, "inapp"))
        asyncio.run(register_app_users(url, account.account_id, everyone))
        log = Path(tmp) / "sends.jsonl"
        env = {
            "PARLAY_SANDBOX_CHANNELS": "inapp,sms,wa",
            "PARLAY_SANDBOX_DELAY_MS": str(delay_ms),
            "PARLAY_SANDBOX_LOG": str(log),
        }
        procs: list[Proc] = []
        try:
            if kind == "sqlite":
                procs.append(start("serve", "serve", url, Path(tmp), env))
            else:
                procs.append(start("api", "api", url, Path(tmp), env))
                procs.append(start("worker", "worker", url, Path(tmp), env))
            for proc in procs:
                wait_ready(proc)
            idle, loaded = asyncio.run(drive(procs[0].url, account, ids))
            at = wait_sent(log, idle + loaded)
            campaign = set(ids)  # consumer IDs of the campaign's sends, from the log
            last_campaign_send = max(
                json.loads(line)["at"]
                for line in log.read_text().splitlines()
                if json.loads(line)["address"] in campaign
            )
        finally:
            stop(*procs)
    idle_ms = latencies_ms(idle, at)
    during = [i for i in loaded if at[i.delivery_id] < last_campaign_send]
    loaded_ms = latencies_ms(during, at)
    if len(during) < 20:
        raise RuntimeError(f"only {len(during)} invites overlapped the campaign")
    p = {q: percentile(loaded_ms, q) for q in (50, 95, 99)}
    base = {q: percentile(idle_ms, q) for q in (50, 95, 99)}
    mode = "parlay serve" if kind == "sqlite" else "parlay api + parlay worker"
    return Figure(
        what=f"invite → push under a {N:,}-consumer campaign, {kind} ({mode})",
        value=f"p50 {p[50]:.0f} / p95 {p[95]:.0f} / p99 {p[99]:.0f} ms ({len(during)} invites)",
        baseline=f"idle: p50 {base[50]:.0f} / p95 {base[95]:.0f} / p99 {base[99]:.0f} ms",
        target=f"p99 ≤ {TARGET_P99_MS:.0f} ms",
        ok=p[99] <= TARGET_P99_MS,
        notes=[f"sandbox delay {delay_ms:g} ms per send (included in every figure)"],
        number=round(p[99], 1),
        unit="ms (p99)",
        base=round(base[99], 1),
    )


def run(postgres: str | None = None, delay_ms: float = 10.0) -> list[Figure]:
    figures = [measure("sqlite", None, delay_ms)]
    admin_url = postgres_admin_url(postgres)
    if admin_url:
        figures.append(measure("postgresql", admin_url, delay_ms))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also measure on PostgreSQL")
    parser.add_argument("--delay-ms", type=float, default=10.0)
    args = parser.parse_args()
    print_figures("invite latency", run(args.postgres, args.delay_ms))


if __name__ == "__main__":
    main()
