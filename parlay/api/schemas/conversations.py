"""Request and response shapes of the conversation APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictInt, field_validator

from parlay.api.schemas.base import RequestModel, ResponseModel
from parlay.lib.text import MAX_MESSAGE_LENGTH, message_text_problem

Sender = Literal["consumer", "agent", "bot", "system", "outbound"]


def _text(value: str) -> str:
    problem = message_text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class RatingIn(RequestModel):
    score: StrictInt = Field(ge=1, le=5, description="1 (worst) to 5 (best).")


class RatingOut(ResponseModel):
    conversation_id: str
    score: int


class ConsumerMessageIn(RequestModel):
    text: str = Field(
        max_length=MAX_MESSAGE_LENGTH, description="Text and emoji only: 1–1,000 characters, NFC."
    )
    device_id: str | None = Field(
        default=None,
        max_length=255,
        description="The registered device writing (shown to the agent); default: the "
        "consumer's most recently used device.",
    )

    _check_text = field_validator("text")(_text)


class AgentMessageIn(RequestModel):
    text: str = Field(
        max_length=MAX_MESSAGE_LENGTH, description="Text and emoji only: 1–1,000 characters, NFC."
    )

    _check_text = field_validator("text")(_text)


class StateIn(RequestModel):
    state: Literal["ONLINE", "AWAY", "OFFLINE"]


class TransferIn(RequestModel):
    skill: str = Field(min_length=1, max_length=255)


class MessageOut(ResponseModel):
    id: str
    sender: Sender
    text: str
    time: datetime


class ConsumerMessageOut(ResponseModel):
    conversation_id: str
    message: MessageOut


class ConsumerConversationOut(ResponseModel):
    conversation_id: str
    state: Literal["OPEN", "CLOSED"]
    channel: str
    created_at: datetime
    closed_at: datetime | None
    messages: list[MessageOut]


class AgentStatusOut(ResponseModel):
    agent_id: str
    state: Literal["ONLINE", "AWAY", "OFFLINE"]
    skills: list[str]
    max_concurrent_conversations: int
    open_conversations: int


class ConversationSummary(ResponseModel):
    conversation_id: str
    state: Literal["OPEN", "CLOSED"]
    skill: str | None
    channel: str
    assigned_agent: str | None
    source: str | None = Field(description="PROACTIVE, IVR_DEFLECTION, or null: unattributed.")
    created_at: datetime
    queued_at: datetime | None
    assigned_at: datetime | None
    accepted_at: datetime | None
    last_message_at: datetime | None
    closed_at: datetime | None


class QueueEntry(ConversationSummary):
    position: int = Field(description="1 = next in its skill's queue.")


class ConversationList(ResponseModel):
    conversations: list[ConversationSummary]
    next_cursor: str | None = Field(
        default=None,
        description="state=CLOSED: pass as ``cursor`` for the next page; null on the last page.",
    )


class QueueList(ResponseModel):
    queue: list[QueueEntry]


class CampaignContext(ResponseModel):
    campaign_name: str | None
    engagement_name: str | None
    skill: str
    source: Literal["PROACTIVE", "IVR_DEFLECTION"]
    campaign_id: str | None
    call_id: str | None
    handoff_id: str
    delivery_id: str


class ConsumerContext(ResponseModel):
    consumer_id: str | None
    phone: str | None
    device_id: str | None
    device_os: str | None
    device: str | None
    app_id: str | None
    country: str | None
    city: str | None
    ivr_number: str | None
    sdes: list[Any] | None


class ConversationInfo(ResponseModel):
    start_time: datetime
    conversation_id: str
    channel: str


class ConversationContext(ResponseModel):
    campaign: CampaignContext | None = Field(description="Null for an unattributed conversation.")
    consumer: ConsumerContext | None
    conversation: ConversationInfo


class OutboundMessageOut(ResponseModel):
    delivery_id: str
    channel: str
    text: str | None
    source: str
    campaign_name: str | None
    skill: str
    status: str
    sent_time: datetime | None
    started_conversation: bool


class AgentConversationOut(ResponseModel):
    conversation_id: str
    state: Literal["OPEN", "CLOSED"]
    skill: str | None
    assigned_agent: str | None
    channel: str
    source: str | None
    context: ConversationContext
    outbound_messages: list[OutboundMessageOut]
    messages: list[MessageOut]
    created_at: datetime
    closed_at: datetime | None
