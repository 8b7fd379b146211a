"""The ``Origins`` of deliveries read from the campaign and C2M call tables, kept in an LRU cache
(origins never change once accepted, and a batch of 500 deliveries usually shares one)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.c2m.models import Call
from parlay.campaigns.models import Campaign
from parlay.delivery.origins import FromCampaignOrCall, Origin
from parlay.delivery.windows import SendWindow
from parlay.handoffs.snapshot import HandoffSnapshot


def campaign_origin(campaign: Campaign) -> Origin:
    return Origin(
        handoff=HandoffSnapshot.from_json(campaign.handoff_snapshot),
        message_text=campaign.message_text,
        campaign_id=campaign.id,
        campaign_name=campaign.name,
        call_id=None,
        outbound_number=campaign.outbound_number,
        send_windows=tuple(SendWindow.from_json(w) for w in campaign.send_windows or ()),
    )


def call_origin(call: Call) -> Origin:
    return Origin(
        handoff=HandoffSnapshot.from_json(call.handoff_snapshot),
        message_text=None,
        campaign_id=None,
        campaign_name=None,
        call_id=call.id,
        outbound_number=None,
        ivr_number=call.ivr_number,
        sdes=call.sdes,
    )


class OriginCache:
    """Origins of campaigns and calls by ID, loaded in bulk, kept LRU (implements ``Origins``)."""

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._campaigns: OrderedDict[str, Origin] = OrderedDict()
        self._calls: OrderedDict[str, Origin] = OrderedDict()

    def _put(self, items: OrderedDict[str, Origin], key: str, origin: Origin) -> None:
        items[key] = origin
        items.move_to_end(key)
        while len(items) > self._size:
            items.popitem(last=False)

    async def for_deliveries(
        self, session: AsyncSession, deliveries: Iterable[FromCampaignOrCall]
    ) -> dict[int, Origin]:
        deliveries = list(deliveries)
        campaign_ids = {d.campaign_id for d in deliveries if d.campaign_id}
        call_ids = {d.call_id for d in deliveries if d.call_id and not d.campaign_id}
        # Kept here too: a batch naming more than ``size`` origins must not evict its own.
        campaigns = {i: self._campaigns[i] for i in campaign_ids if i in self._campaigns}
        calls = {i: self._calls[i] for i in call_ids if i in self._calls}
        missing_campaigns = [i for i in campaign_ids if i not in campaigns]
        missing_calls = [i for i in call_ids if i not in calls]
        if missing_campaigns:
            rows = await session.execute(select(Campaign).where(Campaign.id.in_(missing_campaigns)))
            for campaign in rows.scalars():
                campaigns[campaign.id] = campaign_origin(campaign)
                self._put(self._campaigns, campaign.id, campaigns[campaign.id])
        if missing_calls:
            rows2 = await session.execute(select(Call).where(Call.id.in_(missing_calls)))
            for call in rows2.scalars():
                calls[call.id] = call_origin(call)
                self._put(self._calls, call.id, calls[call.id])
        found = {}
        for d in deliveries:
            origin = campaigns.get(d.campaign_id) if d.campaign_id else calls.get(d.call_id or "")
            if origin is not None:
                found[d.id] = origin
        return found
