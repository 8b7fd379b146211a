"""Reading one delivery back, by its ID, in a read unit of work."""

from __future__ import annotations

from parlay.delivery.models import Delivery
from parlay.lib.db.uow import Transactions
from parlay.lib.errors import NotFound


async def get_delivery(tx: Transactions, account_id: str, delivery_id: int) -> Delivery:
    """The account's delivery, or 404 (another account's delivery is not found either)."""
    async with tx.read() as uow:
        delivery = await uow.session.get(Delivery, delivery_id)
    if delivery is None or delivery.account_id != account_id:
        raise NotFound(f"no delivery {delivery_id}")
    return delivery
