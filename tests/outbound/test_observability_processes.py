"""Scaled out, every process is its own scrape target: a campaign sent by two ``parlay worker``
processes beside a ``parlay api`` on one database is counted once in all, each send by the
worker that made it (what left the system is read from the sandbox's shared send log)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.outbound.processes import (
    Worker,
    queue_wa_campaign,
    sends,
    start_worker,
    stop,
    wait_settled,
    wait_started,
)
from tests.servers import free_port, start_api, wait_ready

pytestmark = pytest.mark.slow

CONSUMERS = 400
TOKEN = "scrape-me"


@pytest.fixture
def processes() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    stop(started)


def scrape(url: str, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(url, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def sent_total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    labels = frozenset({"channel": "wa", "status": "SENT", "error_code": ""}.items())
    return samples.get(("parlay_delivery_outcomes_total", labels), 0.0)


def logged_sends(log: Path) -> int:
    lines = (json.loads(line) for line in log.read_text().splitlines() if line.startswith("{"))
    return sum(1 for line in lines if line.get("event") == "delivery outcome")


def test_an_api_and_two_workers_each_report_their_own_work_and_none_twice(
    postgres_database: str, tmp_path: Path, processes: list[Worker]
) -> None:
    send_log = tmp_path / "sends.jsonl"
    ports = {name: free_port() for name in ("a", "b")}
    workers = [
        start_worker(
            name,
            tmp_path,
            postgres_database,
            sandbox_log=send_log,
            sandbox_delay_ms=2,
            worker_batch_size=50,
            worker_concurrency_wa=8,
            log_level="INFO",
            metrics_bind=f"127.0.0.1:{port}",
        )
        for name, port in ports.items()
    ]
    processes += workers
    api = start_api("api", tmp_path, postgres_database, metrics_token=TOKEN)
    try:
        wait_ready([api])
        wait_started(workers)
        campaign = asyncio.run(queue_wa_campaign(postgres_database, CONSUMERS))
        assert wait_settled(postgres_database, campaign.campaign_id, workers, 40) == {
            "SENT": CONSUMERS
        }

        by_pid = Counter(s["pid"] for s in sends(send_log, campaign.delivery_ids))
        counted = {}
        for worker in workers:
            samples = scrape(f"http://127.0.0.1:{ports[worker.name]}/metrics")
            counted[worker.pid] = sent_total(samples)
            timed = ("parlay_provider_send_seconds_count", frozenset({("provider", "sandbox")}))
            assert samples[timed] == by_pid[worker.pid]
            assert logged_sends(worker.log) == by_pid[worker.pid]
        # Each worker counts what it sent; together, every delivery once.
        assert counted == {pid: float(n) for pid, n in by_pid.items()}
        assert sum(counted.values()) == CONSUMERS
        # The API process answers for itself: its requests, and no deliveries.
        served = scrape(f"{api.url}/metrics", Authorization=f"Bearer {TOKEN}")
        assert sent_total(served) == 0
        readyz = frozenset({"route": "/readyz", "method": "GET", "status": "200"}.items())
        assert served[("parlay_http_requests_total", readyz)] >= 1
    finally:
        api.process.terminate()
        api.process.wait(timeout=15)
