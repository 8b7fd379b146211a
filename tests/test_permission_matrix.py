"""Who may do what, over every route of the app.

Two checks that meet in the middle: ``SPEC_TABLE`` is GRANTS written down from the spec, and
the sweep calls every route with a credential of every single role and scope and expects 403
exactly where GRANTS says no. A new route without ``require(...)`` fails here.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from parlay.accounts.permissions import GRANTS, Permission, Role, Scope
from parlay.lib.ratelimit import ApiFamily
from tests.conftest import Brand, problem
from tests.routes import LOGIN, LOGOUT, body, documented_operations, operations, url

pytestmark = pytest.mark.anyio

A, CM, AM, AG = "admin", "campaign_manager", "agent_manager", "agent"
P = Permission

# permission: (roles, API key scopes, where it comes from). "Decision" marks what the spec
# leaves open; docs/auth.md gives the reasons.
SPEC_TABLE: dict[Permission, tuple[set[str], set[str], str]] = {
    P.SETTINGS_READ: ({A}, set(), "§3 account administration (admin): GET settings"),
    P.SETTINGS_WRITE: ({A}, set(), "§3 admin manages account settings"),
    P.USERS_READ: ({A, AM}, set(), "§3 admin manages users; decision: agent managers see agents"),
    P.USERS_WRITE: ({A}, set(), "§3 admin manages users"),
    P.APIKEYS_MANAGE: ({A}, set(), "§3 API keys are created by an admin"),
    P.SKILLS_READ: ({A, CM, AM, AG}, set(), "decision: every staff role works with skill names"),
    P.SKILLS_WRITE: ({A}, set(), "§3 account administration (admin): POST skills"),
    P.HANDOFFS_READ: ({A, CM, AM}, {"handoffs:read"}, "§3 scope handoffs:read; decision: AM reads"),
    P.HANDOFFS_WRITE: ({A, CM}, set(), "§3 only admin and campaign_manager write handoffs"),
    P.APPS_READ: ({A, CM}, set(), "§9 apps: admin or campaign manager"),
    P.APPS_WRITE: ({A, CM}, set(), "§3 only admin and campaign_manager write apps"),
    P.CHANNELS_READ: ({A}, set(), "§11 SMS and WhatsApp credentials per account (admin)"),
    P.CHANNELS_WRITE: ({A}, set(), "§11 SMS and WhatsApp credentials per account (admin)"),
    P.C2M: (set(), {"c2m"}, "§6 the C2M API is for brand systems, scope c2m"),
    P.CAMPAIGNS_READ: ({A, CM}, {"proactive"}, "§1 admin/CM send campaigns; §7 scope proactive"),
    P.CAMPAIGNS_WRITE: ({A, CM}, {"proactive"}, "§3 only admin and CM write campaigns; §7"),
    P.REPORTING: ({A, CM, AM}, {"reporting"}, "§12 scope reporting; decision: AM reads reports"),
    P.WEBHOOKS_MANAGE: ({A}, {"webhooks"}, "§12 status webhooks, scope webhooks"),
    P.AGENT_WORKSPACE: ({AM, AG}, set(), "§10 the agent API: agents (and bots), agent managers"),
    P.AGENT_SUPERVISE: ({AM}, set(), "§10 the queue of all skills: agent managers"),
}

# What each API key scope names — and so all it may reach.
SCOPE_REACH: dict[str, set[Permission]] = {
    "c2m": {P.C2M},
    "proactive": {P.CAMPAIGNS_READ, P.CAMPAIGNS_WRITE},
    "reporting": {P.REPORTING},
    "handoffs:read": {P.HANDOFFS_READ},
    "webhooks": {P.WEBHOOKS_MANAGE},
}

# A permission's requests count against this API family's rate limit.
FAMILY_OF: dict[Permission, ApiFamily] = {
    P.C2M: ApiFamily.C2M,
    P.CAMPAIGNS_READ: ApiFamily.PROACTIVE,
    P.CAMPAIGNS_WRITE: ApiFamily.PROACTIVE,
    P.REPORTING: ApiFamily.REPORTING,
    # Decision: the agent API is limited per agent, not per account (docs/conversations.md).
    P.AGENT_WORKSPACE: ApiFamily.AGENT,
}

ROLES = [r.value for r in Role]
SCOPES = [s.value for s in Scope]


def granted_roles(permission: Permission) -> set[str]:
    return {r.value for r in GRANTS[permission].roles}


def granted_scopes(permission: Permission) -> set[str]:
    return {s.value for s in GRANTS[permission].scopes}


# --- the GRANTS table against the spec -------------------------------------------------------


def test_the_spec_names_the_same_roles_and_scopes_as_the_code() -> None:
    assert set(ROLES) == {A, CM, AM, AG}
    assert (
        set(SCOPES)
        == set(SCOPE_REACH)
        == {"c2m", "proactive", "reporting", "handoffs:read", "webhooks"}
    )


@pytest.mark.parametrize("permission", list(Permission), ids=str)
def test_grants_match_the_spec_table(permission: Permission) -> None:
    assert permission in SPEC_TABLE, f"{permission}: add it to SPEC_TABLE with its source"
    roles, scopes, source = SPEC_TABLE[permission]
    assert (granted_roles(permission), granted_scopes(permission)) == (roles, scopes), source


def test_only_admin_and_campaign_manager_write_handoffs_apps_and_campaigns() -> None:
    for permission in (P.HANDOFFS_WRITE, P.APPS_WRITE, P.CAMPAIGNS_WRITE):
        assert granted_roles(permission) == {A, CM}, permission


def test_only_admin_manages_users_api_keys_and_settings() -> None:
    for permission in (P.USERS_WRITE, P.APIKEYS_MANAGE, P.SETTINGS_READ, P.SETTINGS_WRITE):
        assert granted_roles(permission) == {A}, permission
        assert granted_scopes(permission) == set(), f"{permission}: no API key administers"


@pytest.mark.parametrize("scope", SCOPES)
def test_an_api_key_reaches_only_what_its_scope_names(scope: str) -> None:
    reached = {p for p in Permission if scope in granted_scopes(p)}
    assert reached == SCOPE_REACH[scope]


def test_agents_see_no_campaign_handoff_or_account_administration() -> None:
    reached = {p for p in Permission if AG in granted_roles(p)}
    assert reached == {P.SKILLS_READ, P.AGENT_WORKSPACE}


# --- every route carries a permission --------------------------------------------------------


async def test_the_route_walk_sees_every_documented_operation(app: FastAPI) -> None:
    walked = {op.key for op in operations(app)}
    assert LOGIN in walked
    assert len(walked) > 10
    assert documented_operations(app) <= walked


async def test_every_api_route_but_login_and_logout_requires_exactly_one_permission(
    app: FastAPI,
) -> None:
    unguarded = [
        str(op)
        for op in operations(app)
        if op.staff and not op.signed_in_only and not op.requirements
    ]
    assert unguarded == [], "every route under /api/ needs require(Permission, ApiFamily)"
    doubled = [str(op) for op in operations(app) if len(op.requirements) > 1]
    assert doubled == []
    for key in (LOGIN, LOGOUT):
        (op,) = [op for op in operations(app) if op.key == key]
        assert op.requirements == ()


async def test_the_consumer_api_and_only_it_is_authenticated_by_the_brand_jwt(
    app: FastAPI,
) -> None:
    for op in operations(app):
        is_consumer_path = op.path.startswith("/api/account/{accountId}/consumer/")
        assert op.consumer_authenticated == is_consumer_path, op
        if op.consumer_authenticated:
            assert op.requirements == (), f"{op}: staff permissions on a consumer route"


async def test_every_route_counts_against_the_api_family_of_its_permission(app: FastAPI) -> None:
    for op in operations(app):
        for permission, family in op.requirements:
            assert isinstance(permission, Permission), op
            assert isinstance(family, ApiFamily), op
            assert family == FAMILY_OF.get(permission, family), f"{op}: {permission} → {family}"


async def test_every_route_under_a_versioned_proactive_path_is_proactive(app: FastAPI) -> None:
    for op in operations(app):
        if op.path.startswith("/api/v2/account/{accountId}/campaign"):
            assert [f for _, f in op.requirements] == [ApiFamily.PROACTIVE], op


# --- the sweep: every route × every credential -----------------------------------------------

CREDENTIALS = [("user", r) for r in ROLES] + [("apikey", s) for s in SCOPES]


def allowed(kind: str, name: str, permission: Permission) -> bool:
    return name in (granted_roles(permission) if kind == "user" else granted_scopes(permission))


@pytest.mark.parametrize(("kind", "name"), CREDENTIALS, ids=[f"{k}-{n}" for k, n in CREDENTIALS])
async def test_a_credential_is_forbidden_exactly_where_grants_deny(
    brand: Brand, app: FastAPI, kind: str, name: str
) -> None:
    token = await (brand.user_token(name) if kind == "user" else brand.api_key(name))
    wrong: list[str] = []
    for op in operations(app):
        if not op.staff or op.signed_in_only:
            continue
        (permission, _), *_ = op.requirements
        response = await brand.client.request(
            op.method, url(op, brand.id, {}), json=body(op), headers=brand.auth(token)
        )
        status = response.status_code
        if allowed(kind, name, permission):
            if status in (401, 403) or status >= 500:
                wrong.append(f"{op} ({permission}): allowed, got {status} {response.text[:200]}")
        elif status != 403 or problem(response)["errorCode"] != 1101:
            wrong.append(f"{op} ({permission}): forbidden, got {status} {response.text[:200]}")
    assert wrong == []


async def test_every_route_but_login_answers_401_without_credentials(
    brand: Brand, app: FastAPI
) -> None:
    wrong = []
    for op in operations(app):
        if op.key == LOGIN:
            continue
        response = await brand.client.request(op.method, url(op, brand.id, {}), json=body(op))
        if response.status_code != 401 or problem(response)["errorCode"] != 1100:
            wrong.append(f"{op}: {response.status_code}")
    assert wrong == []


async def test_a_user_holding_several_roles_gets_the_union_of_their_grants(brand: Brand) -> None:
    token = brand.auth(await brand.user_token(AG, CM))
    assert (await brand.client.get(f"{brand.url}/handoffs", headers=token)).status_code == 200
    assert (await brand.client.get(f"{brand.url}/users", headers=token)).status_code == 403
