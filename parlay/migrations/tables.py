"""Every table, imported in one place so Alembic and tests see the whole schema."""

from parlay.accounts.models import (
    AccessToken,
    Account,
    ApiKey,
    ApiKeyToken,
    OAuthNonce,
    Skill,
    User,
    UserSkill,
    WebSession,
)
from parlay.apps.models import App, Device
from parlay.c2m.models import Call
from parlay.campaigns.models import Campaign
from parlay.consumers.models import Consumer, SmsOptOut, WhatsAppWindow
from parlay.conversations.models import Conversation, Message
from parlay.delivery.counts import DeliveryCount, DeliveryReasonCount
from parlay.delivery.models import Delivery, DeliveryEvent
from parlay.handoffs.models import Handoff
from parlay.lib.db.base import Base
from parlay.lib.idempotency.models import IdempotencyRecord
from parlay.lib.secretbox.models import SecretKeyCheck
from parlay.messaging.models import ChannelAccount, InboundTaken
from parlay.webhooks.models import WebhookAttempt, WebhookOutboxEvent, WebhookSubscription

__all__ = [
    "AccessToken",
    "Account",
    "ApiKey",
    "ApiKeyToken",
    "App",
    "Base",
    "Call",
    "Campaign",
    "ChannelAccount",
    "Consumer",
    "Conversation",
    "Delivery",
    "DeliveryCount",
    "DeliveryEvent",
    "DeliveryReasonCount",
    "Device",
    "Handoff",
    "IdempotencyRecord",
    "InboundTaken",
    "Message",
    "OAuthNonce",
    "SecretKeyCheck",
    "Skill",
    "SmsOptOut",
    "User",
    "UserSkill",
    "WebSession",
    "WebhookAttempt",
    "WebhookOutboxEvent",
    "WebhookSubscription",
    "WhatsAppWindow",
]
