"""A consumer's identities: their in-app consumer ID and their phone number, linked when learned
together (a C2M call naming both), so that one person is one consumer whichever way they come."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Result, Table, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.consumers.models import Consumer
from parlay.lib.db.rows import insert_or_find
from parlay.lib.observability.logging import get_logger

log = get_logger("parlay.consumers")
CONSUMERS: Table = Consumer.__table__  # type: ignore[assignment]


async def phone_of(session: AsyncSession, account_id: str, consumer_id: str) -> str | None:
    """The phone number linked to this in-app consumer, if any."""
    phone: str | None = await session.scalar(
        select(Consumer.phone).where(
            Consumer.account_id == account_id, Consumer.consumer_id == consumer_id
        )
    )
    return phone


async def link_identities(
    session: AsyncSession, account_id: str, consumer_id: str | None, phone: str, now: datetime
) -> None:
    """Remember that this consumer ID and this phone are one person (learned together).

    A consumer known by the ID alone takes the number, a number known alone takes the ID, and
    if neither is known they become a new consumer; when both are known already (linked, or
    each to someone else) nothing changes: a number never moves between consumers here. Each
    case is one conditional statement (no row is read first): the check stores this on every
    IVR call, in a write transaction that should hold the writer as briefly as it can.

    Best effort, in a savepoint on PostgreSQL: two calls about the same new caller at the same
    moment (an IVR retrying on a timeout) may both give the same number to a consumer; the
    loser's unique violation must not turn its eligibility answer into a 500. What the winner
    wrote stands. On SQLite write transactions run one at a time (``BEGIN IMMEDIATE``): no
    other writer can change a row between a statement's condition and its write, so there is
    nothing to catch, and the savepoint's two statements are saved.
    """
    if session.get_bind().dialect.name != "postgresql":
        await _link(session, account_id, consumer_id, phone, now)
        return
    try:
        async with session.begin_nested():
            await _link(session, account_id, consumer_id, phone, now)
    except IntegrityError:
        log.info("identities learned concurrently; keeping the other call's link")


async def _link(
    session: AsyncSession, account_id: str, consumer_id: str | None, phone: str, now: datetime
) -> None:
    consumers = CONSUMERS
    in_account = consumers.c.account_id == account_id
    if consumer_id is not None:
        number_unknown = ~exists().where(in_account, consumers.c.phone == phone)
        takes_number = (
            update(consumers)
            .where(
                in_account,
                consumers.c.consumer_id == consumer_id,
                consumers.c.phone.is_(None),
                number_unknown,
            )
            .values(phone=phone)
        )
        if _changed(await session.execute(takes_number)):
            return
        consumer_unknown = ~exists().where(in_account, consumers.c.consumer_id == consumer_id)
        takes_consumer = (
            update(consumers)
            .where(
                in_account,
                consumers.c.phone == phone,
                consumers.c.consumer_id.is_(None),
                consumer_unknown,
            )
            .values(consumer_id=consumer_id)
        )
        if _changed(await session.execute(takes_consumer)):
            return
    # Neither known: a new consumer. Either one known (or both): no row, and nothing changes.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(consumers)
        .values(account_id=account_id, consumer_id=consumer_id, phone=phone, created_at=now)
        .on_conflict_do_nothing()
    )


def _changed(result: Result[Any]) -> bool:
    return bool(getattr(result, "rowcount", 0))


async def record_login(
    session: AsyncSession, account_id: str, consumer_id: str, now: datetime
) -> None:
    """The consumer logged in to the brand's app (registered a device): known from now on."""

    async def find() -> Consumer | None:
        return await session.scalar(
            select(Consumer).where(
                Consumer.account_id == account_id, Consumer.consumer_id == consumer_id
            )
        )

    consumer = await find()
    if consumer is None:
        new = Consumer(
            account_id=account_id, consumer_id=consumer_id, created_at=now, first_login_at=now
        )
        consumer = await insert_or_find(session, new, find)
    if consumer.first_login_at is None:
        consumer.first_login_at = now
