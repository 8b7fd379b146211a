"""Every outcome that changes a delivery writes the change's event in the same flush: numbered
by the delivery's version, with the status reached, its error code, and the moment it was
recorded. A retry changes no status and writes none. (The flush's events are written by its
own statements on each database: PostgreSQL in the update's statement, SQLite beside it.)"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from parlay.delivery.models import DeliveryEvent
from parlay.delivery.status import STAGE_TIME, DeliveryStatus
from tests.handoffs.bodies import sms_channel
from tests.outbound.support import NY_MOBILE, SF_MOBILE, SF_MOBILE_2, Outbound, sms

pytestmark = pytest.mark.anyio


async def test_each_recorded_outcome_writes_its_event_and_a_retry_writes_none(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    outbound.sandbox.script(SF_MOBILE_2, "reject:number blocked")
    outbound.sandbox.script(NY_MOBILE, "unavailable", "ok")
    await outbound.campaign(handoff_id, [sms(SF_MOBILE), sms(SF_MOBILE_2), sms(NY_MOBILE)])
    outbound.start()
    await outbound.run_until_done()

    deliveries = {d.phone: d for d in await outbound.deliveries()}
    async with outbound.container.db.read() as session:
        rows = (
            await session.execute(
                select(
                    DeliveryEvent.delivery_id,
                    DeliveryEvent.sequence,
                    DeliveryEvent.kind,
                    DeliveryEvent.status,
                    DeliveryEvent.error_code,
                    DeliveryEvent.occurred_at,
                ).where(DeliveryEvent.account_id == outbound.brand.id)
            )
        ).all()
    events = {row.delivery_id: row for row in rows}
    assert len(rows) == len(events) == 3  # one event each: the retry wrote none

    sent, failed, retried = deliveries[SF_MOBILE], deliveries[SF_MOBILE_2], deliveries[NY_MOBILE]
    assert (sent.status, failed.status, retried.status) == ("SENT", "FAILED", "SENT")
    assert failed.error_code == "PROVIDER_REJECTED"
    assert retried.attempts == 2
    for delivery in (sent, failed, retried):
        event = events[delivery.id]
        assert (event.sequence, event.kind, event.status, event.error_code) == (
            delivery.version,
            delivery.status,
            delivery.status,
            delivery.error_code,
        )
        assert delivery.version == 1
        # Recorded at the moment the delivery's own time of that status says.
        stage_time: datetime = getattr(delivery, STAGE_TIME[DeliveryStatus(delivery.status)])
        assert event.occurred_at.replace(tzinfo=None) == stage_time.replace(tzinfo=None)
