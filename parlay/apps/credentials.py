"""An app's push credentials: what the API gives (``ApnsInput``, ``FcmInput``, ``ProxyInput``),
their rules (checked when saved; the URLs by the URL policy), what is stored (``stored``, every
secret encrypted), the view the API may show (never a secret), and the form the push clients
need (``PushApp``, secrets decrypted)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from parlay.apps.models import App
from parlay.apps.stored import (
    ApnsSettings,
    BasicAuth,
    FcmSettings,
    ProxySettings,
    PushSettings,
    from_json,
)
from parlay.channels.push import ApnsCredentials, FcmCredentials, ProxyConfig, PushApp
from parlay.lib.errors import invalid_field
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.secretbox import SecretBox
from parlay.lib.signing import SIGNATURE_HEADER

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


@dataclass(frozen=True)
class ApnsInput:
    team_id: str
    key_id: str
    environment: Literal["production", "sandbox"] = "production"
    endpoint: str | None = None
    private_key_pem: str | None = None  # None on PUT: the stored key is kept


@dataclass(frozen=True)
class FcmInput:
    service_account_json: str | None = None  # None on PUT: the stored one is kept
    endpoint: str | None = None


@dataclass(frozen=True)
class ProxyInput:
    url: str
    secret: str | None = None  # None on PUT: the stored one is kept (same host only)
    basic_auth: tuple[str, str] | None = None  # (username, password)
    headers: tuple[tuple[str, str], ...] = ()  # (name, value)


@dataclass(frozen=True)
class Sections:
    """An app's settings per push service as the API received them (one is expected: the app's
    push service; the others must be absent)."""

    apns: ApnsInput | None = None
    fcm: FcmInput | None = None
    proxy: ProxyInput | None = None

    def given(self) -> dict[str, ApnsInput | FcmInput | ProxyInput | None]:
        return {"apns": self.apns, "fcm": self.fcm, "proxy": self.proxy}


async def check_urls(urls: UrlPolicy, push_service: str, sections: Sections) -> None:
    """The URLs of the push service's section against the URL policy (resolving names: before
    the unit of work opens). APNs and FCM endpoints are https even when the policy is lifted:
    their clients speak HTTP/2 over TLS only."""
    section = sections.given().get(push_service)
    if isinstance(section, ProxyInput):
        await urls.check("proxy.url", section.url)
    elif isinstance(section, ApnsInput | FcmInput) and section.endpoint:
        await urls.check(f"{push_service}.endpoint", section.endpoint, https_only=True)
    if isinstance(section, FcmInput) and section.service_account_json:
        try:
            token_uri = json.loads(section.service_account_json).get("token_uri")
        except (ValueError, AttributeError):
            token_uri = None  # not a service account: check_app says why
        if isinstance(token_uri, str) and token_uri:
            await urls.check("fcm.serviceAccountJson.token_uri", token_uri)


def _keeps_apns_key(given: ApnsInput, stored: PushSettings | None) -> ApnsSettings | None:
    """The stored settings whose key a PUT may keep without giving it again.

    Only while the provider endpoint stays the same: the endpoint receives tokens minted from the
    secret (an APNs provider JWT, an OAuth access token), so moving it without the secret would
    let someone who may edit apps, but never read their keys, collect usable credentials.
    """
    if isinstance(stored, ApnsSettings) and stored.endpoint == given.endpoint:
        return stored
    return None


def _check_apns(given: ApnsInput, stored: PushSettings | None, box: SecretBox) -> ApnsSettings:
    kept = _keeps_apns_key(given, stored)
    pem = given.private_key_pem
    if pem:
        try:
            key = load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise invalid_field("apns.privateKeyPem", "not a PEM private key (.p8)") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise invalid_field("apns.privateKeyPem", "APNs keys are P-256 (ES256) keys")
        private_key = box.seal(pem)
    elif kept is not None:
        private_key = box.reseal(kept.private_key)  # re-encrypted with the newest key
    else:
        raise invalid_field("apns.privateKeyPem", "required")
    return ApnsSettings(
        team_id=given.team_id,
        key_id=given.key_id,
        environment=given.environment,
        endpoint=given.endpoint,
        private_key=private_key,
    )


def _check_fcm(given: FcmInput, stored: PushSettings | None, box: SecretBox) -> FcmSettings:
    raw = given.service_account_json
    if not raw:
        # Kept only while the endpoint stays the same (see _keeps_apns_key).
        if isinstance(stored, FcmSettings) and stored.endpoint == given.endpoint:
            return FcmSettings(
                project_id=stored.project_id,
                client_email=stored.client_email,
                token_uri=stored.token_uri,
                endpoint=given.endpoint,
                service_account=box.reseal(stored.service_account),
            )
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
    return FcmSettings(
        project_id=account["project_id"],
        client_email=account["client_email"],
        token_uri=account["token_uri"],
        endpoint=given.endpoint,
        service_account=box.seal(raw),
    )


def _origin(url: str) -> tuple[str, str, int | None]:
    """Where a URL's requests go: scheme, host and port (the scheme's port when none is given)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").rstrip(".").lower(), port


def _check_proxy(given: ProxyInput, stored: PushSettings | None, box: SecretBox) -> ProxySettings:
    if given.secret:
        secret = box.seal(given.secret)
    elif isinstance(stored, ProxySettings) and _origin(stored.url) == _origin(given.url):
        secret = box.reseal(stored.secret)  # re-encrypted with the newest key
    elif isinstance(stored, ProxySettings):
        # Signed pushes sent to a new host could be replayed to the brand's own proxy within
        # the signature's five minutes: whoever moves the URL must know the secret.
        raise invalid_field(
            "proxy.secret", "required again: the proxy URL moves to another host (or port)"
        )
    else:
        raise invalid_field("proxy.secret", "required: pushes are signed with it")
    seen: set[str] = set()
    for name, value in given.headers:
        if not _HEADER_NAME.match(name):
            raise invalid_field("proxy.headers", f"{name!r}: 1-24 letters, digits or '-'")
        if name.lower() in _RESERVED_HEADERS or name.lower() in seen:
            raise invalid_field("proxy.headers", f"{name!r}: set by Parlay or given twice")
        if name.lower() == "authorization" and given.basic_auth:
            raise invalid_field("proxy.headers", "'Authorization' and basicAuth are exclusive")
        seen.add(name.lower())
        # ASCII: httpx encodes header values as ASCII, so anything else failed every push.
        if len(value) > 300 or not (value.isascii() and value.isprintable()):
            raise invalid_field(
                "proxy.headers", f"{name!r}: a printable ASCII value of ≤ 300 chars"
            )
    basic = given.basic_auth
    return ProxySettings(
        url=given.url,
        secret=secret,
        basic_auth=None if basic is None else BasicAuth(basic[0], box.seal(basic[1])),
        headers=tuple((name, box.seal(value)) for name, value in given.headers),
    )


def check_app(
    platform: str,
    push_service: str,
    sections: Sections,
    box: SecretBox,
    stored: PushSettings | None = None,
) -> PushSettings:
    """Validate an app's settings and encrypt its secrets; secrets left out keep their stored
    values (PUT), re-encrypted with the newest key."""
    if platform not in _SERVICE_PLATFORMS[push_service]:
        raise invalid_field("pushService", f"{push_service} does not serve {platform} apps")
    for name, given in sections.given().items():
        if given is not None and name != push_service:
            raise invalid_field(name, f"this app pushes through {push_service}, not {name}")
    section = sections.given().get(push_service)
    if isinstance(section, ApnsInput):
        return _check_apns(section, stored, box)
    if isinstance(section, FcmInput):
        return _check_fcm(section, stored, box)
    if isinstance(section, ProxyInput):
        return _check_proxy(section, stored, box)
    raise invalid_field(push_service, f"required for pushService {push_service}")


def stored_settings(app: App) -> PushSettings:
    return from_json(app.credentials, app.app_id)


def resealed(settings: PushSettings, box: SecretBox) -> PushSettings:
    """The same settings with every secret encrypted with the newest key."""
    if isinstance(settings, ApnsSettings):
        return ApnsSettings(
            settings.team_id,
            settings.key_id,
            settings.environment,
            settings.endpoint,
            box.reseal(settings.private_key),
        )
    if isinstance(settings, FcmSettings):
        return FcmSettings(
            settings.project_id,
            settings.client_email,
            settings.token_uri,
            settings.endpoint,
            box.reseal(settings.service_account),
        )
    basic = settings.basic_auth
    return ProxySettings(
        settings.url,
        box.reseal(settings.secret),
        None if basic is None else BasicAuth(basic.username, box.reseal(basic.password)),
        tuple((name, box.reseal(value)) for name, value in settings.headers),
    )


def public_view(app: App) -> dict[str, Any]:
    """The app as the API shows it: everything but the secrets (nothing is decrypted)."""
    settings = stored_settings(app)
    view: dict[str, Any] = {
        "appId": app.app_id,
        "platform": app.platform,
        "pushService": app.push_service,
        "createdAt": app.created_at,
        "updatedAt": app.updated_at,
    }
    if isinstance(settings, ApnsSettings):
        view["apns"] = {
            "teamId": settings.team_id,
            "keyId": settings.key_id,
            "environment": settings.environment,
            "endpoint": settings.endpoint,
            "hasPrivateKey": True,
        }
    elif isinstance(settings, FcmSettings):
        view["fcm"] = {
            "projectId": settings.project_id,
            "clientEmail": settings.client_email,
            "endpoint": settings.endpoint,
            "hasServiceAccount": True,
        }
    else:
        view["proxy"] = {
            "url": settings.url,
            "basicAuthUsername": settings.basic_auth.username if settings.basic_auth else None,
            "headerNames": sorted(name for name, _ in settings.headers),
            "hasSecret": True,
        }
    return view


def push_app(app: App, box: SecretBox) -> PushApp:
    """The app as the push clients need it: its secrets decrypted (``UndecryptableSecret`` when
    no configured key opens them)."""
    settings = stored_settings(app)
    platform: Literal["ios", "android"] = "ios" if app.platform == "ios" else "android"
    if isinstance(settings, ApnsSettings):
        return PushApp(
            app.account_id,
            app.app_id,
            platform,
            "apns",
            apns=ApnsCredentials(
                team_id=settings.team_id,
                key_id=settings.key_id,
                private_key_pem=box.open(settings.private_key),
                environment=settings.environment,
                endpoint=settings.endpoint,
            ),
        )
    if isinstance(settings, FcmSettings):
        return PushApp(
            app.account_id,
            app.app_id,
            platform,
            "fcm",
            fcm=FcmCredentials(json.loads(box.open(settings.service_account)), settings.endpoint),
        )
    basic = settings.basic_auth
    return PushApp(
        app.account_id,
        app.app_id,
        platform,
        "proxy",
        proxy=ProxyConfig(
            url=settings.url,
            secret=box.open(settings.secret),
            basic_auth=(basic.username, box.open(basic.password)) if basic else None,
            headers={name: box.open(value) for name, value in settings.headers},
        ),
    )
