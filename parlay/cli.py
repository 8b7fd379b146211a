"""The ``parlay`` command: serve, migrate, and bootstrap accounts and keys."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from parlay.config import Settings, get_settings
from parlay.lib.db.engine import Database
from parlay.lib.observability.logging import configure_logging
from parlay.lib.secretbox import (
    SecretBox,
    SecretKeyError,
    StoredInClear,
    UndecryptableSecret,
    generate_key,
    key_file,
)
from parlay.lib.secretbox.check import WrongSecretKey

# Errors an operator fixes by configuration: one line each, never a traceback.
_OPERATOR_ERRORS = (SecretKeyError, WrongSecretKey, UndecryptableSecret, StoredInClear)

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

    from parlay.migrations import MigrationRefused

    try:
        return asyncio.run(job())
    except (MigrationRefused, *_OPERATOR_ERRORS) as exc:
        _fail(str(exc))
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
@click.version_option(package_name="parlay", message="parlay %(version)s")
def main() -> None:
    """Parlay: IVR deflection and proactive messaging over push, SMS and WhatsApp."""


def _optional_box(settings: Settings) -> SecretBox | None:
    """The key when PARLAY_SECRET_KEY is set (a migration that needs one and was not given one
    says so itself)."""
    if settings.secret_key is None:
        return None
    try:
        return SecretBox.from_setting(settings.secret_key)
    except SecretKeyError as exc:
        _fail(str(exc))


@main.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def migrate(revision: str) -> None:
    """Bring the database schema up to date (stored secrets are encrypted with
    PARLAY_SECRET_KEY)."""
    from parlay.migrations import upgrade

    box = _optional_box(get_settings())
    _run(lambda db: upgrade(db, revision, secrets=box))
    click.echo(f"database migrated to {revision}")


@main.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Take the schema back to REVISION (``base`` removes every table)."""
    from parlay.migrations import downgrade as do_downgrade

    box = _optional_box(get_settings())
    _run(lambda db: do_downgrade(db, revision, secrets=box))
    click.echo(f"database downgraded to {revision}")


@main.group("secret-key")
def secret_key() -> None:
    """PARLAY_SECRET_KEY: the key the stored push credentials are encrypted with."""


@secret_key.command("generate")
def secret_key_generate() -> None:
    """Print a new key (a Fernet key: 32 random bytes, URL-safe base64)."""
    click.echo(generate_key())


@secret_key.command("reencrypt")
def secret_key_reencrypt() -> None:
    """Encrypt every stored secret again with the first key of PARLAY_SECRET_KEY (after a
    rotation: then the older keys may be removed)."""
    from parlay.accounts.usecases import reencrypt_oauth_keys
    from parlay.apps.usecases import reencrypt_secrets
    from parlay.lib.clock import SystemClock
    from parlay.lib.db.uow import Signals, Transactions
    from parlay.messaging.usecases import reencrypt as reencrypt_channels

    settings = get_settings()
    box = _required_box(settings)

    async def job(db: Database) -> tuple[int, int, int]:
        tx = Transactions(db, SystemClock(), Signals(), idempotency_ttl=settings.idempotency_ttl)
        return (
            await reencrypt_secrets(tx, box),
            await reencrypt_channels(tx, box),
            await reencrypt_oauth_keys(tx, box),
        )

    apps, channels, keys = _run(job, settings)
    click.echo(
        f"{apps} app(s) with the webhook secrets, {channels} SMS/WhatsApp account(s) and {keys} "
        "OAuth key(s) re-encrypted with the first key of PARLAY_SECRET_KEY; the keys after it are "
        "no longer needed"
    )


def _required_box(settings: Settings) -> SecretBox:
    try:
        return SecretBox.from_setting(settings.secret_key)
    except SecretKeyError as exc:
        _fail(str(exc))


def demo_key_path(database_url: str) -> Path:
    """Where the demo keeps its key: beside its SQLite database file, else in the working
    directory."""
    return _demo_file(database_url, "secret-key")


def demo_credentials_path(database_url: str) -> Path:
    """Where the demo keeps the credentials it printed when it was seeded (beside its key)."""
    return _demo_file(database_url, "demo-credentials")


def _demo_file(database_url: str, suffix: str) -> Path:
    try:
        url = make_url(database_url)
    except ArgumentError:
        url = None
    if url is not None and url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database)
            return path.with_name(f"{path.name}.{suffix}")
    return Path(f"parlay-demo.{suffix}")


def _with_secret_key(settings: Settings, *, demo: bool) -> tuple[Settings, SecretBox, list[str]]:
    """The settings with their key, the key, and what the start-up report says of it. Without
    PARLAY_SECRET_KEY, the demo keeps a key of its own in a file; anything else refuses."""
    if settings.secret_key is not None or not demo:
        return settings, _required_box(settings), []
    path = demo_key_path(settings.database_url)
    try:
        key, made = key_file(path)
    except (OSError, SecretKeyError) as exc:
        _fail(f"the demo's secret key file {path}: {exc}")
    said = "generated and kept in" if made else "read from"
    lines = [
        f"secret key: {said} {path} (demo only: production sets PARLAY_SECRET_KEY; "
        "losing this file makes the stored push credentials unreadable)"
    ]
    return settings.model_copy(update={"secret_key": key}), SecretBox([key]), lines


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

    from parlay.api.middleware import MAX_HEADER_BYTES
    from parlay.migrations import upgrade
    from parlay.runtime import build_app, check_secret_key, startup_report

    # Before the database, the key file or anything else: a second `make run` beside a running
    # one must change nothing and say why in one line (uvicorn would only fail after start-up).
    _require_free_port(host, port)
    settings = get_settings()
    if demo and "PARLAY_SANDBOX_CHANNELS" not in os.environ:
        # SMS and WhatsApp go to the sandbox; in-app pushes really go out, through the demo
        # app's push proxy, which is this server's /demo/push-proxy (the demo phone).
        settings = settings.model_copy(update={"sandbox_channels": "sms,wa"})
    if demo and "PARLAY_ALLOW_PRIVATE_URLS" not in os.environ:
        # A demo tries things on this machine: push proxies and key endpoints on localhost.
        settings = settings.model_copy(update={"allow_private_urls": True})
    settings, box, key_lines = _with_secret_key(settings, demo=demo)
    if demo:
        # The web tool's sign-in page shows the demo login (never without --demo).
        kept = demo_credentials_path(settings.database_url)
        settings = settings.model_copy(
            update={
                "web_demo_credentials_file": kept,
                # The demo phone: its consumer-JWT key beside the database, and its app's push
                # proxy on this very server.
                "demo_phone_key_file": _demo_file(settings.database_url, "consumer-key.pem"),
                "demo_phone_url": settings.public_url or f"http://{_url_host(host)}:{port}",
            }
        )
    configure_logging(settings.log_level, json=settings.log_json)

    async def prepare(db: Database) -> list[str]:
        await upgrade(db, secrets=box)
        key_lines.extend(await check_secret_key(db, box))
        report = await startup_report(
            db,
            settings,
            demo=demo,
            host=host,
            port=port,
            credentials_file=demo_credentials_path(settings.database_url) if demo else None,
        )
        return report + key_lines

    for line in _run(prepare, settings):
        click.echo(line, err=True)
    app = build_app(settings, run_api=run_api, run_worker=run_worker)
    # h11, not httptools: httptools takes request headers of any size (32 MB were accepted before
    # any authentication); h11 refuses a head larger than the limit while reading it. It costs
    # ~0.14 ms a request on this machine's loopback (0.61 against 0.75 ms a round trip).
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        http="h11",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )


def _url_host(host: str) -> str:
    """``host`` as a URL writes it: a wildcard means this machine, IPv6 in brackets."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding it
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _require_free_port(host: str, port: int) -> None:
    """Exit with one line when ``host:port`` cannot be bound. SO_REUSEADDR as uvicorn sets it, so
    a port in TIME_WAIT from a stopped server counts as free, a listening one as taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        _fail(f"--host {host}: {exc.strerror}")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                _fail(
                    f"port {port} is in use (another Parlay?); stop it or run "
                    f"make run PORT={port + 1}"
                )
            _fail(f"cannot listen on {host}:{port}: {exc.strerror}")


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
    from parlay.runtime import check_secret_key, run_worker

    settings, box, _ = _with_secret_key(get_settings(), demo=False)
    configure_logging(settings.log_level, json=settings.log_json)

    async def prepare(db: Database) -> list[str]:
        await upgrade(db, secrets=box)
        return await check_secret_key(db, box)

    for line in _run(prepare, settings):
        click.echo(line, err=True)
    asyncio.run(run_worker(settings))


@main.command()
@_host
@_port
def api(host: str, port: int) -> None:
    """Run the HTTP API (scale-out: several of these plus workers); it sends the IVR invites it
    queues itself, campaigns are left to the workers."""
    _serve(host, port, demo=False, run_api=True, run_worker=False)


# ``parlay campaign|users|skills|handoffs``: commands on the API client (docs/cli.md), in Typer.
# Imported only when one of them runs: the server's commands load neither Typer, Rich nor the
# client.
_CLIENT_COMMANDS = {
    "campaign": "Send and follow campaigns on a running Parlay (docs/cli.md).",
    "users": "Staff users of an account on a running Parlay.",
    "skills": "Skills of an account on a running Parlay.",
    "handoffs": "Handoffs of an account on a running Parlay.",
}


def _client_command(name: str, summary: str) -> click.Command:
    def run(args: tuple[str, ...]) -> None:
        from parlay.console.app import run_group

        run_group(name, list(args))

    return click.Command(
        name,
        callback=run,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        help=summary,
        context_settings={"ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )


for _name, _summary in _CLIENT_COMMANDS.items():
    main.add_command(_client_command(_name, _summary))
