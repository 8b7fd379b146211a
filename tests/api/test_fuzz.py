"""Schemathesis over the whole OpenAPI document, against a live ``parlay api`` on loopback.

Valid and invalid requests alike (its coverage phase sends boundary values such as 2^70 for an
integer ID, its fuzzing phase random data, its stateful phase chains that create then read,
change and delete): none may answer a server error, a status the document does not declare, or a
body or content type that contradicts it. Each group of routes is called as the credential it is
meant for (an admin, an agent, a brand system's API key, a consumer's JWT), so requests reach the
routes' own rules instead of stopping at 401/403.

It runs on SQLite only: what it checks is the HTTP contract, which the database does not change.
The seed is fixed, so a failure reproduces; the report names each failing request with a curl
line.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Brand
from tests.consumers.conftest import consumer_auth
from tests.fakes.jwks import SigningKey
from tests.servers import start_api, stop, wait_ready

pytestmark = pytest.mark.anyio

BIN = Path(sys.executable).parent
SEED = 20261129
# Per operation and phase: with ~80 operations the whole run stays around a minute on two cores.
MAX_EXAMPLES = 15
CREDENTIAL_CHANGES = ("updateUser", "revokeApiKey", "updateSettings", "logout")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only (see the module docstring); a file the server process opens too."""
    path = tmp_path / "parlay.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def live_api(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``parlay api`` on a free loopback port, over the test's database; its base URL."""
    server = start_api(
        "fuzzed",
        tmp_path,
        database_url,
        log_json="false",
        log_level="WARNING",
        # Streams end quickly: the fuzzer reads each to its end.
        events_max_seconds=0.2,
        staff_rate_limit_per_second=100_000,
        agent_rate_limit_per_second=100_000,
        metrics_token="metrics-token",
    )
    try:
        wait_ready([server])
        yield server.url
    finally:
        stop([server])


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _config(groups: dict[str, str], account_id: str) -> str:
    """schemathesis.toml: the fixed account, the checks, and one credential per route group
    (path regex → bearer token; the first group that matches wins, the last is the default)."""
    lines = [
        f"seed = {SEED}",
        # One worker: CPython 3.11's ast.parse is not thread-safe (it fails with "AST constructor
        # recursion depth mismatch" when two threads parse at once, as Hypothesis does to
        # describe filters), and two workers are threads.
        "workers = 1",
        "[parameters]",
        f'"path.accountId" = {_toml_string(account_id)}',
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "[checks]",
        "enabled = false",
        *(f"{check}.enabled = true" for check in CHECKS),
    ]
    claimed: list[str] = []
    for regex, token in groups.items():
        lines += [
            "[[operations]]",
            f"include-path-regex = {_toml_string(regex)}",
            *([f"exclude-path-regex = {_toml_string('|'.join(claimed))}"] if claimed else []),
            f"headers = {{ Authorization = {_toml_string('Bearer ' + token)} }}",
        ]
        claimed.append(regex)
    return "\n".join(lines) + "\n"


async def test_no_request_gets_a_server_error_or_an_undocumented_status(
    brand: Brand, live_api: str, tmp_path: Path
) -> None:
    key = SigningKey.rsa()
    settings = await brand.client.put(
        f"{brand.url}/settings",
        json={"consumerAuth": consumer_auth(publicKeyPem=key.public_pem, algorithms=["RS256"])},
        headers=brand.admin,
    )
    assert settings.status_code == 200, settings.text
    groups = {
        "/consumer/": key.token("consumer-1", exp=int(time.time()) + 3600),
        "/agent/": await brand.user_token("agent", type="human"),
        "^/api/account/[^/]+/(eligibility|invite)$|^/api/v2/": await brand.api_key(
            "c2m", "proactive"
        ),
        # Logging out ends the session it is called with: not the admin's used for the rest.
        "/logout$": await brand.user_token("admin"),
        "^/metrics$": "metrics-token",
        ".": brand.admin_token,
    }
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(groups, brand.id))

    # The operations that can take the run's own credentials away (disable the admin, revoke the
    # key, replace the consumer key set, log out) run last, on their own.
    for selection in ("--exclude-operation-id", "--include-operation-id"):
        run = subprocess.run(
            [str(BIN / "st"), "--config-file", str(config), "run", f"{live_api}/openapi.json"]
            + [arg for op in CREDENTIAL_CHANGES for arg in (selection, op)],
            capture_output=True,
            text=True,
            cwd=tmp_path,  # its cache directory goes there
            timeout=600,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
