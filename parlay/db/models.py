"""Every table, imported in one place so Alembic and tests see the whole schema."""

from parlay.accounts.models import AccessToken, Account, ApiKey, Skill, User, UserSkill
from parlay.db.base import Base
from parlay.handoffs.models import Handoff
from parlay.idempotency.models import IdempotencyRecord

__all__ = [
    "AccessToken",
    "Account",
    "ApiKey",
    "Base",
    "Handoff",
    "IdempotencyRecord",
    "Skill",
    "User",
    "UserSkill",
]
