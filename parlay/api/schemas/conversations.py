"""Request and response shapes of the conversation APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictInt, field_validator

from parlay.api.schemas.base import RequestModel, ResponseModel, examples
from parlay.lib.text import MAX_MESSAGE_LENGTH, message_text_problem

Sender = Literal["consumer", "agent", "bot", "system", "outbound"]

_CONVERSATION_ID = "0f8c3b0e-6a53-4d0e-9a57-2f1c8f2b7d11"
_ID = "The conversation's ID."
_STATE = "OPEN or CLOSED."
_CHANNEL = "inapp, sms or wa."
_SKILL = "The skill whose queue it is in; null: none yet."
_AGENT = "The assigned agent's user ID; null: waiting in the queue."
_CREATED = "When it opened (UTC)."
_CLOSED = "When it closed (UTC); null while open."


def _text(value: str) -> str:
    problem = message_text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class RatingIn(RequestModel):
    model_config = examples({"score": 5})

    score: StrictInt = Field(ge=1, le=5, description="1 (worst) to 5 (best).")


class RatingOut(ResponseModel):
    model_config = examples({"conversationId": _CONVERSATION_ID, "score": 5})

    conversation_id: str = Field(description="The conversation rated.")
    score: int = Field(description="1 (worst) to 5 (best).")


class ConsumerMessageIn(RequestModel):
    model_config = examples({"text": "Yes, please renew it", "deviceId": "8c1f0e2a-install"})

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
    model_config = examples({"text": "Done: your plan is renewed until January 2027."})

    text: str = Field(
        max_length=MAX_MESSAGE_LENGTH, description="Text and emoji only: 1–1,000 characters, NFC."
    )

    _check_text = field_validator("text")(_text)


class StateIn(RequestModel):
    model_config = examples({"state": "ONLINE"})

    state: Literal["ONLINE", "AWAY", "OFFLINE"] = Field(
        description="ONLINE takes new conversations; AWAY and OFFLINE take none."
    )


class TransferIn(RequestModel):
    model_config = examples({"skill": "sales"})

    skill: str = Field(
        min_length=1, max_length=255, description="The skill whose queue takes it next."
    )


_MESSAGE = {
    "id": "9051",
    "sender": "agent",
    "text": "Done: your plan is renewed until January 2027.",
    "time": "2026-01-05T16:12:30Z",
}


class MessageOut(ResponseModel):
    model_config = examples(_MESSAGE)

    id: str = Field(description="The message's ID.")
    sender: Sender = Field(
        description="consumer, agent, bot, system (welcome, transfer notes) or outbound "
        "(the message that started it)."
    )
    text: str = Field(description="The text.")
    time: datetime = Field(description="When it was written (UTC).")


class ConsumerMessageOut(ResponseModel):
    model_config = examples(
        {"conversationId": _CONVERSATION_ID, "message": {**_MESSAGE, "sender": "consumer"}}
    )

    conversation_id: str = Field(description="The conversation it went to (opened if none).")
    message: MessageOut = Field(description="The message as stored.")


class ConsumerConversationOut(ResponseModel):
    model_config = examples(
        {
            "conversationId": _CONVERSATION_ID,
            "state": "OPEN",
            "channel": "inapp",
            "createdAt": "2026-01-05T16:11:02Z",
            "closedAt": None,
            "messages": [_MESSAGE],
        }
    )

    conversation_id: str = Field(description=_ID)
    state: Literal["OPEN", "CLOSED"] = Field(description=_STATE)
    channel: str = Field(description=_CHANNEL)
    created_at: datetime = Field(description=_CREATED)
    closed_at: datetime | None = Field(description=_CLOSED)
    messages: list[MessageOut] = Field(description="Oldest first.")


class AgentStatusOut(ResponseModel):
    model_config = examples(
        {
            "agentId": "12",
            "state": "ONLINE",
            "skills": ["billing"],
            "maxConcurrentConversations": 5,
            "openConversations": 2,
        }
    )

    agent_id: str = Field(description="The agent's user ID.")
    state: Literal["ONLINE", "AWAY", "OFFLINE"] = Field(
        description="ONLINE takes new conversations; AWAY and OFFLINE take none."
    )
    skills: list[str] = Field(description="The skills whose queues the agent serves.")
    max_concurrent_conversations: int = Field(description="Open conversations it takes at once.")
    open_conversations: int = Field(description="Open conversations assigned to it now.")


_SUMMARY = {
    "conversationId": _CONVERSATION_ID,
    "state": "OPEN",
    "skill": "billing",
    "channel": "inapp",
    "assignedAgent": "12",
    "source": "PROACTIVE",
    "createdAt": "2026-01-05T16:11:02Z",
    "queuedAt": "2026-01-05T16:11:02Z",
    "assignedAt": "2026-01-05T16:11:05Z",
    "acceptedAt": "2026-01-05T16:11:40Z",
    "lastMessageAt": "2026-01-05T16:12:30Z",
    "closedAt": None,
}


class ConversationSummary(ResponseModel):
    model_config = examples(_SUMMARY)

    conversation_id: str = Field(description=_ID)
    state: Literal["OPEN", "CLOSED"] = Field(description=_STATE)
    skill: str | None = Field(description=_SKILL)
    channel: str = Field(description=_CHANNEL)
    assigned_agent: str | None = Field(description=_AGENT)
    source: str | None = Field(description="PROACTIVE, IVR_DEFLECTION, or null: unattributed.")
    created_at: datetime = Field(description=_CREATED)
    queued_at: datetime | None = Field(description="When it entered its skill's queue.")
    assigned_at: datetime | None = Field(description="When an agent was assigned.")
    accepted_at: datetime | None = Field(description="When the agent accepted it.")
    last_message_at: datetime | None = Field(description="Its latest message.")
    closed_at: datetime | None = Field(description=_CLOSED)


class QueueEntry(ConversationSummary):
    model_config = examples(
        {**_SUMMARY, "assignedAgent": None, "assignedAt": None, "acceptedAt": None, "position": 1}
    )

    position: int = Field(description="1 = next in its skill's queue.")


class ConversationList(ResponseModel):
    model_config = examples({"conversations": [_SUMMARY], "nextCursor": None})

    conversations: list[ConversationSummary] = Field(description="The conversations listed.")
    next_cursor: str | None = Field(
        default=None,
        description="state=CLOSED: pass as ``cursor`` for the next page; null on the last page.",
    )


class QueueList(ResponseModel):
    model_config = examples(
        {
            "queue": [
                {
                    **_SUMMARY,
                    "assignedAgent": None,
                    "assignedAt": None,
                    "acceptedAt": None,
                    "position": 1,
                }
            ]
        }
    )

    queue: list[QueueEntry] = Field(description="Waiting conversations, next first.")


class CampaignContext(ResponseModel):
    campaign_name: str | None = Field(description="The campaign's name; null for an invite.")
    engagement_name: str | None = Field(description="The handoff's name.")
    skill: str = Field(description="The skill the reply was routed to.")
    source: Literal["PROACTIVE", "IVR_DEFLECTION"] = Field(
        description="A campaign (PROACTIVE) or an IVR invite (IVR_DEFLECTION)."
    )
    campaign_id: str | None = Field(description="The campaign, if any.")
    call_id: str | None = Field(description="The C2M call, if any.")
    handoff_id: str = Field(description="The handoff the message was sent with.")
    delivery_id: str = Field(description="The delivery whose reply opened it.")


class ConsumerContext(ResponseModel):
    consumer_id: str | None = Field(description="The in-app consumer ID, if any.")
    phone: str | None = Field(description="The consumer's number (E.164), if any.")
    device_id: str | None = Field(description="The device that wrote, in-app.")
    device_os: str | None = Field(description="Its OS version.")
    device: str | None = Field(description="Its model.")
    app_id: str | None = Field(description="Its app.")
    country: str | None = Field(description="As the device registered it.")
    city: str | None = Field(description="As the device registered it.")
    ivr_number: str | None = Field(description="The IVR number the consumer called, for C2M.")
    sdes: list[Any] | None = Field(
        description="Engagement attributes given with the call or the campaign's consumer."
    )


class ConversationInfo(ResponseModel):
    start_time: datetime = Field(description=_CREATED)
    conversation_id: str = Field(description=_ID)
    channel: str = Field(description=_CHANNEL)


class ConversationContext(ResponseModel):
    campaign: CampaignContext | None = Field(description="Null for an unattributed conversation.")
    consumer: ConsumerContext | None = Field(description="Who the consumer is, as known.")
    conversation: ConversationInfo = Field(description="The conversation itself.")


class OutboundMessageOut(ResponseModel):
    delivery_id: str = Field(description="The delivery.")
    channel: str = Field(description="inapp, sms or wa.")
    text: str | None = Field(description="The text sent; null for a WhatsApp template.")
    source: str = Field(description="PROACTIVE or IVR_DEFLECTION.")
    campaign_name: str | None = Field(description="Its campaign's name, if any.")
    skill: str = Field(description="The skill replies route to.")
    status: str = Field(description="The delivery status (SENT, READ, ...).")
    sent_time: datetime | None = Field(description="When a provider took it (UTC).")
    started_conversation: bool = Field(description="Whether the reply to it opened this one.")


class AgentConversationOut(ResponseModel):
    model_config = examples(
        {
            "conversationId": _CONVERSATION_ID,
            "state": "OPEN",
            "skill": "billing",
            "assignedAgent": "12",
            "channel": "inapp",
            "source": "PROACTIVE",
            "context": {
                "campaign": {
                    "campaignName": "January renewals",
                    "engagementName": "Renewals",
                    "skill": "billing",
                    "source": "PROACTIVE",
                    "campaignId": "3f0c9a7e-5b2d-4c18-a6e0-f1b2c3d4e5f6",
                    "callId": None,
                    "handoffId": "H1001",
                    "deliveryId": "48213",
                },
                "consumer": {
                    "consumerId": "ann-42",
                    "phone": None,
                    "deviceId": "8c1f0e2a-install",
                    "deviceOs": "18.2",
                    "device": "iPhone16,2",
                    "appId": "com.acme.app",
                    "country": "US",
                    "city": "San Francisco",
                    "ivrNumber": None,
                    "sdes": None,
                },
                "conversation": {
                    "startTime": "2026-01-05T16:11:02Z",
                    "conversationId": _CONVERSATION_ID,
                    "channel": "inapp",
                },
            },
            "outboundMessages": [
                {
                    "deliveryId": "48213",
                    "channel": "inapp",
                    "text": "Hi Ann, your renewal is ready",
                    "source": "PROACTIVE",
                    "campaignName": "January renewals",
                    "skill": "billing",
                    "status": "READ",
                    "sentTime": "2026-01-05T16:10:00Z",
                    "startedConversation": True,
                }
            ],
            "messages": [_MESSAGE],
            "createdAt": "2026-01-05T16:11:02Z",
            "closedAt": None,
        }
    )

    conversation_id: str = Field(description=_ID)
    state: Literal["OPEN", "CLOSED"] = Field(description=_STATE)
    skill: str | None = Field(description=_SKILL)
    assigned_agent: str | None = Field(description=_AGENT)
    channel: str = Field(description=_CHANNEL)
    source: str | None = Field(description="PROACTIVE, IVR_DEFLECTION, or null: unattributed.")
    context: ConversationContext = Field(
        description="What led to it: the campaign or call, and the consumer."
    )
    outbound_messages: list[OutboundMessageOut] = Field(
        description="The outbound messages sent to the consumer within the lookback."
    )
    messages: list[MessageOut] = Field(description="Oldest first.")
    created_at: datetime = Field(description=_CREATED)
    closed_at: datetime | None = Field(description=_CLOSED)
