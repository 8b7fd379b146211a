"""Push receipts and pending-outbound: ``received`` → DELIVERED, ``tapped`` → READ,
forward only and idempotent; ``pending-outbound`` lists what the consumer has not opened yet.

Delivery rows are written directly, as the dispatcher would leave them, under a Campaign (or a
C2M Call) row that gives them their handoff snapshot, message text and names.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from parlay.bootstrap import Container
from parlay.c2m.models import Call
from parlay.campaigns.models import Campaign
from parlay.delivery.models import Delivery
from parlay.delivery.status import DeliveryStatus, Source
from parlay.lib.clock import FrozenClock
from tests.apps.bodies import IOS_APP
from tests.conftest import Brand, problem
from tests.consumers.conftest import START, Sdk, configure_consumer_auth

pytestmark = pytest.mark.anyio

S = DeliveryStatus
HOUR = timedelta(hours=1)
HANDOFF = {
    "id": "H1001",
    "name": "Order updates",
    "skill": "billing",
    "channels": [{"type": "inapp", "appIds": [IOS_APP], "messageText": "Hi {{1}}, it shipped"}],
    "pushWhenLoggedIn": True,
    "pushWhenLoggedOut": False,
}
# The stage times a delivery of each status has when the dispatcher and receipts set it there.
_TIMES = {
    S.SENT: ("sent_time",),
    S.DELIVERED: ("sent_time", "delivered_time"),
    S.READ: ("sent_time", "delivered_time", "read_time"),
    S.REPLIED: ("sent_time", "delivered_time", "read_time", "conversation_created_time"),
    S.FAILED: ("failed_time",),
    S.EXPIRED: ("expired_time",),
    S.CANCELLED: ("cancelled_time",),
    S.SKIPPED: ("skipped_time",),
}


@dataclass
class Outbound:
    """Campaign, call and delivery rows of one brand, at the test's frozen time."""

    brand: Brand
    container: Container
    clock: FrozenClock
    campaign_id: str = ""
    call_id: str = ""

    async def setup(self) -> Outbound:
        self.campaign_id, self.call_id = str(uuid.uuid4()), str(uuid.uuid4())
        now = self.clock.now()
        async with self.container.db.write() as session:
            session.add(
                Campaign(
                    id=self.campaign_id,
                    account_id=self.brand.id,
                    name="January renewals",
                    skill="billing",
                    handoff_id=HANDOFF["id"],
                    handoff_snapshot=HANDOFF,
                    status="IN_PROGRESS",
                    request_trace_id="trace-1",
                    created_at=now - 2 * HOUR,
                )
            )
            session.add(
                Call(
                    id=self.call_id,
                    account_id=self.brand.id,
                    handoff_id=HANDOFF["id"],
                    handoff_snapshot=HANDOFF,
                    skill="general",
                    consumer_phone="+14155552671",
                    consumer_id="consumer-1",
                    eligibility={},
                    created_at=now - 2 * HOUR,
                    expires_at=now + 30 * 24 * HOUR,
                )
            )
        return self

    async def delivery(
        self,
        status: DeliveryStatus = S.SENT,
        *,
        consumer_id: str = "consumer-1",
        channel: str = "inapp",
        sent_ago: timedelta = timedelta(minutes=5),
        lookback: timedelta = HOUR,
        ivr: bool = False,
        variables: dict[str, str] | None = None,
        message_text: str | None = None,
        account_id: str | None = None,
    ) -> str:
        """Insert one delivery; returns its pushMessageId."""
        sent = self.clock.now() - sent_ago
        attempted = sent - timedelta(seconds=2)
        row = Delivery(
            account_id=account_id or self.brand.id,
            source=Source.IVR_DEFLECTION.value if ivr else Source.PROACTIVE.value,
            campaign_id=None if ivr else self.campaign_id,
            call_id=self.call_id if ivr else None,
            handoff_id=HANDOFF["id"],
            skill="general" if ivr else "billing",
            priority=0 if ivr else 10,
            channel=channel,
            consumer_id=consumer_id if channel == "inapp" else None,
            phone=None if channel == "inapp" else "+14155552671",
            variables=variables,
            message_text=message_text,
            lookback_seconds=int(lookback.total_seconds()),
            expires_at=attempted + lookback,
            status=status.value,
            next_attempt_at=attempted,
            attempted_time=attempted,
        )
        for column in _TIMES.get(status, ()):
            setattr(row, column, sent)
        async with self.container.db.write() as session:
            session.add(row)
            await session.flush()
            return str(row.id)

    async def row(self, push_message_id: str) -> Delivery:
        async with self.container.db.read() as session:
            row = await session.get(Delivery, int(push_message_id))
        assert row is not None
        return row

    def advance(self, delta: timedelta) -> datetime:
        self.clock.advance(delta)
        return self.clock.now()


@pytest.fixture
async def outbound(brand: Brand, container: Container, clock: FrozenClock) -> Outbound:
    return await Outbound(brand, container, clock).setup()


async def receipt(sdk: Sdk, push_message_id: str, kind: str, sub: str = "consumer-1") -> str:
    response = await sdk.receipt(push_message_id, kind, sub)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pushMessageId"] == push_message_id
    status: str = body["status"]
    return status


# --- received and tapped -----------------------------------------------------------------------


async def test_received_makes_a_sent_push_delivered(sdk: Sdk, outbound: Outbound) -> None:
    push_id = await outbound.delivery(S.SENT)
    now = outbound.advance(timedelta(seconds=3))
    assert await receipt(sdk, push_id, "received") == "DELIVERED"
    row = await outbound.row(push_id)
    assert (row.status, row.delivered_time, row.read_time) == ("DELIVERED", now, None)
    assert row.sent_time == START - timedelta(minutes=5)


async def test_tapped_makes_a_push_read_and_fills_its_delivered_time(
    sdk: Sdk, outbound: Outbound
) -> None:
    push_id = await outbound.delivery(S.SENT)
    now = outbound.advance(timedelta(seconds=30))
    assert await receipt(sdk, push_id, "tapped") == "READ"
    row = await outbound.row(push_id)
    assert (row.status, row.read_time, row.delivered_time) == ("READ", now, now)


async def test_tapped_after_received_keeps_the_delivered_time(sdk: Sdk, outbound: Outbound) -> None:
    push_id = await outbound.delivery(S.SENT)
    delivered_at = outbound.advance(timedelta(seconds=3))
    await receipt(sdk, push_id, "received")
    read_at = outbound.advance(timedelta(minutes=10))
    assert await receipt(sdk, push_id, "tapped") == "READ"
    row = await outbound.row(push_id)
    assert (row.delivered_time, row.read_time) == (delivered_at, read_at)


async def test_received_after_tapped_keeps_read(sdk: Sdk, outbound: Outbound) -> None:
    """Receipts travel separately and may arrive out of order: status never moves back."""
    push_id = await outbound.delivery(S.SENT)
    read_at = outbound.advance(timedelta(seconds=3))
    await receipt(sdk, push_id, "tapped")
    outbound.advance(timedelta(seconds=3))
    assert await receipt(sdk, push_id, "received") == "READ"
    row = await outbound.row(push_id)
    assert (row.status, row.delivered_time, row.read_time) == ("READ", read_at, read_at)


@pytest.mark.parametrize("kind", ["received", "tapped"])
async def test_receipts_are_idempotent(sdk: Sdk, outbound: Outbound, kind: str) -> None:
    push_id = await outbound.delivery(S.SENT)
    first = outbound.advance(timedelta(seconds=3))
    expected = "DELIVERED" if kind == "received" else "READ"
    assert await receipt(sdk, push_id, kind) == expected
    outbound.advance(timedelta(minutes=1))
    assert await receipt(sdk, push_id, kind) == expected
    row = await outbound.row(push_id)
    assert row.delivered_time == first
    assert row.read_time == (first if kind == "tapped" else None)


@pytest.mark.parametrize("status", [S.FAILED, S.EXPIRED, S.CANCELLED, S.SKIPPED])
@pytest.mark.parametrize("kind", ["received", "tapped"])
async def test_a_failed_push_stays_failed(
    sdk: Sdk, outbound: Outbound, status: DeliveryStatus, kind: str
) -> None:
    push_id = await outbound.delivery(status)
    outbound.advance(timedelta(seconds=3))
    assert await receipt(sdk, push_id, kind) == status.value
    row = await outbound.row(push_id)
    assert (row.status, row.delivered_time, row.read_time) == (status.value, None, None)


@pytest.mark.parametrize("kind", ["received", "tapped"])
async def test_a_replied_push_stays_replied(sdk: Sdk, outbound: Outbound, kind: str) -> None:
    push_id = await outbound.delivery(S.REPLIED)
    assert await receipt(sdk, push_id, kind) == "REPLIED"


async def test_a_receipt_that_overtakes_the_send_record_stamps_the_sent_time(
    sdk: Sdk, outbound: Outbound
) -> None:
    """The dispatcher writes outcomes in batches: the app's receipt can come first."""
    push_id = await outbound.delivery(S.QUEUED)
    now = outbound.advance(timedelta(seconds=1))
    assert await receipt(sdk, push_id, "received") == "DELIVERED"
    row = await outbound.row(push_id)
    assert (row.sent_time, row.delivered_time) == (now, now)


async def test_a_receipt_for_another_consumers_push_answers_404(
    sdk: Sdk, outbound: Outbound
) -> None:
    push_id = await outbound.delivery(S.SENT, consumer_id="consumer-2")
    for kind in ("received", "tapped"):
        response = await sdk.receipt(push_id, kind, sub="consumer-1")
        assert response.status_code == 404, response.text
        assert problem(response)["errorCode"] == 1004
    assert (await outbound.row(push_id)).status == "SENT"
    assert await receipt(sdk, push_id, "received", sub="consumer-2") == "DELIVERED"


async def test_a_receipt_for_another_accounts_push_answers_404(
    sdk: Sdk, outbound: Outbound, other_brand: Brand
) -> None:
    push_id = await outbound.delivery(S.SENT, account_id=other_brand.id)
    response = await sdk.receipt(push_id, "tapped")
    assert response.status_code == 404, response.text
    assert (await outbound.row(push_id)).status == "SENT"


@pytest.mark.parametrize("channel", ["sms", "wa"])
async def test_a_receipt_for_a_message_that_is_not_a_push_answers_404(
    sdk: Sdk, outbound: Outbound, channel: str
) -> None:
    push_id = await outbound.delivery(S.SENT, channel=channel)
    response = await sdk.receipt(push_id, "received")
    assert response.status_code == 404, response.text
    assert (await outbound.row(push_id)).status == "SENT"


@pytest.mark.parametrize(
    "push_message_id",
    [
        "999999",
        "abc",
        "-1",
        "1.0",
        "0x1",
        "99999999999999999999999999",  # beyond a 64-bit integer
        "9223372036854775808",  # one past the largest BIGINT
        "²",  # str.isdigit() says yes, int() says no
        "١",  # an Arabic-Indic one: int() reads 1
    ],
)
async def test_an_unknown_push_message_id_answers_404(
    sdk: Sdk, outbound: Outbound, push_message_id: str
) -> None:
    await outbound.delivery(S.SENT)  # id 1 exists and is consumer-1's
    for kind in ("received", "tapped"):
        response = await sdk.receipt(push_message_id, kind)
        assert response.status_code == 404, response.text
        assert problem(response)["errorCode"] == 1004


# --- pending-outbound --------------------------------------------------------------------------


async def test_pending_outbound_lists_sent_and_delivered_pushes_newest_first(
    sdk: Sdk, outbound: Outbound
) -> None:
    sent = await outbound.delivery(S.SENT, sent_ago=timedelta(minutes=50), variables={"1": "Ann"})
    delivered = await outbound.delivery(S.DELIVERED, sent_ago=timedelta(minutes=10))
    messages = await sdk.pending()
    assert [m["pushMessageId"] for m in messages] == [delivered, sent]
    assert messages[1] == {
        "pushMessageId": sent,
        "message": "Hi Ann, it shipped",
        "backendService": "prmsg",
        "lookBackPeriod": 3600,
        "campaignInfo": {
            "campaignId": outbound.campaign_id,
            "campaignName": "January renewals",
            "callId": None,
            "skill": "billing",
        },
        "sentTime": "2026-01-05T16:10:00Z",
        "expiresAt": "2026-01-05T17:10:00Z",
    }
    # A placeholder without a variable stays as written.
    assert messages[0]["message"] == "Hi {{1}}, it shipped"


async def test_pending_outbound_of_an_ivr_invite_is_c2m(sdk: Sdk, outbound: Outbound) -> None:
    push_id = await outbound.delivery(
        S.SENT, ivr=True, message_text="Skip the hold: chat with us here", lookback=4 * HOUR
    )
    [message] = await sdk.pending()
    assert message["pushMessageId"] == push_id
    assert message["backendService"] == "c2m"
    assert message["message"] == "Skip the hold: chat with us here"
    assert message["lookBackPeriod"] == 4 * 3600
    assert message["campaignInfo"] == {
        "campaignId": None,
        "campaignName": None,
        "callId": outbound.call_id,
        "skill": "general",
    }


async def test_the_campaign_text_wins_over_the_handoffs(
    sdk: Sdk, outbound: Outbound, container: Container
) -> None:
    async with container.db.write() as session:
        campaign = await session.get(Campaign, outbound.campaign_id)
        assert campaign is not None
        campaign.message_text = "Your renewal is ready, {{1}}"
    await outbound.delivery(S.SENT, variables={"1": "Bo"})
    [message] = await sdk.pending()
    assert message["message"] == "Your renewal is ready, Bo"


@pytest.mark.parametrize(
    "status", [S.READ, S.REPLIED, S.QUEUED, S.SCHEDULED, S.FAILED, S.EXPIRED, S.CANCELLED]
)
async def test_pending_outbound_leaves_out_opened_unsent_and_failed_pushes(
    sdk: Sdk, outbound: Outbound, status: DeliveryStatus
) -> None:
    await outbound.delivery(status)
    assert await sdk.pending() == []


async def test_a_tapped_push_is_no_longer_pending(sdk: Sdk, outbound: Outbound) -> None:
    push_id = await outbound.delivery(S.SENT)
    await receipt(sdk, push_id, "received")
    assert [m["pushMessageId"] for m in await sdk.pending()] == [push_id]
    await receipt(sdk, push_id, "tapped")
    assert await sdk.pending() == []


async def test_a_push_past_its_lookback_is_not_pending(sdk: Sdk, outbound: Outbound) -> None:
    await outbound.delivery(S.SENT, sent_ago=2 * HOUR, lookback=HOUR)
    await outbound.delivery(S.DELIVERED, sent_ago=HOUR, lookback=HOUR)  # ends right now
    live = await outbound.delivery(S.SENT, sent_ago=HOUR - timedelta(seconds=1), lookback=HOUR)
    assert [m["pushMessageId"] for m in await sdk.pending()] == [live]
    outbound.advance(timedelta(seconds=1))
    assert await sdk.pending() == []


async def test_a_long_lookback_keeps_a_push_pending_for_days(sdk: Sdk, outbound: Outbound) -> None:
    push_id = await outbound.delivery(S.SENT, sent_ago=timedelta(days=29), lookback=30 * 24 * HOUR)
    assert [m["pushMessageId"] for m in await sdk.pending()] == [push_id]


async def test_pending_outbound_shows_only_the_consumers_own_pushes(
    sdk: Sdk, outbound: Outbound, other_brand: Brand
) -> None:
    mine = await outbound.delivery(S.SENT)
    await outbound.delivery(S.SENT, consumer_id="consumer-2")
    await outbound.delivery(S.SENT, channel="sms")
    await outbound.delivery(S.SENT, account_id=other_brand.id)
    assert [m["pushMessageId"] for m in await sdk.pending()] == [mine]
    assert len(await sdk.pending("consumer-2")) == 1
    assert await sdk.pending("consumer-3") == []


async def test_the_same_consumer_id_in_another_account_sees_none_of_ours(
    sdk: Sdk, outbound: Outbound, other_brand: Brand, rsa_key: Any
) -> None:
    await outbound.delivery(S.SENT)
    await configure_consumer_auth(other_brand, publicKeyPem=rsa_key.public_pem)
    assert await Sdk(other_brand, rsa_key).pending() == []


async def test_many_newer_expired_pushes_do_not_hide_an_older_live_one(
    sdk: Sdk, outbound: Outbound
) -> None:
    """Untapped pushes stay SENT for good; a month of short-lived ones must not push a message
    with a long lookback out of the list."""
    live = await outbound.delivery(S.SENT, sent_ago=timedelta(days=20), lookback=30 * 24 * HOUR)
    for day in range(60, 0, -1):
        await outbound.delivery(S.SENT, sent_ago=timedelta(hours=day * 5), lookback=HOUR)
    assert [m["pushMessageId"] for m in await sdk.pending()] == [live]


async def test_pending_outbound_lists_the_50_newest(sdk: Sdk, outbound: Outbound) -> None:
    ids = [await outbound.delivery(S.SENT, sent_ago=timedelta(minutes=55 - i)) for i in range(55)]
    listed = [m["pushMessageId"] for m in await sdk.pending()]
    assert listed == list(reversed(ids))[:50]
