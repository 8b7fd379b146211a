"""Request bodies of valid apps (APNs, FCM, push proxy) and the keys inside them.

Keys are generated once per test session: an APNs key is a P-256 (.p8) key, an FCM service
account carries an RSA key. Each body can be varied one field at a time by the tests.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"
IOS_APP = "com.acme.app"
ANDROID_APP = "com.acme.android"
PROXY_APP = "com.acme.proxied"
PROXY_SECRET = "proxy-hmac-secret-0123456789"


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@cache
def p256_pem() -> str:
    """An APNs auth key (.p8): PKCS#8 P-256."""
    return pem(ec.generate_private_key(ec.SECP256R1()))


@cache
def other_p256_pem() -> str:
    return pem(ec.generate_private_key(ec.SECP256R1()))


@cache
def p384_pem() -> str:
    return pem(ec.generate_private_key(ec.SECP384R1()))


@cache
def rsa_pem() -> str:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def service_account(**overrides: Any) -> dict[str, Any]:
    """A Google service account key file; a field given as ``None`` is left out."""
    account: dict[str, Any] = {
        "type": "service_account",
        "project_id": "acme-push",
        "private_key_id": "0123456789abcdef",
        "private_key": rsa_pem(),
        "client_email": "parlay@acme-push.iam.gserviceaccount.com",
        "client_id": "123456789",
        "token_uri": "https://oauth2.googleapis.com/token",
        **overrides,
    }
    return {k: v for k, v in account.items() if v is not None}


def service_account_json(**overrides: Any) -> str:
    return json.dumps(service_account(**overrides))


def apns_section(**overrides: Any) -> dict[str, Any]:
    section = {
        "teamId": TEAM_ID,
        "keyId": KEY_ID,
        "privateKeyPem": p256_pem(),
        "environment": "sandbox",
        **overrides,
    }
    return {k: v for k, v in section.items() if v is not None}


def fcm_section(**overrides: Any) -> dict[str, Any]:
    section = {"serviceAccountJson": service_account_json(), **overrides}
    return {k: v for k, v in section.items() if v is not None}


def proxy_section(**overrides: Any) -> dict[str, Any]:
    section = {"url": "https://push.acme.example/notify", "secret": PROXY_SECRET, **overrides}
    return {k: v for k, v in section.items() if v is not None}


def apns_app(app_id: str = IOS_APP, **apns: Any) -> dict[str, Any]:
    return {"appId": app_id, "platform": "ios", "pushService": "apns", "apns": apns_section(**apns)}


def fcm_app(app_id: str = ANDROID_APP, **fcm: Any) -> dict[str, Any]:
    return {
        "appId": app_id,
        "platform": "android",
        "pushService": "fcm",
        "fcm": fcm_section(**fcm),
    }


def proxy_app(app_id: str = PROXY_APP, platform: str = "android", **proxy: Any) -> dict[str, Any]:
    return {
        "appId": app_id,
        "platform": platform,
        "pushService": "proxy",
        "proxy": proxy_section(**proxy),
    }
