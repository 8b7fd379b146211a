"""Every table, imported in one place so Alembic and tests see the whole schema."""

from parlay.accounts.models import AccessToken, Account, ApiKey, Skill, User, UserSkill
from parlay.apps.models import App
from parlay.consumers.models import Consumer, Device, SmsOptOut
from parlay.conversations.models import Conversation, Message
from parlay.db.base import Base
from parlay.handoffs.models import Handoff
from parlay.idempotency.models import IdempotencyRecord
from parlay.outbound.models import Call, Campaign, Delivery

__all__ = [
    "AccessToken",
    "Account",
    "ApiKey",
    "App",
    "Base",
    "Call",
    "Campaign",
    "Consumer",
    "Conversation",
    "Delivery",
    "Device",
    "Handoff",
    "Message",
    "IdempotencyRecord",
    "Skill",
    "SmsOptOut",
    "User",
    "UserSkill",
]
