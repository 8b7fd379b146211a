"""One delivery to one consumer: the state machine, the send-time checks, retries.

Every test drives the real dispatcher on the sandbox channel with a frozen clock: the clock jumps
to the next due attempt, so backoff, quiet hours and lookbacks pass in milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import pytest
from sqlalchemy import select

from parlay.apps.models import Device
from parlay.delivery import lifecycle, queue
from parlay.delivery.lifecycle import Outcome
from parlay.delivery.status import INVITE_PRIORITY, STAGE_TIME, DeliveryStatus, can_move
from parlay.dispatch.prepare import prepare
from tests.handoffs.bodies import inapp_channel, sms_channel
from tests.outbound.support import (
    NY_MOBILE,
    SF_MOBILE,
    SF_MOBILE_2,
    START,
    UK_LANDLINE,
    Outbound,
    inapp,
    sms,
)

pytestmark = pytest.mark.anyio

S = DeliveryStatus
# Night everywhere in Australia at the tests' start time (17:00 UTC = 04:00 in Sydney).
SYDNEY_MOBILE = "+61412345678"


# --- the state machine -------------------------------------------------------------------------

# Every move a delivery's status may make, written out; every pair not listed is forbidden.
# Forward only: a later stage may be reached directly (a receipt can overtake the record of the
# send), and a failure ends only what was never sent.
ALLOWED = {
    S.QUEUED: {
        S.SCHEDULED, S.SENT, S.DELIVERED, S.READ, S.REPLIED,
        S.FAILED, S.SKIPPED, S.EXPIRED, S.CANCELLED,
    },
    S.SCHEDULED: {
        S.SENT, S.DELIVERED, S.READ, S.REPLIED,
        S.FAILED, S.SKIPPED, S.EXPIRED, S.CANCELLED,
    },
    S.SENT: {S.DELIVERED, S.READ, S.REPLIED},
    S.DELIVERED: {S.READ, S.REPLIED},
    S.READ: {S.REPLIED},
    S.REPLIED: set(),
    S.FAILED: set(),
    S.SKIPPED: set(),
    S.EXPIRED: set(),
    S.CANCELLED: set(),
}  # fmt: skip


@pytest.mark.parametrize(
    ("current", "new"), list(product(S, S)), ids=lambda s: str(s.value).lower()
)
def test_status_only_moves_forward(current: S, new: S) -> None:
    assert can_move(current, new) is (new in ALLOWED[current])


def test_a_status_never_comes_back_once_left() -> None:
    for a, b in product(S, S):
        assert not (can_move(a, b) and can_move(b, a)), (a, b)


async def test_a_sent_delivery_stays_sent_whatever_comes_later(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel(), lookbackPeriodDay=0, lookbackPeriodHour=1)
    campaign = await outbound.campaign(handoff_id, [sms(SF_MOBILE), sms(SYDNEY_MOBILE)])
    campaign_id = campaign["proactiveCampaignId"]
    outbound.start()
    await outbound.settle()
    sent = await outbound.delivery(phone=SF_MOBILE)
    assert sent.status == "SENT"
    # A late outcome of the worker that sent it (a duplicate, or a stale retry) is ignored.
    async with outbound.container.db.write() as session:
        await lifecycle.record_outcomes(
            session,
            [
                Outcome.final(sent.id, "any-worker", S.FAILED, "PROVIDER_REJECTED", "late"),
                Outcome.hold(sent.id, "any-worker", START + timedelta(hours=9)),
            ],
            outbound.now(),
        )
    # Cancelling the campaign cancels only what was not sent.
    response = await outbound.client.post(
        f"{outbound.campaigns_url}/{campaign_id}/cancel", headers=outbound.proactive
    )
    assert response.json()["counts"] == {"SENT": 1, "CANCELLED": 1}
    # Nor does the end of the lookback expire it.
    outbound.advance(timedelta(hours=2))
    await outbound.settle()
    after = await outbound.delivery(id=sent.id)
    assert (after.status, after.sent_time, after.error_code) == ("SENT", START, None)


async def test_every_stage_keeps_its_time(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel(), lookbackPeriodDay=0, lookbackPeriodHour=1)
    await outbound.opt_out(NY_MOBILE)
    consumers = [sms(SF_MOBILE), sms(NY_MOBILE), sms(UK_LANDLINE), sms(SYDNEY_MOBILE)]
    await outbound.campaign(handoff_id, consumers)
    cancelled = await outbound.campaign(handoff_id, [sms(SF_MOBILE_2)])
    await outbound.client.post(
        f"{outbound.campaigns_url}/{cancelled['proactiveCampaignId']}/cancel",
        headers=outbound.proactive,
    )
    outbound.start()
    await outbound.run_until_done()
    rows = {d.phone: d for d in await outbound.deliveries()}
    expected = {
        SF_MOBILE: ("SENT", START),
        NY_MOBILE: ("SKIPPED", START),
        UK_LANDLINE: ("FAILED", START),
        # Held for the Sydney morning, past its one-hour lookback.
        SYDNEY_MOBILE: ("EXPIRED", START + timedelta(hours=1)),
        SF_MOBILE_2: ("CANCELLED", START),
    }
    for phone, (status, at) in expected.items():
        row = rows[phone]
        assert row.status == status, phone
        assert row.attempted_time == START, phone
        assert getattr(row, STAGE_TIME[S(status)]) == at, phone
        # Stages not reached have no time.
        for other, column in STAGE_TIME.items():
            if other != status and other != S.SCHEDULED:
                assert getattr(row, column) is None, (phone, column)
    assert rows[SYDNEY_MOBILE].scheduled_time == START


# --- expiry, opt-out, quiet hours ----------------------------------------------------------------


async def test_a_delivery_not_sent_before_attempted_time_plus_lookback_expires(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel(), lookbackPeriodDay=0, lookbackPeriodHour=1)
    campaign = await outbound.campaign(handoff_id, [sms(SF_MOBILE), sms(SF_MOBILE_2)])
    # No worker ran for an hour (an outage): the backlog is past its lookback.
    outbound.advance(timedelta(hours=1))
    outbound.start()
    await outbound.run_until_done()
    for d in await outbound.deliveries():
        assert (d.status, d.error_code, d.error_source) == ("EXPIRED", "EXPIRED", "parlay")
        assert d.expired_time == START + timedelta(hours=1)
        assert d.expires_at == d.attempted_time + timedelta(hours=1)
    assert outbound.sandbox.sent == []
    status = await outbound.campaign_reaches(campaign["proactiveCampaignId"], "FINISHED")
    assert status["counts"] == {"EXPIRED": 2}


async def test_a_number_that_replied_stop_is_skipped_as_opted_out(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    await outbound.opt_out(SF_MOBILE)
    await outbound.campaign(handoff_id, [sms(SF_MOBILE), sms(SF_MOBILE_2)])
    outbound.start()
    await outbound.run_until_done()
    skipped = await outbound.delivery(phone=SF_MOBILE)
    assert (skipped.status, skipped.error_code, skipped.skipped_time) == (
        "SKIPPED",
        "OPTED_OUT",
        START,
    )
    assert [s.address for s in outbound.sandbox.sent] == [SF_MOBILE_2]


async def test_sms_waits_as_scheduled_outside_0800_2100_recipient_local_time(
    outbound: Outbound,
) -> None:
    # 22:00 in San Francisco, 01:00 in New York.
    night = datetime(2026, 1, 6, 6, 0, tzinfo=UTC)
    handoff_id = await outbound.handoff(sms_channel())
    outbound.advance_to(night)
    await outbound.campaign(handoff_id, [sms(SF_MOBILE), sms(NY_MOBILE)])
    outbound.start()
    await outbound.settle()
    held = {d.phone: d for d in await outbound.deliveries()}
    assert {p: d.status for p, d in held.items()} == {
        SF_MOBILE: "SCHEDULED",
        NY_MOBILE: "SCHEDULED",
    }
    assert held[SF_MOBILE].scheduled_time == night
    # 08:00 local: 16:00 UTC in San Francisco, 13:00 UTC in New York.
    assert held[SF_MOBILE].next_attempt_at == datetime(2026, 1, 6, 16, 0, tzinfo=UTC)
    assert held[NY_MOBILE].next_attempt_at == datetime(2026, 1, 6, 13, 0, tzinfo=UTC)
    outbound.advance_to(datetime(2026, 1, 6, 12, 59, tzinfo=UTC))
    await outbound.settle()
    assert outbound.sandbox.sent == []
    await outbound.run_until_done()
    sent = {d.phone: d for d in await outbound.deliveries()}
    assert {p: d.status for p, d in sent.items()} == {SF_MOBILE: "SENT", NY_MOBILE: "SENT"}
    assert sent[NY_MOBILE].sent_time == datetime(2026, 1, 6, 13, 0, tzinfo=UTC)
    assert sent[SF_MOBILE].sent_time == datetime(2026, 1, 6, 16, 0, tzinfo=UTC)
    assert [s.address for s in outbound.sandbox.sent] == [NY_MOBILE, SF_MOBILE]


# --- provider outcomes ---------------------------------------------------------------------------


async def test_a_transient_provider_error_is_retried_until_sent(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    outbound.sandbox.script(SF_MOBILE, "unavailable", "unavailable", "ok")
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    outbound.start()
    await outbound.settle()
    waiting = await outbound.delivery(phone=SF_MOBILE)
    assert (waiting.status, waiting.attempts) == ("QUEUED", 1)
    assert waiting.next_attempt_at > START
    assert "503" in (waiting.error_message or "")
    await outbound.run_until_done()
    sent = await outbound.delivery(phone=SF_MOBILE)
    assert (sent.status, sent.attempts, sent.error_code) == ("SENT", 3, None)
    assert len(outbound.sandbox.sent) == 1


async def test_retries_back_off_exponentially_with_jitter(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    outbound.sandbox.script(SF_MOBILE, "unavailable")  # for ever
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    outbound.start()
    delays = []
    for _ in range(5):
        await outbound.settle()
        row = await outbound.delivery(phone=SF_MOBILE)
        delays.append((row.next_attempt_at - outbound.now()).total_seconds())
        outbound.advance_to(row.next_attempt_at)
    base = outbound.container.settings.worker_backoff_base_seconds
    for attempt, delay in enumerate(delays, start=1):
        ceiling = base * 2 ** (attempt - 1)
        assert ceiling / 2 <= delay <= ceiling, (attempt, delays)


async def test_a_429_retry_after_is_honoured(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    outbound.sandbox.script(SF_MOBILE, "throttled:120", "ok")
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    outbound.start()
    await outbound.settle()
    waiting = await outbound.delivery(phone=SF_MOBILE)
    assert waiting.status == "QUEUED"
    assert waiting.next_attempt_at >= START + timedelta(seconds=120)
    outbound.advance(timedelta(seconds=119))
    await outbound.settle()
    assert outbound.sandbox.attempts[SF_MOBILE] == 1  # not tried before the provider said
    await outbound.run_until_done()
    sent = await outbound.delivery(phone=SF_MOBILE)
    assert (sent.status, sent.attempts) == ("SENT", 2)
    assert sent.sent_time is not None
    assert sent.sent_time >= START + timedelta(seconds=120)


async def test_a_permanent_provider_error_fails_with_its_reason_and_is_not_retried(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    outbound.sandbox.script(SF_MOBILE, "reject:21610 Attempt to send to unsubscribed recipient")
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    outbound.start()
    await outbound.run_until_done()
    failed = await outbound.delivery(phone=SF_MOBILE)
    assert (failed.status, failed.error_code, failed.error_message, failed.error_source) == (
        "FAILED",
        "PROVIDER_REJECTED",
        "21610 Attempt to send to unsubscribed recipient",
        "sandbox",
    )
    assert (failed.attempts, failed.failed_time) == (1, START)
    outbound.advance(timedelta(days=1))
    await outbound.settle()
    assert outbound.sandbox.attempts[SF_MOBILE] == 1


async def test_transient_errors_outlasting_the_retry_budget_fail_as_provider_unavailable(
    outbound: Outbound,
) -> None:
    budget = outbound.container.settings.worker_max_attempts
    handoff_id = await outbound.handoff(sms_channel())
    outbound.sandbox.script(SF_MOBILE, "unavailable")  # for ever
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    outbound.start()
    await outbound.run_until_done()
    failed = await outbound.delivery(phone=SF_MOBILE)
    assert (failed.status, failed.error_code, failed.attempts) == (
        "FAILED",
        "PROVIDER_UNAVAILABLE",
        budget,
    )
    assert "503" in (failed.error_message or "")
    assert outbound.sandbox.attempts[SF_MOBILE] == budget


async def test_a_dead_push_token_is_disabled_and_the_next_campaign_skips_it(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(inapp_channel())
    token = await outbound.device("c-1")
    outbound.sandbox.script("c-1", "unregistered")
    first = await outbound.campaign(handoff_id, [inapp("c-1")])
    outbound.start()
    await outbound.run_until_done()
    dead = await outbound.delivery(campaign_id=first["proactiveCampaignId"])
    assert (dead.status, dead.error_code) == ("FAILED", "TOKEN_UNREGISTERED")
    async with outbound.container.db.read() as session:
        device = await session.scalar(select(Device).where(Device.push_token == token))
    assert device is not None
    assert device.token_disabled_at == START
    second = await outbound.campaign(handoff_id, [inapp("c-1")])
    await outbound.run_until_done()
    skipped = await outbound.delivery(campaign_id=second["proactiveCampaignId"])
    assert (skipped.status, skipped.error_code) == ("FAILED", "NO_PUSH_TOKEN")
    assert outbound.sandbox.attempts["c-1"] == 1  # the channel was not called again


async def test_a_delivery_whose_worker_died_is_sent_after_its_lease_expires(
    outbound: Outbound,
) -> None:
    lease = timedelta(seconds=outbound.container.settings.worker_lease_seconds)
    handoff_id = await outbound.handoff(sms_channel())
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    # A worker claims it and dies before sending.
    async with outbound.container.db.write() as session:
        [claimed] = await queue.claim(
            session, owner="crashed-worker:1", now=outbound.now(), lease=lease, limit=10
        )
    await outbound.campaign(handoff_id, [sms(SF_MOBILE_2)])
    outbound.start()
    await outbound.settle()
    # The live worker sent the other one, and left the leased one alone while the lease held.
    assert [s.address for s in outbound.sandbox.sent] == [SF_MOBILE_2]
    assert (await outbound.delivery(id=claimed.id)).status == "QUEUED"
    outbound.advance(lease + timedelta(seconds=1))
    await outbound.run_until_done()
    recovered = await outbound.delivery(id=claimed.id)
    assert (recovered.status, recovered.attempts) == ("SENT", 2)
    assert [s.address for s in outbound.sandbox.sent] == [SF_MOBILE_2, SF_MOBILE]


async def test_a_poll_looks_before_it_claims_and_sees_what_a_claim_would_lease(
    outbound: Outbound,
) -> None:
    """``any_due``, a caught-up lane's look before it claims, is true exactly when a claim of
    the same lane would lease something: due, not leased, of its channels and priorities."""
    lease = timedelta(seconds=outbound.container.settings.worker_lease_seconds)
    handoff_id = await outbound.handoff(sms_channel())
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    now = outbound.now()

    async def due(at: datetime, **lane: Any) -> bool:
        async with outbound.container.db.lookup() as connection:
            return await queue.any_due(connection, now=at, **lane)

    campaign_lane = {"channels": ["sms"], "min_priority": INVITE_PRIORITY + 1}
    assert await due(now, **campaign_lane)
    assert await due(now)
    assert not await due(now, channels=["inapp", "whatsapp"])
    assert not await due(now, channels=["sms"], max_priority=INVITE_PRIORITY)  # no invite
    async with outbound.container.db.write() as session:
        await queue.claim(session, owner="w:1", now=now, lease=lease, limit=10)
    assert not await due(now, **campaign_lane)  # leased
    assert await due(now + lease + timedelta(seconds=1), **campaign_lane)  # its lease ran out


async def test_an_idle_dispatcher_polls_without_claiming(
    outbound: Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a lane has caught up, its polls only read: no write transaction (on SQLite, the
    one writer) until something is due; queued work is then claimed and sent."""
    claims: list[tuple[str, ...] | None] = []

    async def counted(*args: Any, **kwargs: Any) -> list[queue.Claim]:
        claims.append(kwargs.get("channels"))
        return await claim_ids(*args, **kwargs)

    claim_ids = queue.claim_ids
    monkeypatch.setattr(queue, "claim_ids", counted)
    handoff_id = await outbound.handoff(sms_channel())
    dispatcher = outbound.start()
    await asyncio.sleep(0.3)  # ~30 polls of each lane (10 ms apart in these tests)
    assert len(claims) == len(dispatcher._lanes)  # each lane's first look, then reads only
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    await outbound.settle()
    assert (await outbound.delivery(phone=SF_MOBILE)).status == "SENT"


async def test_an_outcome_write_that_fails_is_written_by_the_next_flush(
    outbound: Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses one outcome batch (a lost connection, say): nothing is lost and
    nothing is sent twice, the outcomes are written by the next flush."""
    failures: list[str] = []
    monkeypatch.setattr(
        lifecycle, "write_outcomes", _fails_once(lifecycle.write_outcomes, failures)
    )
    handoff_id = await outbound.handoff(sms_channel())
    await outbound.campaign(handoff_id, [sms(SF_MOBILE), sms(SF_MOBILE_2)])
    outbound.start()
    await outbound.run_until_done()

    assert failures
    assert {d.status for d in await outbound.deliveries()} == {"SENT"}
    assert sorted(s.address for s in outbound.sandbox.sent) == sorted([SF_MOBILE, SF_MOBILE_2])


async def test_a_batch_whose_checks_fail_goes_back_to_the_queue_and_is_sent_once(
    outbound: Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The send-time checks of a claimed batch fail (their reads, say): the batch is handed
    back at once, not left to its lease, and sent by a later claim."""
    failures: list[str] = []
    monkeypatch.setattr("parlay.dispatch.dispatcher.prepare", _fails_once(prepare, failures))
    handoff_id = await outbound.handoff(sms_channel())
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    outbound.start()
    await outbound.run_until_done()

    assert failures
    assert outbound.now() == START  # handed back, not left until its lease ran out
    sent = await outbound.delivery(phone=SF_MOBILE)
    assert (sent.status, sent.attempts) == ("SENT", 1)  # a batch handed back counts no attempt
    assert [s.address for s in outbound.sandbox.sent] == [SF_MOBILE]


def _fails_once(
    work: Callable[..., Awaitable[Any]], failures: list[str]
) -> Callable[..., Awaitable[Any]]:
    """``work``, except that its first call fails as a lost database connection would."""

    async def fails_once(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(work.__name__)
            raise ConnectionResetError("the database went away")
        return await work(*args, **kwargs)

    return fails_once


# --- open conversations --------------------------------------------------------------------------


async def test_an_open_conversation_on_any_linked_identity_blocks_the_send(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(inapp_channel())
    # c-1 is known with this phone; the open conversation is an SMS thread of that phone.
    await outbound.consumer("c-1", SF_MOBILE)
    await outbound.device("c-1")
    await outbound.device("c-2")
    await outbound.open_conversation(phone=SF_MOBILE, channel="sms")
    await outbound.campaign(handoff_id, [inapp("c-1"), inapp("c-2")])
    outbound.start()
    await outbound.run_until_done()
    blocked = await outbound.delivery(consumer_id="c-1")
    assert (blocked.status, blocked.error_code, blocked.error_source) == (
        "FAILED",
        "OPEN_CONVERSATION",
        "parlay",
    )
    assert [s.address for s in outbound.sandbox.sent] == ["c-2"]
