"""Secrets at rest: what the database holds of an app's push credentials is encrypted with
PARLAY_SECRET_KEY; the key rotates (newest first); a wrong key says so; a proxy that moves to
another host needs its secret again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from parlay.app import create_app
from parlay.apps.credentials import push_app
from parlay.apps.directory import PushAppDirectory
from parlay.apps.service import get_app
from parlay.apps.usecases import reencrypt_secrets
from parlay.bootstrap import Container, build_container
from parlay.config import Settings
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.secretbox import (
    SecretBox,
    StoredInClear,
    UndecryptableSecret,
    generate_key,
)
from parlay.lib.secretbox.check import KeyState, WrongSecretKey, check_key
from tests.apps.bodies import (
    ANDROID_APP,
    IOS_APP,
    PROXY_APP,
    PROXY_SECRET,
    apns_app,
    fcm_app,
    p256_pem,
    proxy_app,
    rsa_pem,
    service_account,
    service_account_json,
)
from tests.apps.conftest import AppsApi
from tests.conftest import TEST_SECRET_KEY, Brand, problem

pytestmark = pytest.mark.anyio

BASIC_PASSWORD = "basic-auth-password-42"
HEADER_VALUE = "header-token-value-42"
NEW_KEY = generate_key()


def pem_body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def secrets_in_clear() -> list[str]:
    """Strings that must not be found anywhere in the stored rows or the database file."""
    return [
        "PRIVATE KEY",
        pem_body(p256_pem())[20:80],
        pem_body(rsa_pem())[20:80],
        "0123456789abcdef",  # the service account's private_key_id
        PROXY_SECRET,
        BASIC_PASSWORD,
        HEADER_VALUE,
    ]


async def create_all(apps: AppsApi) -> None:
    await apps.create(apns_app())
    await apps.create(fcm_app())
    await apps.create(
        proxy_app(
            basicAuth={"username": "parlay", "password": BASIC_PASSWORD},
            headers={"X-Api-Key": HEADER_VALUE, "X-Brand": "acme"},
        )
    )


async def stored_rows(container: Container) -> list[str]:
    """The credentials column as the database stores it, read with plain SQL."""
    async with container.db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT CAST(credentials AS TEXT) FROM apps"))
        return [str(row[0]) for row in rows]


@asynccontextmanager
async def other_process(
    settings: Settings, url_policy: UrlPolicy, secret_key: str
) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    """Another Parlay process on the same database, started with ``secret_key``."""
    container = build_container(
        settings.model_copy(update={"secret_key": secret_key}), urls=url_policy
    )
    transport = httpx.ASGITransport(app=create_app(container.services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://parlay.test") as client:
            yield container, client
    finally:
        await container.close()


# --- nothing in clear --------------------------------------------------------------------------


async def test_the_stored_credentials_hold_no_secret_in_clear(
    apps: AppsApi, brand: Brand, database_url: str
) -> None:
    await create_all(apps)

    rows = await stored_rows(brand.container)
    assert len(rows) == 3
    for row in rows:
        assert '"enc"' in row
        for secret in secrets_in_clear():
            assert secret not in row, f"{secret[:20]!r} stored in clear: {row[:200]}"
    # What is not secret stays readable (the API shows it without decrypting anything).
    joined = "".join(rows)
    for clear in ("TEAM123456", "acme-push", "push.acme.example", "X-Api-Key", "parlay"):
        assert clear in joined

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        await brand.container.db.dispose()  # checkpoint the WAL into the file
        path = Path(str(url.database))
        files = [path, *path.parent.glob(f"{path.name}-wal")]
        content = b"".join(f.read_bytes() for f in files if f.exists())
        for secret in secrets_in_clear():
            assert secret.encode() not in content, f"{secret[:20]!r} in the database file"


async def test_the_push_clients_get_every_secret_decrypted(apps: AppsApi) -> None:
    await create_all(apps)
    assert (await apps.push_view(IOS_APP)).apns.private_key_pem == p256_pem()  # type: ignore[union-attr]
    assert (await apps.push_view(ANDROID_APP)).fcm.service_account == service_account()  # type: ignore[union-attr]
    proxy = (await apps.push_view(PROXY_APP)).proxy
    assert proxy is not None
    assert proxy.secret == PROXY_SECRET
    assert proxy.basic_auth == ("parlay", BASIC_PASSWORD)
    assert proxy.headers == {"X-Api-Key": HEADER_VALUE, "X-Brand": "acme"}


async def test_a_secret_stored_in_clear_is_refused_not_used(apps: AppsApi, brand: Brand) -> None:
    await apps.create(proxy_app())
    async with brand.container.db.write() as session:
        app = await get_app(session, brand.id, PROXY_APP)
        app.credentials = {**app.credentials, "secret": PROXY_SECRET}
    with pytest.raises(StoredInClear, match=f"app {PROXY_APP}: proxy secret is stored in clear"):
        await apps.push_view(PROXY_APP)


# --- rotation ----------------------------------------------------------------------------------


def opens(key: str) -> Callable[[str], bool]:
    box = SecretBox([key])

    def check(token: str) -> bool:
        try:
            box.decrypt(token)
        except UndecryptableSecret:
            return False
        return True

    return check


def tokens(doc: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if set(value) == {"enc"}:
                found.append(value["enc"])
            for item in value.values():
                walk(item)

    walk(doc)
    return found


async def test_the_old_key_second_still_decrypts_and_a_resave_encrypts_with_the_new_one(
    apps: AppsApi, brand: Brand, settings: Settings, url_policy: UrlPolicy
) -> None:
    await create_all(apps)
    async with other_process(settings, url_policy, f"{NEW_KEY},{TEST_SECRET_KEY}") as (
        rotated,
        client,
    ):
        # Old key second: everything stored before still decrypts.
        directory = PushAppDirectory(rotated.db, rotated.secrets)
        pushes = await directory.apps_of(brand.id)
        assert pushes[PROXY_APP].proxy.secret == PROXY_SECRET  # type: ignore[union-attr]
        assert pushes[IOS_APP].apns.private_key_pem == p256_pem()  # type: ignore[union-attr]

        # A PUT that keeps the stored secret encrypts it again, with the new key.
        response = await client.put(
            f"{brand.url}/apps/{PROXY_APP}",
            json=proxy_app(secret=None, headers={"X-Api-Key": HEADER_VALUE}),
            headers=brand.admin,
        )
        assert response.status_code == 200, response.text
        stored = (await apps.stored(PROXY_APP)).credentials
        assert tokens(stored)
        assert all(opens(NEW_KEY)(t) for t in tokens(stored))
        assert not any(opens(TEST_SECRET_KEY)(t) for t in tokens(stored))
        assert push_app(await apps.stored(PROXY_APP), SecretBox([NEW_KEY])).proxy.secret == (  # type: ignore[union-attr]
            PROXY_SECRET
        )
        # The APNs app was not saved again: still under the old key.
        assert all(
            opens(TEST_SECRET_KEY)(t) for t in tokens((await apps.stored(IOS_APP)).credentials)
        )


async def test_reencrypt_moves_every_secret_and_the_key_check_to_the_new_key(
    apps: AppsApi, brand: Brand, settings: Settings, url_policy: UrlPolicy
) -> None:
    await create_all(apps)
    async with brand.container.db.write() as session:
        assert await check_key(session, brand.container.secrets, brand.container.clock.now()) == (
            KeyState.RECORDED
        )
    async with other_process(settings, url_policy, f"{NEW_KEY},{TEST_SECRET_KEY}") as (
        rotated,
        _,
    ):
        async with rotated.db.write() as session:
            assert await check_key(session, rotated.secrets, rotated.clock.now()) == KeyState.OLDER
        assert await reencrypt_secrets(rotated.tx, rotated.secrets) == 3
        async with rotated.db.write() as session:
            assert await check_key(session, rotated.secrets, rotated.clock.now()) == (
                KeyState.CURRENT
            )
    for app_id in (IOS_APP, ANDROID_APP, PROXY_APP):
        found = tokens((await apps.stored(app_id)).credentials)
        assert found, app_id
        assert all(opens(NEW_KEY)(t) for t in found), app_id
    # The old key can now be dropped: the new one alone reads everything.
    async with other_process(settings, url_policy, NEW_KEY) as (alone, _):
        pushes = await PushAppDirectory(alone.db, alone.secrets).apps_of(brand.id)
        assert pushes[ANDROID_APP].fcm.service_account == service_account()  # type: ignore[union-attr]
        async with alone.db.write() as session:
            assert await check_key(session, alone.secrets, alone.clock.now()) == KeyState.CURRENT
    # ... and the old one alone no longer starts.
    async with other_process(settings, url_policy, TEST_SECRET_KEY) as (old, _):
        async with old.db.write() as session:
            with pytest.raises(WrongSecretKey, match="cannot decrypt the secrets stored"):
                await check_key(session, old.secrets, old.clock.now())


# --- a wrong key -------------------------------------------------------------------------------


async def test_a_wrong_key_gives_a_clear_error(
    apps: AppsApi, brand: Brand, settings: Settings, url_policy: UrlPolicy
) -> None:
    await create_all(apps)
    async with brand.container.db.write() as session:
        await check_key(session, brand.container.secrets, brand.container.clock.now())
    async with other_process(settings, url_policy, NEW_KEY) as (wrong, _):
        with pytest.raises(UndecryptableSecret, match="cannot be decrypted with any key of"):
            await PushAppDirectory(wrong.db, wrong.secrets).apps_of(brand.id)
        async with wrong.db.write() as session:
            with pytest.raises(WrongSecretKey, match="none of its 1 key"):
                await check_key(session, wrong.secrets, wrong.clock.now())


# --- a proxy that moves needs its secret again --------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://push.attacker.example/notify",
        "https://push.acme.example:8443/notify",  # another port is another service
        "http://push.acme.example/notify",
    ],
)
async def test_a_proxy_moved_to_another_host_needs_its_secret_again(
    apps: AppsApi, url: str
) -> None:
    await apps.create(proxy_app())
    response = await apps.put(PROXY_APP, proxy_app(secret=None, url=url))
    assert response.status_code == 400, response.text
    assert [e["field"] for e in problem(response)["errors"]] == ["proxy.secret"]
    assert "another host" in problem(response)["errorMessage"]
    assert (await apps.push_view(PROXY_APP)).proxy.url == "https://push.acme.example/notify"  # type: ignore[union-attr]

    response = await apps.put(PROXY_APP, proxy_app(secret="a-new-secret-0123456789", url=url))
    assert response.status_code == 200, response.text
    assert (await apps.push_view(PROXY_APP)).proxy.secret == "a-new-secret-0123456789"  # type: ignore[union-attr]


async def test_the_same_host_written_otherwise_keeps_the_secret(apps: AppsApi) -> None:
    await apps.create(proxy_app())
    for url in ("https://PUSH.acme.example:443/other", "https://push.acme.example./x?y=1"):
        response = await apps.put(PROXY_APP, proxy_app(secret=None, url=url))
        assert response.status_code == 200, (url, response.text)
    assert (await apps.push_view(PROXY_APP)).proxy.secret == PROXY_SECRET  # type: ignore[union-attr]


async def test_a_kept_service_account_keeps_its_project_and_token_uri(apps: AppsApi) -> None:
    await apps.create(fcm_app(serviceAccountJson=service_account_json(project_id="p-2")))
    response = await apps.put(ANDROID_APP, fcm_app(serviceAccountJson=None))
    assert response.status_code == 200, response.text
    assert response.json()["fcm"]["projectId"] == "p-2"
    stored = (await apps.stored(ANDROID_APP)).credentials
    assert (stored["projectId"], stored["tokenUri"]) == (
        "p-2",
        "https://oauth2.googleapis.com/token",
    )
