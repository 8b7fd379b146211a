"""The ``parlay`` command (the bootstrap CLI, and running it)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from parlay import migrations as migrate
from parlay.accounts.models import ApiKey, User
from parlay.accounts.secrets import verify_password
from parlay.app import create_app
from parlay.apps.credentials import push_app
from parlay.apps.models import App
from parlay.bootstrap import build_container
from parlay.cli import demo_credentials_path, demo_key_path, main
from parlay.config import Settings, get_settings
from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database
from parlay.lib.secretbox import SecretBox, generate_key
from parlay.runtime import sandbox_banner, startup_report
from tests.conftest import TEST_SECRET_KEY
from tests.servers import free_port

PARLAY = Path(sys.executable).with_name("parlay")


@pytest.fixture
def database_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """PARLAY_DATABASE_URL at a new SQLite file, as the CLI reads it from the environment."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    for name in list(os.environ):
        if name.startswith("PARLAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PARLAY_DATABASE_URL", url)
    get_settings.cache_clear()  # the settings are read once per process
    yield url
    get_settings.cache_clear()


def parlay(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def create_acme() -> None:
    assert parlay("migrate").exit_code == 0
    created = parlay(
        "account", "create", "acme", "--name", "Acme", "--admin-user", "root",
        "--admin-password", "s3cret-pass",
    )  # fmt: skip
    assert created.exit_code == 0, created.output


def test_migrate_brings_a_new_database_to_the_newest_revision(database_file: str) -> None:
    result = parlay("migrate")

    assert result.exit_code == 0, result.output
    assert "migrated to head" in result.stdout

    async def current() -> str | None:
        db = Database(database_file)
        try:
            return await migrate.current_revision(db)
        finally:
            await db.dispose()

    assert asyncio.run(current()) == migrate.head_revision()


def test_created_account_and_json_api_key_work_against_the_app(database_file: str) -> None:
    create_acme()

    result = parlay(
        "apikey", "create", "acme", "--name", "ivr", "--scopes", "handoffs:read,c2m", "--json"
    )

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["accountId"] == "acme"
    assert printed["scopes"] == ["handoffs:read", "c2m"]

    async def call_app() -> tuple[int, int]:
        container = build_container(
            Settings(database_url=database_file, secret_key=TEST_SECRET_KEY)
        )
        transport = httpx.ASGITransport(app=create_app(container.services))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                with_key = await client.get(
                    "/api/account/acme/handoffs",
                    headers={"Authorization": f"Bearer {printed['key']}"},
                )
                login = await client.post(
                    "/api/account/acme/login",
                    json={"username": "root", "password": "s3cret-pass"},
                )
        finally:
            await container.close()
        return with_key.status_code, login.status_code

    assert asyncio.run(call_app()) == (200, 200)


def test_a_second_account_with_the_same_id_is_refused(database_file: str) -> None:
    create_acme()

    result = parlay(
        "account", "create", "acme", "--name", "Other", "--admin-user", "x",
        "--admin-password", "12345678",
    )  # fmt: skip

    assert result.exit_code != 0
    assert "error: account 'acme' already exists" in result.stderr


def test_an_api_key_for_an_unknown_account_is_refused(database_file: str) -> None:
    create_acme()

    result = parlay("apikey", "create", "globex", "--name", "ivr", "--scopes", "c2m")

    assert result.exit_code != 0
    assert "no account 'globex'" in result.stderr
    assert result.stdout == ""


def test_an_unknown_scope_is_refused_and_named(database_file: str) -> None:
    create_acme()

    result = parlay("apikey", "create", "acme", "--name", "ivr", "--scopes", "c2m,everything")

    assert result.exit_code != 0
    assert "everything" in result.stderr
    assert result.stdout == ""


def test_commands_on_an_unmigrated_database_say_what_to_do(database_file: str) -> None:
    result = parlay(
        "account", "create", "acme", "--name", "Acme", "--admin-user", "root",
        "--admin-password", "s3cret-pass",
    )  # fmt: skip

    assert result.exit_code != 0
    assert "parlay migrate" in result.stderr
    assert "Traceback" not in result.output


def test_an_unreachable_database_is_one_line_not_a_traceback(
    database_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLAY_DATABASE_URL", "postgresql://parlay@127.0.0.1:1/parlay")
    get_settings.cache_clear()

    result = parlay("migrate")

    assert result.exit_code != 0
    assert result.stderr.startswith("error: database:")
    assert "Traceback" not in result.output


# --- parlay serve, as a real process -------------------------------------------------------


class Served:
    """``parlay serve`` running as a child process; its output collected in a file."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.port = free_port()
        self.log = tmp_path / "serve.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLAY_")}
        env["PARLAY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
        if "--demo" not in args:  # the demo keeps a key of its own
            env["PARLAY_SECRET_KEY"] = TEST_SECRET_KEY
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(PARLAY), "serve", "--port", str(self.port), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"no {pattern!r} in the output of parlay serve:\n{self.output()}")

    def wait_until_healthy(self, client: httpx.Client, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if client.get(f"{self.url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"parlay serve never became healthy:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.mark.slow
def test_serve_demo_starts_and_prints_credentials_that_log_in(tmp_path: Path) -> None:
    served = Served(tmp_path, "--demo")
    try:
        login = served.wait_for_output(r"POST \S+/api/account/(\w+)/login (\{.*\})")
        key = served.wait_for_output(r"API key\s+(\S+)").group(1)
        with httpx.Client(timeout=5) as client:
            served.wait_until_healthy(client)
            assert client.get(f"{served.url}/healthz").status_code == 200
            assert client.get(f"{served.url}/docs").status_code == 200

            account = login.group(1)
            token = client.post(
                f"{served.url}/api/account/{account}/login", json=json.loads(login.group(2))
            )
            assert token.status_code == 200, token.text
            bearer = {"Authorization": f"Bearer {token.json()['accessToken']}"}
            assert (
                client.get(
                    f"{served.url}/api/account/{account}/settings", headers=bearer
                ).status_code
                == 200
            )
            with_key = {"Authorization": f"Bearer {key}"}
            assert (
                client.get(
                    f"{served.url}/api/account/{account}/handoffs", headers=with_key
                ).status_code
                == 200
            )
    finally:
        served.stop()


@pytest.mark.slow
def test_serve_on_an_empty_database_tells_how_to_create_an_account(tmp_path: Path) -> None:
    served = Served(tmp_path)
    try:
        served.wait_for_output(r"no account yet")
        output = served.output()
        assert "parlay account create" in output
        assert "parlay apikey create" in output
        assert "--demo" in output
    finally:
        served.stop()


# --- PARLAY_SECRET_KEY ----------------------------------------------------------------------


def use_key(monkeypatch: pytest.MonkeyPatch, key: str | None) -> None:
    if key is None:
        monkeypatch.delenv("PARLAY_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("PARLAY_SECRET_KEY", key)
    get_settings.cache_clear()


@pytest.mark.parametrize("command", [["serve"], ["api"], ["worker"]])
def test_serve_api_and_worker_refuse_to_start_without_a_secret_key(
    database_file: str, command: list[str]
) -> None:
    result = parlay(*command)

    assert result.exit_code == 1
    assert result.stderr.startswith("error: PARLAY_SECRET_KEY is not set")
    assert "parlay secret-key generate" in result.stderr
    assert "Traceback" not in result.output
    assert not Path(database_file.removeprefix("sqlite:///")).exists(), "nothing was started"


def test_a_malformed_secret_key_is_one_line(
    database_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_key(monkeypatch, f"{TEST_SECRET_KEY},not-a-key")

    result = parlay("worker")

    assert result.exit_code == 1
    assert "key 2 of 2 is not a Fernet key" in result.stderr
    assert "Traceback" not in result.output


def test_secret_key_generate_prints_a_new_key() -> None:
    first, second = parlay("secret-key", "generate"), parlay("secret-key", "generate")
    assert first.exit_code == 0
    SecretBox([first.stdout.strip()])
    assert first.stdout != second.stdout


def store_plaintext_proxy_app(database_file: str) -> None:
    """An app as revisions before 0006 stored it: its secret in clear."""

    async def store() -> None:
        db = Database(database_file)
        try:
            async with db.write() as session:
                now = SystemClock().now()
                session.add(
                    App(
                        account_id="acme",
                        app_id="com.acme.proxied",
                        platform="android",
                        push_service="proxy",
                        credentials={
                            "service": "proxy",
                            "url": "https://push.acme.example/notify",
                            "secret": "proxy-hmac-secret-0123456789",
                        },
                        created_at=now,
                        updated_at=now,
                    )
                )
        finally:
            await db.dispose()

    asyncio.run(store())


def stored_app(database_file: str) -> App:
    async def read() -> App:
        db = Database(database_file)
        try:
            async with db.read() as session:
                app: App | None = await session.scalar(select(App))
                assert app is not None
                return app
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_migrate_encrypts_stored_secrets_and_without_a_key_refuses(
    database_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parlay("migrate", "--revision", "0005").exit_code == 0
    create_acme()  # migrates to head: no app yet, no key needed
    assert parlay("downgrade", "0005").exit_code == 0
    store_plaintext_proxy_app(database_file)

    refused = parlay("migrate")
    assert refused.exit_code == 1
    assert "PARLAY_SECRET_KEY is not set, and 1 app(s) hold push credentials" in refused.stderr
    assert "Nothing was changed" in refused.stderr
    assert "Traceback" not in refused.output
    assert stored_app(database_file).credentials["secret"] == "proxy-hmac-secret-0123456789"

    use_key(monkeypatch, TEST_SECRET_KEY)
    assert parlay("migrate").exit_code == 0
    app = stored_app(database_file)
    assert "proxy-hmac-secret" not in json.dumps(app.credentials)
    proxy = push_app(app, SecretBox([TEST_SECRET_KEY])).proxy
    assert proxy is not None
    assert proxy.secret == "proxy-hmac-secret-0123456789"


def test_a_process_whose_key_cannot_read_the_secrets_refuses_to_start(
    database_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_key(monkeypatch, TEST_SECRET_KEY)
    assert parlay("migrate").exit_code == 0  # records the key check

    use_key(monkeypatch, generate_key())
    result = parlay("worker")

    assert result.exit_code == 1
    assert "PARLAY_SECRET_KEY cannot decrypt the secrets stored in this database" in result.stderr
    assert "Traceback" not in result.output


def test_reencrypt_moves_every_secret_to_the_first_key(
    database_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parlay("migrate", "--revision", "0005").exit_code == 0
    create_acme()
    assert parlay("downgrade", "0005").exit_code == 0
    store_plaintext_proxy_app(database_file)
    use_key(monkeypatch, TEST_SECRET_KEY)
    assert parlay("migrate").exit_code == 0
    new_key = generate_key()

    use_key(monkeypatch, new_key)
    assert parlay("secret-key", "reencrypt").exit_code == 1  # the old key is needed to read

    use_key(monkeypatch, f"{new_key},{TEST_SECRET_KEY}")
    result = parlay("secret-key", "reencrypt")

    assert result.exit_code == 0, result.output
    assert (
        "1 app(s) with the webhook secrets, 0 SMS/WhatsApp account(s) and 0 OAuth key(s) "
        "re-encrypted" in result.stdout
    )
    proxy = push_app(stored_app(database_file), SecretBox([new_key])).proxy
    assert proxy is not None
    assert proxy.secret == "proxy-hmac-secret-0123456789"
    use_key(monkeypatch, new_key)  # the old key is no longer needed, even to start
    assert "cannot decrypt" not in parlay("secret-key", "reencrypt").output


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///./parlay.db", "parlay.db.secret-key"),
        ("sqlite:////var/lib/parlay/p.db", "/var/lib/parlay/p.db.secret-key"),
        ("sqlite://", "parlay-demo.secret-key"),
        ("sqlite:///:memory:", "parlay-demo.secret-key"),
        ("postgresql://parlay@db/parlay", "parlay-demo.secret-key"),
    ],
)
def test_the_demo_keeps_its_key_beside_its_sqlite_database(url: str, path: str) -> None:
    assert demo_key_path(url) == Path(path)


@pytest.mark.slow
def test_serve_demo_makes_a_key_once_and_keeps_it(tmp_path: Path) -> None:
    key_path = tmp_path / "serve.db.secret-key"
    served = Served(tmp_path, "--demo")
    try:
        served.wait_for_output(rf"secret key: generated and kept in {key_path}")
        served.wait_for_output(r"API key")
    finally:
        served.stop()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = key_path.read_text()
    SecretBox([key.strip()])

    again = Served(tmp_path, "--demo")
    try:
        again.wait_for_output(rf"secret key: read from {key_path}")
        again.wait_for_output(r"demo account 'demo' already seeded")
    finally:
        again.stop()
    assert key_path.read_text() == key


def test_version_is_the_installed_package_version() -> None:
    from importlib.metadata import version

    result = parlay("--version")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"parlay {version('parlay')}"


def test_a_busy_port_is_one_line_and_nothing_is_touched(tmp_path: Path, database_file: str) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]

        result = parlay("serve", "--demo", "--port", str(port))

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: port {port} is in use (another Parlay?); stop it or run make run PORT={port + 1}\n"
    )
    assert list(tmp_path.iterdir()) == []  # no database, no key file


def test_the_demo_is_seeded_once_and_later_starts_point_to_its_credentials(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = Settings(database_url=url, secret_key=TEST_SECRET_KEY, sandbox_channels="inapp,sms")
    kept = demo_credentials_path(url)

    async def start_twice() -> tuple[list[str], list[str], int, str | None]:
        db = Database(url)
        try:
            await migrate.upgrade(db, secrets=SecretBox([TEST_SECRET_KEY]))
            first = await startup_report(
                db, settings, demo=True, host="h", port=1, credentials_file=kept
            )
            second = await startup_report(
                db, settings, demo=True, host="h", port=1, credentials_file=kept
            )
            async with db.read() as session:
                keys = len((await session.scalars(select(ApiKey))).all())
                password = await session.scalar(
                    select(User.password_hash).where(User.username == "admin")
                )
        finally:
            await db.dispose()
        return first, second, keys, password

    first, second, keys, password_hash = asyncio.run(start_twice())

    login = next(line for line in first if '"password"' in line)
    assert login in kept.read_text()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    key = next(line for line in first if "API key " in line).split()[2]
    assert key not in "\n".join(second)
    assert not any('"password"' in line for line in second)
    assert f"demo account 'demo' already seeded: its admin login and API key are in {kept}" in (
        "\n".join(second)
    )
    assert keys == 1
    password = json.loads(login[login.index("{") :])["password"]
    assert password_hash is not None
    assert verify_password(password, password_hash)
    assert any(line.startswith("sandbox: inapp, sms sends go to the sandbox") for line in first)


def test_the_banner_says_when_no_channel_is_forced_to_the_sandbox() -> None:
    (line,) = sandbox_banner(Settings(sandbox_channels=""))

    assert line.startswith("sandbox: none forced")
