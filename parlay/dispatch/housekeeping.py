"""The dispatcher's periodic sweep: deliveries past their lookback expire, leftovers of
cancelled campaigns are cancelled, campaigns with nothing left to send finish."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.campaigns import service as campaigns
from parlay.delivery import lifecycle


async def sweep(session: AsyncSession, now: datetime) -> None:
    await lifecycle.expire_overdue(session, now)
    # Retries of a cancelled campaign that came back to the queue after the cancel (they were
    # leased then) must not go out.
    await campaigns.cancel_leftovers(session, now)
    await campaigns.finish_campaigns(session, now)
