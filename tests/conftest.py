"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

Under ``CI=true`` a missing PostgreSQL or Redis is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from parlay import migrations as migrate
from parlay.accounts import secrets
from parlay.accounts import service as accounts
from parlay.accounts.limits import RateLimits
from parlay.app import create_app
from parlay.bootstrap import Container, build_container
from parlay.config import Settings
from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database
from parlay.lib.http.urls import UrlPolicy
from parlay.migrations.tables import Base
from tests.fakes.dns import fake_dns

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_ADMIN_URL = os.environ.get(
    "PARLAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PARLAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_PASSWORD = "correct horse battery"
# PARLAY_SECRET_KEY of the suite (a Fernet key made for it): every Settings a test builds has it.
TEST_SECRET_KEY = "oFYnto2RbHqLXtKZaz69mKzh8gKVIjEscW2J64EchWg="


def unavailable(what: str, why: object) -> None:
    """Skip on a laptop without the service; fail in CI, where it must be there."""
    message = f"{what} is not reachable: {why}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing service is a failure)")
    pytest.skip(message)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.edge``: the test's cases run on SQLite only (their PostgreSQL twins are
    deselected). They are about what the edge accepts (a body's fields, a token, a header),
    which no database changes: each case on both doubled their cost for nothing. Everything
    that stores or reads runs on both."""
    twins = {
        item
        for item in items
        if isinstance(item, pytest.Function)
        and item.get_closest_marker("edge") is not None
        and hasattr(item, "callspec")
        and item.callspec.params.get("database_url") == "postgresql"
    }
    if twins:
        config.hook.pytest_deselected(items=list(twins))
        items[:] = [item for item in items if item not in twins]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still Argon2id, at a fraction of the cost: tests are about behaviour, not hashing cost.
    (Server processes that tests start run with the production parameters.)"""
    cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    monkeypatch.setattr(secrets, "_hasher", cheap)


# --- databases ----------------------------------------------------------------------------


def _pg_url(database: str) -> str:
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (dropped at the end)."""
    name = f"parlay_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL", exc)
    # A commit does not wait for its WAL to reach the disk: a crash of the server could lose the
    # last commits of a database that is dropped at the end anyway. Nothing a test sees changes.
    asyncio.run(_pg_admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    url = _pg_url(name)

    async def prepare() -> None:
        db = Database(url, pool_size=1)
        await migrate.upgrade(db)
        await db.dispose()

    asyncio.run(prepare())
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"

    async def prepare() -> None:
        db = Database(f"sqlite:///{path}", pool_size=1)
        await migrate.upgrade(db)
        await db.dispose()  # the last connection to close checkpoints the WAL into the file

    asyncio.run(prepare())
    return path


# Emptied between tests by DELETE, dependents first, and every sequence back at 1: a test leaves a
# few rows, and TRUNCATE of the 33 tables cost 200-400 ms a test here (new files for each table),
# the DELETEs ~3 ms.
_EMPTY = """
DO $$
DECLARE s record;
BEGIN
  {deletes}
  FOR s IN SELECT c.oid::regclass AS name FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'S' AND n.nspname = current_schema() LOOP
    PERFORM setval(s.name, 1, false);
  END LOOP;
END $$;
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database; each test using it runs once per dialect."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "parlay.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    deletes = " ".join(f'DELETE FROM "{t.name}";' for t in reversed(Base.metadata.sorted_tables))

    async def empty() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(_EMPTY.format(deletes=deletes))
        finally:
            await conn.close()

    asyncio.run(empty())
    return url


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    # In-app on the sandbox too: tests of the real push clients build their own settings.
    # Live streams end at once: the route sweeps call them like any other route.
    # Staff and agents are limited far above what a test asks, so that tests of other rules never
    # meet a 429 by accident (tests/ratelimit sets its own).
    # The URL policy lifted, as in the demo (the provider and JWKS fakes listen on 127.0.0.1),
    # unless the test is marked production_urls.
    # Unaccepted conversations are never taken back in the background: tests that move the clock
    # would race it; the rule's tests call the use case themselves.
    return Settings(
        database_url=database_url,
        redis_url=None,
        log_json=False,
        sandbox_channels="inapp,sms,wa",
        events_max_seconds=0.05,
        staff_rate_limit_per_second=10_000,
        agent_rate_limit_per_second=10_000,
        allow_private_urls=request.node.get_closest_marker("production_urls") is None,
        secret_key=TEST_SECRET_KEY,
        conversation_accept_timeout_seconds=0,
    )


@pytest.fixture
def url_policy(settings: Settings) -> UrlPolicy:
    """The settings' URL policy, resolving names with ``tests/fakes/dns.py`` (no real DNS)."""
    return UrlPolicy(allow_private=settings.allow_private_urls, resolver=fake_dns)


@pytest.fixture
async def container(settings: Settings, url_policy: UrlPolicy) -> AsyncIterator[Container]:
    c = build_container(settings, urls=url_policy)
    yield c
    await c.close()


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container.services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://parlay.test") as c:
        yield c


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The app, for looking at its routes only (its database is never opened)."""
    container = build_container(
        Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", secret_key=TEST_SECRET_KEY)
    )
    yield create_app(container.services)
    await container.close()


# --- Redis ------------------------------------------------------------------------------


@pytest.fixture
async def redis_url() -> str:
    """Real Redis, when reachable (required under CI)."""
    conn = aioredis.from_url(REDIS_URL)
    try:
        await conn.ping()
    except (OSError, aioredis.RedisError) as exc:
        unavailable("Redis", exc)
    finally:
        await conn.aclose()
    return REDIS_URL


# --- accounts and credentials ---------------------------------------------------------------


@dataclass
class Brand:
    """One account under test, with helpers to mint credentials of any role or scope."""

    id: str
    container: Container
    client: httpx.AsyncClient
    admin_token: str = ""
    _tokens: dict[tuple[str, ...], str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"/api/account/{self.id}"

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.auth(self.admin_token)

    async def user_token(self, *roles: str, type: str = "human") -> str:
        """A logged-in user holding exactly ``roles`` (created once per role set)."""
        cache_key = (type, *sorted(roles))
        if cache_key not in self._tokens:
            username = f"{type}-{'-'.join(sorted(roles)) or 'none'}-{uuid.uuid4().hex[:6]}"
            async with self.container.db.write() as session:
                await accounts.create_user(
                    session,
                    self.id,
                    username=username,
                    password=TEST_PASSWORD,
                    roles=list(roles),
                    type=type,
                    now=SystemClock().now(),
                )
            self._tokens[cache_key] = await self.login(username)
        return self._tokens[cache_key]

    async def login(self, username: str, password: str = TEST_PASSWORD) -> str:
        response = await self.client.post(
            f"{self.url}/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["accessToken"]
        return token

    async def api_key(self, *scopes: str) -> str:
        async with self.container.db.write() as session:
            key, _ = await accounts.create_api_key(
                session, self.id, f"key-{'-'.join(scopes)}", list(scopes), SystemClock().now()
            )
        return key

    async def skill(self, name: str) -> None:
        async with self.container.db.write() as session:
            if await accounts.find_skill(session, self.id, name) is None:
                await accounts.create_skill(session, self.id, name, SystemClock().now())

    async def set_rate_limit(self, per_second: int) -> None:
        """Every per-account limit (c2m, proactive, reporting, consumer) to ``per_second``."""
        async with self.container.db.write() as session:
            account = await accounts.get_account(session, self.id)
            RateLimits(per_second, per_second, per_second, per_second).store(account)


async def make_brand(
    container: Container,
    client: httpx.AsyncClient,
    account_id: str,
    *,
    rate_limit: int | None = 10_000,
) -> Brand:
    """An account with an admin and the skills 'general' and 'billing'.

    The rate limit is raised so that tests of other rules never meet a 429 by accident.
    """
    now = SystemClock().now()
    async with container.db.write() as session:
        await accounts.create_account(
            session,
            account_id,
            f"Brand {account_id}",
            now=now,
            rate_limits=(
                RateLimits(rate_limit, rate_limit, rate_limit, rate_limit)
                if rate_limit is not None
                else RateLimits()
            ),
        )
        await accounts.create_user(
            session, account_id, username="admin", password=TEST_PASSWORD, roles=["admin"], now=now
        )
        for skill in ("general", "billing"):
            await accounts.create_skill(session, account_id, skill, now)
    brand = Brand(account_id, container, client)
    brand.admin_token = await brand.login("admin")
    return brand


@pytest.fixture
async def brand(container: Container, client: httpx.AsyncClient) -> Brand:
    return await make_brand(container, client, "acme")


@pytest.fixture
async def other_brand(container: Container, client: httpx.AsyncClient) -> Brand:
    return await make_brand(container, client, "globex")


def problem(response: httpx.Response) -> dict[str, Any]:
    """The problem+json body of an error response (asserting that it is one)."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "errorCode", "errorMessage"} <= body.keys()
    return body
