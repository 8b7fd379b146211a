"""A consumer's identities: their in-app consumer ID and their phone number, linked when learned
together (a C2M call naming both), so that one person is one consumer whichever way they come."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.consumers.models import Consumer
from parlay.lib.db.rows import insert_or_find
from parlay.lib.observability.logging import get_logger

log = get_logger("parlay.consumers")


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

    Best effort, in a savepoint: two calls about the same new caller at the same moment (an IVR
    retrying on a timeout) both find nobody and both insert; the loser's unique violation must
    not turn its eligibility answer into a 500. What the winner wrote stands.
    """
    try:
        async with session.begin_nested():
            await _link(session, account_id, consumer_id, phone, now)
    except IntegrityError:
        log.info("identities learned concurrently; keeping the other call's link")


async def _link(
    session: AsyncSession, account_id: str, consumer_id: str | None, phone: str, now: datetime
) -> None:
    by_phone = await session.scalar(
        select(Consumer).where(Consumer.account_id == account_id, Consumer.phone == phone)
    )
    if consumer_id is None:
        if by_phone is None:
            session.add(Consumer(account_id=account_id, phone=phone, created_at=now))
            await session.flush()
        return
    by_id = await session.scalar(
        select(Consumer).where(
            Consumer.account_id == account_id, Consumer.consumer_id == consumer_id
        )
    )
    if by_id is None and by_phone is None:
        session.add(
            Consumer(account_id=account_id, consumer_id=consumer_id, phone=phone, created_at=now)
        )
    elif by_id is None and by_phone is not None and by_phone.consumer_id is None:
        by_phone.consumer_id = consumer_id
    elif by_id is not None and by_id.phone is None and by_phone is None:
        by_id.phone = phone
    # Otherwise both are known and linked elsewhere: never move a number between consumers here.
    await session.flush()


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
