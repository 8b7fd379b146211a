"""The ``parlay`` command: serve, migrate, and bootstrap accounts and keys."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import click
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from parlay.config import Settings, get_settings
from parlay.lib.db.engine import Database
from parlay.lib.observability.logging import configure_logging

T = TypeVar("T")


def _run(make: Callable[[Database], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run one async job against the configured database, then release it."""
    settings = settings or get_settings()
    try:
        db = Database(settings.database_url, pool_size=2)
    except ValueError as exc:
        _fail(f"PARLAY_DATABASE_URL: {exc}")

    async def job() -> T:
        try:
            return await make(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(job())
    except (SQLAlchemyError, OSError) as exc:
        # An operator needs the cause in one line, not a driver traceback.
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        _fail(
            f"database: {reason}\n"
            "Is PARLAY_DATABASE_URL right, the database reachable and migrated (`parlay migrate`)?"
        )


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """Parlay: IVR deflection and proactive messaging over push, SMS and WhatsApp."""


@main.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def migrate(revision: str) -> None:
    """Bring the database schema up to date."""
    from parlay.migrations import upgrade

    _run(lambda db: upgrade(db, revision))
    click.echo(f"database migrated to {revision}")


@main.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Take the schema back to REVISION (``base`` removes every table)."""
    from parlay.migrations import downgrade as do_downgrade

    _run(lambda db: do_downgrade(db, revision))
    click.echo(f"database downgraded to {revision}")


@main.group()
def account() -> None:
    """Manage accounts (brands)."""


@account.command("create")
@click.argument("account_id")
@click.option("--name", required=True, help="The brand's display name.")
@click.option("--admin-user", required=True, help="Username of the first admin.")
@click.option("--admin-password", required=True, help="At least 8 characters.")
def account_create(account_id: str, name: str, admin_user: str, admin_password: str) -> None:
    """Create an account with its first admin user."""
    from parlay.seed import create_account_with_admin

    settings = get_settings()
    _guard(
        lambda: _run(
            lambda db: create_account_with_admin(
                db, settings, account_id, name, admin_user, admin_password
            )
        )
    )
    click.echo(f"account {account_id} created; admin user {admin_user!r} can log in")


@main.group()
def apikey() -> None:
    """Manage API keys."""


@apikey.command("create")
@click.argument("account_id")
@click.option("--name", required=True, help="What the key is for, e.g. 'ivr'.")
@click.option("--scopes", required=True, help="Comma-separated: c2m,proactive,reporting,...")
@click.option("--json", "as_json", is_flag=True, help="Print the key as JSON.")
def apikey_create(account_id: str, name: str, scopes: str, as_json: bool) -> None:
    """Create an API key and print it once."""
    from parlay.seed import create_api_key

    scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
    key = _guard(lambda: _run(lambda db: create_api_key(db, account_id, name, scope_list)))
    if as_json:
        click.echo(
            json.dumps({"accountId": account_id, "name": name, "scopes": scope_list, "key": key})
        )
    else:
        click.echo(key)


def _guard(action: Callable[[], T]) -> T:
    from parlay.lib.errors import ParlayError

    try:
        return action()
    except ParlayError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)


def _serve(host: str, port: int, *, demo: bool, run_api: bool, run_worker: bool) -> None:
    import uvicorn

    from parlay.migrations import upgrade
    from parlay.runtime import build_app, startup_report

    settings = get_settings()
    if demo and "PARLAY_SANDBOX_CHANNELS" not in os.environ:
        # The demo account has no push credentials: its in-app sends go to the sandbox too.
        settings = settings.model_copy(update={"sandbox_channels": "inapp,sms,wa"})
    if demo and "PARLAY_ALLOW_PRIVATE_URLS" not in os.environ:
        # A demo tries things on this machine: push proxies and key endpoints on localhost.
        settings = settings.model_copy(update={"allow_private_urls": True})
    configure_logging(settings.log_level, json=settings.log_json)

    async def prepare(db: Database) -> list[str]:
        await upgrade(db)
        return await startup_report(db, settings, demo=demo, host=host, port=port)

    for line in _run(prepare, settings):
        click.echo(line, err=True)
    app = build_app(settings, run_api=run_api, run_worker=run_worker)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


_host = click.option("--host", default="127.0.0.1", show_default=True)
_port = click.option("--port", default=8080, show_default=True, type=int)


@main.command()
@_host
@_port
@click.option("--demo", is_flag=True, help="Seed a demo account and print its credentials.")
def serve(host: str, port: int, demo: bool) -> None:
    """Run everything in one process: migrations, API and dispatcher."""
    _serve(host, port, demo=demo, run_api=True, run_worker=True)


@main.command()
def worker() -> None:
    """Run only the dispatcher (scale-out: any number of these beside the API processes)."""
    from parlay.migrations import upgrade
    from parlay.runtime import run_worker

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    _run(upgrade, settings)
    asyncio.run(run_worker(settings))


@main.command()
@_host
@_port
def api(host: str, port: int) -> None:
    """Run the HTTP API only (scale-out: several of these plus workers)."""
    _serve(host, port, demo=False, run_api=True, run_worker=False)
