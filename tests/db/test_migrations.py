"""Migrations build exactly the models' schema, on SQLite and PostgreSQL, and come back down."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from parlay import migrations as migrate
from parlay.accounts import service as accounts
from parlay.apps.credentials import public_view, push_app
from parlay.apps.models import App
from parlay.delivery import lifecycle
from parlay.delivery.lifecycle import ConversationPush
from parlay.delivery.models import Delivery, DeliveryEvent
from parlay.lib.db.engine import Database
from parlay.lib.secretbox import SecretBox, generate_key
from parlay.lib.secretbox.check import KeyState, check_key
from parlay.migrations import MigrationRefused
from parlay.migrations.tables import Base

pytestmark = pytest.mark.anyio

MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture
async def db(empty_database_url: str) -> AsyncIterator[Database]:
    database = Database(empty_database_url, pool_size=1)
    yield database
    await database.dispose()


async def tables(db: Database) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with db.engine.connect() as conn:
        return await conn.run_sync(names)


async def schema(db: Database) -> dict[str, list[str]]:
    """Every table with its columns: what a migration changes."""

    def columns(connection: Connection) -> dict[str, list[str]]:
        inspector = inspect(connection)
        return {
            table: sorted(c["name"] for c in inspector.get_columns(table))
            for table in inspector.get_table_names()
        }

    async with db.engine.connect() as conn:
        return await conn.run_sync(columns)


async def schema_differences(db: Database) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write: nothing, if models and migrations
    agree."""

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        return await conn.run_sync(compare)


def revisions_base_to_head() -> list[Any]:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    return list(reversed(list(scripts.walk_revisions())))


async def test_upgrade_creates_every_model_table_and_matches_the_models(db: Database) -> None:
    await migrate.upgrade(db)

    assert await tables(db) == MODEL_TABLES | {"alembic_version"}
    assert await schema_differences(db) == []
    assert await migrate.current_revision(db) == migrate.head_revision()


async def test_downgrade_to_base_removes_every_table_and_upgrade_rebuilds_them(
    db: Database,
) -> None:
    await migrate.upgrade(db)

    await migrate.downgrade(db, "base")
    assert await tables(db) == {"alembic_version"}
    assert await migrate.current_revision(db) is None

    await migrate.upgrade(db)
    assert await tables(db) == MODEL_TABLES | {"alembic_version"}
    assert await schema_differences(db) == []


async def test_each_revision_goes_one_step_up_and_down(db: Database) -> None:
    revisions = revisions_base_to_head()
    assert revisions, "one line of history from base"
    assert revisions[0].down_revision is None, "one line of history from base"
    await migrate.upgrade(db, revisions[0].revision)
    await migrate.downgrade(db, "base")
    before = await schema(db)  # nothing but alembic_version
    for revision in revisions:
        await migrate.upgrade(db, revision.revision)
        after = await schema(db)
        assert after != before, f"{revision.revision} changes nothing"

        await migrate.downgrade(db, revision.down_revision or "base")
        assert await schema(db) == before, f"{revision.revision} does not undo itself"
        assert await migrate.current_revision(db) == revision.down_revision

        await migrate.upgrade(db, revision.revision)
        assert await schema(db) == after
        before = after
    assert set(before) == MODEL_TABLES | {"alembic_version"}


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
async def test_a_migration_waits_while_another_process_migrates(
    empty_database_url: str, db: Database
) -> None:
    """Scaled out, every process migrates at start: on a new database they must take turns, not
    race to create the same tables. (SQLite's ``BEGIN IMMEDIATE`` already makes them wait.)"""
    other = await asyncpg.connect(empty_database_url)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT pg_advisory_xact_lock($1)", migrate.MIGRATION_LOCK_KEY)

        waiting = asyncio.create_task(migrate.upgrade(db))
        with anyio.move_on_after(5):
            while not await other.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ):
                await anyio.sleep(0.02)
        assert not waiting.done(), "the migration ran while another process held the lock"
        assert await other.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ), "the migration never asked for the migration lock"

        await transaction.commit()
        with anyio.fail_after(10):
            await waiting
    finally:
        await other.close()
    assert await tables(db) == MODEL_TABLES | {"alembic_version"}


# --- 0008: the stored secrets encrypted ---------------------------------------------------------

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
    "-----END PRIVATE KEY-----\n"
)
ACCOUNT_JSON = json.dumps(
    {
        "type": "service_account",
        "project_id": "acme-push",
        "client_email": "parlay@acme-push.iam.gserviceaccount.com",
        "private_key": PEM,
        "token_uri": "https://oauth2.googleapis.com/token",
    }
)
# Rows as revisions before 0008 stored them: every secret in clear.
PLAIN: dict[str, tuple[str, dict[str, Any]]] = {
    "com.acme.ios": (
        "ios",
        {
            "service": "apns",
            "teamId": "TEAM123456",
            "keyId": "KEY1234567",
            "privateKeyPem": PEM,
            "environment": "sandbox",
        },
    ),
    "com.acme.android": (
        "android",
        {"service": "fcm", "serviceAccountJson": ACCOUNT_JSON, "endpoint": None},
    ),
    "com.acme.proxied": (
        "android",
        {
            "service": "proxy",
            "url": "https://push.acme.example/notify",
            "secret": "proxy-hmac-secret-0123456789",
            "basicAuth": {"username": "parlay", "password": "basic-password"},
            "headers": {"X-Api-Key": "header-token"},
        },
    ),
}
SECRETS_IN_CLEAR = ["PRIVATE KEY", "proxy-hmac-secret", "basic-password", "header-token"]


async def store_plaintext_apps(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.write() as session:
        # In SQL: the account model of today has columns revision 0007 does not.
        await session.execute(
            text(
                "INSERT INTO accounts (id, name, welcome_enabled, created_at) "
                "VALUES ('acme', 'Acme', false, :now)"
            ),
            {"now": now},
        )
        for app_id, (platform, credentials) in PLAIN.items():
            session.add(
                App(
                    account_id="acme",
                    app_id=app_id,
                    platform=platform,
                    push_service=credentials["service"],
                    credentials=credentials,
                    created_at=now,
                    updated_at=now,
                )
            )


async def stored_credentials(db: Database) -> dict[str, str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT app_id, CAST(credentials AS TEXT) FROM apps"))
        return {str(app_id): str(doc) for app_id, doc in rows}


async def test_0008_encrypts_the_secrets_of_apps_stored_in_clear_and_downgrade_decrypts(
    db: Database,
) -> None:
    await migrate.upgrade(db, "0007")
    await store_plaintext_apps(db)
    box = SecretBox([generate_key()])

    await migrate.upgrade(db, secrets=box)

    for app_id, doc in (await stored_credentials(db)).items():
        assert '"enc"' in doc, app_id
        for secret in SECRETS_IN_CLEAR:
            assert secret not in doc, (app_id, secret)
    async with db.read() as session:
        apps = {a.app_id: a for a in (await session.execute(select(App))).scalars()}
        assert await check_key(session, box, datetime.now(UTC)) == KeyState.CURRENT
    ios = push_app(apps["com.acme.ios"], box).apns
    assert ios is not None
    assert (ios.private_key_pem, ios.environment, ios.endpoint) == (PEM, "sandbox", None)
    fcm = push_app(apps["com.acme.android"], box).fcm
    assert fcm is not None
    assert fcm.service_account == json.loads(ACCOUNT_JSON)
    assert public_view(apps["com.acme.android"])["fcm"]["projectId"] == "acme-push"
    proxy = push_app(apps["com.acme.proxied"], box).proxy
    assert proxy is not None
    assert (proxy.secret, proxy.basic_auth, proxy.headers) == (
        "proxy-hmac-secret-0123456789",
        ("parlay", "basic-password"),
        {"X-Api-Key": "header-token"},
    )

    await migrate.downgrade(db, "0007", secrets=box)
    async with db.read() as session:
        back = {a.app_id: a.credentials for a in (await session.execute(select(App))).scalars()}
    for app_id, (_, credentials) in PLAIN.items():
        assert {k: v for k, v in back[app_id].items() if v is not None} == {
            k: v for k, v in credentials.items() if v is not None
        }, app_id


async def test_0008_without_a_key_refuses_to_run_and_changes_nothing(db: Database) -> None:
    await migrate.upgrade(db, "0007")
    await store_plaintext_apps(db)

    with pytest.raises(MigrationRefused, match="PARLAY_SECRET_KEY is not set, and 3 app"):
        await migrate.upgrade(db)

    assert await migrate.current_revision(db) == "0007"
    assert "secret_key_check" not in await tables(db)
    stored = await stored_credentials(db)
    assert "proxy-hmac-secret-0123456789" in stored["com.acme.proxied"]


async def test_0008_downgrade_without_the_key_refuses_and_keeps_the_secrets(db: Database) -> None:
    await migrate.upgrade(db, "0007")
    await store_plaintext_apps(db)
    await migrate.upgrade(db, secrets=SecretBox([generate_key()]))

    with pytest.raises(MigrationRefused, match="decrypts"):
        await migrate.downgrade(db, "0007")

    assert await migrate.current_revision(db) == migrate.head_revision()
    assert all('"enc"' in doc for doc in (await stored_credentials(db)).values())


async def test_0008_on_a_database_without_apps_needs_no_key(db: Database) -> None:
    await migrate.upgrade(db)
    assert "secret_key_check" in await tables(db)


# --- 0009: the pushes of conversations' messages -------------------------------------------------


async def test_0009_downgrade_removes_the_pushes_of_conversation_messages_and_their_events(
    db: Database,
) -> None:
    """The code before 0009 has no reading of them (it would take one for an outbound message
    that a consumer answers); outbound deliveries stay."""
    await migrate.upgrade(db)
    now = datetime.now(UTC)
    async with db.write() as session:
        await accounts.create_account(session, "acme", "Acme", now=now)
        push = ConversationPush("acme", "ana", "conv-1", 1, "Hi", None, 3600)
        pushed = await lifecycle.add_conversation_push(session, push, now)
        outbound = Delivery(
            account_id="acme",
            source="PROACTIVE",
            campaign_id="camp-1",
            handoff_id="H1",
            skill="billing",
            priority=10,
            channel="inapp",
            consumer_id="ana",
            lookback_seconds=3600,
            expires_at=now,
            status="QUEUED",
            next_attempt_at=now,
            attempted_time=now,
        )
        session.add(outbound)
        await session.flush()
        for delivery_id in (pushed, outbound.id):
            session.add(
                DeliveryEvent(
                    account_id="acme",
                    delivery_id=delivery_id,
                    sequence=1,
                    kind="FAILED",
                    status="FAILED",
                    occurred_at=now,
                )
            )

    await migrate.downgrade(db, "0008")

    async with db.engine.connect() as conn:
        deliveries = (await conn.execute(text("SELECT id, source FROM deliveries"))).all()
        events = (await conn.execute(text("SELECT delivery_id FROM delivery_events"))).all()
    assert [tuple(row) for row in deliveries] == [(outbound.id, "PROACTIVE")]
    assert [row[0] for row in events] == [outbound.id]


# --- 0015: a campaign's recipients by status, kept -----------------------------------------------


async def test_0015_counts_campaigns_by_status_with_pending_as_queued_and_slots_per_hour(
    db: Database,
) -> None:
    await migrate.upgrade(db)
    now = datetime.now(UTC)

    def delivery(campaign: str | None, status: str, **more: Any) -> Delivery:
        return Delivery(
            account_id="acme",
            source="PROACTIVE",
            campaign_id=campaign,
            handoff_id="H1",
            skill="billing",
            priority=10,
            channel="sms",
            phone="+14155550100",
            lookback_seconds=3600,
            expires_at=now,
            status=status,
            next_attempt_at=now,
            attempted_time=now,
            **more,
        )

    async with db.write() as session:
        await accounts.create_account(session, "acme", "Acme", now=now)
        # Written past the lifecycle, as the deliveries that exist when 0015 runs were.
        retried = delivery("c-1", "FAILED")
        session.add_all([retried, delivery("c-1", "QUEUED"), delivery("c-1", "SCHEDULED")])
        session.add_all(
            [delivery("c-1", "SENT"), delivery("c-2", "FAILED"), delivery(None, "SENT")]
        )
        await session.flush()
        retry = delivery("c-1", "SENT")
        session.add(retry)
        await session.flush()
        retried.superseded_by = retry.id

        # Two slots of one hour and one of the next, as kept before 0015.
        for slot, attempted in ((4000, 2), (4003, 3), (4004, 5)):
            await session.execute(
                text(
                    "INSERT INTO delivery_counts VALUES ('acme', 'PROACTIVE', :slot, 'sms', "
                    ":skill, :attempted, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)"
                ),
                {"slot": slot, "skill": "billing", "attempted": attempted},
            )

    await migrate.downgrade(db, "0014")
    await migrate.upgrade(db)

    async with db.engine.connect() as conn:
        kept = await conn.execute(
            text("SELECT campaign_id, status, account_id, n FROM campaign_status_counts")
        )
        assert sorted(tuple(row) for row in kept) == [
            ("c-1", "QUEUED", "acme", 2),
            ("c-1", "SENT", "acme", 2),
            ("c-2", "FAILED", "acme", 1),
        ]
        hours = await conn.execute(text("SELECT hour, attempted FROM delivery_hour_counts"))
        assert sorted(tuple(row) for row in hours) == [(1000, 5), (1001, 5)]
