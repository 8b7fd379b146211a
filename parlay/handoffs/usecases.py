"""The handoff use cases, one unit of work each. The JSON API and the web pages call these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from parlay.handoffs import service
from parlay.handoffs.models import Handoff
from parlay.handoffs.service import HandoffSpec
from parlay.lib.db.uow import Transactions
from parlay.lib.idempotency.service import Repeat, StoredResponse


async def create_handoff(
    tx: Transactions,
    account_id: str,
    spec: HandoffSpec,
    *,
    repeat: Repeat | None,
    answer: Callable[[Handoff], tuple[int, Any]],
    handoff_id: str | None = None,
    may_choose_id: bool = False,
) -> StoredResponse:
    """Create a handoff (with the ID the caller chose, if they may); ``answer`` renders the
    response a repeat of the same ``Idempotency-Key`` gets back."""
    async with tx.write() as uow:

        async def create() -> tuple[int, Any]:
            return answer(
                await service.create_handoff(
                    uow.session,
                    account_id,
                    spec,
                    uow.now,
                    handoff_id=handoff_id,
                    may_choose_id=may_choose_id,
                )
            )

        return await uow.idempotent(
            account_id=account_id, operation="handoff.create", repeat=repeat, work=create
        )


async def list_handoffs(tx: Transactions, account_id: str) -> Sequence[Handoff]:
    async with tx.read() as uow:
        return await service.list_handoffs(uow.session, account_id)


async def get_handoff(tx: Transactions, account_id: str, handoff_id: str) -> Handoff:
    async with tx.read() as uow:
        return await service.get_handoff(uow.session, account_id, handoff_id)


async def replace_handoff(
    tx: Transactions, account_id: str, handoff_id: str, spec: HandoffSpec
) -> Handoff:
    async with tx.write() as uow:
        return await service.replace_handoff(uow.session, account_id, handoff_id, spec, uow.now)


async def delete_handoff(tx: Transactions, account_id: str, handoff_id: str) -> None:
    async with tx.write() as uow:
        await service.delete_handoff(uow.session, account_id, handoff_id, uow.now)
