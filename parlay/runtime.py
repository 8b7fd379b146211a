"""Assembling a running Parlay: the app plus its background parts, and the start-up report."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, start_http_server

from parlay.accounts.service import account_exists
from parlay.app import create_app
from parlay.bootstrap import build_container
from parlay.config import Settings, metrics_address
from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database
from parlay.lib.observability.logging import get_logger
from parlay.lib.secretbox import SecretBox
from parlay.lib.secretbox.check import KeyState, check_key
from parlay.seed import DEMO_ACCOUNT, seed_demo

log = get_logger("parlay.runtime")


@contextmanager
def metrics_listener(settings: Settings, registry: CollectorRegistry) -> Iterator[str | None]:
    """With ``metrics_bind`` set, the process's metrics alone on that address (a plain HTTP
    listener in a thread, answering ``GET /metrics``) for as long as the block runs; its URL."""
    if settings.metrics_bind is None:
        yield None
        return
    host, port = metrics_address(settings.metrics_bind)
    server, thread = start_http_server(port, addr=host, registry=registry)
    try:
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def build_app(settings: Settings, *, run_api: bool = True, run_worker: bool = True) -> FastAPI:
    """The ASGI app for ``parlay serve`` / ``parlay api``; background parts start with it."""
    container = build_container(settings)

    async def lifecycle() -> AsyncIterator[None]:
        with metrics_listener(settings, container.metrics.registry) as url:
            if url is not None:
                log.info("metrics listener", url=url)
            if run_worker:
                container.start_dispatcher()
            elif settings.api_sends_invites:
                container.start_invite_sender()
            freeze_startup_heap()
            try:
                yield
            finally:
                await container.close()

    return create_app(container.services, on_startup=lifecycle)


async def run_worker(settings: Settings) -> None:
    """``parlay worker``: only the dispatcher, until SIGINT or SIGTERM."""
    container = build_container(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with metrics_listener(settings, container.metrics.registry) as url:
        if url is not None:
            log.info("metrics listener", url=url)
        container.start_dispatcher()
        freeze_startup_heap()
        try:
            await stop.wait()
        finally:
            await container.close()


# The youngest generation is collected every this many allocations (Python's default is 700).
YOUNG_COLLECTION_THRESHOLD = 10_000


def freeze_startup_heap() -> None:
    """What start-up built (modules, the app, the database's pool and caches: most of the
    process's ~175,000 tracked objects) lives as long as the process, so it is moved out of the
    cyclic garbage collector's reach (``gc.freeze``) once garbage is collected. A full collection
    during a campaign then scans only what was made since: on the 2-core benchmark machine,
    pauses of up to 110 ms (9 in a 20,000-consumer campaign) fell to 20 ms at most, and they
    stalled whatever was on the event loop, an IVR caller's invite included.

    Then the youngest generation is collected every 10,000 allocations instead of 700. At 700,
    a dispatcher's batches (claimed rows, messages, outcomes: alive for the ~100 ms of their
    sends) were caught alive by young collections and promoted, and the old generation filled
    with them: a full collection every ~0.7 s of a 100,000-consumer campaign, 41 of them, 2.6 s
    in all and up to 105 ms each, every one a stall of the event loop. At 10,000 they are dead
    by the time they are looked at: 1 full collection in the same campaign."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


async def startup_report(
    db: Database,
    settings: Settings,
    *,
    demo: bool,
    host: str,
    port: int,
    credentials_file: Path | None = None,
) -> list[str]:
    """What an operator needs to read at start: where it serves, where sends go, and how to get
    in. The demo's credentials are printed once, when it is seeded, and kept in
    ``credentials_file`` (mode 0600) so that a later start can point there instead of changing
    them."""
    base = f"http://{host}:{port}"
    lines = [f"Parlay on {base}  (API docs: {base}/docs, database: {db.url.render_as_string()})"]
    lines += sandbox_banner(settings)
    if demo:
        creds = await seed_demo(db, settings)
        if creds is None:
            where = _where_kept(credentials_file)
            lines += [
                f"demo account {DEMO_ACCOUNT!r} already seeded: its admin login and API key are "
                f"{where}; they are not changed. A new key: parlay apikey create {DEMO_ACCOUNT} "
                "--name demo --scopes c2m,proactive,reporting"
            ]
            return lines
        said = [
            f"demo account {creds.account_id!r}:",
            f"  admin login  POST {base}/api/account/{creds.account_id}/login "
            f'{{"username": "{creds.username}", "password": "{creds.password}"}}',
            f"  API key      {creds.api_key}   (all scopes; send as 'Authorization: Bearer <key>')",
        ]
        if credentials_file is not None:
            _write_private(credentials_file, "\n".join(said) + "\n")
            said.append(f"  (kept in {credentials_file}: later starts reuse this account)")
        return lines + said
    async with db.read() as session:
        has_account = await account_exists(session)
    if not has_account:
        lines += [
            "no account yet. Create one with:",
            "  parlay account create ACCOUNT_ID --name 'Brand' --admin-user admin "
            "--admin-password '<8+ chars>'",
            "  parlay apikey create ACCOUNT_ID --name ivr --scopes c2m,proactive,reporting",
            "or start with --demo to seed a demo account.",
        ]
    return lines


def sandbox_banner(settings: Settings) -> list[str]:
    """Which channels go to the sandbox, said where an operator looks: a demo that 'sends' with
    nothing arriving on a phone otherwise looks broken."""
    channels = [c.strip() for c in settings.sandbox_channels.split(",") if c.strip()]
    if not channels:
        return [
            "sandbox: none forced; in-app pushes go to each app's providers, SMS and WhatsApp "
            "to the account's Twilio / WhatsApp number (to the sandbox until it connects one)"
        ]
    return [
        f"sandbox: {', '.join(channels)} sends go to the sandbox channel (accepted, nothing "
        "leaves this machine). To send for real, set PARLAY_SANDBOX_CHANNELS to the channels "
        "to keep in the sandbox (empty for none) and restart"
    ]


def _where_kept(credentials_file: Path | None) -> str:
    if credentials_file is not None and credentials_file.exists():
        return f"in {credentials_file} (written at its first start)"
    return "in the output of its first start"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by this user only (it holds a password and an API key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


async def check_secret_key(db: Database, box: SecretBox) -> list[str]:
    """Whether the keys of ``PARLAY_SECRET_KEY`` open this database's secrets (``WrongSecretKey``
    otherwise), as lines for the start-up report."""
    async with db.write() as session:
        state = await check_key(session, box, SystemClock().now())
    if state is KeyState.OLDER:
        return [
            "secret key: stored secrets are still encrypted with an older key of "
            "PARLAY_SECRET_KEY; run `parlay secret-key reencrypt`, then the old key can go"
        ]
    return []
