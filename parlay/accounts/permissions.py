"""Who may do what: roles of staff users and scopes of API keys, per permission.

This table is the single source of truth; every route names the permission it needs, and the
role/scope matrix test walks every route against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from parlay.accounts.limits import RateLimits


class Role(StrEnum):
    ADMIN = "admin"
    CAMPAIGN_MANAGER = "campaign_manager"
    AGENT_MANAGER = "agent_manager"
    AGENT = "agent"


class Scope(StrEnum):
    C2M = "c2m"
    PROACTIVE = "proactive"
    REPORTING = "reporting"
    HANDOFFS_READ = "handoffs:read"
    WEBHOOKS = "webhooks"


class Permission(StrEnum):
    SETTINGS_READ = "settings:read"
    SETTINGS_WRITE = "settings:write"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    APIKEYS_MANAGE = "apikeys:manage"
    SKILLS_READ = "skills:read"
    SKILLS_WRITE = "skills:write"
    HANDOFFS_READ = "handoffs:read"
    HANDOFFS_WRITE = "handoffs:write"
    APPS_READ = "apps:read"
    APPS_WRITE = "apps:write"
    CHANNELS_READ = "channels:read"
    CHANNELS_WRITE = "channels:write"
    C2M = "c2m"
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    REPORTING = "reporting"
    WEBHOOKS_MANAGE = "webhooks:manage"
    AGENT_WORKSPACE = "agent:workspace"
    AGENT_SUPERVISE = "agent:supervise"


@dataclass(frozen=True)
class Grant:
    roles: frozenset[Role] = field(default_factory=frozenset)
    scopes: frozenset[Scope] = field(default_factory=frozenset)


def _grant(roles: tuple[Role, ...] = (), scopes: tuple[Scope, ...] = ()) -> Grant:
    return Grant(frozenset(roles), frozenset(scopes))


_A, _CM, _AM, _AG = Role.ADMIN, Role.CAMPAIGN_MANAGER, Role.AGENT_MANAGER, Role.AGENT

GRANTS: dict[Permission, Grant] = {
    Permission.SETTINGS_READ: _grant((_A,)),
    Permission.SETTINGS_WRITE: _grant((_A,)),
    Permission.USERS_READ: _grant((_A, _AM)),
    Permission.USERS_WRITE: _grant((_A,)),
    Permission.APIKEYS_MANAGE: _grant((_A,)),
    # Skill names appear in handoffs, campaigns and routing: every staff role may list them.
    # No API key: "an API key only reaches what its scopes name", and no scope names it.
    Permission.SKILLS_READ: _grant((_A, _CM, _AM, _AG)),
    Permission.SKILLS_WRITE: _grant((_A,)),
    Permission.HANDOFFS_READ: _grant((_A, _CM, _AM), (Scope.HANDOFFS_READ,)),
    Permission.HANDOFFS_WRITE: _grant((_A, _CM)),
    Permission.APPS_READ: _grant((_A, _CM)),
    Permission.APPS_WRITE: _grant((_A, _CM)),
    # The account's Twilio and WhatsApp accounts: what it pays providers for, admins only.
    Permission.CHANNELS_READ: _grant((_A,)),
    Permission.CHANNELS_WRITE: _grant((_A,)),
    Permission.C2M: _grant((), (Scope.C2M,)),
    Permission.CAMPAIGNS_READ: _grant((_A, _CM), (Scope.PROACTIVE,)),
    Permission.CAMPAIGNS_WRITE: _grant((_A, _CM), (Scope.PROACTIVE,)),
    Permission.REPORTING: _grant((_A, _CM, _AM), (Scope.REPORTING,)),
    Permission.WEBHOOKS_MANAGE: _grant((_A,), (Scope.WEBHOOKS,)),
    Permission.AGENT_WORKSPACE: _grant((_AG, _AM)),
    Permission.AGENT_SUPERVISE: _grant((_AM,)),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user (login token) or a brand system (API key), of one account."""

    account_id: str
    kind: Literal["user", "apikey"]
    subject_id: int
    name: str
    roles: frozenset[str]
    scopes: frozenset[str]
    # The account's limits (a brand system's families are counted per account).
    rate_limits: RateLimits
    user_type: str | None = None
    # An API key whose recorded last use is older than LAST_USED_PRECISION (see accounts.auth).
    last_use_unrecorded: bool = False

    def can(self, permission: Permission) -> bool:
        grant = GRANTS[permission]
        if self.kind == "user":
            return any(role in self.roles for role in grant.roles)
        return any(scope in self.scopes for scope in grant.scopes)
