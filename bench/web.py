"""The web tool's pages answer within 100 ms of server time (p95) with 1,000,000 deliveries
stored: the dashboard, the campaign list, a 100,000-recipient campaign's page and the fragments
its page and the list poll, and the agent workspace (its page, the panels it refreshes, and a
conversation replying to the big campaign with its context).

Seeded as ``bench/reporting.py`` seeds (1,000,000 deliveries over 30 days and their kept counts,
plus one 100,000-consumer campaign). The pages are asked in-process (the ASGI app through
httpx, so nothing but the server's work is timed) by a signed-in campaign manager (the
workspace by a signed-in agent holding 10 conversations among 50 waiting), 30 times each after
a warm-up. Baseline, same run: the JSON API's read of the same numbers with an API key.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reporting
from _common import Figure, create_account, on_each_database, percentile, print_figures

from parlay.accounts import service as accounts
from parlay.app import create_app
from parlay.bootstrap import build_container
from parlay.config import Settings
from parlay.consumers.auth import ConsumerIdentity
from parlay.conversations import usecases as conversations
from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database

TARGET_MS = 100.0
RUNS = 30
ORIGIN = "http://127.0.0.1:8080"
PASSWORD = "bench password, long enough"


async def _p95_ms(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> float:
    answer = await client.get(path, headers=headers)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        answer = await client.get(path, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        assert answer.status_code == 200, path
    return percentile(times, 95)


async def _staff_user(url: str, account_id: str) -> str:
    db = Database(url, pool_size=1)
    try:
        async with db.write() as session:
            await accounts.create_user(
                session,
                account_id,
                username="manager",
                password=PASSWORD,
                roles=["campaign_manager"],
                now=SystemClock().now(),
            )
            await accounts.create_user(
                session,
                account_id,
                username="agent",
                password=PASSWORD,
                roles=["agent"],
                skills=["general"],
                max_concurrent_conversations=10,
                now=SystemClock().now(),
            )
    finally:
        await db.dispose()
    return "manager"


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
WAITING = 50


async def _agent_desk(client: httpx.AsyncClient, container: Any, account_id: str) -> str:
    """The agent signs in and goes online; 50 consumers of the big campaign (skill general)
    write; the first 10 are assigned to the agent. Returns one of the agent's conversations."""
    signed = await client.post(
        "/app/sign-in", data={"account_id": account_id, "username": "agent", "password": PASSWORD}
    )
    assert signed.status_code == 303, signed.text
    home = await client.get("/app/")
    found = _CSRF.search(home.text)
    assert found is not None
    online = await client.post(
        "/app/workspace/state",
        data={"state": "ONLINE"},
        headers={"X-CSRF-Token": found.group(1)},
    )
    assert online.status_code == 200, online.text
    services = container.services
    first = None
    for k in range(WAITING):
        i = reporting.N + 4 + 5 * k  # the big campaign's consumers of skill general
        me = ConsumerIdentity(account_id, f"c-{i}", {})
        posted = await conversations.consumer_writes(
            services.tx, services.origins, me, "Is this about my bill?", None
        )
        first = first or posted.conversation_id
    await conversations.assign_waiting(services.tx, account_id)
    assert first is not None
    opened = await client.get(f"/app/workspace/conversations/{first}")
    assert "bench" in opened.text, "the context panel names the campaign the consumer answered"
    return first


async def measure_async(url: str, kind: str) -> list[Figure]:
    account = await create_account(url)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    campaign_id, _ = await reporting.seed(url, account.account_id, account.handoff_id, end)
    username = await _staff_user(url, account.account_id)
    settings = Settings(
        database_url=url,
        redis_url=None,
        log_json=False,
        log_level="WARNING",  # a line per request would be most of the output
        secret_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        staff_rate_limit_per_second=1_000_000,
    )
    container = build_container(settings)
    a = account.account_id
    api = {"Authorization": f"Bearer {account.api_key}"}
    first_day = (end - timedelta(days=reporting.DAYS)).date()
    start_ms = int((end - timedelta(days=reporting.DAYS)).timestamp() * 1000)
    end_ms = int(end.timestamp() * 1000)
    last_day = end.date()
    try:
        transport = httpx.ASGITransport(app=create_app(container.services))
        async with httpx.AsyncClient(
            transport=transport, base_url=ORIGIN, headers={"Origin": ORIGIN}
        ) as client:
            signed = await client.post(
                "/app/sign-in",
                data={"account_id": a, "username": username, "password": PASSWORD},
            )
            assert signed.status_code == 303, signed.text
            month = f"from={first_day.isoformat()}&to={last_day.isoformat()}"
            analytics = (
                f"/api/account/{a}/app/prmsg/analytics?attemptedStartTime={start_ms}"
                f"&attemptedEndTime={end_ms}"
            )
            campaign_api = f"/api/v2/account/{a}/campaign/{campaign_id}"
            week = analytics.replace(str(start_ms), str(end_ms - 7 * 86_400_000))
            campaign_list = f"/api/v2/account/{a}/campaign"
            recipients_api = f"{campaign_api}/conversations?status=FAILED&limit=50"
            campaign_page = f"/app/campaigns/{campaign_id}"
            pages: Sequence[tuple[str, str, str | None, str]] = [
                ("dashboard, last 7 days", "/app/dashboard", week, "analytics API, 7 days"),
                ("dashboard, 30 days", f"/app/dashboard?{month}", analytics, "analytics API"),
                ("campaign list", "/app/campaigns", campaign_list, "campaign list API"),
                ("campaign list rows (polled)", "/app/campaigns/rows", campaign_list, "list API"),
                ("campaign page, 100,000 recipients", campaign_page, campaign_api, "campaign API"),
                (
                    "campaign counts (polled)",
                    f"{campaign_page}/counts",
                    campaign_api,
                    "campaign API",
                ),
                ("campaign page, FAILED", f"{campaign_page}?status=FAILED", recipients_api, "API"),
                ("new campaign form", "/app/campaigns/new", None, "-"),
            ]
            figures = []
            transport_agent = httpx.ASGITransport(app=create_app(container.services))
            async with httpx.AsyncClient(
                transport=transport_agent, base_url=ORIGIN, headers={"Origin": ORIGIN}
            ) as agent:
                conversation = await _agent_desk(agent, container, a)
                for what, path in (
                    ("workspace", "/app/workspace"),
                    ("workspace panels (refreshed)", "/app/workspace/panels"),
                    (
                        "workspace conversation with context",
                        f"/app/workspace/conversations/{conversation}",
                    ),
                ):
                    page_ms = await _p95_ms(agent, path)
                    figures.append(
                        Figure(
                            f"{kind}: {what}",
                            f"p95 {page_ms:.1f} ms",
                            "-",
                            f"≤ {TARGET_MS:.0f} ms",
                            page_ms <= TARGET_MS,
                        )
                    )
            for what, path, baseline_path, baseline in pages:
                page_ms = await _p95_ms(client, path)
                if baseline_path is not None:
                    api_ms = await _p95_ms(client, baseline_path, api)
                    baseline = f"{baseline} p95 {api_ms:.1f} ms"
                figures.append(
                    Figure(
                        f"{kind}: {what}",
                        f"p95 {page_ms:.1f} ms",
                        baseline,
                        f"≤ {TARGET_MS:.0f} ms",
                        page_ms <= TARGET_MS,
                    )
                )
    finally:
        await container.close()
    return figures


def run(postgres: str | None = None) -> list[Figure]:
    return on_each_database(measure_async, postgres)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also measure on PostgreSQL")
    args = parser.parse_args()
    print_figures("web tool pages", run(args.postgres))


if __name__ == "__main__":
    main()
