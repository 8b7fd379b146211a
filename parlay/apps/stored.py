"""What Parlay stores of an app's push credentials: one frozen dataclass per push service, each
secret sealed (encrypted with ``PARLAY_SECRET_KEY``, ``parlay.lib.secretbox``).

The JSON column ``apps.credentials`` holds them in API casing with the service's name, e.g.::

    {"service": "proxy", "url": "https://push.brand.example/notify",
     "secret": {"enc": "gAAAAAB..."},
     "basicAuth": {"username": "parlay", "password": {"enc": "gAAAAAB..."}},
     "headers": {"X-Api-Key": {"enc": "gAAAAAB..."}}}

Secrets: the APNs ``privateKeyPem``, the FCM ``serviceAccountJson`` (the whole file; its project,
client email and token URI are kept beside it in clear, for the API to show and the URL policy to
check), the proxy ``secret``, the ``basicAuth`` password and every custom header value (they often
carry tokens). Header names, URLs, team and key IDs are not secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from parlay.lib.secretbox import Sealed


@dataclass(frozen=True)
class ApnsSettings:
    team_id: str
    key_id: str
    environment: Literal["production", "sandbox"]
    endpoint: str | None  # None: Apple's host for the environment
    private_key: Sealed  # the .p8 PEM


@dataclass(frozen=True)
class FcmSettings:
    project_id: str
    client_email: str
    token_uri: str
    endpoint: str | None  # None: https://fcm.googleapis.com
    service_account: Sealed  # the service account JSON file's text


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: Sealed


@dataclass(frozen=True)
class ProxySettings:
    url: str
    secret: Sealed  # HMAC-SHA256 key of the signature header
    basic_auth: BasicAuth | None
    headers: tuple[tuple[str, Sealed], ...]  # (name, value) in the order given


PushSettings = ApnsSettings | FcmSettings | ProxySettings


def to_json(settings: PushSettings) -> dict[str, Any]:
    """The JSON column's document (API casing)."""
    if isinstance(settings, ApnsSettings):
        return {
            "service": "apns",
            "teamId": settings.team_id,
            "keyId": settings.key_id,
            "environment": settings.environment,
            "endpoint": settings.endpoint,
            "privateKeyPem": settings.private_key.to_json(),
        }
    if isinstance(settings, FcmSettings):
        return {
            "service": "fcm",
            "projectId": settings.project_id,
            "clientEmail": settings.client_email,
            "tokenUri": settings.token_uri,
            "endpoint": settings.endpoint,
            "serviceAccountJson": settings.service_account.to_json(),
        }
    basic = settings.basic_auth
    return {
        "service": "proxy",
        "url": settings.url,
        "secret": settings.secret.to_json(),
        "basicAuth": None
        if basic is None
        else {"username": basic.username, "password": basic.password.to_json()},
        "headers": {name: value.to_json() for name, value in settings.headers},
    }


def from_json(doc: dict[str, Any], app_id: str) -> PushSettings:
    """The typed settings of the JSON column (``StoredInClear`` for a secret not encrypted)."""
    where = f"app {app_id}"
    service = doc.get("service")
    if service == "apns":
        environment = doc.get("environment") or "production"
        return ApnsSettings(
            team_id=doc["teamId"],
            key_id=doc["keyId"],
            environment="sandbox" if environment == "sandbox" else "production",
            endpoint=doc.get("endpoint"),
            private_key=Sealed.from_json(doc.get("privateKeyPem"), f"{where}: privateKeyPem"),
        )
    if service == "fcm":
        return FcmSettings(
            project_id=doc["projectId"],
            client_email=doc["clientEmail"],
            token_uri=doc["tokenUri"],
            endpoint=doc.get("endpoint"),
            service_account=Sealed.from_json(
                doc.get("serviceAccountJson"), f"{where}: serviceAccountJson"
            ),
        )
    if service == "proxy":
        basic = doc.get("basicAuth")
        return ProxySettings(
            url=doc["url"],
            secret=Sealed.from_json(doc.get("secret"), f"{where}: proxy secret"),
            basic_auth=None
            if basic is None
            else BasicAuth(
                basic["username"],
                Sealed.from_json(basic.get("password"), f"{where}: basicAuth password"),
            ),
            headers=tuple(
                (name, Sealed.from_json(value, f"{where}: header {name}"))
                for name, value in (doc.get("headers") or {}).items()
            ),
        )
    raise ValueError(f"{where}: unknown push service {service!r}")
