"""The C2M use cases: eligibility and invite, urgent units of work (an IVR caller is waiting, so
campaign work of this process holds back meanwhile)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from parlay.c2m import service
from parlay.c2m.models import Call
from parlay.c2m.service import Availability, EligibilityRequest, InviteRequest, InviteResult
from parlay.delivery.models import Delivery
from parlay.delivery.queue import PriorityLane, WorkQueued
from parlay.lib.db.group import GroupCommit
from parlay.lib.db.uow import Transactions, UnitOfWork
from parlay.lib.errors import NotFound
from parlay.lib.idempotency.service import Repeat, StoredResponse


async def check_eligibility(
    tx: Transactions, calls: GroupCommit[Call], account_id: str, request: EligibilityRequest
) -> tuple[Call, Availability]:
    """The answer is decided in a read transaction, then the call is stored (and the caller's
    identities linked) by ``calls`` (``call_writer``), with the calls of the checks answered
    meanwhile, in one short write transaction: on SQLite only the writes wait for the one
    writer, and checks read side by side (docs/architecture.md#one-unit-of-work). The answer
    goes out once its call is committed (an invite may follow at once). Urgent throughout:
    background work does not slip in between the two."""
    with tx.urgency.urgent():
        # Statement by statement, as PostgreSQL's READ COMMITTED reads them anyway.
        async with tx.lookup() as look:
            call, availability = await service.check_caller(
                look.connection, account_id, request, look.now
            )
        await calls.submit(call)
    return call, availability


def call_writer(tx: Transactions) -> GroupCommit[Call]:
    """The group commit of the eligibility checks' calls (one per process), urgent."""
    return GroupCommit(tx, _record_calls, urgent=True)


async def _record_calls(uow: UnitOfWork, calls: Sequence[Call]) -> None:
    await service.record_calls(uow.session, calls)


async def send_invite(
    tx: Transactions,
    account_id: str,
    request: InviteRequest,
    *,
    repeat: Repeat | None,
    answer: Callable[[InviteResult], tuple[int, Any]],
    lane: PriorityLane | None = None,
) -> StoredResponse:
    """Queue the invite in the priority lane (or answer NOT_SENT); ``answer`` renders the
    response a repeat of the same ``Idempotency-Key`` gets back.

    With this process's ``lane``, the invite's row is inserted already leased to it and handed
    over once committed: no claim, no wake-up in between. Without one (or if it is stopping),
    the row is queued for any dispatcher, which is told of it."""
    queued: list[int] = []
    with tx.urgency.urgent():  # until the lane has the invite: no campaign work slips in
        lease = lane.lease() if lane is not None else None
        async with tx.write(urgent=True) as uow:

            async def send() -> tuple[int, Any]:
                result = await service.invite(uow.session, account_id, request, uow.now, lease)
                if result.queued_now and result.delivery_id is not None:
                    queued.append(result.delivery_id)
                return answer(result)

            response = await uow.idempotent(
                account_id=account_id, operation="c2m.invite", repeat=repeat, work=send
            )
            if lease is None:
                uow.emit(WorkQueued(priority=True))
        if lane is not None and lease is not None and queued:
            lane.take(lease, queued)
    return response


@dataclass(frozen=True)
class InviteState:
    call: Call
    delivery: Delivery | None


async def invite_state(tx: Transactions, account_id: str, call_id: str) -> InviteState:
    """The call and its invite's delivery as they are now, read in one snapshot; another
    account's call is 404."""
    async with tx.read() as uow:
        call = await uow.session.get(Call, call_id)
        if call is None or call.account_id != account_id:
            raise NotFound(f"no call {call_id!r}")
        delivery = None
        if call.delivery_id is not None:
            delivery = await uow.session.get(Delivery, call.delivery_id)
    return InviteState(call, delivery)
