"""Staff login: bearer tokens, the one 401, expiry, and sessions ending."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import select

from parlay.accounts.models import AccessToken
from tests.accounts.conftest import FrozenBrand
from tests.conftest import TEST_PASSWORD, Brand, problem

pytestmark = pytest.mark.anyio


async def _login(
    brand: Brand, username: str, password: str, account: str | None = None
) -> httpx.Response:
    return await brand.client.post(
        f"/api/account/{account or brand.id}/login",
        json={"username": username, "password": password},
    )


async def _create_user(brand: Brand, username: str, **fields: object) -> int:
    body = {"username": username, "password": TEST_PASSWORD, "roles": ["agent"], **fields}
    response = await brand.client.post(f"{brand.url}/users", json=body, headers=brand.admin)
    assert response.status_code == 201, response.text
    user_id: int = response.json()["id"]
    return user_id


async def test_good_password_returns_a_bearer_token_and_its_lifetime(brand: Brand) -> None:
    response = await _login(brand, "admin", TEST_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accessToken"]
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == brand.container.settings.access_token_ttl_seconds
    skills = await brand.client.get(f"{brand.url}/skills", headers=brand.auth(body["accessToken"]))
    assert skills.status_code == 200


async def test_unknown_user_wrong_password_and_unknown_account_get_the_same_401(
    brand: Brand,
) -> None:
    answers = [
        await _login(brand, "admin", "wrong password"),
        await _login(brand, "nobody", TEST_PASSWORD),
        await _login(brand, "admin", TEST_PASSWORD, account="no-such-account"),
    ]
    bodies = [problem(r) for r in answers]
    assert [r.status_code for r in answers] == [401, 401, 401]
    assert {b["errorCode"] for b in bodies} == {1100}
    # Nothing in the answer tells which of the three it was.
    assert len({(b["errorMessage"], b["detail"], b["title"]) for b in bodies}) == 1
    assert all(r.headers["www-authenticate"] == "Bearer" for r in answers)


async def test_disabled_user_cannot_log_in(brand: Brand) -> None:
    user_id = await _create_user(brand, "leaver")
    response = await brand.client.patch(
        f"{brand.url}/users/{user_id}", json={"disabled": True}, headers=brand.admin
    )
    assert response.status_code == 200, response.text
    refused = await _login(brand, "leaver", TEST_PASSWORD)
    assert refused.status_code == 401
    wrong_password = await _login(brand, "leaver", "not the password")
    assert problem(refused)["errorMessage"] == problem(wrong_password)["errorMessage"]


async def test_disabling_a_user_ends_their_sessions(brand: Brand) -> None:
    user_id = await _create_user(brand, "leaver")
    token = await brand.login("leaver")
    await brand.client.patch(
        f"{brand.url}/users/{user_id}", json={"disabled": True}, headers=brand.admin
    )
    response = await brand.client.get(f"{brand.url}/skills", headers=brand.auth(token))
    assert response.status_code == 401
    assert problem(response)["errorCode"] == 1100


async def test_reenabled_user_logs_in_again(brand: Brand) -> None:
    user_id = await _create_user(brand, "returner")
    url = f"{brand.url}/users/{user_id}"
    await brand.client.patch(url, json={"disabled": True}, headers=brand.admin)
    await brand.client.patch(url, json={"disabled": False}, headers=brand.admin)
    assert (await _login(brand, "returner", TEST_PASSWORD)).status_code == 200


async def test_logout_ends_that_session_and_only_that_one(brand: Brand) -> None:
    first = (await _login(brand, "admin", TEST_PASSWORD)).json()["accessToken"]
    second = (await _login(brand, "admin", TEST_PASSWORD)).json()["accessToken"]

    response = await brand.client.post(f"{brand.url}/logout", headers=brand.auth(first))

    assert response.status_code == 204
    after = await brand.client.get(f"{brand.url}/skills", headers=brand.auth(first))
    assert after.status_code == 401
    again = await brand.client.post(f"{brand.url}/logout", headers=brand.auth(first))
    assert again.status_code == 401
    still = await brand.client.get(f"{brand.url}/skills", headers=brand.auth(second))
    assert still.status_code == 200


async def test_an_api_key_cannot_log_out(brand: Brand) -> None:
    key = await brand.api_key("c2m")
    response = await brand.client.post(f"{brand.url}/logout", headers=brand.auth(key))
    assert response.status_code == 400
    assert "revoked" in problem(response)["detail"]


async def test_token_expires_after_its_lifetime(frozen: FrozenBrand) -> None:
    brand, clock = frozen.brand, frozen.clock
    token = await brand.login("admin")
    ttl = timedelta(seconds=frozen.settings.access_token_ttl_seconds)

    clock.advance(ttl - timedelta(seconds=1))
    still_valid = await brand.client.get(f"{brand.url}/skills", headers=brand.auth(token))
    assert still_valid.status_code == 200

    clock.advance(timedelta(seconds=1))
    expired = await brand.client.get(f"{brand.url}/skills", headers=brand.auth(token))
    assert expired.status_code == 401
    assert problem(expired)["errorCode"] == 1100
    assert "expired" in problem(expired)["errorMessage"]


async def test_expired_tokens_are_purged_at_the_next_login(frozen: FrozenBrand) -> None:
    brand, clock = frozen.brand, frozen.clock
    clock.advance(timedelta(seconds=frozen.settings.access_token_ttl_seconds + 1))
    await brand.login("admin")
    async with brand.container.db.read() as session:
        expiries = (await session.execute(select(AccessToken.expires_at))).scalars().all()
    assert expiries
    assert all(e > clock.now() for e in expiries)


async def test_password_change_ends_existing_tokens(brand: Brand) -> None:
    user_id = await _create_user(brand, "changer")
    old_token = await brand.login("changer")
    other_token = await brand.login("changer")
    response = await brand.client.patch(
        f"{brand.url}/users/{user_id}",
        json={"password": "a new long password"},
        headers=brand.admin,
    )
    assert response.status_code == 200, response.text

    for token in (old_token, other_token):
        answer = await brand.client.get(f"{brand.url}/skills", headers=brand.auth(token))
        assert answer.status_code == 401
    assert (await _login(brand, "changer", TEST_PASSWORD)).status_code == 401
    assert (await _login(brand, "changer", "a new long password")).status_code == 200


async def test_other_users_sessions_survive_a_password_change(brand: Brand) -> None:
    user_id = await _create_user(brand, "changer")
    await brand.client.patch(
        f"{brand.url}/users/{user_id}",
        json={"password": "a new long password"},
        headers=brand.admin,
    )
    assert (await brand.client.get(f"{brand.url}/skills", headers=brand.admin)).status_code == 200


async def test_a_role_change_applies_to_existing_tokens_at_once(brand: Brand) -> None:
    user_id = await _create_user(brand, "deputy", roles=["admin"])
    token = await brand.login("deputy")
    url = f"{brand.url}/users"
    assert (await brand.client.get(url, headers=brand.auth(token))).status_code == 200
    await brand.client.patch(f"{url}/{user_id}", json={"roles": ["agent"]}, headers=brand.admin)
    demoted = await brand.client.get(url, headers=brand.auth(token))
    assert demoted.status_code == 403
    assert problem(demoted)["errorCode"] == 1101


@pytest.mark.edge
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not-a-token",
        "Bearer plt_forged-token",
        "Bearer plk_0123456789ab_forged",
        f"Basic {'YWRtaW46cGFzc3dvcmQ='}",
    ],
    ids=["missing", "empty", "garbage", "forged-token", "forged-key", "basic"],
)
async def test_missing_or_invalid_bearer_is_401(brand: Brand, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await brand.client.get(f"{brand.url}/skills", headers=headers)
    assert response.status_code == 401
    assert problem(response)["errorCode"] == 1100


async def test_access_tokens_are_stored_only_as_digests(brand: Brand) -> None:
    token = await brand.login("admin")
    async with brand.container.db.read() as session:
        rows = (await session.execute(select(AccessToken))).scalars().all()
    stored = " ".join(f"{r.digest} {r.user_id} {r.account_id}" for r in rows)
    assert token not in stored
    assert token.removeprefix("plt_") not in stored


async def test_login_refuses_unknown_fields(brand: Brand) -> None:
    response = await brand.client.post(
        f"{brand.url}/login",
        json={"username": "admin", "password": TEST_PASSWORD, "remember": True},
    )
    assert response.status_code == 400
    body = problem(response)
    assert body["errorCode"] == 1000
    assert body["errors"] == [{"field": "remember", "message": "unknown field"}]


async def test_password_hashing_and_checking_run_off_the_event_loop(
    brand: Brand, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argon2 takes a CPU for ~0.2 s: on the event loop it would stall every other request."""
    from parlay.accounts import secrets, service

    on_loop: list[str] = []

    def watched(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            try:
                asyncio.get_running_loop()
                on_loop.append(name)
            except RuntimeError:
                pass  # a worker thread: no loop here
            return real(*args)

        return run

    # The service imported these names; patch them where it looks them up.
    monkeypatch.setattr(service, "hash_password", watched("hash", secrets.hash_password))
    monkeypatch.setattr(service, "verify_password", watched("verify", secrets.verify_password))
    user_id = await _create_user(brand, "threaded")
    await brand.login("threaded")
    await _login(brand, "nobody", TEST_PASSWORD)
    await brand.client.patch(
        f"{brand.url}/users/{user_id}", json={"password": "another long one"}, headers=brand.admin
    )
    assert on_loop == []


# --- a login that cannot be flooded -------------------------------------------------------------


async def test_five_failed_logins_lock_the_username_out_for_five_minutes(brand: Brand) -> None:
    with time_machine.travel(time.time(), tick=False) as clock:
        failures = [await _login(brand, "admin", f"guess {n}") for n in range(5)]
        assert [r.status_code for r in failures] == [401] * 5

        locked = await _login(brand, "admin", TEST_PASSWORD)  # even the right password
        assert locked.status_code == 429
        assert problem(locked)["errorCode"] == 1029
        assert 0 < int(locked.headers["Retry-After"]) <= 300

        clock.shift(299)
        assert (await _login(brand, "admin", TEST_PASSWORD)).status_code == 429
        clock.shift(2)
        assert (await _login(brand, "admin", TEST_PASSWORD)).status_code == 200


async def test_a_locked_out_username_leaves_the_other_users_alone(brand: Brand) -> None:
    await _create_user(brand, "bystander")
    for n in range(6):
        await _login(brand, "admin", f"guess {n}")
    assert (await _login(brand, "admin", TEST_PASSWORD)).status_code == 429

    assert (await _login(brand, "bystander", TEST_PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    ("username", "account"),
    [("nobody", None), ("admin", "no-such-account")],
    ids=["unknown-user", "unknown-account"],
)
async def test_unknown_accounts_and_users_are_throttled_like_known_ones(
    brand: Brand, username: str, account: str | None
) -> None:
    answers = [await _login(brand, username, f"guess {n}", account) for n in range(6)]
    assert [r.status_code for r in answers] == [401] * 5 + [429]


async def test_every_failed_login_costs_one_password_check_known_or_not(
    brand: Brand, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same work whether the account or the user exists: one Argon2id verification each,
    against a hash of the same cost, so the time an answer takes tells nothing."""
    from parlay.accounts import secrets

    checked: list[str] = []
    real_verify = secrets._hasher.verify

    def verify(password: str, hashed: str) -> bool:
        checked.append(hashed.split("$")[3])  # the hash's cost parameters (m=, t=, p=)
        return real_verify(password, hashed)

    monkeypatch.setattr(secrets._hasher, "verify", verify)
    await _login(brand, "admin", "wrong password")
    await _login(brand, "nobody", TEST_PASSWORD)
    await _login(brand, "admin", TEST_PASSWORD, account="no-such-account")

    assert len(checked) == 3
    assert len(set(checked)) == 1


async def test_thirty_login_attempts_a_minute_per_client_address(brand: Brand) -> None:
    # A minute on: the fixture's own login is out of the window.
    with time_machine.travel(time.time() + 61, tick=False):
        answers = [await _login(brand, f"user-{n}", "guess") for n in range(31)]
    assert [r.status_code for r in answers] == [401] * 30 + [429]
    assert "address" in problem(answers[-1])["errorMessage"]
