"""What a send needs beyond the delivery row: the campaign's or call's frozen handoff, texts, names.

Campaign and call snapshots never change once accepted, so the dispatcher caches them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.outbound.models import Call, Campaign
from parlay.outbound.status import Source

_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


@dataclass(frozen=True)
class SendContext:
    handoff: dict[str, Any]  # the handoff snapshot, API casing
    message_text: str | None  # campaign-level text, if any
    campaign_id: str | None
    campaign_name: str | None
    call_id: str | None
    outbound_number: str | None

    def channel(self, kind: str) -> dict[str, Any]:
        for channel in self.handoff.get("channels", []):
            if channel["type"] == kind:
                return dict(channel)
        return {"type": kind}

    def campaign_info(self, skill: str) -> dict[str, Any]:
        """What a push tells the SDK about why it was sent (``campaignInfo``)."""
        return {
            "campaignId": self.campaign_id,
            "campaignName": self.campaign_name,
            "callId": self.call_id,
            "skill": skill,
        }

    @property
    def app_ids(self) -> tuple[str, ...]:
        return tuple(self.channel("inapp").get("appIds") or ())


def placeholders(text: str) -> set[int]:
    """The ``{{n}}`` variables a text uses."""
    return {int(n) for n in _PLACEHOLDER.findall(text)}


def render(text: str, variables: dict[str, str] | None) -> str:
    """Fill ``{{n}}`` placeholders from the consumer's variables (unknown ones stay as written)."""
    if not variables:
        return text
    return _PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


class ContextCache:
    """Snapshots of campaigns and calls by ID, loaded in bulk, kept LRU."""

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._items: OrderedDict[str, SendContext] = OrderedDict()

    def _put(self, key: str, ctx: SendContext) -> None:
        self._items[key] = ctx
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    async def load(
        self, session: AsyncSession, campaign_ids: Iterable[str], call_ids: Iterable[str]
    ) -> dict[str, SendContext]:
        wanted_campaigns = {f"c:{i}" for i in campaign_ids}
        wanted_calls = {f"k:{i}" for i in call_ids}
        missing_campaigns = [k[2:] for k in wanted_campaigns if k not in self._items]
        missing_calls = [k[2:] for k in wanted_calls if k not in self._items]
        if missing_campaigns:
            rows = await session.execute(select(Campaign).where(Campaign.id.in_(missing_campaigns)))
            for c in rows.scalars():
                self._put(
                    f"c:{c.id}",
                    SendContext(
                        c.handoff_snapshot, c.message_text, c.id, c.name, None, c.outbound_number
                    ),
                )
        if missing_calls:
            rows2 = await session.execute(select(Call).where(Call.id.in_(missing_calls)))
            for k in rows2.scalars():
                self._put(
                    f"k:{k.id}", SendContext(k.handoff_snapshot, None, None, None, k.id, None)
                )
        return {
            key: self._items[key] for key in wanted_campaigns | wanted_calls if key in self._items
        }

    async def for_deliveries(
        self, session: AsyncSession, deliveries: Iterable[FromCampaignOrCall]
    ) -> dict[int, SendContext]:
        """Each delivery's campaign or call snapshot, by delivery ID (absent: not found)."""
        deliveries = list(deliveries)
        loaded = await self.load(
            session,
            {d.campaign_id for d in deliveries if d.campaign_id},
            {d.call_id for d in deliveries if d.call_id},
        )
        found = {}
        for d in deliveries:
            key = f"c:{d.campaign_id}" if d.campaign_id else f"k:{d.call_id}"
            if key in loaded:
                found[d.id] = loaded[key]
        return found


class FromCampaignOrCall(Protocol):
    """A delivery row (ORM or Core): what ``ContextCache.for_deliveries`` reads of it."""

    id: int
    campaign_id: str | None
    call_id: str | None


def message_text(
    context: SendContext, channel: str, override: str | None, variables: dict[str, str] | None
) -> str:
    """The text a delivery carries: its own override, else the campaign's, else the handoff
    channel's, with the consumer's ``{{n}}`` variables filled in."""
    text = override or context.message_text or context.channel(channel).get("messageText") or ""
    return render(text, variables)


def backend_service(source: str) -> str:
    """``c2m`` for an IVR invite, ``prmsg`` for a proactive campaign (the SDK's field)."""
    return "c2m" if source == Source.IVR_DEFLECTION else "prmsg"
