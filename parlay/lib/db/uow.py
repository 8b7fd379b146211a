"""The unit of work: one business transaction, the time it happens at, and what it announces.

A use case opens one (``Transactions.write()`` or ``read()``), does its work through
``uow.session``, and ``emit``s signals (a live event, "work was queued", "a campaign was
cancelled"...). When the block ends the transaction commits, and only then are the signals
published to whoever the composition root subscribed to them: a subscriber never hears of a change
that did not happen. Publishing is best-effort (the database is the truth; a failing subscriber
is logged and skipped). If the block raises, the transaction rolls back and nothing is published.
"""

from __future__ import annotations

import contextlib
import inspect
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.lib.clock import Clock
from parlay.lib.db.bare import BareConnection
from parlay.lib.db.engine import Database
from parlay.lib.idempotency.service import Repeat, StoredResponse, idempotent
from parlay.lib.observability.logging import get_logger
from parlay.lib.urgency import Urgency

log = get_logger("parlay.uow")
S = TypeVar("S")
Handler = Callable[[Any], Awaitable[None] | None]


class Signals:
    """Who hears which signal (by its class). Subscribers are wired by the composition root."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def on(self, kind: type[S], handler: Callable[[S], Awaitable[None] | None]) -> None:
        self._handlers[kind].append(handler)

    async def publish(self, signals: Sequence[object]) -> None:
        """Hand each signal, in order, to its subscribers; a failing one is logged and skipped."""
        for signal in signals:
            for handler in self._handlers.get(type(signal), ()):
                try:
                    result = handler(signal)
                    if inspect.isawaitable(result):
                        await result
                except Exception:  # noqa: BLE001 - best-effort: the change is committed already
                    log.warning("a signal's subscriber failed", signal=type(signal).__name__)


class UnitOfWork:
    """One transaction: its session, its time, and the signals to publish once it commits."""

    def __init__(self, session: AsyncSession, now: datetime, idempotency_ttl: timedelta) -> None:
        self.session = session
        self.now = now
        self._idempotency_ttl = idempotency_ttl
        self.signals: list[object] = []

    def emit(self, *signals: object) -> None:
        """Announce these once the transaction has committed."""
        self.signals.extend(signals)

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: if the block raises, its changes and its signals are undone."""
        emitted = len(self.signals)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self.signals[emitted:]
            raise

    async def idempotent(
        self,
        *,
        account_id: str,
        operation: str,
        repeat: Repeat | None,
        work: Callable[[], Awaitable[tuple[int, Any]]],
    ) -> StoredResponse:
        """Run ``work`` (which answers a status and a JSON body) at most once per
        ``Idempotency-Key`` and request body; a repeat gets the first answer back. The key is
        claimed in this transaction, so the work and its record commit together or not at all.
        Without a key the work simply runs."""
        return await idempotent(
            self.session,
            account_id=account_id,
            operation=operation,
            key=repeat.key if repeat else None,
            body=repeat.body if repeat else None,
            now=self.now,
            ttl=self._idempotency_ttl,
            work=work,
        )


class Lookup:
    """A lookup's connection and its time (``Transactions.lookup``)."""

    __slots__ = ("connection", "now")

    def __init__(self, connection: BareConnection, now: datetime) -> None:
        self.connection = connection
        self.now = now


class Transactions:
    """Opens units of work on the database; publishes their signals after they commit."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        signals: Signals,
        *,
        idempotency_ttl: timedelta,
        urgency: Urgency | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.signals = signals
        self.urgency = urgency or Urgency()
        self._idempotency_ttl = idempotency_ttl

    @contextlib.asynccontextmanager
    async def write(self, *, urgent: bool = False) -> AsyncIterator[UnitOfWork]:
        """A write transaction. ``urgent``: an IVR caller is waiting, so background work (a
        campaign's sending) holds back until it is over."""
        with self.urgency.urgent() if urgent else contextlib.nullcontext():
            async with self.db.write(urgent=urgent) as session:
                uow = UnitOfWork(session, self.clock.now(), self._idempotency_ttl)
                yield uow
            await self.signals.publish(uow.signals)

    @contextlib.asynccontextmanager
    async def lookup(self) -> AsyncIterator[Lookup]:
        """Reads straight to the driver only (``lib/db/direct.py``): a connection, no session,
        no transaction (``Database.lookup``)."""
        async with self.db.lookup() as connection:
            yield Lookup(connection, self.clock.now())

    @contextlib.asynccontextmanager
    async def read(self, *, snapshot: bool = True) -> AsyncIterator[UnitOfWork]:
        """A read-only unit of work (it emits nothing); ``snapshot=False``: a lookup without a
        transaction (``Database.read``)."""
        async with self.db.read(snapshot=snapshot) as session:
            yield UnitOfWork(session, self.clock.now(), self._idempotency_ttl)
