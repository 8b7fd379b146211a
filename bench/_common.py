"""Shared parts of the benchmarks: temporary databases, real Parlay processes, bulk fixtures.

Everything runs on loopback, in temporary files or temporary PostgreSQL databases that are
removed at the end; every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from parlay import migrations as migrate
from parlay.accounts import service as accounts
from parlay.accounts.limits import RateLimits
from parlay.apps.models import Device
from parlay.consumers.models import Consumer
from parlay.handoffs import service as handoffs
from parlay.handoffs.snapshot import ChannelConfig
from parlay.lib.clock import SystemClock
from parlay.lib.db.bulk import insert_rows
from parlay.lib.db.engine import Database

PARLAY = Path(sys.executable).with_name("parlay")
APP_ID = "com.bench.app"
POSTGRES_ENV = "PARLAY_BENCH_POSTGRES_URL"
STARTUP_TIMEOUT = 60.0
# PARLAY_SECRET_KEY of the processes a benchmark starts (one key for all: they share a database;
# fixed, so a database kept between runs keeps opening). A benchmark stores no real secret.
BENCH_SECRET_KEY = "54sOo0mC3RbOw4J2Q-AsO2Ka4c30X_0UHKaaxVtu63I="


# --- results ----------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured figure beside its same-run baseline and its target (docs/operations.md)."""

    what: str
    value: str
    baseline: str
    target: str
    ok: bool | None  # None: no pass/fail target for this figure
    notes: list[str] = field(default_factory=list)
    # The same figure as numbers, for ``run_all.py --json``: the measured value in ``unit``, and
    # the baseline's value in the same unit when it has one (else the baseline's text is kept).
    number: float | None = None
    unit: str = ""
    base: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "what": self.what,
            "value": self.number if self.number is not None else self.value,
            "unit": self.unit,
            "baseline": self.base if self.base is not None else self.baseline,
            "target": self.target,
            "met": self.ok,
        }


def not_measured(what: str, target: str, why: str) -> Figure:
    """A row that could not be measured in this run, and why (``met`` is null)."""
    return Figure(what, "not measured", "-", target, None, [why])


def print_figures(title: str, figures: Sequence[Figure]) -> None:
    print(f"\n== {title}")
    header = ("what", "measured", "baseline (same run)", "target", "")
    rows = [
        (f.what, f.value, f.baseline, f.target, {True: "ok", False: "MISSED", None: ""}[f.ok])
        for f in figures
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(5)]
    for row in (header, *rows):
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    for f in figures:
        for note in f.notes:
            print(f"  - {note}")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), in MiB, while it is alive."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- databases --------------------------------------------------------------------------------


def postgres_admin_url(flag: str | None) -> str | None:
    """``--postgres URL`` wins; else the environment variable; else no PostgreSQL run."""
    return flag or os.environ.get(POSTGRES_ENV) or None


@contextmanager
def temp_database(kind: str, admin_url: str | None = None) -> Iterator[str]:
    """The URL of an empty, migrated database that is removed afterwards."""
    if kind == "sqlite":
        tmp = Path(tempfile.mkdtemp(prefix="parlay-bench-"))
        url = f"sqlite:///{tmp / 'parlay.db'}"
        try:
            asyncio.run(_migrate(url))
            yield url
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    assert admin_url, "PostgreSQL needs an admin URL"
    import asyncpg

    name = f"parlay_bench_{uuid.uuid4().hex[:10]}"
    base = admin_url.rsplit("/", 1)[0]
    url = f"{base}/{name}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(_migrate(url))
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def on_each_database(
    measure_async: Callable[[str, str], Coroutine[Any, Any, list[Figure]]], postgres: str | None
) -> list[Figure]:
    """``measure_async(url, kind)`` in a fresh migrated SQLite database, then in a PostgreSQL one
    when an admin URL is given (``--postgres`` or the environment)."""
    kinds: list[tuple[str, str | None]] = [("sqlite", None)]
    if admin_url := postgres_admin_url(postgres):
        kinds.append(("postgresql", admin_url))
    figures: list[Figure] = []
    for kind, admin in kinds:
        with temp_database(kind, admin) as url:
            figures += asyncio.run(measure_async(url, kind))
    return figures


async def _migrate(url: str) -> None:
    db = Database(url, pool_size=1)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


# --- accounts and recipients ------------------------------------------------------------------


@dataclass(frozen=True)
class BenchAccount:
    account_id: str
    api_key: str
    handoff_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}


async def create_account(url: str, channel: str = "inapp") -> BenchAccount:
    """An account without a practical rate limit, an all-scopes key and a one-channel handoff."""
    account_id = f"bench-{uuid.uuid4().hex[:8]}"
    if channel == "inapp":
        channels: list[dict[str, Any]] = [
            {"type": "inapp", "appIds": [APP_ID], "messageText": "Your order has shipped"}
        ]
    elif channel == "sms":
        channels = [{"type": "sms", "messageText": "Your order has shipped"}]
    else:
        channels = [{"type": "wa", "templateName": "shipped", "templateLanguage": "en_US"}]
    db = Database(url, pool_size=1)
    now = SystemClock().now()
    try:
        async with db.write() as session:
            await accounts.create_account(
                session,
                account_id,
                "Bench brand",
                now=now,
                rate_limits=RateLimits(1_000_000, 1_000_000, 1_000_000, 1_000_000),
            )
            await accounts.create_skill(session, account_id, "general", now)
            key, _ = await accounts.create_api_key(
                session, account_id, "bench", ["c2m", "proactive", "reporting"], now
            )
            handoff = await handoffs.create_handoff(
                session,
                account_id,
                handoffs.HandoffSpec(
                    name="bench",
                    skill="general",
                    lookback_period_day=None,
                    lookback_period_hour=None,
                    route_all_within_lookback=True,
                    push_when_logged_in=True,
                    push_when_logged_out=False,
                    channels=[ChannelConfig.from_json(c) for c in channels],
                ),
                now,
            )
            handoff_id = handoff.id
    finally:
        await db.dispose()
    return BenchAccount(account_id, key, handoff_id)


async def register_app_users(
    url: str,
    account_id: str,
    consumer_ids: Sequence[str],
    *,
    platform: str = "ios",
    push_service: str = "apns",
    token: Callable[[int, str], str] = lambda _i, c: f"token-{c}",
) -> None:
    """Consumers who logged in to the app, each with one device holding a push token
    (``token(index, consumer_id)``)."""
    now = SystemClock().now()
    consumers = [(account_id, c, None, now, now) for c in consumer_ids]
    devices = [
        (account_id, c, f"dev-{c}", APP_ID, platform, push_service, token(i, c), True, now, now)
        for i, c in enumerate(consumer_ids)
    ]
    db = Database(url, pool_size=1)
    try:
        async with db.write() as session:
            await insert_rows(
                session,
                Consumer.__table__,  # type: ignore[arg-type]
                ("account_id", "consumer_id", "phone", "created_at", "first_login_at"),
                consumers,
            )
            await insert_rows(
                session,
                Device.__table__,  # type: ignore[arg-type]
                (
                    "account_id",
                    "consumer_id",
                    "device_id",
                    "app_id",
                    "platform",
                    "push_service",
                    "push_token",
                    "logged_in",
                    "registered_at",
                    "updated_at",
                ),
                devices,
            )
        if not db.is_sqlite:
            # As autovacuum would have by the time a campaign goes out: without statistics
            # PostgreSQL plans the send-time lookups of these freshly loaded tables as scans.
            async with db.write() as session:
                await session.execute(text("ANALYZE consumers, devices"))
    finally:
        await db.dispose()


def consumer_ids(n: int, prefix: str = "c") -> list[str]:
    return [f"{prefix}{i:06d}" for i in range(n)]


def campaign_body(handoff_id: str, ids: Sequence[str], name: str = "bench") -> bytes:
    return json.dumps(
        {
            "campaignName": name,
            "skill": "general",
            "templateId": handoff_id,
            "consent": True,
            "consumers": [{"consumerContent": {"inapp": c}} for c in ids],
        }
    ).encode()


def campaign_path(account: BenchAccount) -> str:
    return f"/api/v2/account/{account.account_id}/campaign"


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start(
    name: str,
    command: str,
    database_url: str,
    tmp: Path,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Proc:
    """``parlay serve|api|worker`` with a clean ``PARLAY_*`` environment plus ``env``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PARLAY_")}
    full_env["PARLAY_DATABASE_URL"] = database_url
    full_env["PARLAY_SANDBOX_CHANNELS"] = "inapp,sms,wa"  # the benchmarks push to the sandbox
    full_env["PARLAY_SECRET_KEY"] = BENCH_SECRET_KEY
    full_env |= env or {}
    args = [str(PARLAY), command]
    if command in ("serve", "api"):
        port = port or free_port()
        args += ["--port", str(port)]
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    return Proc(name, process, log, port)


def wait_ready(proc: Proc, timeout: float = STARTUP_TIMEOUT) -> None:
    """Until ``/readyz`` answers 200 (an HTTP process) or the worker has had time to start."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proc.process.poll() is not None:
                raise RuntimeError(f"{proc.name} exited at start:\n{proc.tail()}")
            if proc.port is None:
                if "dispatcher started" in proc.log.read_text(errors="replace"):
                    return
            else:
                try:
                    if client.get(f"{proc.url}/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
    raise RuntimeError(f"{proc.name} not ready after {timeout}s:\n{proc.tail()}")


def stop(*procs: Proc) -> None:
    for proc in procs:
        if proc.process.poll() is None:
            proc.process.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.process.kill()
            proc.process.wait()
