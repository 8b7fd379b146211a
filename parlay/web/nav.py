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
    NavItem("Skills", "/app/skills", Permission.SKILLS_READ),
)


def visible_pages(principal: Principal, pages: tuple[NavItem, ...] = PAGES) -> list[NavItem]:
    return [page for page in pages if principal.can(page.permission)]
