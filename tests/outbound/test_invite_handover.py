"""An invite queued in a process that runs a dispatcher is inserted already leased to that
dispatcher's priority lane and handed to it once committed: no claim (a second write, on
SQLite a second wait for the one writer) stands between the caller and the send. The lease is
an ordinary one: if the hand-over never happens (the process died), any dispatcher claims the
invite once the lease runs out; a dispatcher that stops hands back what it was given."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from parlay import bootstrap
from parlay.c2m import usecases
from parlay.c2m.service import InviteRequest, InviteResult
from parlay.delivery.queue import Lease
from parlay.delivery.status import DeliveryStatus
from parlay.dispatch.dispatcher import Dispatcher
from tests.handoffs.bodies import sms_channel
from tests.outbound.support import SF_MOBILE, Outbound, eventually

pytestmark = pytest.mark.anyio


class KeptLane:
    """A ``PriorityLane`` that keeps what it is handed (a process that dies before its
    dispatcher sends: nothing else will). It leases as a dispatcher does, or by ``leases_of``."""

    def __init__(self, now: Callable[[], datetime], leases_of: Dispatcher | None = None) -> None:
        self._now = now
        self._dispatcher = leases_of
        self.leases: list[Lease] = []
        self.handed: list[tuple[Lease, list[int]]] = []

    def lease(self) -> Lease | None:
        if self._dispatcher is not None:
            lease = self._dispatcher.lease()
        else:
            lease = Lease(f"gone:{len(self.leases) + 1}", self._now() + timedelta(seconds=60), 0)
        if lease is not None:
            self.leases.append(lease)
        return lease

    def take(self, lease: Lease, delivery_ids: Sequence[int]) -> None:
        self.handed.append((lease, list(delivery_ids)))


def _answer(result: InviteResult) -> tuple[int, Any]:
    return 200, result.to_json()


async def _invite(outbound: Outbound, lane: KeptLane) -> dict[str, Any]:
    handoff_id = await outbound.handoff(sms_channel())
    call = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=SF_MOBILE)
    request = InviteRequest(call["callId"], None, None, None)
    response = await usecases.send_invite(
        outbound.container.tx,
        outbound.brand.id,
        request,
        repeat=None,
        answer=_answer,
        lane=lane,
    )
    body: dict[str, Any] = response.body
    return body


async def test_a_queued_invite_is_inserted_leased_and_handed_over_after_its_commit(
    outbound: Outbound,
) -> None:
    lane = KeptLane(outbound.now)
    invite = await _invite(outbound, lane)

    delivery = await outbound.delivery(id=invite["deliveryId"])
    assert delivery.status == DeliveryStatus.QUEUED
    assert (delivery.lease_owner, delivery.attempts) == ("gone:1", 1)
    assert delivery.lease_until is not None
    assert delivery.lease_until.replace(tzinfo=None) == (
        outbound.now() + timedelta(seconds=60)
    ).replace(tzinfo=None)
    assert lane.handed == [(lane.leases[0], [invite["deliveryId"]])]


async def test_a_repeated_invite_hands_over_nothing_more(outbound: Outbound) -> None:
    lane = KeptLane(outbound.now)
    handoff_id = await outbound.handoff(sms_channel())
    call = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=SF_MOBILE)
    request = InviteRequest(call["callId"], None, None, None)
    tx, account = outbound.container.tx, outbound.brand.id
    first = await usecases.send_invite(tx, account, request, repeat=None, answer=_answer, lane=lane)
    again = await usecases.send_invite(tx, account, request, repeat=None, answer=_answer, lane=lane)

    assert again.body == first.body  # the first answer, given again
    assert [ids for _, ids in lane.handed] == [[first.body["deliveryId"]]]


async def test_an_invite_whose_hand_over_never_came_is_claimed_once_its_lease_runs_out(
    outbound: Outbound,
) -> None:
    outbound.start()
    invite = await _invite(outbound, KeptLane(outbound.now))
    await outbound.settle()  # the dispatcher is not told of it, and cannot claim it yet
    assert outbound.sandbox.sent == []

    outbound.advance(timedelta(seconds=61))
    await eventually(
        lambda: outbound.delivery(id=invite["deliveryId"]),
        lambda d: d.status == DeliveryStatus.SENT,
        what="the invite claimed after its lease and sent",
    )
    assert [s.address for s in outbound.sandbox.sent] == [SF_MOBILE]


async def test_the_dispatcher_sends_an_invite_handed_to_it_without_claiming_it(
    outbound: Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its lanes poll once an hour: the first claims at start find nothing, and the invite,
    leased to the lane, is not claimable anyway. Only the hand-over can send it."""
    quick = bootstrap.dispatch_config
    monkeypatch.setattr(
        bootstrap,
        "dispatch_config",
        lambda s: replace(
            quick(s), poll_interval_seconds=3600.0, priority_poll_interval_seconds=3600.0
        ),
    )
    outbound.start()
    handoff_id = await outbound.handoff(sms_channel())
    call = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=SF_MOBILE)

    response = await outbound.invite(call["callId"])
    invite = response.json()

    assert response.status_code == 200, response.text
    await eventually(
        lambda: outbound.delivery(id=int(invite["deliveryId"])),
        lambda d: d.status == DeliveryStatus.SENT,
        what="the handed-over invite sent",
    )
    assert (await outbound.delivery(id=int(invite["deliveryId"]))).attempts == 1


async def test_a_stopping_dispatcher_hands_back_an_invite_it_was_handed(
    outbound: Outbound,
) -> None:
    dispatcher = outbound.start()
    lane = KeptLane(outbound.now, leases_of=dispatcher)
    invite = await _invite(outbound, lane)
    [(lease, ids)] = lane.handed

    dispatcher.take(lease, ids)  # and it stops before its lane gets to them
    await dispatcher.stop()

    delivery = await outbound.delivery(id=invite["deliveryId"])
    assert (delivery.status, delivery.lease_owner) == (DeliveryStatus.QUEUED, None)
    assert outbound.sandbox.sent == []
