"""``Idempotency-Key`` for creating POSTs, usable by any operation.

The key is claimed inside the caller's own write transaction, before the work is done, and the
response is recorded in that same transaction: either both commit or neither does, so a crash
cannot leave a key that claims work which never happened. A concurrent repeat waits on the
unique index until the first request commits, then replays its response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.lib.errors import IdempotencyKeyReused, invalid_field
from parlay.lib.idempotency.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


@dataclass(frozen=True)
class Repeat:
    """An ``Idempotency-Key`` and the request it came with (as parsed JSON): a repeat with the
    same key and body gets the first response back."""

    key: str
    body: Any


def request_digest(body: Any) -> str:
    """A digest of the request as parsed JSON, so key order and whitespace do not matter."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise invalid_field(HEADER, f"must be 1-{MAX_KEY_LENGTH} printable characters")
    return key


class IdempotencyGuard:
    """One operation's key: ``claim`` first, do the work, then ``record`` — one transaction."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        account_id: str,
        operation: str,
        key: str,
        body: Any,
        now: datetime,
        ttl: timedelta,
    ) -> None:
        self._session = session
        self._account_id = account_id
        self._operation = operation
        self._key = validate_key(key)
        self._digest = request_digest(body)
        self._now = now
        self._ttl = ttl

    def _where(self) -> Any:
        return (
            (IdempotencyRecord.account_id == self._account_id)
            & (IdempotencyRecord.operation == self._operation)
            & (IdempotencyRecord.key == self._key)
        )

    async def claim(self) -> StoredResponse | None:
        """None if this request is the first with the key; else the first response to replay.

        Raises ``IdempotencyKeyReused`` (409, 1030) when the key came with another body.
        """
        session = self._session
        await session.execute(
            delete(IdempotencyRecord).where(
                self._where() & (IdempotencyRecord.expires_at <= self._now)
            )
        )
        # On PostgreSQL, ON CONFLICT DO NOTHING against a row that a concurrent transaction has
        # inserted but not committed waits for that transaction: if it commits, nothing is
        # inserted here and the SELECT below (a fresh snapshot under READ COMMITTED, the default;
        # REPEATABLE READ would raise a serialization error instead) reads its recorded
        # response; if it rolls back, this insert goes ahead and this request does the work.
        # On SQLite, write transactions are serialized (BEGIN IMMEDIATE), so there is no race.
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        inserted = await session.execute(
            insert(IdempotencyRecord)
            .values(
                account_id=self._account_id,
                operation=self._operation,
                key=self._key,
                request_digest=self._digest,
                created_at=self._now,
                expires_at=self._now + self._ttl,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyRecord.id)
        )
        if inserted.scalar_one_or_none() is not None:
            return None
        record = (
            await session.execute(select(IdempotencyRecord).where(self._where()))
        ).scalar_one()
        if record.request_digest != self._digest:
            raise IdempotencyKeyReused(
                f"{HEADER} {self._key!r} was already used with a different request body"
            )
        if record.response_status is None:
            # Only possible if the first request's transaction recorded no response.
            raise IdempotencyKeyReused(f"{HEADER} {self._key!r} is in use by another request")
        return StoredResponse(record.response_status, json.loads(record.response_body))

    async def record(self, status: int, body: Any) -> None:
        """Remember the response the first request gave."""
        record = (
            await self._session.execute(select(IdempotencyRecord).where(self._where()))
        ).scalar_one()
        record.response_status = status
        # Kept as JSON text (a JSON string value), not as a JSON object: PostgreSQL's JSONB
        # reorders object keys, so a replay would differ byte for byte from the first response.
        record.response_body = json.dumps(body, ensure_ascii=False)
        await self._session.flush()


async def idempotent(
    session: AsyncSession,
    *,
    account_id: str,
    operation: str,
    key: str | None,
    body: Any,
    now: datetime,
    ttl: timedelta,
    work: Callable[[], Awaitable[tuple[int, Any]]],
) -> StoredResponse:
    """Run ``work`` (which returns status and JSON body) at most once per key and body.

    Without a key the work simply runs. Must be called inside the write transaction that the
    work itself uses.
    """
    if key is None:
        status, payload = await work()
        return StoredResponse(status, payload)
    guard = IdempotencyGuard(
        session, account_id=account_id, operation=operation, key=key, body=body, now=now, ttl=ttl
    )
    replay = await guard.claim()
    if replay is not None:
        return replay
    status, payload = await work()
    await guard.record(status, payload)
    return StoredResponse(status, payload)
