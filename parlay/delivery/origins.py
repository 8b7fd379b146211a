"""Why a delivery was sent: its origin, the campaign or the IVR call as it was accepted.

A delivery row names its campaign or call; what a send, a conversation or the consumer's app
needs of them (the frozen handoff, the texts, the campaign's name, the caller's IVR data) is an
``Origin``. Origins never change once accepted, so they are read through a cache: the
``Origins`` port, implemented by ``parlay.dispatch.origins.OriginCache`` and handed to whoever
needs it (the delivery package cannot read the campaign and call tables itself: they sit above
it).

The outbound message itself is built here once: its text (``message_text``) and the payload
the mobile SDK receives (``OutboundPayload``), whether by push, on the live stream or from
``pending-outbound``. So is the push of an agent's or bot's conversation message
(``conversation_payload``): it has no origin, the delivery row carries all it says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.delivery.status import Source
from parlay.delivery.windows import SendWindow
from parlay.handoffs.snapshot import HandoffSnapshot

_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


@dataclass(frozen=True)
class Origin:
    """The campaign or IVR call a delivery was sent for, as accepted."""

    handoff: HandoffSnapshot
    message_text: str | None  # the campaign's own text, if it gave one
    campaign_id: str | None
    campaign_name: str | None
    call_id: str | None
    outbound_number: str | None
    ivr_number: str | None = None  # the IVR call's data, shown to the agent
    sdes: Sequence[Any] | None = None
    # The campaign's send windows (recipient's local time); none: any time.
    send_windows: tuple[SendWindow, ...] = ()

    def campaign_info(self, skill: str) -> CampaignInfo:
        """What a push tells the SDK about why it was sent (``campaignInfo``)."""
        return CampaignInfo(self.campaign_id, self.campaign_name, self.call_id, skill)


class FromCampaignOrCall(Protocol):
    """A delivery (row or claimed delivery): what ``Origins.for_deliveries`` reads of it."""

    @property
    def id(self) -> int: ...
    @property
    def campaign_id(self) -> str | None: ...
    @property
    def call_id(self) -> str | None: ...


class Origins(Protocol):
    """Where deliveries' origins are read (cached: they never change)."""

    async def for_deliveries(
        self, session: AsyncSession, deliveries: Iterable[FromCampaignOrCall]
    ) -> dict[int, Origin]:
        """Each delivery's origin, by delivery ID (absent: its campaign or call is gone)."""
        ...


def placeholders(text: str) -> set[int]:
    """The ``{{n}}`` variables a text uses."""
    return {int(n) for n in _PLACEHOLDER.findall(text)}


def render(text: str, variables: dict[str, str] | None) -> str:
    """Fill ``{{n}}`` placeholders from the consumer's variables (unknown ones stay as written)."""
    if not variables:
        return text
    return _PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def message_text(
    origin: Origin, channel: str, override: str | None, variables: dict[str, str] | None
) -> str:
    """The text a delivery carries: its own override, else the campaign's, else the handoff
    channel's, with the consumer's ``{{n}}`` variables filled in."""
    text = override or origin.message_text or origin.handoff.channel(channel).message_text or ""
    return render(text, variables)


def backend_service(source: str) -> str:
    """``c2m`` for an IVR invite, ``prmsg`` for a proactive campaign, ``ams`` for a
    conversation's message (the SDK's field)."""
    if source == Source.CONVERSATION:
        return "ams"
    return "c2m" if source == Source.IVR_DEFLECTION else "prmsg"


@dataclass(frozen=True)
class CampaignInfo:
    """Why an outbound message was sent, as the SDK reads it (``campaignInfo``)."""

    campaign_id: str | None
    campaign_name: str | None
    call_id: str | None
    skill: str

    def to_json(self) -> dict[str, str | None]:
        return {
            "campaignId": self.campaign_id,
            "campaignName": self.campaign_name,
            "callId": self.call_id,
            "skill": self.skill,
        }


@dataclass(frozen=True)
class OutboundPayload:
    """The message as the mobile SDK receives it, by push (APNs, FCM, the brand's push proxy),
    on the consumer's live stream, and from ``pending-outbound``.

    An outbound message (``prmsg``, ``c2m``) says why it was sent (``campaign_info``); a
    conversation's message (``ams``) says which conversation it belongs to
    (``conversation_id``) instead."""

    push_message_id: str  # the delivery ID: receipts name it
    message: str
    backend_service: str  # prmsg | c2m | ams
    lookback_seconds: int
    campaign_info: CampaignInfo | None
    conversation_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return sdk_fields(
            self.push_message_id,
            self.message,
            self.backend_service,
            self.lookback_seconds,
            self.campaign_info.to_json() if self.campaign_info is not None else None,
            self.conversation_id,
        )


def sdk_fields(
    push_message_id: str,
    message: str,
    backend_service: str,
    lookback_seconds: int,
    campaign_info: Mapping[str, Any] | None,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """The message in the SDK's field names: the one place they are written. ``campaignInfo``
    only for an outbound message, ``conversationId`` only for a conversation's."""
    fields: dict[str, Any] = {
        "pushMessageId": push_message_id,
        "message": message,
        "backendService": backend_service,
        "lookBackPeriod": lookback_seconds,
    }
    if campaign_info is not None:
        fields["campaignInfo"] = campaign_info
    if conversation_id is not None:
        fields["conversationId"] = conversation_id
    return fields


class PayloadSource(Protocol):
    """A delivery (row or claimed delivery): what ``outbound_payload`` reads of it."""

    @property
    def id(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def skill(self) -> str: ...
    @property
    def lookback_seconds(self) -> int: ...
    @property
    def message_text(self) -> str | None: ...
    @property
    def variables(self) -> dict[str, str] | None: ...


def outbound_payload(delivery: PayloadSource, origin: Origin, channel: str) -> OutboundPayload:
    """The one builder of the outbound message a consumer's app receives."""
    return OutboundPayload(
        push_message_id=str(delivery.id),
        message=message_text(origin, channel, delivery.message_text, delivery.variables),
        backend_service=backend_service(delivery.source),
        lookback_seconds=delivery.lookback_seconds,
        campaign_info=origin.campaign_info(delivery.skill),
    )


class ConversationPushSource(Protocol):
    """A conversation's push (row or claimed delivery): what ``conversation_payload`` reads."""

    @property
    def id(self) -> int: ...
    @property
    def lookback_seconds(self) -> int: ...
    @property
    def message_text(self) -> str | None: ...
    @property
    def conversation_id(self) -> str | None: ...


def conversation_payload(delivery: ConversationPushSource) -> OutboundPayload:
    """The push of an agent's or bot's message (``ams``): its text and its conversation."""
    return OutboundPayload(
        push_message_id=str(delivery.id),
        message=delivery.message_text or "",
        backend_service=backend_service(Source.CONVERSATION),
        lookback_seconds=delivery.lookback_seconds,
        campaign_info=None,
        conversation_id=delivery.conversation_id,
    )
