"""Bootstrap data: the first account and admin, API keys from the CLI, the demo account."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from parlay.accounts import service
from parlay.accounts.models import Account
from parlay.accounts.permissions import Role, Scope
from parlay.config import Settings
from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database

DEMO_ACCOUNT = "demo"
DEMO_ADMIN = "admin"
DEMO_SKILL = "general"


async def create_account_with_admin(
    db: Database,
    settings: Settings,
    account_id: str,
    name: str,
    admin_user: str,
    admin_password: str,
) -> None:
    now = SystemClock().now()
    async with db.write() as session:
        await service.create_account(
            session,
            account_id,
            name,
            now=now,
        )
        await service.create_user(
            session,
            account_id,
            username=admin_user,
            password=admin_password,
            roles=[Role.ADMIN.value],
            now=now,
        )


async def create_api_key(db: Database, account_id: str, name: str, scopes: Sequence[str]) -> str:
    now = SystemClock().now()
    async with db.write() as session:
        await service.get_account(session, account_id)
        key, _ = await service.create_api_key(session, account_id, name, scopes, now)
    return key


@dataclass(frozen=True)
class DemoCredentials:
    account_id: str
    username: str
    password: str
    api_key: str


async def seed_demo(db: Database, settings: Settings) -> DemoCredentials | None:
    """Create the demo account, its admin and an all-scope API key, once: None when the account
    is already there. A second start must not change what the first printed (a server still
    running on those credentials would lose its admin login), nor pile up keys."""
    now = SystemClock().now()
    password = secrets.token_urlsafe(12)
    async with db.write() as session:
        if await session.get(Account, DEMO_ACCOUNT) is not None:
            return None
        await service.create_account(session, DEMO_ACCOUNT, "Demo brand", now=now)
        await service.create_skill(session, DEMO_ACCOUNT, DEMO_SKILL, now)
        await service.create_user(
            session,
            DEMO_ACCOUNT,
            username=DEMO_ADMIN,
            password=password,
            roles=[Role.ADMIN.value],
            now=now,
        )
        key, _ = await service.create_api_key(
            session, DEMO_ACCOUNT, f"demo-{now:%Y%m%d%H%M%S}", [s.value for s in Scope], now
        )
    return DemoCredentials(DEMO_ACCOUNT, DEMO_ADMIN, password, key)


@dataclass(frozen=True)
class DemoLogin:
    account_id: str
    username: str
    password: str


def read_demo_login(path: Path) -> DemoLogin | None:
    """The demo admin's login from the file ``parlay serve --demo`` keeps it in (its login line
    carries ``{"username": ..., "password": ...}``); None when there is none to read."""
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        start = line.find("{")
        if "admin login" not in line or start < 0:
            continue
        try:
            body = json.loads(line[start:])
        except ValueError:
            return None
        username, password = body.get("username"), body.get("password")
        if isinstance(username, str) and isinstance(password, str):
            return DemoLogin(DEMO_ACCOUNT, username, password)
    return None
