"""The C2M use cases: eligibility and invite, each one urgent unit of work (an IVR caller is
waiting, so campaign work of this process holds back meanwhile)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parlay.c2m import service
from parlay.c2m.models import Call
from parlay.c2m.service import Availability, EligibilityRequest, InviteRequest, InviteResult
from parlay.delivery.queue import WorkQueued
from parlay.lib.db.uow import Transactions
from parlay.lib.idempotency.service import Repeat, StoredResponse


async def check_eligibility(
    tx: Transactions, account_id: str, request: EligibilityRequest
) -> tuple[Call, Availability]:
    async with tx.write(urgent=True) as uow:
        return await service.eligibility(uow.session, account_id, request, uow.now)


async def send_invite(
    tx: Transactions,
    account_id: str,
    request: InviteRequest,
    *,
    repeat: Repeat | None,
    answer: Callable[[InviteResult], tuple[int, Any]],
) -> StoredResponse:
    """Queue the invite in the priority lane (or answer NOT_SENT); ``answer`` renders the
    response a repeat of the same ``Idempotency-Key`` gets back."""
    async with tx.write(urgent=True) as uow:

        async def send() -> tuple[int, Any]:
            return answer(await service.invite(uow.session, account_id, request, uow.now))

        response = await uow.idempotent(
            account_id=account_id, operation="c2m.invite", repeat=repeat, work=send
        )
        uow.emit(WorkQueued(priority=True))
    return response
