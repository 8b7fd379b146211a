"""Telling workers that work was queued: at once in the same process, by PostgreSQL's
``NOTIFY`` across processes. Polling runs underneath, so a lost notice only costs latency."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from sqlalchemy import text

from parlay.lib.db.engine import Database
from parlay.lib.observability.logging import get_logger

log = get_logger("parlay.dispatcher")
# PostgreSQL: the channel on which API processes tell workers that work was queued.
NOTIFY_CHANNEL = "parlay_work"


async def notify_workers(db: Database, *, priority: bool) -> None:
    """PostgreSQL: tell the workers of every process that work was queued (``NOTIFY``)."""
    async with db.read() as session:
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": NOTIFY_CHANNEL, "payload": "priority" if priority else "work"},
        )


async def listen(db: Database, wake: Callable[[bool], None]) -> None:
    """PostgreSQL: call ``wake(priority)`` as soon as another process queues work (``LISTEN``).

    Runs until cancelled; a lost connection is opened again after a pause.
    """
    import asyncpg

    dsn = db.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        wake(payload == "priority")

    while True:
        try:
            conn = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError):
            log.warning("cannot LISTEN for new work; polling only", exc_info=True)
            await asyncio.sleep(5)
            continue
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            await conn.add_listener(NOTIFY_CHANNEL, on_notify)
            await lost.wait()
            log.warning("LISTEN connection lost; polling only until it is back")
            await asyncio.sleep(1)
        except (OSError, asyncpg.PostgresError):
            log.warning("LISTEN connection lost", exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.close(timeout=2))
