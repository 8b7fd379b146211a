"""The pages of the web tool and who may open them: the nav shows a user only those."""

from __future__ import annotations

from dataclasses import dataclass

from parlay.accounts.permissions import Permission, Principal


@dataclass(frozen=True)
class NavItem:
    title: str
    path: str  # under /app/
    permission: Permission  # the permission the page's GET route declares


# In the order the nav shows them. A new page adds its line here (docs/web-tool.md).
PAGES: tuple[NavItem, ...] = (
    NavItem("Workspace", "/app/workspace", Permission.AGENT_WORKSPACE),
    NavItem("Dashboard", "/app/dashboard", Permission.REPORTING),
    NavItem("Campaigns", "/app/campaigns", Permission.CAMPAIGNS_READ),
    NavItem("Handoffs", "/app/handoffs", Permission.HANDOFFS_READ),
    NavItem("Skills", "/app/skills", Permission.SKILLS_READ),
    NavItem("Users and agents", "/app/users", Permission.USERS_READ),
    NavItem("API keys", "/app/apikeys", Permission.APIKEYS_MANAGE),
    NavItem("Webhooks", "/app/webhooks", Permission.WEBHOOKS_MANAGE),
    NavItem("Apps", "/app/apps", Permission.APPS_READ),
    NavItem("Channels", "/app/channels", Permission.CHANNELS_READ),
    NavItem("Settings", "/app/settings", Permission.SETTINGS_READ),
)


def visible_pages(principal: Principal, pages: tuple[NavItem, ...] = PAGES) -> list[NavItem]:
    return [page for page in pages if principal.can(page.permission)]
