"""Conversations as agents and consumers see them: typed views the API maps to JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parlay.conversations.models import Conversation, Message


@dataclass(frozen=True)
class MessageView:
    id: str
    sender: str  # consumer | agent | bot | system | outbound
    text: str
    time: datetime

    @classmethod
    def of(cls, m: Message) -> MessageView:
        return cls(str(m.id), m.sender, m.text, m.created_at)


@dataclass(frozen=True)
class ConversationSummary:
    conversation_id: str
    state: str
    skill: str | None
    channel: str
    assigned_agent: str | None
    source: str | None
    created_at: datetime
    queued_at: datetime | None
    assigned_at: datetime | None
    accepted_at: datetime | None
    last_message_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, c: Conversation) -> ConversationSummary:
        return cls(**_summary_fields(c))


@dataclass(frozen=True)
class QueueEntry(ConversationSummary):
    position: int  # 1 = next in its skill's queue


def _summary_fields(c: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": c.id,
        "state": c.state,
        "skill": c.skill,
        "channel": c.channel,
        "assigned_agent": str(c.assigned_agent_id) if c.assigned_agent_id is not None else None,
        "source": c.source,
        "created_at": c.created_at,
        "queued_at": c.queued_at,
        "assigned_at": c.assigned_at,
        "accepted_at": c.accepted_at,
        "last_message_at": c.last_message_at,
        "closed_at": c.closed_at,
    }


def queue_entry(c: Conversation, position: int) -> QueueEntry:
    return QueueEntry(**_summary_fields(c), position=position)


@dataclass(frozen=True)
class AgentStatus:
    agent_id: str
    state: str
    skills: list[str]
    max_concurrent_conversations: int
    open_conversations: int


@dataclass(frozen=True)
class ConversationInfo:
    start_time: datetime
    conversation_id: str
    channel: str


@dataclass(frozen=True)
class CampaignContext:
    """Which campaign or IVR call the conversation answers, under which handoff, routed to which
    skill. An IVR deflection has no campaign: ``campaign_name`` is None, ``call_id`` names it."""

    campaign_name: str | None
    engagement_name: str | None
    skill: str
    source: str
    campaign_id: str | None
    call_id: str | None
    handoff_id: str
    delivery_id: str

    def to_json(self) -> dict[str, Any]:
        """As stored in the conversation's ``context`` column (API casing)."""
        return {
            "campaignName": self.campaign_name,
            "engagementName": self.engagement_name,
            "skill": self.skill,
            "source": self.source,
            "campaignId": self.campaign_id,
            "callId": self.call_id,
            "handoffId": self.handoff_id,
            "deliveryId": self.delivery_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CampaignContext:
        return cls(
            campaign_name=data.get("campaignName"),
            engagement_name=data.get("engagementName"),
            skill=str(data.get("skill")),
            source=str(data.get("source")),
            campaign_id=data.get("campaignId"),
            call_id=data.get("callId"),
            handoff_id=str(data.get("handoffId")),
            delivery_id=str(data.get("deliveryId")),
        )


@dataclass(frozen=True)
class ConsumerContext:
    """Who wrote: the device they wrote from (in-app) and the IVR call's data."""

    consumer_id: str | None
    phone: str | None
    device_id: str | None
    device_os: str | None
    device: str | None
    app_id: str | None
    country: str | None
    city: str | None
    ivr_number: str | None
    sdes: list[Any] | None  # the IVR's structured data about the caller, as the brand sent it

    def to_json(self) -> dict[str, Any]:
        """As stored in the conversation's ``context`` column (API casing)."""
        return {
            "consumerId": self.consumer_id,
            "phone": self.phone,
            "deviceId": self.device_id,
            "deviceOs": self.device_os,
            "device": self.device,
            "appId": self.app_id,
            "country": self.country,
            "city": self.city,
            "ivrNumber": self.ivr_number,
            "sdes": self.sdes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConsumerContext:
        return cls(
            consumer_id=data.get("consumerId"),
            phone=data.get("phone"),
            device_id=data.get("deviceId"),
            device_os=data.get("deviceOs"),
            device=data.get("device"),
            app_id=data.get("appId"),
            country=data.get("country"),
            city=data.get("city"),
            ivr_number=data.get("ivrNumber"),
            sdes=data.get("sdes"),
        )


@dataclass(frozen=True)
class ContextView:
    """Why the conversation exists: the campaign part and the consumer part as frozen when it
    opened, and the conversation itself."""

    campaign: CampaignContext | None
    consumer: ConsumerContext | None
    conversation: ConversationInfo


@dataclass(frozen=True)
class OutboundMessageView:
    delivery_id: str
    channel: str
    text: str | None
    source: str
    campaign_name: str | None
    skill: str
    status: str
    sent_time: datetime | None
    started_conversation: bool


@dataclass(frozen=True)
class AgentConversation:
    conversation_id: str
    state: str
    skill: str | None
    assigned_agent: str | None
    channel: str
    source: str | None
    context: ContextView
    outbound_messages: list[OutboundMessageView]
    messages: list[MessageView]
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class ConsumerConversation:
    conversation_id: str
    state: str
    channel: str
    created_at: datetime
    closed_at: datetime | None
    messages: list[MessageView]
