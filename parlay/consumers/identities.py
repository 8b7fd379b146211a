"""A consumer's identities: their in-app consumer ID and their phone number, linked when learned
together (a C2M call naming both), so that one person is one consumer whichever way they come."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.consumers.models import Consumer
from parlay.lib.db.base import table_of
from parlay.lib.db.direct import DirectWrite, driver_savepoint
from parlay.lib.db.rows import insert_or_find
from parlay.lib.observability.logging import get_logger

log = get_logger("parlay.consumers")
CONSUMERS = table_of(Consumer)


async def phone_of(session: AsyncSession, account_id: str, consumer_id: str) -> str | None:
    """The phone number linked to this in-app consumer, if any."""
    phone: str | None = await session.scalar(
        select(Consumer.phone).where(
            Consumer.account_id == account_id, Consumer.consumer_id == consumer_id
        )
    )
    return phone


@dataclass(frozen=True)
class IdentityLink:
    """A consumer ID and a phone number learned together (a C2M call naming both), at ``at``."""

    account_id: str
    consumer_id: str | None
    phone: str
    at: datetime


async def link_identities(session: AsyncSession, links: Sequence[IdentityLink]) -> None:
    """Remember, for each link in order, that its consumer ID and its phone are one person.

    A consumer known by the ID alone takes the number, a number known alone takes the ID, and
    if neither is known they become a new consumer; when both are known already (linked, or
    each to someone else) nothing changes: a number never moves between consumers here. Each
    case is one conditional statement (no row is read first): the check stores this on every
    IVR call, in a write transaction that should hold the writer as briefly as it can.

    Best effort, in a savepoint on PostgreSQL: two calls about the same new caller at the same
    moment (an IVR retrying on a timeout, in another process) may both give the same number to
    a consumer; the loser's unique violation must not turn its eligibility answer into a 500.
    What the winner wrote stands. The links of a batch share one savepoint; if it fails, each
    is tried again in a savepoint of its own, so only the conflicting link is skipped. On
    SQLite write transactions run one at a time (``BEGIN IMMEDIATE``): no other writer can
    change a row between a statement's condition and its write, so there is nothing to catch,
    and the savepoint's two statements are saved.
    """
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        for link in links:
            await _link(session, dialect, link)
        return
    try:
        async with driver_savepoint(session):
            for link in links:
                await _link(session, dialect, link)
    except IntegrityError:
        if len(links) > 1:
            for link in links:
                await link_identities(session, [link])
        else:
            log.info("identities learned concurrently; keeping the other call's link")


# Built once, values bound at execution (every eligibility check runs one to three of them).
_IN_ACCOUNT = CONSUMERS.c.account_id == bindparam("link_account")
_ID: tuple[Any, Any] = (CONSUMERS.c.consumer_id, bindparam("link_consumer"))
_NUMBER: tuple[Any, Any] = (CONSUMERS.c.phone, bindparam("link_phone"))


def _known_alone_takes(known: tuple[Any, Any], taken: tuple[Any, Any]) -> Any:
    """The account's consumer known by ``known`` alone takes ``taken``, if nobody holds it."""
    (known_column, known_value), (taken_column, taken_value) = known, taken
    return (
        update(CONSUMERS)
        .where(
            _IN_ACCOUNT,
            known_column == known_value,
            taken_column.is_(None),
            ~exists().where(_IN_ACCOUNT, taken_column == taken_value),
        )
        .values({taken_column: taken_value})
    )


# Straight to the driver (``DirectWrite``): SQLAlchemy's execution of each was ~0.2 ms of CPU.
_TAKES_NUMBER = DirectWrite(_known_alone_takes(_ID, _NUMBER))
_TAKES_CONSUMER = DirectWrite(_known_alone_takes(_NUMBER, _ID))


@cache
def _new_consumer(dialect: str) -> DirectWrite:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return DirectWrite(
        insert(CONSUMERS)
        .values(
            account_id=bindparam("link_account"),
            consumer_id=bindparam("link_consumer"),
            phone=bindparam("link_phone"),
            created_at=bindparam("link_at", type_=CONSUMERS.c.created_at.type),
        )
        .on_conflict_do_nothing()
    )


async def _link(session: AsyncSession, dialect: str, link: IdentityLink) -> None:
    params = {
        "link_account": link.account_id,
        "link_consumer": link.consumer_id,
        "link_phone": link.phone,
    }
    if link.consumer_id is not None:
        if await _TAKES_NUMBER.run(session, params):
            return
        if await _TAKES_CONSUMER.run(session, params):
            return
    # Neither known: a new consumer. Either one known (or both): no row, and nothing changes.
    await _new_consumer(dialect).run(session, params | {"link_at": link.at})


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
