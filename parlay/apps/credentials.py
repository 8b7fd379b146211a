"""An app's push credentials: their rules (checked when saved; the URLs by the URL policy), the
view the API may show (never a secret), and the form the push clients need (``PushApp``)."""

from __future__ import annotations

import json
import re
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from parlay.apps.models import App
from parlay.channels.push import ApnsCredentials, FcmCredentials, ProxyConfig, PushApp
from parlay.channels.pushproxy import SIGNATURE_HEADER
from parlay.lib.errors import invalid_field
from parlay.lib.http.urls import UrlPolicy

_HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,23}$")
_SERVICE_PLATFORMS = {"apns": {"ios"}, "fcm": {"android", "ios"}, "proxy": {"android", "ios"}}
# Headers a custom proxy header must not set: the ones Parlay writes itself, and HTTP framing
# and routing (a custom Host or Content-Length would send the push elsewhere or garble the
# request; httpx keeps a caller's Content-Length over the body's real length).
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "content-type",
        SIGNATURE_HEADER.lower(),
    }
)


async def check_urls(
    urls: UrlPolicy, push_service: str, sections: dict[str, dict[str, Any] | None]
) -> None:
    """The URLs of the push service's section against the URL policy (resolving names: before
    the unit of work opens). APNs and FCM endpoints are https even when the policy is lifted:
    their clients speak HTTP/2 over TLS only."""
    section = sections.get(push_service) or {}
    if push_service == "proxy" and isinstance(section.get("url"), str):
        await urls.check("proxy.url", section["url"])
    if push_service in ("apns", "fcm") and section.get("endpoint"):
        await urls.check(f"{push_service}.endpoint", section["endpoint"], https_only=True)
    if push_service == "fcm" and isinstance(section.get("serviceAccountJson"), str):
        try:
            token_uri = json.loads(section["serviceAccountJson"]).get("token_uri")
        except (ValueError, AttributeError):
            token_uri = None  # not a service account: check_app says why
        if isinstance(token_uri, str) and token_uri:
            await urls.check("fcm.serviceAccountJson.token_uri", token_uri)


def _kept(given: dict[str, Any], stored: dict[str, Any] | None, endpoint: str) -> dict[str, Any]:
    """The stored settings whose secret a PUT may keep without giving it again.

    Only while the provider endpoint stays the same: the endpoint receives tokens minted from the
    secret (an APNs provider JWT, an OAuth access token), so moving it without the secret would
    let someone who may edit apps, but never read their keys, collect usable credentials.
    """
    if stored is None or given.get(endpoint) != stored.get(endpoint):
        return {}
    return stored


def _check_apns(given: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(given)
    pem = given.get("privateKeyPem") or _kept(given, stored, "endpoint").get("privateKeyPem")
    if not pem:
        raise invalid_field("apns.privateKeyPem", "required")
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise invalid_field("apns.privateKeyPem", "not a PEM private key (.p8)") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise invalid_field("apns.privateKeyPem", "APNs keys are P-256 (ES256) keys")
    out["privateKeyPem"] = pem
    return out


def _check_fcm(given: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    raw = given.get("serviceAccountJson") or _kept(given, stored, "endpoint").get(
        "serviceAccountJson"
    )
    if not raw:
        raise invalid_field("fcm.serviceAccountJson", "required")
    try:
        account = json.loads(raw)
    except ValueError as exc:
        raise invalid_field("fcm.serviceAccountJson", "not JSON") from exc
    if not isinstance(account, dict) or account.get("type") != "service_account":
        raise invalid_field("fcm.serviceAccountJson", "not a service account key file")
    for name in ("project_id", "client_email", "private_key", "token_uri"):
        if not isinstance(account.get(name), str) or not account[name]:
            raise invalid_field("fcm.serviceAccountJson", f"has no {name}")
    try:
        key = load_pem_private_key(account["private_key"].encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise invalid_field("fcm.serviceAccountJson", "private_key is not a PEM key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise invalid_field("fcm.serviceAccountJson", "private_key must be an RSA key")
    return {"serviceAccountJson": raw, "endpoint": given.get("endpoint")}


def _check_proxy(given: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(given)
    secret = given.get("secret") or (stored or {}).get("secret")
    if not secret:
        raise invalid_field("proxy.secret", "required: pushes are signed with it")
    out["secret"] = secret
    seen: set[str] = set()
    for name, value in (given.get("headers") or {}).items():
        if not _HEADER_NAME.match(name):
            raise invalid_field("proxy.headers", f"{name!r}: 1-24 letters, digits or '-'")
        if name.lower() in _RESERVED_HEADERS or name.lower() in seen:
            raise invalid_field("proxy.headers", f"{name!r}: set by Parlay or given twice")
        if name.lower() == "authorization" and given.get("basicAuth"):
            raise invalid_field("proxy.headers", "'Authorization' and basicAuth are exclusive")
        seen.add(name.lower())
        # ASCII: httpx encodes header values as ASCII, so anything else failed every push.
        if len(value) > 300 or not (value.isascii() and value.isprintable()):
            raise invalid_field(
                "proxy.headers", f"{name!r}: a printable ASCII value of ≤ 300 chars"
            )
    return out


_CHECKS = {"apns": _check_apns, "fcm": _check_fcm, "proxy": _check_proxy}


def check_app(
    platform: str,
    push_service: str,
    sections: dict[str, dict[str, Any] | None],
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate an app's settings; secrets left out keep their stored values (PUT)."""
    if platform not in _SERVICE_PLATFORMS[push_service]:
        raise invalid_field("pushService", f"{push_service} does not serve {platform} apps")
    for name, section in sections.items():
        if section is not None and name != push_service:
            raise invalid_field(name, f"this app pushes through {push_service}, not {name}")
    section = sections.get(push_service)
    if section is None:
        raise invalid_field(push_service, f"required for pushService {push_service}")
    same_service = stored is not None and stored.get("service") == push_service
    return {
        "service": push_service,
        **_CHECKS[push_service](section, stored if same_service else None),
    }


def public_view(app: App) -> dict[str, Any]:
    """The app as the API shows it: everything but the secrets."""
    creds = app.credentials
    view: dict[str, Any] = {
        "appId": app.app_id,
        "platform": app.platform,
        "pushService": app.push_service,
        "createdAt": app.created_at,
        "updatedAt": app.updated_at,
    }
    if app.push_service == "apns":
        view["apns"] = {
            "teamId": creds["teamId"],
            "keyId": creds["keyId"],
            "environment": creds.get("environment", "production"),
            "endpoint": creds.get("endpoint"),
            "hasPrivateKey": bool(creds.get("privateKeyPem")),
        }
    elif app.push_service == "fcm":
        account = json.loads(creds["serviceAccountJson"])
        view["fcm"] = {
            "projectId": account["project_id"],
            "clientEmail": account["client_email"],
            "endpoint": creds.get("endpoint"),
            "hasServiceAccount": True,
        }
    else:
        basic = creds.get("basicAuth") or {}
        view["proxy"] = {
            "url": creds["url"],
            "basicAuthUsername": basic.get("username"),
            "headerNames": sorted((creds.get("headers") or {}).keys()),
            "hasSecret": bool(creds.get("secret")),
        }
    return view


def push_app(app: App) -> PushApp:
    """The app as the push clients need it."""
    creds = app.credentials
    platform = cast(Any, app.platform)
    if app.push_service == "apns":
        return PushApp(
            app.account_id,
            app.app_id,
            platform,
            "apns",
            apns=ApnsCredentials(
                team_id=creds["teamId"],
                key_id=creds["keyId"],
                private_key_pem=creds["privateKeyPem"],
                environment=creds.get("environment", "production"),
                endpoint=creds.get("endpoint"),
            ),
        )
    if app.push_service == "fcm":
        return PushApp(
            app.account_id,
            app.app_id,
            platform,
            "fcm",
            fcm=FcmCredentials(json.loads(creds["serviceAccountJson"]), creds.get("endpoint")),
        )
    basic = creds.get("basicAuth")
    return PushApp(
        app.account_id,
        app.app_id,
        platform,
        "proxy",
        proxy=ProxyConfig(
            url=creds["url"],
            secret=creds["secret"],
            basic_auth=(basic["username"], basic["password"]) if basic else None,
            headers=dict(creds.get("headers") or {}),
        ),
    )
