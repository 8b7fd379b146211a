"""Apps and their push credentials: CRUD, every validation rule, write-only secrets,
who may configure them, and account isolation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.apps.bodies import (
    ANDROID_APP,
    IOS_APP,
    KEY_ID,
    PROXY_APP,
    PROXY_SECRET,
    TEAM_ID,
    apns_app,
    fcm_app,
    other_p256_pem,
    p256_pem,
    p384_pem,
    proxy_app,
    rsa_pem,
    service_account,
    service_account_json,
)
from tests.apps.conftest import AppsApi
from tests.conftest import Brand, problem

pytestmark = pytest.mark.anyio


def refused(response: httpx.Response, field: str) -> dict[str, Any]:
    """A 400 (errorCode 1000) naming ``field`` in ``errors``."""
    assert response.status_code == 400, response.text
    body = problem(response)
    assert body["errorCode"] == 1000, body
    assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def pem_body(pem: str) -> str:
    """The base64 lines of a PEM, the part that is the secret."""
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def secret_fragments(*secrets: str) -> list[str]:
    """Pieces that must never appear in a response: every secret, and a chunk of each PEM's
    base64 (a JSON response could escape the newlines of a whole PEM)."""
    fragments = ["PRIVATE KEY"]
    for secret in secrets:
        fragments.append(secret)
        if "-----BEGIN" in secret:
            fragments.append(pem_body(secret)[20:80])
    return fragments


def assert_no_secret(response: httpx.Response, *secrets: str) -> None:
    for fragment in secret_fragments(*secrets):
        assert fragment not in response.text, f"{fragment[:30]!r}... leaked: {response.text}"


# --- create and read -----------------------------------------------------------------------


async def test_an_apns_app_is_created_and_read_back_without_its_key(apps: AppsApi) -> None:
    created = await apps.create(apns_app())
    assert created["appId"] == IOS_APP
    assert created["platform"] == "ios"
    assert created["pushService"] == "apns"
    assert created["apns"] == {
        "teamId": TEAM_ID,
        "keyId": KEY_ID,
        "environment": "sandbox",
        "endpoint": None,
        "hasPrivateKey": True,
    }
    assert created["fcm"] is None
    assert created["proxy"] is None
    fetched = await apps.get(IOS_APP)
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_apns_environment_defaults_to_production(apps: AppsApi) -> None:
    created = await apps.create(apns_app(environment=None))
    assert created["apns"]["environment"] == "production"
    assert (await apps.push_view(IOS_APP)).apns.environment == "production"  # type: ignore[union-attr]


async def test_an_fcm_app_shows_its_project_and_client_email_not_the_service_account(
    apps: AppsApi,
) -> None:
    created = await apps.create(fcm_app())
    assert created["platform"] == "android"
    assert created["fcm"] == {
        "projectId": "acme-push",
        "clientEmail": "parlay@acme-push.iam.gserviceaccount.com",
        "endpoint": None,
        "hasServiceAccount": True,
    }


async def test_fcm_serves_ios_apps_too(apps: AppsApi) -> None:
    created = await apps.create({**fcm_app("com.acme.ios-fcm"), "platform": "ios"})
    assert (created["platform"], created["pushService"]) == ("ios", "fcm")


async def test_a_proxy_app_shows_url_basic_auth_user_and_header_names_only(
    apps: AppsApi,
) -> None:
    created = await apps.create(
        proxy_app(
            basicAuth={"username": "parlay", "password": "basic-auth-password"},
            headers={"X-Api-Key": "header-value-secret", "X-Brand": "acme"},
        )
    )
    assert created["proxy"] == {
        "url": "https://push.acme.example/notify",
        "basicAuthUsername": "parlay",
        "headerNames": ["X-Api-Key", "X-Brand"],
        "hasSecret": True,
    }
    proxy = (await apps.push_view(PROXY_APP)).proxy
    assert proxy is not None
    assert proxy.secret == PROXY_SECRET
    assert proxy.basic_auth == ("parlay", "basic-auth-password")
    assert proxy.headers == {"X-Api-Key": "header-value-secret", "X-Brand": "acme"}


@pytest.mark.parametrize("platform", ["ios", "android"])
async def test_a_push_proxy_serves_both_platforms(apps: AppsApi, platform: str) -> None:
    created = await apps.create(proxy_app(platform=platform))
    assert created["platform"] == platform


async def test_apps_are_listed_by_app_id(apps: AppsApi) -> None:
    await apps.create(proxy_app("com.zeta.app"))
    await apps.create(apns_app("com.alpha.app"))
    await apps.create(fcm_app("com.mid.app"))
    response = await apps.list()
    assert response.status_code == 200
    assert [a["appId"] for a in response.json()["apps"]] == [
        "com.alpha.app",
        "com.mid.app",
        "com.zeta.app",
    ]


async def test_the_push_view_carries_every_credential(apps: AppsApi) -> None:
    await apps.create(apns_app(endpoint="https://apns.egress.example"))
    await apps.create(fcm_app(endpoint="https://127.0.0.1:9999"))
    apns = (await apps.push_view(IOS_APP)).apns
    assert apns is not None
    assert (apns.team_id, apns.key_id, apns.private_key_pem) == (TEAM_ID, KEY_ID, p256_pem())
    assert apns.endpoint == "https://apns.egress.example"
    fcm = (await apps.push_view(ANDROID_APP)).fcm
    assert fcm is not None
    assert fcm.service_account == service_account()
    assert fcm.endpoint == "https://127.0.0.1:9999"


async def test_delete_removes_the_app(apps: AppsApi) -> None:
    await apps.create(apns_app())
    response = await apps.delete(IOS_APP)
    assert response.status_code == 204
    assert (await apps.get(IOS_APP)).status_code == 404
    assert (await apps.list()).json()["apps"] == []
    assert (await apps.delete(IOS_APP)).status_code == 404


async def test_a_deleted_app_id_can_be_created_again(apps: AppsApi) -> None:
    await apps.create(apns_app())
    await apps.delete(IOS_APP)
    await apps.create(apns_app())


async def test_an_unknown_app_answers_404(apps: AppsApi) -> None:
    for response in (
        await apps.get("com.nobody"),
        await apps.put("com.nobody", apns_app("com.nobody")),
        await apps.delete("com.nobody"),
    ):
        assert response.status_code == 404
        assert problem(response)["errorCode"] == 1004


async def test_a_duplicate_app_id_is_a_conflict(apps: AppsApi) -> None:
    await apps.create(apns_app())
    response = await apps.post(proxy_app(IOS_APP, platform="ios"))
    assert response.status_code == 409, response.text
    problem(response)
    assert (await apps.get(IOS_APP)).json()["pushService"] == "apns"


# --- validation --------------------------------------------------------------------------------


@pytest.mark.edge
@pytest.mark.parametrize("app_id", ["", "com acme", "com/acme", "com.acme?x=1", "é.app", "a" * 256])
async def test_app_id_is_a_bundle_or_package_id(apps: AppsApi, app_id: str) -> None:
    refused(await apps.post(apns_app(app_id)), "appId")


@pytest.mark.edge
@pytest.mark.parametrize("field", ["teamId", "keyId"])
@pytest.mark.parametrize(
    "value", ["ABC1234567 ", "abc1234567", "ABC123456", "ABC12345678", "ABC-234567", ""]
)
async def test_apns_team_and_key_ids_are_ten_upper_case_letters_or_digits(
    apps: AppsApi, field: str, value: str
) -> None:
    refused(await apps.post(apns_app(**{field: value})), f"apns.{field}")


@pytest.mark.edge
@pytest.mark.parametrize(
    "key",
    [
        pytest.param(rsa_pem, id="rsa"),
        pytest.param(p384_pem, id="p384"),
        pytest.param(lambda: "not a key", id="garbage"),
        pytest.param(lambda: pem_body(p256_pem()), id="base64-without-armour"),
    ],
)
async def test_an_apns_key_must_be_a_p256_private_key(apps: AppsApi, key: Any) -> None:
    refused(await apps.post(apns_app(privateKeyPem=key())), "apns.privateKeyPem")


async def test_an_apns_public_key_is_not_a_signing_key(apps: AppsApi) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    public = (
        load_pem_private_key(p256_pem().encode(), password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    refused(await apps.post(apns_app(privateKeyPem=public)), "apns.privateKeyPem")


async def test_an_apns_app_needs_its_key_on_create(apps: AppsApi) -> None:
    refused(await apps.post(apns_app(privateKeyPem=None)), "apns.privateKeyPem")


@pytest.mark.edge
@pytest.mark.parametrize("missing", ["project_id", "client_email", "private_key", "token_uri"])
async def test_a_service_account_needs_its_fields(apps: AppsApi, missing: str) -> None:
    body = fcm_app(serviceAccountJson=service_account_json(**{missing: None}))
    body_empty = fcm_app(serviceAccountJson=service_account_json(**{missing: ""}))
    refused(await apps.post(body), "fcm.serviceAccountJson")
    refused(await apps.post(body_empty), "fcm.serviceAccountJson")


@pytest.mark.edge
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param(json.dumps(["a", "list"]), id="not-an-object"),
        pytest.param(service_account_json(type="authorized_user"), id="not-a-service-account"),
        pytest.param(service_account_json(private_key="garbage"), id="key-not-pem"),
    ],
)
async def test_a_malformed_service_account_is_refused(apps: AppsApi, text: str) -> None:
    refused(await apps.post(fcm_app(serviceAccountJson=text)), "fcm.serviceAccountJson")


@pytest.mark.production_urls
async def test_a_service_account_token_uri_is_https(apps: AppsApi) -> None:
    text = service_account_json(token_uri="http://oauth2.example/token")
    response = await apps.post(fcm_app(serviceAccountJson=text))
    refused(response, "fcm.serviceAccountJson.token_uri")


async def test_a_service_account_key_must_be_rsa(apps: AppsApi) -> None:
    text = service_account_json(private_key=p256_pem())
    body = refused(await apps.post(fcm_app(serviceAccountJson=text)), "fcm.serviceAccountJson")
    assert "RSA" in body["errorMessage"]


async def test_an_fcm_app_needs_its_service_account_on_create(apps: AppsApi) -> None:
    refused(await apps.post(fcm_app(serviceAccountJson=None)), "fcm.serviceAccountJson")


async def test_apns_serves_only_ios_apps(apps: AppsApi) -> None:
    refused(await apps.post({**apns_app(), "platform": "android"}), "pushService")


@pytest.mark.edge
@pytest.mark.parametrize(
    ("body", "other"),
    [
        (apns_app(), "fcm"),
        (apns_app(), "proxy"),
        (fcm_app(), "apns"),
        (proxy_app(), "fcm"),
    ],
)
async def test_a_section_for_another_push_service_is_refused(
    apps: AppsApi, body: dict[str, Any], other: str
) -> None:
    sections = {
        "apns": apns_app()["apns"],
        "fcm": fcm_app()["fcm"],
        "proxy": proxy_app()["proxy"],
    }
    refused(await apps.post({**body, other: sections[other]}), other)


@pytest.mark.edge
@pytest.mark.parametrize("service", ["apns", "fcm", "proxy"])
async def test_the_section_of_the_push_service_is_required(apps: AppsApi, service: str) -> None:
    body = {"apns": apns_app(), "fcm": fcm_app(), "proxy": proxy_app()}[service]
    del body[service]
    refused(await apps.post(body), service)


async def test_unknown_fields_are_refused(apps: AppsApi) -> None:
    refused(await apps.post({**apns_app(), "colour": "blue"}), "colour")
    body = apns_app()
    body["apns"]["bundleId"] = "x"
    refused(await apps.post(body), "apns.bundleId")


@pytest.mark.edge
@pytest.mark.production_urls
@pytest.mark.parametrize(
    "url",
    [
        "http://push.example.com/notify",
        "http://10.0.0.5/notify",
        "http://127.0.0.1.nip.io/notify",
        "ftp://push.example.com/notify",
        "push.example.com/notify",
        "https:///no-host",
        "",
    ],
)
async def test_endpoints_are_https_and_http_only_on_loopback(apps: AppsApi, url: str) -> None:
    refused(await apps.post(apns_app(endpoint=url or "x")), "apns.endpoint")
    refused(await apps.post(fcm_app(endpoint=url or "x")), "fcm.endpoint")
    refused(await apps.post(proxy_app(url=url)), "proxy.url")


@pytest.mark.parametrize(
    "url",
    [
        "https://push.example.com/notify",
        "http://127.0.0.1:8443/notify",
        "http://localhost:8443/notify",
        "http://[::1]:8443/notify",
    ],
)
async def test_https_anywhere_and_http_on_loopback_are_accepted(apps: AppsApi, url: str) -> None:
    if url.startswith("https:"):
        assert (await apps.post(apns_app(endpoint=url))).status_code == 201
        assert (await apps.post(fcm_app(endpoint=url))).status_code == 201
    assert (await apps.post(proxy_app(url=url))).status_code == 201


@pytest.mark.parametrize("url", ["http://127.0.0.1:8443", "http://localhost:8443"])
async def test_apns_and_fcm_endpoints_are_https_even_on_loopback(apps: AppsApi, url: str) -> None:
    """Their clients speak HTTP/2 over TLS only: a plain-http endpoint could never work."""
    refused(await apps.post(apns_app(endpoint=url)), "apns.endpoint")
    refused(await apps.post(fcm_app(endpoint=url)), "fcm.endpoint")


@pytest.mark.edge
@pytest.mark.parametrize(
    "name", ["X Api", "1Header", "X_Api_Key", "X-" + "a" * 23, "", "X-Ü", "X:Key"]
)
async def test_proxy_header_names_are_1_to_24_letters_digits_or_dashes(
    apps: AppsApi, name: str
) -> None:
    refused(await apps.post(proxy_app(headers={name: "v"})), "proxy.headers")


@pytest.mark.edge
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("a\r\nX-Injected: 1", id="crlf"),
        pytest.param("a\nb", id="newline"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("a" * 301, id="too-long"),
        # httpx encodes header values as ASCII: anything else would fail every push at send time.
        pytest.param("café", id="non-ascii"),
    ],
)
async def test_proxy_header_values_are_short_printable_ascii(apps: AppsApi, value: str) -> None:
    refused(await apps.post(proxy_app(headers={"X-Value": value})), "proxy.headers")


@pytest.mark.edge
@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "content-length",
        "Transfer-Encoding",
        "Connection",
        "Content-Type",
        "X-Parlay-Signature",
        "TE",
        "Upgrade",
    ],
)
async def test_proxy_headers_cannot_replace_the_ones_parlay_sets_or_http_framing(
    apps: AppsApi, name: str
) -> None:
    refused(await apps.post(proxy_app(headers={name: "x"})), "proxy.headers")


async def test_a_custom_authorization_header_is_refused_next_to_basic_auth(
    apps: AppsApi,
) -> None:
    basic = {"username": "parlay", "password": "pw"}
    response = await apps.post(proxy_app(basicAuth=basic, headers={"Authorization": "Bearer t"}))
    refused(response, "proxy.headers")
    # Alone, it is how a brand's proxy takes a bearer token.
    created = await apps.create(proxy_app(headers={"Authorization": "Bearer t"}))
    assert created["proxy"]["headerNames"] == ["Authorization"]


async def test_a_proxy_header_name_is_given_once_whatever_its_case(apps: AppsApi) -> None:
    refused(await apps.post(proxy_app(headers={"X-Key": "a", "x-key": "b"})), "proxy.headers")


async def test_at_most_four_proxy_headers(apps: AppsApi) -> None:
    headers = {f"X-H{i}": "v" for i in range(5)}
    refused(await apps.post(proxy_app(headers=headers)), "proxy.headers")
    assert (await apps.post(proxy_app(headers=dict(list(headers.items())[:4])))).status_code == 201


async def test_the_proxy_secret_has_at_least_16_characters(apps: AppsApi) -> None:
    refused(await apps.post(proxy_app(secret="x" * 15)), "proxy.secret")
    assert (await apps.post(proxy_app(secret="x" * 16))).status_code == 201


async def test_a_proxy_app_needs_its_secret_on_create(apps: AppsApi) -> None:
    refused(await apps.post(proxy_app(secret=None)), "proxy.secret")


async def test_a_refused_app_is_not_stored(apps: AppsApi) -> None:
    refused(await apps.post(apns_app(privateKeyPem=rsa_pem())), "apns.privateKeyPem")
    assert (await apps.list()).json()["apps"] == []


# --- secrets are write-only ----------------------------------------------------------------


async def test_an_apns_key_never_appears_in_any_response(apps: AppsApi) -> None:
    key = p256_pem()
    responses = [
        await apps.post(apns_app()),
        await apps.get(IOS_APP),
        await apps.list(),
        await apps.put(IOS_APP, apns_app(privateKeyPem=other_p256_pem())),
        await apps.put(IOS_APP, apns_app(privateKeyPem=None)),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.text
        assert_no_secret(response, key, other_p256_pem())


async def test_a_service_account_never_appears_in_any_response(apps: AppsApi) -> None:
    text = service_account_json()
    responses = [
        await apps.post(fcm_app()),
        await apps.get(ANDROID_APP),
        await apps.list(),
        await apps.put(ANDROID_APP, fcm_app()),
        await apps.put(ANDROID_APP, fcm_app(serviceAccountJson=None)),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.text
        assert_no_secret(response, text, rsa_pem(), "0123456789abcdef")


async def test_proxy_secrets_never_appear_in_any_response(apps: AppsApi) -> None:
    secrets = (PROXY_SECRET, "basic-auth-password", "header-value-secret")
    body = proxy_app(
        basicAuth={"username": "parlay", "password": "basic-auth-password"},
        headers={"X-Api-Key": "header-value-secret"},
    )
    responses = [
        await apps.post(body),
        await apps.get(PROXY_APP),
        await apps.list(),
        await apps.put(PROXY_APP, body),
        await apps.put(PROXY_APP, proxy_app(secret=None)),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.text
        assert_no_secret(response, *secrets)


async def test_a_refusal_does_not_echo_the_secret_it_refused(apps: AppsApi) -> None:
    response = await apps.post(apns_app(privateKeyPem=rsa_pem()))
    refused(response, "apns.privateKeyPem")
    assert_no_secret(response, rsa_pem())
    response = await apps.post(fcm_app(serviceAccountJson=service_account_json(token_uri="x")))
    refused(response, "fcm.serviceAccountJson.token_uri")
    assert_no_secret(response, rsa_pem())


# --- PUT -----------------------------------------------------------------------------------


async def test_put_without_the_apns_key_keeps_the_stored_one(apps: AppsApi) -> None:
    await apps.create(apns_app())
    response = await apps.put(
        IOS_APP, apns_app(privateKeyPem=None, keyId="NEWKEY7890", environment="production")
    )
    assert response.status_code == 200, response.text
    assert response.json()["apns"]["keyId"] == "NEWKEY7890"
    assert response.json()["apns"]["hasPrivateKey"] is True
    apns = (await apps.push_view(IOS_APP)).apns
    assert apns is not None
    assert (apns.key_id, apns.environment, apns.private_key_pem) == (
        "NEWKEY7890",
        "production",
        p256_pem(),
    )


async def test_put_with_a_new_apns_key_replaces_it(apps: AppsApi) -> None:
    await apps.create(apns_app())
    response = await apps.put(IOS_APP, apns_app(privateKeyPem=other_p256_pem()))
    assert response.status_code == 200, response.text
    assert (await apps.push_view(IOS_APP)).apns.private_key_pem == other_p256_pem()  # type: ignore[union-attr]


async def test_put_without_the_service_account_keeps_the_stored_one(apps: AppsApi) -> None:
    await apps.create(fcm_app())
    response = await apps.put(ANDROID_APP, fcm_app(serviceAccountJson=None))
    assert response.status_code == 200, response.text
    assert response.json()["fcm"]["projectId"] == "acme-push"
    fcm = (await apps.push_view(ANDROID_APP)).fcm
    assert fcm is not None
    assert fcm.service_account == service_account()


async def test_put_without_the_proxy_secret_keeps_it(apps: AppsApi) -> None:
    await apps.create(proxy_app())
    # The same host: a URL on another host needs the secret again (test_secrets_at_rest.py).
    response = await apps.put(
        PROXY_APP, proxy_app(secret=None, url="https://push.acme.example/v2/notify")
    )
    assert response.status_code == 200, response.text
    assert response.json()["proxy"]["hasSecret"] is True
    proxy = (await apps.push_view(PROXY_APP)).proxy
    assert proxy is not None
    assert (proxy.url, proxy.secret) == ("https://push.acme.example/v2/notify", PROXY_SECRET)


async def test_put_replaces_what_it_names_and_drops_what_it_leaves_out(apps: AppsApi) -> None:
    """PUT replaces the app: basic auth and headers are part of the replacement (only the three
    secrets are kept when omitted), so a PUT without them removes them."""
    await apps.create(
        proxy_app(basicAuth={"username": "u", "password": "p"}, headers={"X-Api-Key": "value-1"})
    )
    response = await apps.put(PROXY_APP, proxy_app(secret=None))
    assert response.status_code == 200, response.text
    assert response.json()["proxy"]["basicAuthUsername"] is None
    assert response.json()["proxy"]["headerNames"] == []


@pytest.mark.parametrize("service", ["apns", "fcm"])
async def test_a_new_endpoint_needs_the_secret_again(apps: AppsApi, service: str) -> None:
    """The provider endpoint receives tokens minted from the stored key (an APNs provider JWT,
    an OAuth access token): whoever can redirect it without knowing the key must not get them."""
    if service == "apns":
        await apps.create(apns_app())
        moved = apns_app(endpoint="https://apns.attacker.example", privateKeyPem=None)
        secret_field, secret = "privateKeyPem", p256_pem()
    else:
        await apps.create(fcm_app())
        moved = fcm_app(endpoint="https://fcm.attacker.example", serviceAccountJson=None)
        secret_field, secret = "serviceAccountJson", service_account_json()
    refused(await apps.put(moved["appId"], moved), f"{service}.{secret_field}")
    # With the secret given again the move is accepted.
    moved[service][secret_field] = secret
    response = await apps.put(moved["appId"], moved)
    assert response.status_code == 200, response.text


async def test_put_to_another_push_service_needs_that_services_secret(apps: AppsApi) -> None:
    await apps.create(proxy_app(platform="ios", app_id=IOS_APP))
    response = await apps.put(IOS_APP, apns_app(privateKeyPem=None))
    refused(response, "apns.privateKeyPem")
    response = await apps.put(IOS_APP, apns_app())
    assert response.status_code == 200, response.text
    view = await apps.push_view(IOS_APP)
    assert view.push_service == "apns"
    assert view.proxy is None
    assert "secret" not in (await apps.stored(IOS_APP)).credentials


async def test_put_cannot_change_the_app_id(apps: AppsApi) -> None:
    await apps.create(apns_app())
    refused(await apps.put(IOS_APP, apns_app("com.acme.renamed")), "appId")
    assert (await apps.get("com.acme.renamed")).status_code == 404
    assert (await apps.get(IOS_APP)).status_code == 200


async def test_put_runs_every_validation(apps: AppsApi) -> None:
    await apps.create(apns_app())
    refused(await apps.put(IOS_APP, apns_app(teamId="short")), "apns.teamId")
    refused(await apps.put(IOS_APP, apns_app(privateKeyPem=rsa_pem())), "apns.privateKeyPem")
    refused(await apps.put(IOS_APP, {**apns_app(), "platform": "android"}), "pushService")
    assert (await apps.push_view(IOS_APP)).apns.private_key_pem == p256_pem()  # type: ignore[union-attr]


async def test_put_moves_updated_at(apps: AppsApi) -> None:
    created = await apps.create(apns_app())
    response = await apps.put(IOS_APP, apns_app(privateKeyPem=None))
    assert response.json()["createdAt"] == created["createdAt"]
    assert response.json()["updatedAt"] >= created["updatedAt"]


# --- who may ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "campaign_manager"])
async def test_admins_and_campaign_managers_configure_apps(
    apps: AppsApi, brand: Brand, role: str
) -> None:
    headers = brand.auth(await brand.user_token(role))
    assert (await apps.post(apns_app(), headers)).status_code == 201
    assert (await apps.get(IOS_APP, headers)).status_code == 200
    assert (await apps.list(headers)).status_code == 200
    assert (await apps.put(IOS_APP, apns_app(privateKeyPem=None), headers)).status_code == 200
    assert (await apps.delete(IOS_APP, headers)).status_code == 204


@pytest.mark.parametrize("role", ["agent_manager", "agent"])
async def test_agents_and_agent_managers_cannot_see_or_change_apps(
    apps: AppsApi, brand: Brand, role: str
) -> None:
    await apps.create(apns_app())
    headers = brand.auth(await brand.user_token(role))
    for response in (
        await apps.post(proxy_app(), headers),
        await apps.get(IOS_APP, headers),
        await apps.list(headers),
        await apps.put(IOS_APP, apns_app(privateKeyPem=None), headers),
        await apps.delete(IOS_APP, headers),
    ):
        assert response.status_code == 403, response.text
        assert problem(response)["errorCode"] == 1101
        assert TEAM_ID not in response.text
    assert (await apps.get(IOS_APP)).json()["apns"]["keyId"] == KEY_ID


async def test_api_keys_cannot_reach_apps(apps: AppsApi, brand: Brand) -> None:
    headers = brand.auth(await brand.api_key("c2m", "proactive", "reporting", "handoffs:read"))
    assert (await apps.list(headers)).status_code == 403
    assert (await apps.post(apns_app(), headers)).status_code == 403


async def test_no_credentials_no_apps(apps: AppsApi) -> None:
    assert (await apps.list({})).status_code == 401


# --- isolation -----------------------------------------------------------------------------


async def test_another_accounts_app_answers_404(
    apps: AppsApi, other_apps: AppsApi, brand: Brand, other_brand: Brand
) -> None:
    await other_apps.create(
        proxy_app(
            "com.globex.secret",
            secret="globex-secret-hmac-key",
            url="https://push.globex.example/notify",
        )
    )
    # Through our own account's path: the app is not ours.
    for response in (
        await apps.get("com.globex.secret"),
        await apps.put("com.globex.secret", proxy_app("com.globex.secret")),
        await apps.delete("com.globex.secret"),
    ):
        assert response.status_code == 404, response.text
        assert "push.globex.example" not in response.text
    assert (await apps.list()).json()["apps"] == []
    # Through the other account's path, with our credentials.
    url = f"{other_brand.url}/apps"
    for response in (
        await brand.client.get(url, headers=brand.admin),
        await brand.client.get(f"{url}/com.globex.secret", headers=brand.admin),
        await brand.client.delete(f"{url}/com.globex.secret", headers=brand.admin),
        await brand.client.post(url, json=proxy_app(), headers=brand.admin),
    ):
        assert response.status_code == 404, response.text
        assert "push.globex.example" not in response.text
        assert "globex-secret-hmac-key" not in response.text
    proxy = (await other_apps.push_view("com.globex.secret")).proxy
    assert proxy is not None
    assert proxy.secret == "globex-secret-hmac-key"


async def test_two_accounts_may_register_the_same_app_id(
    apps: AppsApi, other_apps: AppsApi
) -> None:
    await apps.create(apns_app())
    await other_apps.create(apns_app(privateKeyPem=other_p256_pem()))
    assert (await apps.push_view(IOS_APP)).apns.private_key_pem == p256_pem()  # type: ignore[union-attr]
    await other_apps.delete(IOS_APP)
    assert (await apps.get(IOS_APP)).status_code == 200


async def test_concurrent_creates_of_one_app_id_make_one_app(apps: AppsApi) -> None:
    responses = await asyncio.gather(*(apps.post(apns_app()) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409], [
        r.text for r in responses
    ]
    assert len((await apps.list()).json()["apps"]) == 1
